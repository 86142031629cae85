//! The example company's numbers checked by something other than Tablero: every KPI of the
//! 23people catalog, over twelve complete months and the month in progress, recomputed from the
//! generated files by DuckDB (`tests/example_check.py`, written from SPEC.md and the example's
//! YAML, not from the engine) and compared with `tablero compute --format json`: values and
//! targets within a relative 1e-9 (sums of floats depend on the order of addition), statuses,
//! the partial flag, pace targets and forecasts exactly as the contract defines them. Four
//! check-only KPIs add the aggregations the catalog lacks (count_distinct, percentile, ytd,
//! rolling); a second window ends on the day daylight saving time ends; two KPIs are also
//! compared per dimension value (`--by`).
//!
//! Needs `python3` with the `duckdb` package (`scripts/test.sh` installs it); without them the
//! test fails and says so — it never passes by skipping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

const SEED: &str = "23";
const TODAY: &str = "2026-10-15";

/// The months compared and the moment they are computed at.
#[derive(Clone, Copy)]
struct Window {
    from: &'static str,
    to: &'static str,
    as_of: &'static str,
}

/// Twelve complete months (2025-10 … 2026-09) and October 2026, in progress on `TODAY`.
const LAST_YEAR: Window = Window {
    from: "2025-10",
    to: "2026-10",
    as_of: TODAY,
};

/// Check-only KPIs for the aggregations and time functions the catalog does not use; written
/// into this test's copy of the workspace (the script recomputes them by the same ids).
const EXTRA_KPIS: &str = "\
- id: verif_clientes_facturados
  name: Clientes facturados
  owner: Finances
  unit: count
  direction: up
  grain: month
  formula: facturas.clientes
- id: verif_espera_p90
  name: Espera p90
  owner: Customer Service
  unit: minutes
  direction: down
  grain: month
  formula: tickets.espera_p90_minutos
- id: verif_ventas_ytd
  name: Ventas del año
  owner: Finances
  unit: currency
  direction: up
  grain: month
  formula: ytd(facturas.ventas_netas)
- id: verif_espera_movil_3
  name: Espera móvil de tres meses
  owner: Customer Service
  unit: minutes
  direction: down
  grain: month
  formula: rolling(tickets.espera_minutos, 3)
";

/// The fields of a value compared; an absent one is null.
const KEYS: [&str; 6] = [
    "value",
    "target",
    "status",
    "partial",
    "pace_target",
    "forecast",
];

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

/// One example workspace (fixed seed and day) plus the check-only KPIs.
fn workspace() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("23people");
        let p = path.to_str().unwrap();
        let (code, out, err) = tablero(&[
            "init",
            p,
            "--example",
            "23people",
            "--seed",
            SEED,
            "--today",
            TODAY,
        ]);
        assert_eq!(code, 0, "{out}{err}");
        std::fs::write(path.join("kpis/verificacion.yaml"), EXTRA_KPIS).unwrap();
        dir
    })
    .path()
    .join("23people")
    .leak()
}

fn check_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/example_check.py")
}

/// The script's output: one JSON object per line. Fails loudly when python3 or DuckDB is absent.
fn duckdb(window: Window, extra: &[&str]) -> Vec<Value> {
    let ws = workspace().to_str().unwrap();
    let script = check_script();
    let mut args = vec![
        script.to_str().unwrap(),
        ws,
        "--from",
        window.from,
        "--to",
        window.to,
        "--as-of",
        window.as_of,
    ];
    args.extend(extra);
    let out = match Command::new("python3").args(&args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "python3 is needed for the independent check of the example ({e}); \
             install Python 3 and `python3 -m pip install duckdb` (scripts/test.sh does it)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/example_check.py failed (is the DuckDB package installed? \
         `python3 -m pip install duckdb`; scripts/test.sh does it):\n{stderr}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn compute(window: Window, kpis: &[&str], extra: &[&str]) -> Vec<Value> {
    let ws = workspace().to_str().unwrap();
    let mut args = vec!["-w", ws, "compute"];
    args.extend(kpis);
    args.extend([
        "--from",
        window.from,
        "--to",
        window.to,
        "--as-of",
        window.as_of,
        "--format",
        "json",
    ]);
    args.extend(extra);
    let (code, out, err) = tablero(&args);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Equal within a relative 1e-9 (and exactly equal zeros), or both null.
fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        (None, None) => a.is_null() && b.is_null(),
        _ => false,
    }
}

/// Field `key` of a value, null when absent.
fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// Compares one KPI's values, period by period (and dimension value); returns the disagreements.
fn compare(kpi: &str, expected: &[Value], actual: &[Value], keys: &[&str]) -> Vec<String> {
    let keyed = |vs: &[Value]| -> BTreeMap<String, Value> {
        vs.iter()
            .map(|v| (format!("{} {}", v["period"], v["dims"]), v.clone()))
            .collect()
    };
    let (expected, actual) = (keyed(expected), keyed(actual));
    if expected.keys().ne(actual.keys()) {
        return vec![format!(
            "{kpi}: periods differ\n  duckdb:  {:?}\n  tablero: {:?}",
            expected.keys(),
            actual.keys()
        )];
    }
    let mut problems = Vec::new();
    for (at, e) in &expected {
        let a = &actual[at];
        for key in keys {
            let (ev, av) = (field(e, key), field(a, key));
            let same = if ev.is_number() || av.is_number() {
                close(ev, av)
            } else {
                ev == av
            };
            if !same {
                problems.push(format!("{kpi} {at}: {key} duckdb {ev} ≠ tablero {av}"));
            }
        }
    }
    problems
}

/// Every KPI over `window`, DuckDB against tablero; returns how many complete periods had a value.
fn check_every_kpi(window: Window) -> usize {
    let expected = duckdb(window, &[]);
    let ids: Vec<&str> = expected
        .iter()
        .map(|k| k["kpi"].as_str().unwrap())
        .collect();
    // The whole catalog and the four check-only KPIs.
    assert_eq!(ids.len(), 32, "{ids:?}");
    let actual: BTreeMap<String, Value> = compute(window, &ids, &[])
        .into_iter()
        .map(|k| (k["kpi"].as_str().unwrap().to_string(), k))
        .collect();

    let mut problems = Vec::new();
    let mut complete_values = 0;
    for e in &expected {
        let id = e["kpi"].as_str().unwrap();
        let Some(a) = actual.get(id) else {
            problems.push(format!("{id}: missing from tablero compute"));
            continue;
        };
        assert_eq!(a["grain"], e["grain"], "{id}");
        let ev = e["values"].as_array().unwrap();
        let av = a["values"].as_array().unwrap();
        problems.extend(compare(id, ev, av, &KEYS));
        let complete = ev
            .iter()
            .filter(|v| v["partial"] == false && v["value"].is_number())
            .count();
        complete_values += complete;
    }
    assert!(
        problems.is_empty(),
        "{} disagreement(s) between DuckDB and tablero:\n{}",
        problems.len(),
        problems.join("\n")
    );
    complete_values
}

#[test]
fn example_kpis_agree_with_an_independent_duckdb_computation() {
    // The check compared real numbers, not nulls: 31 monthly KPIs × 12 complete months, the
    // quarterly one × 4 complete quarters.
    assert_eq!(check_every_kpi(LAST_YEAR), 31 * 12 + 4);
}

#[test]
fn a_month_in_progress_on_the_day_daylight_saving_time_ends() {
    // Santiago goes back from -03:00 to -04:00 at midnight ending Saturday 2026-04-04, so April
    // 2026 lasts 30 days and one hour; on 2026-04-05 the month in progress is 5 days and one
    // hour old, and its pace targets are prorated by that real share (SPEC §4). Rows after the
    // 5th are ignored. 2025-04 … 2026-03 are complete.
    let window = Window {
        from: "2025-04",
        to: "2026-04",
        as_of: "2026-04-05",
    };
    assert_eq!(check_every_kpi(window), 31 * 12 + 4);
}

#[test]
fn breakdowns_agree_with_duckdb() {
    let expected = duckdb(LAST_YEAR, &["--by"]);
    assert_eq!(expected.len(), 2);
    for e in &expected {
        let id = e["kpi"].as_str().unwrap();
        let by = e["by"].as_str().unwrap();
        let actual = compute(LAST_YEAR, &[id], &["--by", by]);
        let av = actual[0]["values"].as_array().unwrap();
        let ev = e["values"].as_array().unwrap();
        assert!(ev.len() >= 13 * 2, "{id} by {by}: {} values", ev.len());
        let problems = compare(id, ev, av, &KEYS);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
