//! End-to-end KPI cases: every folder under `tests/cases/` is a tiny workspace plus a
//! `case.txt` listing commands and what they must print, each value worked out by hand.
//!
//! `case.txt`: `$ ARGS` runs `tablero -w CASE ARGS`; the lines after it, up to a blank line, are
//! the expected stdout (CSV compared field by field, numbers within 1e-9 relative; JSON lines
//! matched as subsets); `! N` is the expected exit code (default 0); `~ TEXT` must appear in
//! stderr; `#` starts a comment.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Step {
    line: usize,
    args: String,
    expected: Vec<String>,
    code: i32,
    stderr: Vec<String>,
}

fn parse_case(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_output = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.starts_with('#') {
            continue;
        }
        if let Some(args) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: n + 1,
                args: args.to_string(),
                expected: vec![],
                code: 0,
                stderr: vec![],
            });
            in_output = true;
            continue;
        }
        let Some(step) = steps.last_mut() else {
            continue;
        };
        if let Some(code) = line.strip_prefix("! ") {
            step.code = code.trim().parse().expect("exit code in `! N`");
            in_output = false;
        } else if let Some(text) = line.strip_prefix("~ ") {
            step.stderr.push(text.to_string());
            in_output = false;
        } else if line.is_empty() {
            in_output = false;
        } else if in_output {
            step.expected.push(line.to_string());
        }
    }
    steps
}

/// Splits a command line with single or double quotes.
fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has || !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                    has = false;
                }
            }
            None => current.push(c),
        }
    }
    if has || !current.is_empty() {
        args.push(current);
    }
    args
}

fn numbers_match(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn csv_line_matches(expected: &str, actual: &str) -> bool {
    let e: Vec<&str> = expected.split(',').collect();
    let a: Vec<&str> = actual.split(',').collect();
    e.len() == a.len()
        && e.iter()
            .zip(&a)
            .all(|(x, y)| match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => numbers_match(x, y),
                _ => x == y,
            })
}

fn json_subset(expected: &serde_json::Value, actual: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let got = a.get(k).ok_or_else(|| format!("missing key `{k}`"))?;
                json_subset(v, got).map_err(|m| format!("{k}: {m}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("expected {} elements, got {}", e.len(), a.len()));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                json_subset(x, y).map_err(|m| format!("[{i}] {m}"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (
                e.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            if numbers_match(e, a) {
                Ok(())
            } else {
                Err(format!("expected {e}, got {a}"))
            }
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("expected {e}, got {a}")),
    }
}

/// Runs the steps of `case` (its `case.txt`) against the workspace at `dir`; with
/// `computes_only`, only the `compute` steps that succeed.
fn run_case(case: &Path, dir: &Path, computes_only: bool) -> Vec<String> {
    run_case_with(case, dir, computes_only, &[])
}

/// [`run_case`] with environment variables set for `tablero`.
fn run_case_with(
    case: &Path,
    dir: &Path,
    computes_only: bool,
    env: &[(&str, &str)],
) -> Vec<String> {
    let text = std::fs::read_to_string(case.join("case.txt")).expect("case.txt");
    let mut failures = Vec::new();
    for step in parse_case(&text) {
        if computes_only && !(step.args.starts_with("compute ") && step.code == 0) {
            continue;
        }
        let output = Command::new(env!("CARGO_BIN_EXE_tablero"))
            .envs(env.iter().copied())
            .arg("-w")
            .arg(dir)
            .args(split_args(&step.args))
            .output()
            .expect("run tablero");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let at = format!(
            "{}:{} `{}`",
            case.join("case.txt").display(),
            step.line,
            step.args
        );
        let code = output.status.code().unwrap_or(-1);
        if code != step.code {
            failures.push(format!(
                "{at}: exit code {code}, expected {}\nstderr: {stderr}",
                step.code
            ));
            continue;
        }
        for needle in &step.stderr {
            if !stderr.contains(needle.as_str()) {
                failures.push(format!("{at}: stderr lacks `{needle}`\nstderr: {stderr}"));
            }
        }
        if step.expected.is_empty() {
            continue;
        }
        let actual: Vec<&str> = stdout.lines().collect();
        let is_json = step.expected[0].starts_with('{');
        if actual.len() != step.expected.len() {
            failures.push(format!(
                "{at}: {} lines, expected {}\n--- expected\n{}\n--- actual\n{stdout}",
                actual.len(),
                step.expected.len(),
                step.expected.join("\n")
            ));
            continue;
        }
        for (e, a) in step.expected.iter().zip(&actual) {
            let problem = if is_json {
                let e: serde_json::Value = serde_json::from_str(e).expect("expected JSON parses");
                match serde_json::from_str::<serde_json::Value>(a) {
                    Ok(a) => json_subset(&e, &a).err(),
                    Err(err) => Some(format!("output is not JSON: {err}")),
                }
            } else if csv_line_matches(e, a) {
                None
            } else {
                Some("line differs".to_string())
            };
            if let Some(problem) = problem {
                failures.push(format!("{at}: {problem}\n  expected: {e}\n  actual:   {a}"));
            }
        }
    }
    failures
}

/// Every case folder under `tests/cases/`, in order.
fn case_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.txt").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Every case's computations again with a variable of the engine set (`name=value`): the
/// way of computing it chooses must not change a value.
fn cases_with(name: &str, value: &str) {
    let mut failures = Vec::new();
    for dir in &case_dirs() {
        failures.extend(run_case_with(dir, dir, true, &[(name, value)]));
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) with {name}={value}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Each leaf planned on its own (`TABLERO_SHARED_PASSES=off`): the shared passes must not
/// change a value.
#[test]
fn kpi_cases_without_shared_passes() {
    cases_with("TABLERO_SHARED_PASSES", "off");
}

/// Every leaf read from rows (`TABLERO_ROLLUPS=off`): the daily rollups must not change a
/// value.
#[test]
fn kpi_cases_without_rollups() {
    cases_with("TABLERO_ROLLUPS", "off");
}

#[test]
fn kpi_cases() {
    let dirs = case_dirs();
    let only = std::env::var("TABLERO_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for dir in &dirs {
        if only.as_deref().is_some_and(|o| !dir.ends_with(o)) {
            continue;
        }
        ran += 1;
        failures.extend(run_case(dir, dir, false));
    }
    assert!(ran > 0, "no case ran");
    assert!(
        failures.is_empty(),
        "{} failure(s) in {ran} cases:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every case whose sources are all CSV files, a second time with their rows in tables of a
/// real PostgreSQL server (`scripts/test.sh` starts one: `TABLERO_TEST_POSTGRES`) and the
/// sources rewritten to `connection` + `table`: each `compute` must print the same
/// hand-worked values, now aggregated inside the database.
///
/// Rows are read with Tablero's CSV reader and stored by type: a `timestamp` column as
/// `timestamp without time zone` (the local wall-clock time, so the statement's `AT TIME ZONE`
/// does the reading) unless a value's wall time is ambiguous — the second pass of an hour the
/// clocks repeat — then as `timestamp with time zone`; a `date` as `date`.
#[test]
fn kpi_cases_on_postgres() {
    let admin = std::env::var("TABLERO_TEST_POSTGRES").expect(
        "TABLERO_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a PostgreSQL server for these tests",
    );
    let dirs = case_dirs();
    let only = std::env::var("TABLERO_CASE").ok();
    let database = format!("tablero_cases_{:016x}", rand::random::<u64>());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(postgres::create_database(&admin, &database));
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if only.as_deref().is_some_and(|o| name != o) {
            continue;
        }
        let copy = scratch.path().join(&name);
        let Some(tables) = runtime.block_on(postgres::load_case(dir, &copy, &url, &name)) else {
            continue;
        };
        ran.push(format!("{name} ({tables} tables)"));
        failures.extend(run_case(dir, &copy, true));
    }
    // Every case of the DST, midnight-UTC, fiscal and ISO-week kinds is among those run.
    for needed in [
        "dst_hours",
        "dst_madrid",
        "tz_midnight",
        "fiscal_year",
        "iso_week53",
        "week_ytd_fiscal",
    ] {
        assert!(
            only.is_some() || ran.iter().any(|r| r.starts_with(needed)),
            "case {needed} did not run on PostgreSQL; ran: {ran:?}"
        );
    }
    assert!(!ran.is_empty(), "no case ran");
    assert!(
        failures.is_empty(),
        "{} failure(s) in {} cases on PostgreSQL:\n\n{}",
        failures.len(),
        ran.len(),
        failures.join("\n\n")
    );
}

mod postgres {
    use std::path::Path;

    use deltalake::arrow::array::{
        Array, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use sqlx::{AssertSqlSafe, Connection, PgConnection};
    use tablero_model::{ColumnType, SourceData};

    pub async fn create_database(admin: &str, name: &str) -> String {
        let mut conn = PgConnection::connect(admin).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(admin).unwrap();
        url.set_path(name);
        url.to_string()
    }

    fn quote(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// Copies the case to `copy` with its CSV sources as tables of schema `case_NAME`; `None`
    /// (nothing copied) when the case does not load or reads other kinds of sources. Returns
    /// how many tables were made.
    pub async fn load_case(dir: &Path, copy: &Path, url: &str, name: &str) -> Option<usize> {
        let (workspace, diagnostics) = tablero_model::load_workspace(dir);
        if diagnostics.iter().any(|d| d.is_error()) || workspace.sources.is_empty() {
            return None;
        }
        let all_csv = workspace.sources.iter().all(
            |s| matches!(&s.data, SourceData::File(f) if f.extension().is_some_and(|e| e == "csv")),
        );
        if !all_csv {
            return None;
        }
        let settings = &workspace.settings;
        let calendar =
            tablero_calendar::Calendar::new(&settings.timezone, settings.fiscal_year_start)
                .unwrap();
        let zone = calendar.time_zone().clone();
        // A case about a file that does not read is not about where rows live.
        let mut read = Vec::new();
        for source in &workspace.sources {
            let SourceData::File(file) = &source.data else {
                return None;
            };
            let bytes = std::fs::read(dir.join(file)).ok()?;
            let label = file.display().to_string();
            read.push(tablero_store::rows::read_csv(&bytes, &label, source, &calendar).ok()?);
        }
        let schema = format!("case_{name}");
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {}", quote(&schema))))
            .execute(&mut conn)
            .await
            .unwrap();
        crate::cluster_support::copy_dir(dir, copy);
        let mut toml = std::fs::read_to_string(copy.join("tablero.toml")).unwrap();
        toml.push_str(&format!(
            "\n[connections.cases]\nurl = \"{url}\"\ntls = \"disable\"\n"
        ));
        std::fs::write(copy.join("tablero.toml"), toml).unwrap();
        for (source, batches) in workspace.sources.iter().zip(read) {
            let SourceData::File(file) = &source.data else {
                return None;
            };
            let table = format!("{}.{}", quote(&schema), quote(&source.name.value));
            // Per column: its PostgreSQL type and each row's value as text (None for null).
            let mut columns: Vec<(String, &'static str, Vec<Option<String>>)> = Vec::new();
            for (c, column) in source.columns.iter().enumerate() {
                let mut texts = Vec::new();
                let mut ambiguous = false;
                for batch in &batches {
                    let array = batch.column(c);
                    for row in 0..array.len() {
                        if array.is_null(row) {
                            texts.push(None);
                            continue;
                        }
                        let text = match column.ty {
                            ColumnType::String => array
                                .as_any()
                                .downcast_ref::<StringArray>()
                                .unwrap()
                                .value(row)
                                .to_string(),
                            ColumnType::Integer => array
                                .as_any()
                                .downcast_ref::<Int64Array>()
                                .unwrap()
                                .value(row)
                                .to_string(),
                            ColumnType::Number => {
                                format!(
                                    "{:?}",
                                    array
                                        .as_any()
                                        .downcast_ref::<Float64Array>()
                                        .unwrap()
                                        .value(row)
                                )
                            }
                            ColumnType::Boolean => array
                                .as_any()
                                .downcast_ref::<BooleanArray>()
                                .unwrap()
                                .value(row)
                                .to_string(),
                            ColumnType::Date | ColumnType::Timestamp => {
                                let micros = array
                                    .as_any()
                                    .downcast_ref::<TimestampMicrosecondArray>()
                                    .unwrap()
                                    .value(row);
                                let instant = jiff::Timestamp::from_microsecond(micros).unwrap();
                                let wall = instant.to_zoned(zone.clone()).datetime();
                                if column.ty == ColumnType::Date {
                                    wall.date().to_string()
                                } else {
                                    if calendar.local_instant(wall) != instant {
                                        ambiguous = true;
                                    }
                                    format!("{wall}|{instant}")
                                }
                            }
                        };
                        texts.push(Some(text));
                    }
                }
                let ty = match column.ty {
                    ColumnType::String => "text",
                    ColumnType::Integer => "bigint",
                    ColumnType::Number => "double precision",
                    ColumnType::Boolean => "boolean",
                    ColumnType::Date => "date",
                    ColumnType::Timestamp if ambiguous => "timestamp with time zone",
                    ColumnType::Timestamp => "timestamp without time zone",
                };
                // Timestamps carry both readings; keep the one the column's type holds.
                for text in texts.iter_mut().flatten() {
                    if let Some((wall, instant)) = text.clone().split_once('|') {
                        *text = if ambiguous {
                            instant.to_string()
                        } else {
                            wall.to_string()
                        };
                    }
                }
                columns.push((column.name.clone(), ty, texts));
            }
            let definition: Vec<String> = columns
                .iter()
                .map(|(n, ty, _)| format!("{} {ty}", quote(n)))
                .collect();
            sqlx::raw_sql(AssertSqlSafe(format!(
                "CREATE TABLE {table} ({})",
                definition.join(", ")
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            let rows = columns.first().map(|c| c.2.len()).unwrap_or(0);
            let names: Vec<String> = columns.iter().map(|c| quote(&c.0)).collect();
            let params: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty, _))| format!("${}::{ty}", i + 1))
                .collect();
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                params.join(", ")
            );
            for row in 0..rows {
                let mut query = sqlx::query(AssertSqlSafe(insert.clone()));
                for column in &columns {
                    query = query.bind(column.2[row].clone());
                }
                query.execute(&mut conn).await.unwrap();
            }
            // The source now names the table; everything else in its YAML stays.
            let yaml_path = copy.join(&source.file);
            let yaml = std::fs::read_to_string(&yaml_path).unwrap();
            let rewritten: String = yaml
                .lines()
                .map(|line| {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    let names_file = line
                        .trim_start()
                        .trim_start_matches("- ")
                        .strip_prefix("file:")
                        .is_some_and(|f| Path::new(f.trim()) == file.as_path());
                    if names_file {
                        let dash = if line.trim_start().starts_with("- ") {
                            "- "
                        } else {
                            ""
                        };
                        let inner = format!("{indent}{}", if dash.is_empty() { "" } else { "  " });
                        format!(
                            "{indent}{dash}connection: cases\n{inner}table: {schema}.{}\n",
                            source.name.value
                        )
                    } else {
                        format!("{line}\n")
                    }
                })
                .collect();
            std::fs::write(&yaml_path, rewritten).unwrap();
            // No file to fall back on: the values can only come from the database.
            std::fs::remove_file(copy.join(file)).unwrap();
        }
        Some(workspace.sources.len())
    }
}

/// The cases a third time on an Apache Ballista cluster of one scheduler and two executor
/// processes (`tablero cluster …`, started here on free loopback ports), the workspaces
/// naming it with `engine = "ballista://…"`: each `compute` must print the same values, with
/// the daily rollups summed up on the cluster and without them (every leaf's rows there).
#[test]
fn kpi_cases_on_a_cluster() {
    let cluster = crate::cluster_support::Cluster::start();
    let dirs = case_dirs();
    let only = std::env::var("TABLERO_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if only.as_deref().is_some_and(|o| name != o) {
            continue;
        }
        let copy = cluster.workspace(dir, &name);
        ran += 1;
        failures.extend(run_case(dir, &copy, true));
        failures.extend(run_case_with(
            dir,
            &copy,
            true,
            &[("TABLERO_ROLLUPS", "off")],
        ));
    }
    assert!(ran > 0, "no case ran");
    if !failures.is_empty() {
        eprintln!("{}", cluster.log_tails());
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) in {ran} cases on the cluster:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
