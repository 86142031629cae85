//! The store through the real `tablero` binary: ingest in every format, values computed from
//! store tables (worked out by hand in `tests/store/README.md`), bad input, idempotency,
//! damaged files, two writers at once, and SIGKILL at many moments of a batch.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::store_support::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `period → value` of one KPI from `compute --format csv`.
fn values(dir: &Path, kpi: &str, from: &str, to: &str) -> Vec<(String, String)> {
    values_with(dir, &[], kpi, from, to)
}

/// [`values`] with environment variables set for `tablero`.
fn values_with(
    dir: &Path,
    env: &[(&str, &str)],
    kpi: &str,
    from: &str,
    to: &str,
) -> Vec<(String, String)> {
    let out = ok(&command(dir)
        .envs(env.iter().copied())
        .args([
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
        ])
        .output()
        .expect("run tablero"));
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

/// A daily rollup of a store table is kept in the workspace, extended with the files of each
/// later ingest instead of made again, and made again when compaction replaces the files —
/// the values (`tests/store/README.md`) the same at every step.
#[test]
fn rollups_are_kept_extended_on_ingest_and_rebuilt_after_compaction() {
    let ws = workspace();
    let dir = ws.path();
    // On by default; said anyway, as the test is about them.
    let on = [("TABLERO_ROLLUPS", "on")];
    let explain = |kpi: &str| {
        ok(&command(dir)
            .envs(on)
            .args(["explain", kpi, "--as-of", "2026-11-15"])
            .output()
            .expect("run tablero"))
    };
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    // Rows 1-5: notes Aug 10+9+6+8 = 33, Sep 3; by `dia`, Aug 3 and Sep 2 (09-06, whose
    // midnight does not exist, still a day of its own).
    assert_eq!(
        values_with(dir, &on, "nota_total", "2026-08", "2026-09"),
        pairs(&[("2026-08", "33"), ("2026-09", "3")])
    );
    assert_eq!(
        values_with(dir, &on, "respuestas_por_dia", "2026-08", "2026-09"),
        pairs(&[("2026-08", "3"), ("2026-09", "2")])
    );
    // The latest answer's note, a snapshot read from the rollup too: August row 3 (08-31
    // 23:30) 6, September row 5 3.
    assert_eq!(
        values_with(dir, &on, "ultima_nota", "2026-08", "2026-09"),
        pairs(&[("2026-08", "6"), ("2026-09", "3")])
    );
    let kept = dir.join(".tablero/cache/rollups");
    let files = std::fs::read_dir(&kept).expect("rollups kept").count();
    assert_eq!(files, 2, "one rollup per time column (respondida, dia)");
    let text = explain("nota_total");
    assert!(
        text.contains("read the daily rollup of `encuestas` by `respondida`")
            && text.contains("kept from an earlier computation of the same data"),
        "{text}"
    );

    // Rows 6-8 in one more file: the kept rollup takes in that file alone.
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("septiembre.ndjson")],
    ));
    let text = explain("nota_total");
    assert!(
        text.contains("extended with the 1 file(s) appended since"),
        "{text}"
    );
    // September 3 + 9 + 10 + 5 = 27.
    assert_eq!(
        values_with(dir, &on, "nota_total", "2026-08", "2026-09"),
        pairs(&[("2026-08", "33"), ("2026-09", "27")])
    );
    // September's latest answer is now row 7 (09-30 23:59): 10.
    assert_eq!(
        values_with(dir, &on, "ultima_nota", "2026-08", "2026-09"),
        pairs(&[("2026-08", "6"), ("2026-09", "10")])
    );
    let text = explain("ultima_nota");
    assert!(
        text.contains("l0 read the daily rollup of `encuestas` by `respondida`"),
        "{text}"
    );
    // NPS counts rows filtered on `nota`, not a dimension: its pass reads rows. September:
    // 2 promoters, 2 detractors of 4 answers -> 0.
    assert_eq!(
        values_with(dir, &on, "nps", "2026-08", "2026-09"),
        pairs(&[("2026-08", "25"), ("2026-09", "0")])
    );

    // Compaction writes the same rows into other files: the rollup is made again.
    ok(&tablero(dir, &["store", "compact", "encuestas"]));
    let text = explain("nota_total");
    assert!(text.contains("built now"), "{text}");
    assert_eq!(
        values_with(dir, &on, "nota_total", "2026-08", "2026-09"),
        pairs(&[("2026-08", "33"), ("2026-09", "27")])
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

type Damage = fn(&Path);

/// The four kinds of damage a power cut (or a failing disk) leaves in the newest version
/// (version 2 here): its data file cut short or overwritten, its log entry garbled or cut.
const DAMAGES: [(&str, Damage); 4] = [
    ("truncated data file", |table| {
        let file = data_file_of(table, 2);
        let len = std::fs::metadata(&file).expect("meta").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open");
        file.set_len(len / 2).expect("truncate");
    }),
    ("garbage data file", |table| {
        let file = data_file_of(table, 2);
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

/// August's and September's batches as versions 1 and 2, then version 2 damaged.
fn damaged_workspace(damage: Damage) -> tempfile::TempDir {
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
    ws
}

fn nota_total_aug_to_oct(dir: &Path) -> std::process::Output {
    tablero(
        dir,
        &[
            "compute",
            "nota_total",
            "--from",
            "2026-08",
            "--to",
            "2026-10",
            "--as-of",
            "2026-11-15",
            "--format",
            "csv",
        ],
    )
}

/// Damage the newest version's data file or log entry: readers fall back to the last intact
/// version and say so, `store info` names the torn version; nothing panics.
#[test]
fn a_damaged_newest_version_is_skipped_with_a_message() {
    for (what, damage) in DAMAGES {
        let ws = damaged_workspace(damage);
        let dir = ws.path();
        let output = nota_total_aug_to_oct(dir);
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
        let stdout = text(&info.stdout);
        assert!(stdout.contains("version:     1"), "{what}: {stdout}");
        assert!(
            stdout.contains("torn:        version 2 ("),
            "{what}: {stdout}"
        );
    }
}

/// Regression (issue 9, item 4): a writer used to append on top of a torn newest version and
/// answer success, so its batch — and every later one — sat behind the tear where no reader
/// looks. Now the write sets the torn version aside and its batch is visible.
#[test]
fn an_ingest_after_a_torn_version_is_visible() {
    for (what, damage) in DAMAGES {
        let ws = damaged_workspace(damage);
        let dir = ws.path();
        let table = dir.join("data/store/encuestas");
        let output = tablero(
            dir,
            &[
                "ingest",
                "encuestas",
                &batch("octubre.xlsx"),
                "--sheet",
                "Respuestas",
            ],
        );
        let stdout = ok(&output);
        assert!(
            stdout.contains("stored 2 rows into `encuestas` (table version 2)"),
            "{what}: {stdout}"
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("warning: set aside torn version 2 of `encuestas`"),
            "{what}: {stderr}"
        );
        // August (1–5) and October (9, 10) are visible; September's torn batch is not.
        let mut ids: Vec<i64> = stored_ids(dir).into_keys().collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 9, 10], "{what}");
        let output = nota_total_aug_to_oct(dir);
        assert!(
            text(&output.stderr).is_empty(),
            "{what}: {}",
            text(&output.stderr)
        );
        let out = ok(&output);
        assert!(out.contains("nota_total,2026-10,18,"), "{what}: {out}");
        // The torn entry is kept, with why, outside the log; `store info` says so.
        let kept: Vec<_> = std::fs::read_dir(table.join("_tablero_torn"))
            .expect("_tablero_torn")
            .flatten()
            .filter(|e| e.path().is_dir())
            .collect();
        assert_eq!(kept.len(), 1, "{what}");
        assert!(
            kept[0].path().join("00000000000000000002.json").exists(),
            "{what}"
        );
        let info = tablero(dir, &["store", "info", "encuestas"]);
        let stdout = ok(&info);
        assert!(
            text(&info.stderr).is_empty(),
            "{what}: {}",
            text(&info.stderr)
        );
        assert!(stdout.contains("version:     2"), "{what}: {stdout}");
        assert!(stdout.contains("rows:        7"), "{what}: {stdout}");
        assert!(
            stdout.contains("set aside:   version 2 on "),
            "{what}: {stdout}"
        );
        assert!(!stdout.contains("torn:"), "{what}: {stdout}");
        // Another Delta reader sees the same: deltalake itself, without Tablero's walk-back.
        let newest = runtime().block_on(async {
            let url = deltalake::ensure_table_uri(table.display().to_string()).expect("url");
            deltalake::open_table(url)
                .await
                .expect("deltalake loads the table")
                .version()
        });
        assert_eq!(newest, Some(2), "{what}");
    }
}

/// `tablero store repair` sets the torn version aside and says what it did; a second repair
/// finds nothing to do; the next ingest is version 2.
#[test]
fn store_repair_sets_torn_versions_aside_and_reports_it() {
    for (what, damage) in DAMAGES {
        let ws = damaged_workspace(damage);
        let dir = ws.path();
        let out = ok(&tablero(dir, &["store", "repair", "encuestas"]));
        assert!(
            out.contains("set aside torn version 2 of `encuestas` ("),
            "{what}: {out}"
        );
        assert!(out.contains("_tablero_torn/"), "{what}: {out}");
        assert!(
            out.contains("now reads at table version 1; the next ingest becomes version 2"),
            "{what}: {out}"
        );
        let again = ok(&tablero(dir, &["store", "repair", "encuestas"]));
        assert!(again.contains("needs no repair"), "{what}: {again}");
        let output = tablero(dir, &["ingest", "encuestas", &batch("septiembre.ndjson")]);
        assert!(ok(&output).contains("(table version 2)"), "{what}");
        assert!(!text(&output.stderr).contains("warning"), "{what}");
        assert_eq!(stored_ids(dir).len(), 8, "{what}");
    }
    // A table with nothing torn, and one with no table yet.
    let ws = workspace();
    let out = ok(&tablero(ws.path(), &["store", "repair", "encuestas"]));
    assert!(out.contains("needs no repair"), "{out}");
}

/// Damage below an intact newest version is no tear: a batch written on top would be hidden,
/// so the ingest is refused with a message naming the file, and repair moves nothing.
#[test]
fn damage_below_the_newest_version_refuses_writes() {
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
    let table = dir.join("data/store/encuestas");
    let file = data_file_of(&table, 1);
    let len = std::fs::metadata(&file).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let output = tablero(dir, &["ingest", "encuestas", &batch("octubre.xlsx")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("is damaged below its newest version: data file")
            && stderr.contains("of version 2 is damaged")
            && stderr.contains("nothing is written"),
        "{stderr}"
    );
    let output = tablero(dir, &["store", "repair", "encuestas"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("restore the damaged files from a backup"),
        "{}",
        text(&output.stderr)
    );
    assert!(log_entry(&table, 2).exists());
    assert!(!log_entry(&table, 3).exists());
}

/// The same idempotency key with another body is a conflict: exit 1, a clear message, nothing
/// stored; with the same body it stays "already stored".
#[test]
fn a_key_reused_for_another_body_is_a_conflict() {
    let ws = workspace();
    let dir = ws.path();
    let key = ["--idempotency-key", "crm-2026-09"];
    let first = ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv"), key[0], key[1]],
    ));
    assert!(first.contains("stored 5 rows"), "{first}");
    let version = table_version(dir);
    let other = tablero(
        dir,
        &[
            "ingest",
            "encuestas",
            &batch("septiembre.ndjson"),
            key[0],
            key[1],
        ],
    );
    assert_eq!(other.status.code(), Some(1), "{}", text(&other.stderr));
    assert!(
        text(&other.stderr).contains(
            "idempotency key `crm-2026-09` was already used for a different batch of source `encuestas`; nothing was stored"
        ),
        "{}",
        text(&other.stderr)
    );
    assert_eq!(table_version(dir), version);
    assert_eq!(stored_ids(dir).len(), 5);
    let same = ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv"), key[0], key[1]],
    ));
    assert!(same.contains("already stored"), "{same}");
    // The hash is in the same commit as the key, for any Delta reader to see.
    let entry = std::fs::read_to_string(log_entry(&dir.join("data/store/encuestas"), 1))
        .expect("log entry");
    assert!(entry.contains("\"tablero.batchSha256\":\""), "{entry}");
    assert!(
        entry.contains("\"appId\":\"tablero-ingest:crm-2026-09\""),
        "{entry}"
    );
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

/// The crash points, traced (each prints a line on stderr as the writer passes it).
const TRACE_PHASES: &str = "store::crash::before_data=return;store::crash::after_data=return;store::crash::after_log=return;store::crash::before_ack=return";

/// The last phase a killed writer reported passing ("none": killed while starting or reading
/// its input).
fn last_phase(stderr: &str) -> &'static str {
    ["before_ack", "after_log", "after_data", "before_data"]
        .into_iter()
        .find(|phase| stderr.contains(&format!("failpoint store::crash::{phase} reached")))
        .unwrap_or("none")
}

/// SIGKILL at ≥ 50 seeded random moments of a batch. After each kill the store opens, every
/// acknowledged batch is there exactly once, and a killed batch is absent or whole — present
/// if the writer had passed the log entry, absent if it had not finished its data files (each
/// writer reports the phases it passes on stderr); the
/// client then retries it with the same key (as any client of an idempotent API does) and it
/// is stored exactly once.
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
    let mut phases: HashMap<&str, usize> = HashMap::new();
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
        let mut child = spawn_ingest_with(dir, &file, &key, Some(TRACE_PHASES));
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
            let stderr = text(&out.stderr);
            let phase = last_phase(&stderr);
            match phase {
                "after_log" | "before_ack" => {
                    assert!(
                        present,
                        "killed {phase}: batch {b} missing; stderr: {stderr}"
                    )
                }
                // ("none" proves nothing: a binary without the fault points says nothing.)
                "before_data" => {
                    assert!(
                        !present,
                        "killed {phase}: batch {b} stored; stderr: {stderr}"
                    )
                }
                _ => {}
            }
            *outcomes
                .entry(if present {
                    "killed after commit"
                } else {
                    "killed before commit"
                })
                .or_default() += 1;
            *phases.entry(phase).or_default() += 1;
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
    eprintln!(
        "seed {seed}: {kills} kills, window {window:?}, outcomes {outcomes:?}, last phase passed {phases:?}"
    );
    assert!(
        outcomes.get("killed before commit").copied().unwrap_or(0) > 0,
        "no kill landed before a commit: {outcomes:?}"
    );
    // Leftovers of killed writers (files no commit names) do not disturb a compaction.
    ok(&tablero(dir, &["store", "compact", "encuestas"]));
    check_batches(dir, &batches, &acknowledged);
}

/// Waits until a writer stopped at a crash point says it is there (stderr line), at most two
/// minutes; returns whether it did.
fn wait_for_phase(child: &mut std::process::Child, phase: &str) -> bool {
    let stderr = child.stderr.take().expect("stderr piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = format!("tablero: failpoint {phase} reached");
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok(line) if line == wanted => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Deterministic crashes: the writer stops at each phase of a batch — checked but unwritten,
/// its data files durable, its log entry created and flushed, just before the acknowledgement —
/// and is SIGKILLed there. The batch is absent after the first two and whole after the others; a retry with the same key
/// stores it exactly once. Each phase is proved hit by the writer's own report from it.
#[test]
fn sigkill_at_each_phase_of_a_batch() {
    let ws = workspace();
    let dir = ws.path();
    let inputs = tempfile::tempdir().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    let phases = [
        ("store::crash::before_data", false),
        ("store::crash::after_data", false),
        ("store::crash::after_log", true),
        ("store::crash::before_ack", true),
    ];
    let mut hits: HashMap<&str, usize> = HashMap::new();
    let mut batches = Vec::new();
    for round in 0..2 {
        for (phase, committed) in phases {
            let b = batches.len() + 1;
            let (first, rows) = (b as i64 * 100_000, 300 + 100 * round);
            let file = inputs.path().join(format!("b{b}.csv"));
            generated_batch(&file, first, rows, &mut rng);
            let key = format!("fase-{b}");
            let failpoints = format!("{phase}=return(stop)");
            let mut child = spawn_ingest_with(dir, &file, &key, Some(&failpoints));
            let reached = wait_for_phase(&mut child, phase);
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("wait");
            assert!(reached, "{phase} was not reached ({status:?})");
            assert!(
                !status.success(),
                "{phase}: the writer finished before the kill"
            );
            *hits.entry(phase).or_default() += 1;
            let ids = stored_ids(dir);
            for &(earlier_first, earlier_rows) in &batches {
                assert_eq!(present(&ids, earlier_first, earlier_rows), earlier_rows);
            }
            let expected = if committed { rows } else { 0 };
            assert_eq!(present(&ids, first, rows), expected, "killed at {phase}");
            let retry = ok(&spawn_ingest(dir, &file, &key)
                .wait_with_output()
                .expect("retry"));
            if committed {
                assert!(retry.contains("already stored"), "{phase}: {retry}");
            } else {
                assert!(
                    retry.contains(&format!("stored {rows} rows")),
                    "{phase}: {retry}"
                );
            }
            assert_eq!(present(&stored_ids(dir), first, rows), rows, "{phase}");
            batches.push((first, rows));
        }
    }
    for (phase, _) in phases {
        assert!(
            hits.get(phase).copied().unwrap_or(0) >= 1,
            "{phase} never hit: {hits:?}"
        );
    }
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

/// A batch large enough for one Parquet writer per core (an append of 600,000 rows, written by
/// `min(cores, 600,000 / 250,000)` writers): one commit names every writer's files, and it
/// holds each row exactly once. Killed once its first data file is durable, the batch is
/// absent; sent again with the same key, it is stored whole.
#[test]
fn a_large_batch_is_written_in_parallel_as_one_commit() {
    let ws = workspace();
    let dir = ws.path();
    let inputs = tempfile::tempdir().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(600);
    let (first, rows) = (1_000_000_i64, 600_000_usize);
    let file = inputs.path().join("grande.csv");
    generated_batch(&file, first, rows, &mut rng);

    let failpoints = "store::crash::after_data=return(stop)";
    let mut child = spawn_ingest_with(dir, &file, "grande", Some(failpoints));
    let reached = wait_for_phase(&mut child, "store::crash::after_data");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(
        reached,
        "the first data file was never durable ({status:?})"
    );
    assert!(!status.success(), "the writer finished before the kill");
    assert_eq!(present(&stored_ids(dir), first, rows), 0);

    let out = ok(&spawn_ingest(dir, &file, "grande")
        .wait_with_output()
        .expect("ingest"));
    assert!(out.contains(&format!("stored {rows} rows")), "{out}");
    let ids = stored_ids(dir);
    assert_eq!(present(&ids, first, rows), rows);
    assert_eq!(ids.len(), rows);

    let version = table_version(dir).expect("a version");
    let table = dir.join("data/store/encuestas");
    let files = data_files_of(&table, version).len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // 600,000 rows at 250,000 or more per writer: at most 3 writers, each with its file(s).
    assert!(files >= cores.min(3), "{files} file(s) for {cores} core(s)");
}
