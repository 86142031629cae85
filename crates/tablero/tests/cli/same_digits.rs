//! Same data, same digits: the example company's whole catalog, computed while its daily
//! rollups are built, again reading them back from where they are kept, with rollups off,
//! with shared passes off, with DataFusion's work split into one or three partitions, and
//! with a source read from the store instead of its file, prints the same text — every value
//! to its last bit. A float sum's last digits depended on
//! the order rows were added in, so a kept rollup changed them (`rentabilidad_ventas` for
//! 2026-01 was −1.9103907040267327 with rollups, −1.9103907040263086 without); sums are now
//! exact and rounded once (`tablero_engine::exact_sum`).

use std::path::Path;
use std::process::Command;

const TODAY: &str = "2026-10-15";

/// `compute` of every KPI over two years and the month in progress, as-of mid-afternoon (so
/// as-of's own day is read from rows beside the rollups), each value in full (JSON), with
/// `env` set and the engine's other switches unset.
fn catalog(dir: &Path, env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablero"));
    command.arg("-w").arg(dir).args([
        "compute",
        "--from",
        "2024-10",
        "--to",
        "2026-10",
        "--as-of",
        "2026-10-15T15:30:00",
        "--format",
        "json",
    ]);
    for switch in [
        "TABLERO_ROLLUPS",
        "TABLERO_SHARED_PASSES",
        "TABLERO_PARTITIONS",
    ] {
        command.env_remove(switch);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("run tablero");
    assert!(
        out.status.success(),
        "{env:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The kept rollups' files and their modification times.
fn kept(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(".tablero/cache/rollups"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let modified = e.metadata().and_then(|m| m.modified()).unwrap();
                    (e.file_name().to_string_lossy().into_owned(), modified)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The lines of two outputs that differ, for the failure message.
fn differences(expected: &str, actual: &str) -> String {
    let mut shown = Vec::new();
    for (e, a) in expected.lines().zip(actual.lines()) {
        if e != a {
            shown.push(format!("expected {e}\n     got {a}"));
        }
    }
    if expected.lines().count() != actual.lines().count() {
        shown.push("(a different number of lines)".into());
    }
    shown.truncate(3);
    shown.join("\n")
}

#[test]
fn rollups_partitions_and_passes_do_not_change_a_digit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme");
    let init = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["init", dir.to_str().unwrap(), "--example", "23people"])
        .args(["--today", TODAY])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");

    let built = catalog(&dir, &[]);
    let rollups = kept(&dir);
    assert!(!rollups.is_empty(), "no rollup was kept");
    let read_back = catalog(&dir, &[]);
    assert_eq!(kept(&dir), rollups, "the kept rollups were made again");
    assert!(built.lines().count() >= 28, "{built}");

    // And they are the correctly rounded ones: Python over the example's CSV files, with
    // each month's sums exact (`Fraction`) then rounded, and the formula
    // `100 * (ventas_netas − costos_totales) / ventas_netas` in doubles, gives
    // −1.910390704026648 for 2026-01 (summed from the left, −1.9103907040260115).
    let rentabilidad = built
        .lines()
        .find(|l| l.starts_with(r#"{"kpi":"rentabilidad_ventas""#))
        .expect("rentabilidad_ventas is computed");
    let kpi: serde_json::Value = serde_json::from_str(rentabilidad).unwrap();
    let january = kpi["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["period"] == "2026-01")
        .unwrap();
    assert_eq!(january["value"].as_f64(), Some(-1.910390704026648));

    for (what, output) in [
        ("rollups read back", read_back),
        ("rollups off", catalog(&dir, &[("TABLERO_ROLLUPS", "off")])),
        (
            "shared passes off",
            catalog(&dir, &[("TABLERO_SHARED_PASSES", "off")]),
        ),
        (
            "one partition, rollups off",
            catalog(
                &dir,
                &[("TABLERO_PARTITIONS", "1"), ("TABLERO_ROLLUPS", "off")],
            ),
        ),
        (
            "three partitions",
            catalog(&dir, &[("TABLERO_PARTITIONS", "3")]),
        ),
    ] {
        assert!(
            output == built,
            "{what}: the digits changed\n{}",
            differences(&built, &output)
        );
    }

    // The ledger (amounts with cents) read from the store instead of its file: the same rows
    // in Parquet files, the same digits — its rollup built from the store, then read back.
    let ledger = dir.join("sources/gastos.yaml");
    let definition = std::fs::read_to_string(&ledger).unwrap();
    assert!(
        definition.contains("\nfile: data/gastos.csv\n"),
        "{definition}"
    );
    std::fs::write(
        &ledger,
        definition.replace("\nfile: data/gastos.csv\n", "\nstore: true\n"),
    )
    .unwrap();
    let ingest = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(&dir)
        .args(["ingest", "gastos", "data/gastos.csv"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(ingest.status.success(), "{ingest:?}");
    for what in ["from the store", "from the store's kept rollup"] {
        let output = catalog(&dir, &[]);
        assert!(
            output == built,
            "{what}: the digits changed\n{}",
            differences(&built, &output)
        );
    }
}
