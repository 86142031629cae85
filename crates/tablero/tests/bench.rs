//! `tablero bench` (SPEC §10) end to end on a small size: the real binary generates the
//! company, times its catalog, and — with DuckDB's Python package, which `scripts/test.sh`
//! installs — computes the same KPIs in DuckDB and finds the same values.

use std::process::Command;

#[test]
fn bench_times_the_catalog_and_agrees_with_duckdb() {
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args([
            "bench",
            "--rows",
            "12000",
            "--runs",
            "2",
            "--today",
            "2026-10-15",
            "--compare",
            "duckdb",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    // The company has about 5,100 invoices up to 2026-10-15; each is split into
    // ceil(12,000 / invoices) = 3 rows, so at least 12,000 rows.
    let invoices = report["invoice_rows"].as_u64().unwrap();
    assert!((12_000..20_000).contains(&invoices), "{report}");
    assert_eq!(report["kpis"], 28);
    assert_eq!(report["months"], 36);
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);
    assert!(report["seconds_per_catalog"].as_f64().unwrap() > 0.0);
    assert!(report["rows_per_second"].as_f64().unwrap() > 0.0);
    let duckdb = &report["duckdb"];
    assert!(duckdb["seconds"].as_f64().unwrap() > 0.0, "{report}");
    // 27 monthly KPIs × 36 months (the last one in progress) and 12 quarters of the
    // quarterly one, at least; every value identical.
    assert!(duckdb["compared"].as_u64().unwrap() >= 27 * 36, "{report}");
    assert_eq!(duckdb["differences"], serde_json::json!([]), "{report}");
}

#[test]
fn bench_refuses_zero_rows() {
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["bench", "--rows", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rows"));
}
