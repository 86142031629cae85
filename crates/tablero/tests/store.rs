//! The store through the real `tablero` binary: ingest in every format, values computed from
//! store tables (worked out by hand in `tests/store/README.md`), bad input, idempotency,
//! damaged files, two writers at once, and SIGKILL at many moments of a batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tablero_store::table;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store")
}

/// A fresh copy of the fixture workspace.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture().join("workspace"), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn tablero(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(dir)
        .args(args)
        .output()
        .expect("run tablero")
}

fn batch(name: &str) -> String {
    fixture().join("batches").join(name).display().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `period → value` of one KPI from `compute --format csv`.
fn values(dir: &Path, kpi: &str, from: &str, to: &str) -> Vec<(String, String)> {
    let out = ok(&tablero(
        dir,
        &[
            "compute",
            kpi,
            "--from",
            from,
            "--to",
            to,
            "--as-of",
            "2026-11-15",
            "--format",
            "csv",
        ],
    ));
    out.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn source(dir: &Path) -> tablero_model::Source {
    let (workspace, _) = tablero_model::load_workspace(dir);
    workspace.source("encuestas").expect("source").clone()
}

/// Every stored `id`, with how many times it is stored.
fn stored_ids(dir: &Path) -> HashMap<i64, usize> {
    use deltalake::arrow::array::AsArray;
    use deltalake::arrow::datatypes::Int64Type;
    let batches = runtime()
        .block_on(table::read_all(dir, &source(dir)))
        .expect("store opens");
    let mut ids = HashMap::new();
    for batch in batches {
        let column = batch.column_by_name("id").expect("id column");
        for id in column.as_primitive::<Int64Type>().iter().flatten() {
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

fn table_version(dir: &Path) -> Option<u64> {
    runtime()
        .block_on(table::info(dir, &source(dir)))
        .expect("info")
        .version
}

#[test]
fn every_format_lands_and_computes_the_hand_worked_values() {
    let ws = workspace();
    let dir = ws.path();
    // Before any ingest the store source has no rows, which is no error: a sum over no rows
    // is 0 and a ratio of counts over no rows is null (SPEC §3, null rules).
    let empty = values(dir, "nota_total", "2026-08", "2026-08");
    assert_eq!(empty, pairs(&[("2026-08", "0")]));
    let empty = values(dir, "nps", "2026-08", "2026-08");
    assert_eq!(empty, pairs(&[("2026-08", "")]));

    let out = ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    assert!(out.contains("stored 5 rows into `encuestas`"), "{out}");
    assert_eq!(
        values(dir, "nps", "2026-08", "2026-09"),
        pairs(&[("2026-08", "25"), ("2026-09", "-100")])
    );
    // 2026-09-06 is the day Chile's clocks skip midnight: the date still counts.
    assert_eq!(
        values(dir, "respuestas_por_dia", "2026-08", "2026-09"),
        pairs(&[("2026-08", "3"), ("2026-09", "2")])
    );

    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("septiembre.ndjson")],
    ));
    let out = ok(&tablero(
        dir,
        &[
            "ingest",
            "encuestas",
            &batch("octubre.xlsx"),
            "--sheet",
            "Respuestas",
        ],
    ));
    assert!(out.contains("stored 2 rows"), "{out}");
    assert_eq!(
        values(dir, "nps", "2026-08", "2026-10"),
        pairs(&[("2026-08", "25"), ("2026-09", "0"), ("2026-10", "50")])
    );
    // Parquet with a zone-less timestamp (local) and a DATE.
    let out = ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("noviembre.parquet")],
    ));
    assert!(out.contains("stored 2 rows"), "{out}");
    assert_eq!(
        values(dir, "nota_total", "2026-11", "2026-11"),
        pairs(&[("2026-11", "13")])
    );
    assert_eq!(
        values(dir, "nota_total", "2026-08", "2026-10"),
        pairs(&[("2026-08", "33"), ("2026-09", "27"), ("2026-10", "18")])
    );
    assert_eq!(
        values(dir, "respuestas_por_dia", "2026-08", "2026-10"),
        pairs(&[("2026-08", "3"), ("2026-09", "5"), ("2026-10", "2")])
    );

    // The same rows as a plain CSV file give the same numbers.
    let csv = "id,respondida,dia,nota,cliente,recomienda\n\
        1,2026-08-03T10:00:00-04:00,2026-08-03,10,Banco Sur,true\n\
        2,2026-08-15 09:30:00,2026-08-15,9,Retail Norte,true\n\
        3,2026-08-31T23:30:00-04:00,2026-08-31,6,Banco Sur,false\n\
        4,2026-09-01T03:00:00Z,2026-09-01,8,Banco Sur,\n\
        5,2026-09-06 12:00:00,2026-09-06,3,Retail Norte,false\n\
        6,2026-09-10T15:00:00-03:00,2026-09-10,9,Banco Sur,true\n\
        7,2026-09-30 23:59:00,2026-09-30,10,Minera Andes,true\n\
        8,2026-10-01T02:30:00Z,2026-09-30,5,,\n\
        9,2026-10-05 11:00:00,2026-10-05,10,Retail Norte,true\n\
        10,2026-10-20T18:00:00-03:00,2026-10-20,8,Banco Sur,false\n\
        11,2026-11-02 08:00:00,2026-11-02,9,Banco Sur,true\n\
        12,2026-11-10 17:45:00,2026-11-10,4,Minera Andes,false\n";
    std::fs::write(dir.join("data/encuestas.csv"), csv).expect("write csv");
    assert_eq!(
        values(dir, "nps_archivo", "2026-08", "2026-11"),
        values(dir, "nps", "2026-08", "2026-11")
    );
    assert_eq!(
        values(dir, "nota_total_archivo", "2026-08", "2026-11"),
        values(dir, "nota_total", "2026-08", "2026-11")
    );

    // By dimension, from the store: October is Retail Norte 10 and Banco Sur 8.
    let out = ok(&tablero(
        dir,
        &[
            "compute",
            "nota_total",
            "--from",
            "2026-10",
            "--to",
            "2026-10",
            "--by",
            "cliente",
            "--as-of",
            "2026-11-15",
            "--format",
            "csv",
        ],
    ));
    assert!(out.contains("nota_total,2026-10,Banco Sur,8,"), "{out}");
    assert!(out.contains("nota_total,2026-10,Retail Norte,10,"), "{out}");

    let explain = ok(&tablero(dir, &["explain", "nps"]));
    assert!(explain.contains("encuestas"), "{explain}");

    let info = ok(&tablero(dir, &["store", "info", "encuestas"]));
    assert!(info.contains("rows:        12"), "{info}");
    assert!(info.contains("version:     4"), "{info}");
    let compact = ok(&tablero(dir, &["store", "compact", "encuestas"]));
    assert!(compact.contains("4 files → 1"), "{compact}");
    assert_eq!(
        values(dir, "nps", "2026-08", "2026-10"),
        pairs(&[("2026-08", "25"), ("2026-09", "0"), ("2026-10", "50")])
    );
}

#[test]
fn a_key_seen_before_stores_nothing() {
    let ws = workspace();
    let dir = ws.path();
    let args = [
        "ingest",
        "encuestas",
        &batch("agosto.csv"),
        "--idempotency-key",
        "crm-2026-08-31",
    ];
    let first = ok(&tablero(dir, &args));
    assert!(first.contains("stored 5 rows"), "{first}");
    let second = ok(&tablero(dir, &args));
    assert!(second.contains("already stored"), "{second}");
    let ids = stored_ids(dir);
    assert_eq!(ids.len(), 5);
    assert!(ids.values().all(|&n| n == 1), "{ids:?}");
    // Another key stores the rows again: the key, not the content, identifies a batch.
    ok(&tablero(
        dir,
        &[
            "ingest",
            "encuestas",
            &batch("agosto.csv"),
            "--idempotency-key",
            "otra",
        ],
    ));
    assert_eq!(stored_ids(dir).values().sum::<usize>(), 10);
}

/// Each bad input: exit 1, a message naming file, row and column, and the table unchanged.
#[test]
fn bad_input_is_rejected_whole_and_named() {
    let ws = workspace();
    let dir = ws.path();
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    let version = table_version(dir);
    let header = "id,respondida,dia,nota,cliente,recomienda\n";
    let good_row = "20,2026-10-01 10:00:00,2026-10-01,9,Banco Sur,true\n";
    let huge = "x".repeat(10 << 20);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown.csv",
            format!("id,respondida,dia,nota,cliente,recomienda,extra\n{}", "1,2026-10-01,2026-10-01,1,a,true,x\n"),
            "unknown.csv:1: unknown column 'extra'",
        ),
        (
            "missing.csv",
            "id,respondida,dia,nota,recomienda\n1,2026-10-01,2026-10-01,1,true\n".to_string(),
            "missing.csv:1: column 'cliente' declared in sources/encuestas.yaml is missing",
        ),
        (
            "type.csv",
            format!("{header}{good_row}21,2026-10-02 10:00:00,2026-10-02,diez,Banco Sur,true\n"),
            "type.csv:3: column 'nota': expected a number, like 1234.5, found 'diez'",
        ),
        (
            "date.csv",
            format!("{header}{good_row}22,2026-10-02 10:00:00,02/10/2026,5,Banco Sur,true\n"),
            "date.csv:3: column 'dia': expected a date like 2026-01-31, found '02/10/2026'",
        ),
        (
            "timestamp.ndjson",
            r#"{"id": 23, "respondida": "ayer", "dia": "2026-10-02", "nota": 5, "cliente": "x", "recomienda": true}"#.to_string(),
            "timestamp.ndjson:1: column 'respondida': expected a timestamp",
        ),
        (
            "string_number.json",
            r#"[{"id": 24, "respondida": "2026-10-02T10:00:00Z", "dia": "2026-10-02", "nota": "5", "cliente": "x", "recomienda": true}]"#.to_string(),
            "string_number.json: row 1: column 'nota': expected a number, found the string '5'",
        ),
        (
            "missing_key.ndjson",
            format!("{}\n{}\n", r#"{"id": 25, "respondida": "2026-10-02T10:00:00Z", "dia": "2026-10-02", "nota": 5, "cliente": "x", "recomienda": true}"#, r#"{"id": 26, "respondida": "2026-10-02T10:00:00Z", "dia": "2026-10-02", "nota": 5, "recomienda": true}"#),
            "missing_key.ndjson:2: column 'cliente' declared in sources/encuestas.yaml is missing",
        ),
        (
            "bad_bool.csv",
            format!("{header}27,2026-10-02 10:00:00,2026-10-02,5,x,quizás\n"),
            "bad_bool.csv:2: column 'recomienda': expected true or false, found 'quizás'",
        ),
        ("empty.csv", String::new(), "empty.csv:1: the file is empty"),
        (
            "ragged.csv",
            format!("{header}28,2026-10-02 10:00:00,2026-10-02,5\n"),
            "ragged.csv:2: malformed CSV row",
        ),
        (
            "huge.csv",
            format!("{header}{good_row}29,2026-10-02 10:00:00,2026-10-02,{huge},x,true\n"),
            "huge.csv:3: column 'nota': expected a number, like 1234.5, found 'xxxxxxxxxx",
        ),
        (
            "not_json.json",
            "{\"id\": 1".to_string(),
            "not_json.json:1: expected a JSON array of objects",
        ),
    ];
    let scratch = tempfile::tempdir().expect("temp dir");
    for (name, content, expected) in &cases {
        let path = scratch.path().join(name);
        std::fs::write(&path, content).expect("write input");
        let path_text = path.display().to_string();
        let output = tablero(dir, &["ingest", "encuestas", &path_text]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        let expected = format!("{}/{expected}", scratch.path().display());
        assert!(
            stderr.contains(&expected),
            "{name}: expected `{expected}` in\n{}",
            &stderr[..stderr.len().min(2000)]
        );
        assert!(stderr.len() < 2000, "{name}: the message quotes too much");
        assert_eq!(table_version(dir), version, "{name} changed the table");
    }
    // One good file and one bad file are one batch: nothing of the good one is stored.
    let good = scratch.path().join("good.csv");
    std::fs::write(&good, format!("{header}{good_row}")).expect("write");
    let bad = scratch.path().join("type.csv");
    let output = tablero(
        dir,
        &[
            "ingest",
            "encuestas",
            &good.display().to_string(),
            &bad.display().to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(table_version(dir), version);
    assert!(!stored_ids(dir).contains_key(&20));

    // A header alone is an empty batch: success, nothing written.
    let header_only = scratch.path().join("header.csv");
    std::fs::write(&header_only, header).expect("write");
    let out = ok(&tablero(
        dir,
        &["ingest", "encuestas", &header_only.display().to_string()],
    ));
    assert!(out.contains("no rows to store"), "{out}");
    assert_eq!(table_version(dir), version);

    // A BOM before the header is not part of the first column's name.
    let bom = scratch.path().join("bom.csv");
    std::fs::write(&bom, format!("\u{feff}{header}{good_row}")).expect("write");
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &bom.display().to_string()],
    ));
    assert_eq!(stored_ids(dir).get(&20), Some(&1));

    // Wrong source, wrong kind of source, unknown file type, bad key.
    for (args, expected) in [
        (vec!["ingest", "nadie", "x.csv"], "no source named `nadie`"),
        (
            vec!["ingest", "encuestas_archivo", "x.csv"],
            "not from the store",
        ),
        (vec!["ingest", "encuestas", "x.txt2"], "unknown file type"),
        (
            vec![
                "ingest",
                "encuestas",
                &good.display().to_string(),
                "--idempotency-key",
                "",
            ],
            "idempotency key must be",
        ),
    ] {
        let output = tablero(dir, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            text(&output.stderr).contains(expected),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    // No file at all is bad usage.
    assert_eq!(
        tablero(dir, &["ingest", "encuestas"]).status.code(),
        Some(2)
    );
}

/// Damage the newest version's data file or log entry: readers fall back to the last intact
/// version and say so; nothing panics.
#[test]
fn a_damaged_newest_version_is_skipped_with_a_message() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 4] = [
        ("truncated data file", |table| {
            let file = newest_data_file(table);
            let len = std::fs::metadata(&file).expect("meta").len();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .expect("open");
            file.set_len(len / 2).expect("truncate");
        }),
        ("garbage data file", |table| {
            let file = newest_data_file(table);
            let len = std::fs::metadata(&file).expect("meta").len() as usize;
            std::fs::write(&file, vec![b'#'; len]).expect("overwrite");
        }),
        ("garbage log entry", |table| {
            std::fs::write(log_entry(table, 2), "{\"add\": garbage").expect("overwrite");
        }),
        ("truncated log entry", |table| {
            let path = log_entry(table, 2);
            let content = std::fs::read(&path).expect("read");
            std::fs::write(&path, &content[..content.len() / 3]).expect("truncate");
        }),
    ];
    for (what, damage) in damages {
        let ws = workspace();
        let dir = ws.path();
        ok(&tablero(
            dir,
            &["ingest", "encuestas", &batch("agosto.csv")],
        ));
        ok(&tablero(
            dir,
            &["ingest", "encuestas", &batch("septiembre.ndjson")],
        ));
        damage(&dir.join("data/store/encuestas"));
        let output = tablero(
            dir,
            &[
                "compute",
                "nota_total",
                "--from",
                "2026-08",
                "--to",
                "2026-09",
                "--as-of",
                "2026-11-15",
                "--format",
                "csv",
            ],
        );
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{what}: {stderr}");
        assert!(
            stderr.contains("reading version 1 instead, the last intact one"),
            "{what}: {stderr}"
        );
        // Version 1 holds August's batch only: 33 in August, 3 in September.
        let out = text(&output.stdout);
        assert!(out.contains("nota_total,2026-08,33,"), "{what}: {out}");
        assert!(out.contains("nota_total,2026-09,3,"), "{what}: {out}");
        let info = tablero(dir, &["store", "info", "encuestas"]);
        assert!(info.status.success(), "{what}");
        assert!(text(&info.stderr).contains("warning:"), "{what}");
        assert!(text(&info.stdout).contains("version:     1"), "{what}");
    }
}

fn log_entry(table: &Path, version: u64) -> PathBuf {
    table.join("_delta_log").join(format!("{version:020}.json"))
}

fn newest_data_file(table: &Path) -> PathBuf {
    let log = std::fs::read_to_string(log_entry(table, 2)).expect("log entry");
    let add = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| {
            v.pointer("/add/path")
                .and_then(|p| p.as_str())
                .map(String::from)
        })
        .expect("an add action");
    table.join(add)
}

/// A batch of `rows` generated rows with ids `first..first + rows`.
fn generated_batch(path: &Path, first: i64, rows: usize, rng: &mut ChaCha8Rng) {
    let mut text = String::from("id,respondida,dia,nota,cliente,recomienda\n");
    for i in 0..rows as i64 {
        let day = rng.random_range(1..=28);
        let hour = rng.random_range(0..24);
        let nota = rng.random_range(0..=10);
        let cliente = ["Banco Sur", "Retail Norte", "Minera Andes"][rng.random_range(0..3)];
        text.push_str(&format!(
            "{},2026-07-{day:02} {hour:02}:15:00,2026-07-{day:02},{nota},{cliente},{}\n",
            first + i,
            nota >= 9
        ));
    }
    std::fs::write(path, text).expect("write batch");
}

/// Checks the store against the batches: each batch is stored whole or not at all, never
/// twice, and every acknowledged batch is there.
#[track_caller]
fn check_batches(dir: &Path, batches: &[(i64, usize)], acknowledged: &[bool]) {
    let ids = stored_ids(dir);
    assert!(ids.values().all(|&n| n == 1), "a row is stored twice");
    for (b, &(first, rows)) in batches.iter().enumerate() {
        let present = (first..first + rows as i64)
            .filter(|id| ids.contains_key(id))
            .count();
        assert!(
            present == 0 || present == rows,
            "batch {b}: {present} of {rows} rows stored"
        );
        if acknowledged[b] {
            assert_eq!(present, rows, "acknowledged batch {b} is missing");
        }
    }
    let expected: usize = batches
        .iter()
        .filter(|&&(first, _)| ids.contains_key(&first))
        .map(|&(_, rows)| rows)
        .sum();
    assert_eq!(ids.len(), expected, "rows from no known batch");
}

fn spawn_ingest(dir: &Path, file: &Path, key: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tablero"))
        .arg("-w")
        .arg(dir)
        .args(["ingest", "encuestas"])
        .arg(file)
        .args(["--idempotency-key", key])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tablero")
}

/// SIGKILL at ≥ 50 seeded random moments of a batch. After each kill the store opens, every
/// acknowledged batch is there exactly once, and a killed batch is absent or whole; the client
/// then retries it with the same key (as any client of an idempotent API does) and it is
/// stored exactly once.
#[test]
fn sigkill_at_any_moment_loses_or_doubles_nothing() {
    let seed: u64 = std::env::var("TABLERO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261122);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ws = workspace();
    let dir = ws.path();
    let inputs = tempfile::tempdir().expect("temp dir");
    let mut batches: Vec<(i64, usize)> = Vec::new();
    let mut acknowledged: Vec<bool> = Vec::new();

    // Calibrate: how long an uninterrupted ingest takes here.
    let mut durations = Vec::new();
    for b in 0..3 {
        let rows = 2000;
        let first = b as i64 * 100_000;
        let file = inputs.path().join(format!("b{b}.csv"));
        generated_batch(&file, first, rows, &mut rng);
        let started = Instant::now();
        let out = spawn_ingest(dir, &file, &format!("lote-{b}"))
            .wait_with_output()
            .expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
        durations.push(started.elapsed());
        batches.push((first, rows));
        acknowledged.push(true);
    }
    let window = durations.iter().max().copied().unwrap_or_default() * 6 / 5;

    let mut kills = 0;
    let mut outcomes: HashMap<&str, usize> = HashMap::new();
    let mut b = batches.len();
    while kills < 50 {
        assert!(b < 200, "too few kills landed inside a batch ({kills})");
        let rows = rng.random_range(200..4000);
        let first = b as i64 * 100_000;
        let file = inputs.path().join(format!("b{b}.csv"));
        generated_batch(&file, first, rows, &mut rng);
        let key = format!("lote-{b}");
        batches.push((first, rows));
        acknowledged.push(false);
        let delay = window.mul_f64(rng.random_range(0.0..1.0));
        let mut child = spawn_ingest(dir, &file, &key);
        std::thread::sleep(delay);
        let finished = child.try_wait().expect("try_wait").is_some();
        if !finished {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let out = child.wait_with_output().expect("wait");
        if out.status.success() && text(&out.stdout).contains("stored") {
            acknowledged[b] = true;
        }
        // The store opens and holds whole batches only.
        check_batches(dir, &batches, &acknowledged);
        if !acknowledged[b] {
            let present = stored_ids(dir).contains_key(&first);
            *outcomes
                .entry(if present {
                    "killed after commit"
                } else {
                    "killed before commit"
                })
                .or_default() += 1;
            // Retry with the same key: stored exactly once either way.
            let retry = spawn_ingest(dir, &file, &key)
                .wait_with_output()
                .expect("retry");
            assert!(retry.status.success(), "retry: {}", text(&retry.stderr));
            acknowledged[b] = true;
            check_batches(dir, &batches, &acknowledged);
        } else {
            *outcomes.entry("finished before the kill").or_default() += 1;
        }
        b += 1;
    }
    eprintln!("seed {seed}: {kills} kills, window {window:?}, outcomes {outcomes:?}");
    assert!(
        outcomes.get("killed before commit").copied().unwrap_or(0) > 0,
        "no kill landed before a commit: {outcomes:?}"
    );
    // Leftovers of killed writers (files no commit names) do not disturb a compaction.
    ok(&tablero(dir, &["store", "compact", "encuestas"]));
    check_batches(dir, &batches, &acknowledged);
}

/// Two processes push batches at the same time, some with the same keys: every batch is
/// stored exactly once.
#[test]
fn two_writers_at_once_lose_and_double_nothing() {
    let ws = workspace();
    let dir = ws.path().to_path_buf();
    let inputs = tempfile::tempdir().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let per_writer = 12;
    let mut batches = Vec::new();
    for b in 0..per_writer * 2 {
        let rows = rng.random_range(50..400);
        let first = b as i64 * 10_000;
        generated_batch(
            &inputs.path().join(format!("b{b}.csv")),
            first,
            rows,
            &mut rng,
        );
        batches.push((first, rows));
    }
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let dir = dir.clone();
            let inputs = inputs.path().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..per_writer {
                    // Writer 0 pushes batches 0..12, writer 1 pushes 12..24; both also push
                    // every fourth batch of the other with the same key, as a retrying client.
                    let own = w * per_writer + i;
                    let mut list = vec![own];
                    if i % 4 == 0 {
                        list.push((1 - w) * per_writer + i);
                    }
                    for b in list {
                        let out = spawn_ingest(
                            &dir,
                            &inputs.join(format!("b{b}.csv")),
                            &format!("lote-{b}"),
                        )
                        .wait_with_output()
                        .expect("wait");
                        assert!(out.status.success(), "{}", text(&out.stderr));
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    check_batches(&dir, &batches, &vec![true; batches.len()]);
    let total: usize = batches.iter().map(|(_, rows)| rows).sum();
    assert_eq!(stored_ids(&dir).len(), total);
}
