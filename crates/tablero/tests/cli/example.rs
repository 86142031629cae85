//! The example company (`tablero init --example 23people`) passes its own checks, every KPI has
//! a value for each of the last 24 complete months, one past month's numbers are pinned by a
//! snapshot (compared as numbers, within a relative 1e-9), and the generated data stays in
//! plausible ranges. `example_duckdb.rs` checks the numbers themselves against DuckDB.
//!
//! Everything runs the real binary on a workspace generated with a fixed "today", so the
//! numbers do not move. `TABLERO_UPDATE_SNAPSHOTS=1` rewrites the snapshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TODAY: &str = "2026-10-15";

fn tablero(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(args)
        .output()
        .expect("run tablero");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One example workspace shared by the tests of this file.
fn workspace() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme");
        let p = path.to_str().unwrap();
        let (code, out, err) = tablero(&["init", p, "--example", "23people", "--today", TODAY]);
        assert_eq!(code, 0, "{out}{err}");
        dir
    })
    .path()
    .join("acme")
    .leak()
}

fn ws() -> String {
    workspace().to_str().unwrap().to_string()
}

#[test]
fn example_passes_check_smart_without_warnings() {
    let (code, out, err) = tablero(&["-w", &ws(), "check", "--smart"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("28 KPIs, 0 warning(s)"), "{out}{err}");
    assert!(err.is_empty(), "{err}");
}

fn json_values(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec![
        "-w".to_string(),
        ws(),
        "compute".into(),
        "--format".into(),
        "json".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (code, out, err) = tablero(&refs);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_kpi_has_a_value_in_the_last_24_complete_months() {
    // Today is 2026-10-15: the last complete month is 2026-09, 24 months back is 2024-10.
    // Each KPI at its own grain: 24 months, or the 8 quarters 2024-Q4..2026-Q3.
    let results = json_values(&["--from", "2024-10", "--to", "2026-09", "--as-of", TODAY]);
    assert_eq!(results.len(), 28);
    for kpi in &results {
        let values = kpi["values"].as_array().unwrap();
        let expected = if kpi["grain"] == "quarter" { 8 } else { 24 };
        assert_eq!(values.len(), expected, "{}", kpi["kpi"]);
        for v in values {
            assert!(
                v["value"].is_number(),
                "{} {} has no value",
                kpi["kpi"],
                v["period"]
            );
            assert_eq!(v["partial"], false);
        }
    }
}

#[test]
fn statuses_tell_a_story() {
    let results = json_values(&["--from", "2026-04", "--to", "2026-09", "--as-of", TODAY]);
    let statuses: Vec<String> = results
        .iter()
        .flat_map(|k| {
            k["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["status"].as_str().unwrap().to_string())
        })
        .collect();
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
    // Mostly on track, with some at risk and some off track, as in a real company.
    assert!(count("on_track") > statuses.len() / 2, "{statuses:?}");
    assert!(count("at_risk") >= 5, "{statuses:?}");
    assert!(count("off_track") >= 5, "{statuses:?}");
}

#[test]
fn snapshot_of_a_past_month() {
    let (code, out, err) = tablero(&[
        "-w",
        &ws(),
        "compute",
        "--from",
        "2026-06",
        "--to",
        "2026-06",
        "--as-of",
        TODAY,
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/example_2026-06.csv");
    if std::env::var_os("TABLERO_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .expect("snapshot exists (TABLERO_UPDATE_SNAPSHOTS=1 writes it)");
    let problems = csv_differences(&expected, &out);
    assert!(
        problems.is_empty(),
        "the example's numbers for 2026-06 changed:\n{}",
        problems.join("\n")
    );
}

/// Where two `compute --format csv` outputs differ: the `value` and `target` columns compared
/// as numbers within a relative 1e-9 (a snapshot pins the numbers, not their last bits, which
/// `same_digits.rs` checks), every other cell and the header exactly.
fn csv_differences(expected: &str, actual: &str) -> Vec<String> {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    if expected.len() != actual.len() || expected.first() != actual.first() {
        return vec![format!(
            "expected {} lines with header {:?}, got {} with {:?}",
            expected.len(),
            expected.first(),
            actual.len(),
            actual.first()
        )];
    }
    let header: Vec<&str> = expected[0].split(',').collect();
    let mut problems = Vec::new();
    for (e, a) in expected.iter().zip(&actual).skip(1) {
        let (ec, ac): (Vec<&str>, Vec<&str>) = (e.split(',').collect(), a.split(',').collect());
        if ec.len() != ac.len() || ec.len() != header.len() {
            problems.push(format!("expected {e}\n     got {a}"));
            continue;
        }
        for ((name, x), y) in header.iter().zip(&ec).zip(&ac) {
            let same = match (*name, x.parse::<f64>(), y.parse::<f64>()) {
                ("value" | "target", Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                _ => x == y,
            };
            if !same {
                problems.push(format!("{}: {name} expected {x}, got {y}", ec[0]));
            }
        }
    }
    problems
}

#[test]
fn snapshot_comparison_tolerates_only_float_noise() {
    let snapshot =
        "kpi,period,value,target,status\nventas,2026-06,1343596348,1456040461.7,off_track\n";
    // The last bits of a float sum: equal.
    let noise = "kpi,period,value,target,status\nventas,2026-06,1343596348.0000002,1456040461.7,off_track\n";
    assert!(csv_differences(snapshot, noise).is_empty());
    // A real change of a value, a status, a period or a missing row: different.
    for changed in [
        "kpi,period,value,target,status\nventas,2026-06,1343596448,1456040461.7,off_track\n",
        "kpi,period,value,target,status\nventas,2026-06,1343596348,1456040461.7,at_risk\n",
        "kpi,period,value,target,status\nventas,2026-05,1343596348,1456040461.7,off_track\n",
        "kpi,period,value,target,status\nventas,2026-06,,1456040461.7,off_track\n",
        "kpi,period,value,target,status\n",
    ] {
        assert!(!csv_differences(snapshot, changed).is_empty(), "{changed}");
    }
}

fn mean_of(results: &[serde_json::Value], kpi: &str) -> f64 {
    let k = results.iter().find(|k| k["kpi"] == kpi).unwrap();
    let values: Vec<f64> = k["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["value"].as_f64())
        .collect();
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn generated_data_is_plausible() {
    // Three complete years of months.
    let results = json_values(&["--from", "2023-10", "--to", "2026-09", "--as-of", TODAY]);
    let ranges = [
        ("tasa_conversion_oportunidades", 20.0, 35.0),
        ("satisfaccion_cliente_nps", 30.0, 60.0),
        ("tasa_rotacion_profesionales", 1.0, 2.0),
        ("margen_ebitda", 10.0, 20.0),
    ];
    for (kpi, lo, hi) in ranges {
        let mean = mean_of(&results, kpi);
        assert!(
            (lo..=hi).contains(&mean),
            "{kpi}: mean {mean} outside {lo}..{hi}"
        );
    }
    // About 300 people at the end.
    let people = std::fs::read_to_string(workspace().join("data/colaboradores.csv")).unwrap();
    let active = people
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            let left = cols[cols.len() - 2];
            left.is_empty() || left > TODAY
        })
        .count();
    assert!((270..=330).contains(&active), "{active} people active");
    // A few large clients carry a large share of sales: the largest has 12–25 % in a typical month.
    let share = mean_of(&results, "concentracion_ventas_cliente");
    assert!(
        (12.0..=25.0).contains(&share),
        "largest client's share {share}"
    );
}
