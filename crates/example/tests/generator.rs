//! The generator is deterministic: the same seed and day give the same bytes, another seed
//! gives other data.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use tablero_example::{GenerateOptions, write_example};

fn hashes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for sub in ["data", "sources", "kpis", "dashboards"] {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let bytes = std::fs::read(&path).unwrap();
            let digest = Sha256::digest(&bytes);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            out.insert(
                format!("{sub}/{}", path.file_name().unwrap().to_string_lossy()),
                hex,
            );
        }
    }
    out
}

fn generate(seed: u64) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let today: jiff::civil::Date = "2026-10-15".parse().unwrap();
    let options = GenerateOptions {
        seed,
        ..GenerateOptions::new(today)
    };
    write_example(dir.path(), &options, false).unwrap();
    let h = hashes(dir.path());
    (dir, h)
}

#[test]
fn same_seed_same_bytes() {
    let (_a, first) = generate(23);
    let (_b, second) = generate(23);
    assert!(first.len() > 30, "{first:?}");
    assert_eq!(first, second);
}

#[test]
fn another_seed_other_data() {
    let (_a, first) = generate(23);
    let (_b, other) = generate(24);
    assert_ne!(first["data/facturas.csv"], other["data/facturas.csv"]);
    // The definitions do not depend on the seed.
    assert_eq!(first["kpis/finances.yaml"], other["kpis/finances.yaml"]);
}

#[test]
fn refuses_a_folder_with_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let options = GenerateOptions::new("2026-10-15".parse().unwrap());
    let err = write_example(dir.path(), &options, false).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(write_example(dir.path(), &options, true).is_ok());
}

#[test]
fn large_invoices_are_written_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        invoice_scale: 300,
        ..GenerateOptions::new("2026-10-15".parse().unwrap())
    };
    let summary = write_example(dir.path(), &options, false).unwrap();
    assert!(
        summary.rows("facturas.parquet") >= 1_000_000,
        "{:?}",
        summary.files
    );
    assert!(!dir.path().join("data/facturas.csv").exists());
    let yaml = std::fs::read_to_string(dir.path().join("sources/facturas.yaml")).unwrap();
    assert!(yaml.contains("file: data/facturas.parquet"));
}
