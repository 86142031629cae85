//! What Tablero keeps between runs is keyed by the data's content (SPEC §14): a CSV file
//! rewritten in place with its size and modification time put back (as `cp -p`, `rsync -t`,
//! `tar x` or a restore do), or replaced by rename, is read again; a `touch` alone changes
//! nothing. And a store table keeps no temporary file a stopped write left behind: a write
//! and `tablero store repair` remove them, `tablero store info` lists them.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use crate::store_support::{batch, ok, tablero, text, workspace};

/// A workspace with one CSV source of daily sales and their monthly sum.
fn sales_workspace(root: &Path, csv: &str) {
    for folder in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    std::fs::write(
        root.join("tablero.toml"),
        "name = \"shop\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("sources/sales.yaml"),
        "name: sales\nfile: data/sales.csv\ntime: day\ncolumns:\n  day: { type: date }\n  amount: { type: number }\nmeasures:\n  total: { agg: sum, expr: amount }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("kpis/sales.yaml"),
        "- id: sales\n  name: Sales\n  unit: number\n  direction: up\n  grain: month\n  formula: sales.total\n",
    )
    .unwrap();
    std::fs::write(root.join("data/sales.csv"), csv).unwrap();
}

/// January and February of `sales`, as `period=value` pairs.
fn months(root: &Path) -> Vec<String> {
    let out = ok(&tablero(
        root,
        &[
            "compute",
            "sales",
            "--from",
            "2026-01",
            "--to",
            "2026-02",
            "--as-of",
            "2026-06-01",
            "--format",
            "csv",
        ],
    ));
    out.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            format!("{}={}", cells[1], cells[2])
        })
        .collect()
}

fn explain(root: &Path) -> String {
    ok(&tablero(root, &["explain", "sales"]))
}

/// Puts a file's modification time back to `time`.
fn set_modified(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn a_file_rewritten_with_its_size_and_time_put_back_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // January 1000 + 3000 = 4000 ; February 2500 + 1500 = 4000.
    let first = "day,amount\n2026-01-05,1000\n2026-01-20,3000\n2026-02-03,2500\n2026-02-17,1500\n";
    sales_workspace(root, first);
    assert_eq!(months(root), ["2026-01=4000", "2026-02=4000"]);
    assert!(
        explain(root).contains("kept from an earlier computation"),
        "the second run reads the kept rollup"
    );
    let csv = root.join("data/sales.csv");
    let modified = std::fs::metadata(&csv).unwrap().modified().unwrap();

    // February's amounts rewritten in place, same length, the time put back:
    // 9500 + 8500 = 18000.
    let second = "day,amount\n2026-01-05,1000\n2026-01-20,3000\n2026-02-03,9500\n2026-02-17,8500\n";
    assert_eq!(first.len(), second.len());
    std::fs::write(&csv, second).unwrap();
    set_modified(&csv, modified);
    assert_eq!(std::fs::metadata(&csv).unwrap().len(), first.len() as u64);
    assert_eq!(
        std::fs::metadata(&csv).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(months(root), ["2026-01=4000", "2026-02=18000"]);

    // Replaced by rename with a file of the same size and time: January 7000 + 3000 = 10000.
    let third = "day,amount\n2026-01-05,7000\n2026-01-20,3000\n2026-02-03,9500\n2026-02-17,8500\n";
    assert_eq!(first.len(), third.len());
    let staged = root.join("data/.sales.csv.new");
    std::fs::write(&staged, third).unwrap();
    set_modified(&staged, modified);
    std::fs::rename(&staged, &csv).unwrap();
    assert_eq!(months(root), ["2026-01=10000", "2026-02=18000"]);
    assert!(explain(root).contains("kept from an earlier computation"));

    // `touch` alone: the same bytes, the rollup kept from before still serves.
    set_modified(&csv, SystemTime::now());
    assert!(
        explain(root).contains("kept from an earlier computation"),
        "a touch needs no new rollup"
    );
    assert_eq!(months(root), ["2026-01=10000", "2026-02=18000"]);
}

/// Writes a temporary file as a stopped write leaves it, last changed `age` ago.
fn plant(path: &Path, age: Duration) {
    std::fs::write(path, b"half a file").unwrap();
    set_modified(path, SystemTime::now() - age);
}

fn lines_with(output: &Output, needle: &str) -> usize {
    text(&output.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn temporary_files_of_stopped_writes_are_listed_and_removed() {
    let dir = workspace();
    let root = dir.path();
    ok(&tablero(
        root,
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    let table = root.join("data/store/encuestas");
    let log = table.join("_delta_log");
    // No process has this id (beyond any pid_max); this test's own process is running.
    let gone = 99_999_999u32;
    let running = std::process::id();
    let old = Duration::from_secs(120);
    let abandoned_data = table.join(format!(".part-1.parquet.{gone}-0.tablero-tmp"));
    let abandoned_log = log.join(format!(".00000000000000000001.json.{gone}-1.tablero-tmp"));
    let fresh = table.join(format!(".part-2.parquet.{gone}-2.tablero-tmp"));
    let alive = table.join(format!(".part-3.parquet.{running}-3.tablero-tmp"));
    plant(&abandoned_data, old);
    plant(&abandoned_log, old);
    plant(&fresh, Duration::ZERO);
    plant(&alive, old);

    let info = tablero(root, &["store", "info", "encuestas"]);
    ok(&info);
    assert_eq!(lines_with(&info, "temporary:"), 4, "{}", text(&info.stdout));
    assert_eq!(lines_with(&info, "left by a write that stopped"), 2);

    // A repair removes what no write can still be making, and says so.
    let repair = tablero(root, &["store", "repair", "encuestas"]);
    ok(&repair);
    assert_eq!(
        lines_with(&repair, "removed "),
        2,
        "{}",
        text(&repair.stdout)
    );
    assert_eq!(lines_with(&repair, "a write may still be making it"), 2);
    assert!(!abandoned_data.exists() && !abandoned_log.exists());
    assert!(fresh.exists() && alive.exists());

    // Once the fresh one has been left alone long enough, the next write removes it.
    set_modified(&fresh, SystemTime::now() - old);
    ok(&tablero(
        root,
        &["ingest", "encuestas", &batch("septiembre.ndjson")],
    ));
    assert!(!fresh.exists());
    assert!(alive.exists(), "a running process's file stays");
    let info = tablero(root, &["store", "info", "encuestas"]);
    assert_eq!(lines_with(&info, "temporary:"), 1, "{}", text(&info.stdout));
    std::fs::remove_file(&alive).unwrap();
}
