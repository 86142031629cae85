//! `tablero bench` (SPEC §10): generates the example company at a given size, computes its
//! whole catalog monthly over three years — with the embedded engine, on a cluster, or with
//! the invoices in a PostgreSQL table (`--engine`) — and prints rows per second and seconds
//! per full catalog; `--compare duckdb` computes the same KPIs in DuckDB (the independent
//! check `tests/example_check.py`, embedded in the binary) over the same files, prints the
//! ratio and says whether the values agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;
use tablero_engine::{KpiResult, Request};

use crate::{EXIT_INTERNAL, EXIT_USER, Failure};

/// The DuckDB computation of the example's KPIs, written from SPEC.md independently of the
/// engine (also run by the tests and the browser tests).
const DUCKDB_CHECK: &str = include_str!("../../../tests/example_check.py");

/// Where the catalog is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    Embedded,
    /// `ballista://HOST:PORT`, written into the generated workspace's `tablero.toml`.
    Cluster(String),
    /// `postgres://…`: the invoices are loaded into [`BENCH_TABLE`] there and the source reads
    /// that table through the connection `bench`.
    Postgres(String),
}

/// The table `--engine postgres://…` (re)creates for the invoices.
pub const BENCH_TABLE: &str = "tablero_bench_facturas";

impl Engine {
    /// `--engine`'s value.
    pub fn parse(text: &str) -> Result<Engine, Failure> {
        if text == "embedded" {
            Ok(Engine::Embedded)
        } else if text.starts_with("ballista://") {
            Ok(Engine::Cluster(text.to_string()))
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Engine::Postgres(text.to_string()))
        } else {
            Err(Failure {
                code: crate::EXIT_USAGE,
                message: format!(
                    "--engine: `{text}` is not `embedded`, `ballista://HOST:PORT` or `postgres://USER@HOST:PORT/DB`"
                ),
            })
        }
    }
}

/// What the command was asked for.
pub struct Options {
    pub engine: Engine,
    pub rows: u64,
    pub runs: u32,
    pub compare_duckdb: bool,
    pub json: bool,
    pub seed: u64,
    pub today: Date,
    /// Keep the generated workspace here instead of a temporary folder.
    pub keep: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    /// Invoice rows generated (the size asked for, rounded to whole invoices).
    invoice_rows: u64,
    /// Rows of every data file.
    total_rows: u64,
    kpis: usize,
    /// Monthly periods computed per KPI.
    months: i32,
    /// Seconds of each full-catalog computation, in order.
    runs: Vec<f64>,
    /// The median run.
    seconds_per_catalog: f64,
    rows_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    duckdb: Option<DuckDb>,
}

#[derive(Serialize)]
struct DuckDb {
    /// The whole DuckDB computation: loading the files and every KPI.
    seconds: f64,
    /// Tablero's seconds per catalog over DuckDB's (below 1: Tablero is faster).
    ratio: f64,
    /// Values compared (KPI × period) and those that differ by more than 1e-9 relative.
    compared: usize,
    differences: Vec<String>,
}

const MONTHS: i32 = 36;

/// Runs the benchmark and prints its report.
pub async fn bench(options: Options) -> Result<(), Failure> {
    if options.rows == 0 {
        return Err(Failure {
            code: EXIT_USER,
            message: "--rows must be at least 1".into(),
        });
    }
    let temporary = tempfile::Builder::new()
        .prefix("tablero-bench-")
        .tempdir()
        .map_err(|e| internal(format!("cannot create a temporary folder: {e}")))?;
    let root = match &options.keep {
        Some(dir) => dir.clone(),
        None => temporary.path().join("23people"),
    };
    // The invoices of the company at its own size, to know how many times to split each.
    let probe = temporary.path().join("probe");
    let base = tablero_example::write_example(
        &probe,
        &tablero_example::GenerateOptions {
            seed: options.seed,
            ..tablero_example::GenerateOptions::new(options.today)
        },
        false,
    )
    .map_err(|e| internal(e.to_string()))?;
    let base_invoices = invoice_rows(&base).max(1);
    let scale = options
        .rows
        .div_ceil(base_invoices)
        .clamp(1, u64::from(u32::MAX)) as u32;
    let _ = std::fs::remove_dir_all(&probe);
    let summary = tablero_example::write_example(
        &root,
        &tablero_example::GenerateOptions {
            seed: options.seed,
            today: options.today,
            invoice_scale: scale,
            progress: !options.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        },
        options.keep.is_some(),
    )
    .map_err(|e| Failure {
        code: EXIT_USER,
        message: e.to_string(),
    })?;
    crate::store::seed_example(&root).await?;
    match &options.engine {
        Engine::Embedded => {}
        Engine::Cluster(url) => {
            let toml = root.join("tablero.toml");
            let text = std::fs::read_to_string(&toml)
                .map_err(|e| internal(format!("{}: {e}", toml.display())))?;
            std::fs::write(&toml, format!("engine = \"{url}\"\n{text}"))
                .map_err(|e| internal(format!("{}: {e}", toml.display())))?;
        }
        Engine::Postgres(url) => {
            if !options.json {
                eprintln!("loading the invoices into {BENCH_TABLE}…");
            }
            crate::bench_postgres::load_invoices(&root, url).await?;
        }
    }
    let invoice_rows = invoice_rows(&summary);
    let total_rows: u64 = summary.files.iter().map(|(_, n)| *n as u64).sum();

    let (engine, _) = tablero_engine::open(&root)?;
    let last = options.today.first_of_month();
    let first = last
        .checked_sub((MONTHS - 1).months())
        .map_err(|e| internal(e.to_string()))?;
    let label = |d: Date| d.strftime("%Y-%m").to_string();
    let as_of = engine
        .calendar()
        .parse_as_of(&options.today.to_string())
        .map_err(|e| internal(e.to_string()))?;
    let request = Request {
        from: Some(label(first)),
        to: Some(label(last)),
        as_of: Some(as_of),
        ..Request::default()
    };
    let mut runs = Vec::new();
    let mut results = Vec::new();
    for _ in 0..options.runs.max(1) {
        let started = Instant::now();
        results = engine.compute(&request).await?;
        runs.push(started.elapsed().as_secs_f64());
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let duckdb = if options.compare_duckdb {
        compare_duckdb(
            &root,
            temporary.path(),
            &results,
            &label(first),
            &label(last),
            options.today,
            median,
        )?
    } else {
        None
    };
    let report = Report {
        invoice_rows,
        total_rows,
        kpis: results.len(),
        months: MONTHS,
        runs,
        seconds_per_catalog: median,
        rows_per_second: total_rows as f64 / median.max(1e-9),
        duckdb,
    };
    if options.json {
        let text = serde_json::to_string(&report).map_err(|e| internal(e.to_string()))?;
        out!("{text}");
    } else {
        print_text(&report);
    }
    Ok(())
}

fn invoice_rows(summary: &tablero_example::Summary) -> u64 {
    summary
        .files
        .iter()
        .filter(|(name, _)| name.starts_with("facturas."))
        .map(|(_, n)| *n as u64)
        .sum()
}

fn internal(message: String) -> Failure {
    Failure {
        code: EXIT_INTERNAL,
        message,
    }
}

fn print_text(report: &Report) {
    out!(
        "{} invoice rows, {} rows in all; {} KPIs monthly over {} months",
        report.invoice_rows,
        report.total_rows,
        report.kpis,
        report.months
    );
    let runs: Vec<String> = report.runs.iter().map(|s| format!("{s:.3}")).collect();
    out!(
        "tablero: {:.3} s per full catalog (median of {} runs: {} s), {:.0} rows/s",
        report.seconds_per_catalog,
        report.runs.len(),
        runs.join(", "),
        report.rows_per_second
    );
    if let Some(d) = &report.duckdb {
        out!(
            "duckdb:  {:.3} s for the same KPIs (loading the files included); tablero / duckdb = {:.2}×",
            d.seconds,
            d.ratio
        );
        if d.differences.is_empty() {
            out!("values:  identical ({} compared)", d.compared);
        } else {
            out!(
                "values:  {} of {} differ:\n  {}",
                d.differences.len(),
                d.compared,
                d.differences.join("\n  ")
            );
        }
    }
}

/// Runs the embedded DuckDB computation over the workspace's files, times it, and compares
/// its values with the engine's. `None` (with a note) when Python has no DuckDB.
fn compare_duckdb(
    root: &Path,
    scratch: &Path,
    results: &[KpiResult],
    from: &str,
    to: &str,
    today: Date,
    tablero_seconds: f64,
) -> Result<Option<DuckDb>, Failure> {
    let available = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "--compare duckdb: skipped, Python's DuckDB package is not installed (python3 -m pip install duckdb)"
        );
        return Ok(None);
    }
    let script = scratch.join("duckdb_check.py");
    std::fs::write(&script, DUCKDB_CHECK)
        .map_err(|e| internal(format!("{}: {e}", script.display())))?;
    let started = Instant::now();
    let output = Command::new("python3")
        .arg(&script)
        .arg(root)
        .args(["--from", from, "--to", to, "--as-of", &today.to_string()])
        .output()
        .map_err(|e| internal(format!("cannot run python3: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(internal(format!(
            "the DuckDB computation failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut compared = 0;
    let mut differences = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(expected) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(result) = results.iter().find(|r| expected["kpi"] == r.kpi.as_str()) else {
            continue;
        };
        for value in expected["values"].as_array().into_iter().flatten() {
            let Some(ours) = result
                .values
                .iter()
                .find(|v| value["period"] == v.label.as_str())
            else {
                continue;
            };
            compared += 1;
            let theirs = value["value"].as_f64();
            let agree = match (ours.value, theirs) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                (None, None) => true,
                _ => false,
            };
            if !agree {
                differences.push(format!(
                    "{} {}: tablero {:?}, duckdb {:?}",
                    result.kpi, ours.label, ours.value, theirs
                ));
            }
        }
    }
    Ok(Some(DuckDb {
        seconds,
        ratio: tablero_seconds / seconds.max(1e-9),
        compared,
        differences,
    }))
}
