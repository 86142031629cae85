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

fn run_case(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("case.txt")).expect("case.txt");
    let mut failures = Vec::new();
    for step in parse_case(&text) {
        let output = Command::new(env!("CARGO_BIN_EXE_tablero"))
            .arg("-w")
            .arg(dir)
            .args(split_args(&step.args))
            .output()
            .expect("run tablero");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let at = format!(
            "{}:{} `{}`",
            dir.join("case.txt").display(),
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

#[test]
fn kpi_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.txt").exists())
        .collect();
    dirs.sort();
    let only = std::env::var("TABLERO_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for dir in &dirs {
        if only.as_deref().is_some_and(|o| !dir.ends_with(o)) {
            continue;
        }
        ran += 1;
        failures.extend(run_case(dir));
    }
    assert!(ran > 0, "no case ran");
    assert!(
        failures.is_empty(),
        "{} failure(s) in {ran} cases:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
