//! `tablero bench` (SPEC §10) end to end on a small size: the real binary generates the
//! company, times its catalog, and — with DuckDB's Python package, which `scripts/test.sh`
//! installs — computes the same KPIs in DuckDB and finds the same values.

use std::process::Command;

/// `tablero bench` at 12,000 invoice rows on `engine`, with DuckDB's values to compare.
fn bench(engine: &str) -> serde_json::Value {
    bench_keeping(engine, &[])
}

fn bench_keeping(engine: &str, more: &[&str]) -> serde_json::Value {
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
            "--engine",
            engine,
        ])
        .args(more)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

/// Every value of the catalog identical to DuckDB's.
fn agrees_with_duckdb(report: &serde_json::Value) {
    let duckdb = &report["duckdb"];
    assert!(duckdb["compared"].as_u64().unwrap() >= 27 * 36, "{report}");
    assert_eq!(duckdb["differences"], serde_json::json!([]), "{report}");
}

#[test]
fn bench_times_the_catalog_and_agrees_with_duckdb() {
    let report = bench("embedded");
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

/// `--engine ballista://…`: the same catalog computed on a cluster of one scheduler and two
/// executor processes gives DuckDB's values.
#[test]
fn bench_on_a_cluster_agrees_with_duckdb() {
    let cluster = crate::cluster_support::Cluster::start();
    let report = bench(&cluster.url());
    if report["duckdb"]["differences"] != serde_json::json!([]) {
        eprintln!("{}", cluster.log_tails());
    }
    agrees_with_duckdb(&report);
}

/// `--engine postgres://…`: the invoices loaded into a table of the server `scripts/test.sh`
/// starts, their aggregates computed there, and DuckDB's values over the files.
#[test]
fn bench_with_invoices_in_postgres_agrees_with_duckdb() {
    let url = std::env::var("TABLERO_TEST_POSTGRES").expect(
        "TABLERO_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a PostgreSQL server for these tests",
    );
    let kept = tempfile::tempdir().unwrap();
    let workspace = kept.path().join("23people");
    let report = bench_keeping(&url, &["--keep", workspace.to_str().unwrap()]);
    agrees_with_duckdb(&report);
    // The workspace read the invoices from the table, which holds every one of them.
    let source = std::fs::read_to_string(workspace.join("sources/facturas.yaml")).unwrap();
    assert!(
        source.contains("connection: bench\ntable: tablero_bench_facturas"),
        "{source}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: i64 = runtime.block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM tablero_bench_facturas")
            .fetch_one(&mut db)
            .await
            .unwrap()
    });
    assert_eq!(
        rows as u64,
        report["invoice_rows"].as_u64().unwrap(),
        "{report}"
    );
}

#[test]
fn bench_refuses_an_unknown_engine() {
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["bench", "--engine", "mysql://x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--engine"));
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
