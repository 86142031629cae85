//! The checker's diagnostics, data-driven: a formula (written in a KPI file on line 3) and
//! every diagnostic it must produce, as `line:column: message`.

use std::path::Path;

use tablero_formula::{check_workspace, ir::Formula};

const SOURCE: &str = r#"name: opps
file: data/opps.csv
time: created_at
columns:
  id: { type: integer }
  stage: { type: string }
  department: { type: string }
  amount: { type: number }
  created_at: { type: timestamp }
  closed_at: { type: timestamp }
dimensions: [stage, department]
measures:
  created: { agg: count }
  won: { agg: count, filter: "stage = 'won'", time: closed_at }
  amount: { agg: sum, expr: amount }
"#;

/// Writes a workspace whose only KPI has `formula` on line 3, column 10.
fn check(dir: &Path, formula: &str) -> (bool, Vec<String>) {
    std::fs::create_dir_all(dir.join("sources")).unwrap();
    std::fs::create_dir_all(dir.join("kpis")).unwrap();
    std::fs::write(dir.join("tablero.toml"), "name = \"t\"\n").unwrap();
    std::fs::write(dir.join("sources/opps.yaml"), SOURCE).unwrap();
    let kpi = format!("id: k\nname: K\nformula: {formula}\n");
    std::fs::write(dir.join("kpis/k.yaml"), kpi).unwrap();
    std::fs::write(
        dir.join("kpis/other.yaml"),
        "id: other\nformula: opps.created\n",
    )
    .unwrap();
    let (workspace, load) = tablero_model::load_workspace(dir);
    assert!(load.is_empty(), "{load:?}");
    let (catalog, diagnostics) = check_workspace(&workspace);
    let messages = diagnostics
        .iter()
        .map(|d| {
            let l = d.location.as_ref().unwrap();
            format!("{}:{}: {}", l.line, l.column, d.message)
        })
        .collect();
    (catalog.get("k").is_some(), messages)
}

#[test]
fn formulas_that_check() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "100 * opps.won / opps.created",
        "opps.won[department = 'Cloud'] / other",
        "max(opps.amount per department)",
        "top(3, opps.amount per id) / opps.amount",
        "hhi(opps.amount per stage)",
        "ytd(opps.amount) + rolling(opps.created, 3) - to_date(opps.won)",
        "growth(other) + change(other) + previous(other) + year_ago(opps.won)",
        "if(opps.created > 0 and not other is null, round(opps.won, 1), coalesce(other, 0))",
        "abs(least(opps.won, 1, other)) + greatest(opps.won, other)",
        "opps.amount[closed_at >= date '2026-01-01' and stage in ('won', 'lost')]",
    ];
    for formula in cases {
        let (ok, messages) = check(dir.path(), &format!("\"{formula}\""));
        assert!(ok && messages.is_empty(), "{formula}: {messages:?}");
    }
}

#[test]
fn formulas_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The formula's text starts at column 11 (after `formula: "`).
    let cases: &[(&str, &[&str])] = &[
        (
            "nope.won",
            &["3:11: unknown source `nope`, expected one of: opps"],
        ),
        (
            "opps.lost",
            &[
                "3:16: unknown measure `lost` in source `opps`, expected one of: created, won, amount",
            ],
        ),
        ("missing_kpi * 2", &["3:11: unknown KPI `missing_kpi`"]),
        (
            "opps.won[region = 'x']",
            &["3:20: unknown column `region` in source `opps`"],
        ),
        (
            "opps.won[amount = 'x']",
            &["3:20: cannot compare a number with a string"],
        ),
        (
            "opps.won[created_at > 5]",
            &["3:20: cannot compare a date or timestamp with a number"],
        ),
        (
            "max(opps.amount per region)",
            &["3:31: unknown column `region` after `per`"],
        ),
        ("max(opps.amount)", &["3:15: `max` groups a measure"]),
        (
            "ytd(other)",
            &["3:15: `ytd` re-aggregates a measure's rows"],
        ),
        (
            "rolling(opps.won, 0)",
            &["3:29: `rolling` needs from 1 to 1000 periods"],
        ),
        ("nosuch(1)", &["3:11: unknown function `nosuch`"]),
        (
            "opps.won > 1",
            &["3:11: a condition gives true or false, not a number"],
        ),
        // Two independent mistakes are both reported.
        (
            "nope.won + opps.lost",
            &[
                "3:11: unknown source `nope`",
                "3:27: unknown measure `lost`",
            ],
        ),
    ];
    for (formula, expected) in cases {
        let (ok, messages) = check(dir.path(), &format!("\"{formula}\""));
        assert!(!ok, "{formula} should not check");
        assert_eq!(messages.len(), expected.len(), "{formula}: {messages:?}");
        for (message, expected) in messages.iter().zip(expected.iter()) {
            assert!(
                message.starts_with(expected),
                "{formula}:\n  got      {message}\n  expected {expected}…"
            );
        }
    }
}

#[test]
fn cycles_are_reported_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, messages) = check(dir.path(), "\"other + 1\"");
    assert!(ok && messages.is_empty());
    std::fs::write(
        dir.path().join("kpis/other.yaml"),
        "id: other\nformula: k\n",
    )
    .unwrap();
    let (workspace, _) = tablero_model::load_workspace(dir.path());
    let (catalog, diagnostics) = check_workspace(&workspace);
    assert!(catalog.get("k").is_none() && catalog.get("other").is_none());
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0].message.contains("cycle"),
        "{}",
        diagnostics[0].message
    );
    assert!(
        diagnostics[0].message.contains("kpis/k.yaml")
            && diagnostics[0].message.contains("kpis/other.yaml")
    );
}

#[test]
fn change_and_growth_desugar_to_previous() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = check(dir.path(), "\"growth(opps.won)\"");
    assert!(ok);
    let (workspace, _) = tablero_model::load_workspace(dir.path());
    let (catalog, _) = check_workspace(&workspace);
    let mut shifts = 0;
    catalog.get("k").unwrap().formula.visit(&mut |f| {
        if matches!(f, Formula::Shift(..)) {
            shifts += 1;
        }
    });
    // growth(x) = 100 * (x - previous(x)) / previous(x): two shifts.
    assert_eq!(shifts, 2);
}

/// Runs `f` on a thread with a 2 MiB stack, a tokio worker's size: an overflow there aborts
/// the test run instead of passing on a test thread's larger stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no panic")
}

/// `n` terms joined by `op`.
fn chain(term: &str, op: &str, n: usize) -> String {
    vec![term; n].join(op)
}

/// Regression: long chains in every place an expression enters — a KPI formula, a measure's
/// `filter` and `expr`, and `--where` — are one diagnostic at their position, not a stack
/// overflow in the checker or in dropping the tree.
#[test]
fn long_chains_are_one_diagnostic_wherever_an_expression_enters() {
    use tablero_formula::parser::MAX_DEPTH;
    // (text, what the diagnostic says, the column it points at on line 3 of a formula)
    let cases: Vec<(String, &str, usize)> = vec![
        (chain("opps.won", " * ", 100_000), "too long", 11 + 65_536),
        (chain("opps.won", " + ", 100_000), "too long", 11 + 65_536),
        (
            format!("if({}, 1, 0)", chain("opps.won > 0", " and ", 100_000)),
            "too long",
            11 + 65_536,
        ),
        (
            format!("if({}, 1, 0)", chain("opps.won > 0", " or ", 100_000)),
            "too long",
            11 + 65_536,
        ),
        (
            format!("{}opps.won{}", "(".repeat(100_000), ")".repeat(100_000)),
            "too long",
            11 + 65_536,
        ),
        // Under the length limit: the chain's MAX_DEPTH-th operator is where it is too deep.
        (
            chain("opps.won", " * ", 2_000),
            "nested too deeply",
            11 + (MAX_DEPTH - 1) * 11 + 9,
        ),
        (
            chain("opps.won", " + ", 2_000),
            "nested too deeply",
            11 + (MAX_DEPTH - 1) * 11 + 9,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (formula, expected, column) in cases {
        let head: String = formula.chars().take(16).collect();
        let root = dir.path().to_path_buf();
        let (ok, messages) = on_small_stack(move || check(&root, &format!("\"{formula}\"")));
        assert!(!ok, "{head}");
        assert_eq!(messages.len(), 1, "{head}: {messages:.300?}");
        assert!(
            messages[0].starts_with(&format!("3:{column}: ")) && messages[0].contains(expected),
            "{head}: {:.300}",
            messages[0]
        );
    }
}

#[test]
fn long_chains_in_measures_and_where_are_one_diagnostic() {
    use tablero_formula::check_condition;
    use tablero_model::{Location, Text};
    let dir = tempfile::tempdir().unwrap();
    check(dir.path(), "opps.created");
    let long_filter = chain("stage = 'won'", " or ", 100_000);
    let deep_filter = chain("stage = 'won'", " and ", 1_000);
    let long_expr = chain("amount", " + ", 100_000);
    let source = format!(
        "{SOURCE}  long_filter: {{ agg: count, filter: \"{long_filter}\" }}\n  deep_filter: {{ agg: count, filter: \"{deep_filter}\" }}\n  long_expr: {{ agg: sum, expr: \"{long_expr}\" }}\n"
    );
    std::fs::write(dir.path().join("sources/opps.yaml"), source).unwrap();
    let root = dir.path().to_path_buf();
    let messages = on_small_stack(move || {
        let (workspace, load) = tablero_model::load_workspace(&root);
        assert!(load.is_empty(), "{load:?}");
        let (_, diagnostics) = check_workspace(&workspace);
        let mut messages: Vec<String> = diagnostics
            .iter()
            .map(|d| {
                let l = d.location.as_ref().unwrap();
                format!("{}:{}: {}", l.line, l.column, d.message)
            })
            .collect();
        // `--where` over a source, as the engine checks it.
        let source = workspace.source("opps").unwrap();
        for text in [
            chain("1", "*", 100_000) + " = 1",
            chain("1", "*", 5_000) + " = 1",
        ] {
            let text = Text::synthetic(
                text,
                Location {
                    file: "--where".into(),
                    line: 1,
                    column: 1,
                },
            );
            let errors = check_condition(&workspace, source, &text).unwrap_err();
            messages.extend(errors.iter().map(|d| {
                let l = d.location.as_ref().unwrap();
                format!(
                    "{}:{}:{}: {}",
                    l.file.display(),
                    l.line,
                    l.column,
                    d.message
                )
            }));
        }
        messages
    });
    assert_eq!(messages.len(), 5, "{messages:.600?}");
    // One diagnostic per measure, on its line, then the two `--where` texts.
    assert!(messages[0].starts_with("16:") && messages[0].contains("too long"));
    assert!(messages[1].starts_with("17:") && messages[1].contains("nested too deeply"));
    assert!(messages[2].starts_with("18:") && messages[2].contains("too long"));
    assert!(
        messages[3].starts_with("--where:1:65537: the formula is too long: "),
        "{}",
        messages[3]
    );
    // 1*1*…: the 64th `*` is at byte 127, column 128.
    assert!(
        messages[4].starts_with("--where:1:128: the formula is nested too deeply"),
        "{}",
        messages[4]
    );
}

#[test]
fn nested_growth_is_refused_before_it_grows_exponentially() {
    let dir = tempfile::tempdir().unwrap();
    // Each growth repeats its argument three times: seven nested (about 8,700 terms) still
    // check; twenty would be 3^20 copies of the measure.
    let nested = |n: usize| format!("{}opps.won{}", "growth(".repeat(n), ")".repeat(n));
    let (ok, messages) = check(dir.path(), &format!("\"{}\"", nested(7)));
    assert!(ok, "{messages:?}");
    let (ok, messages) = check(dir.path(), &format!("\"{}\"", nested(20)));
    assert!(!ok);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("`growth` repeats its argument"),
        "{}",
        messages[0]
    );
}

/// The SMART lint says what each finding is about, so a KPI's page shows its own and its
/// owner's without reading the messages: here `k` has no owner, target or grain (three about
/// `k`), `other` (owner Ventas) only lacks a grain, and Ventas owns eight KPIs (one about the
/// owner, which `other`'s page shows too).
#[test]
fn smart_findings_name_their_subject() {
    use tablero_formula::{Subject, smart_findings};
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = check(dir.path(), "opps.created");
    assert!(ok);
    let mut more =
        String::from("- id: other\n  owner: Ventas\n  formula: opps.created\n  target: 1\n");
    for i in 0..7 {
        more.push_str(&format!(
            "- id: v{i}\n  owner: Ventas\n  formula: opps.created\n  target: 1\n  grain: month\n"
        ));
    }
    std::fs::write(dir.path().join("kpis/other.yaml"), more).unwrap();
    let (workspace, _) = tablero_model::load_workspace(dir.path());
    let (catalog, _) = check_workspace(&workspace);
    let findings = smart_findings(&workspace, &catalog);
    let about = |subject: &Subject| findings.iter().filter(|f| f.subject == *subject).count();
    assert_eq!(about(&Subject::Kpi("k".into())), 3, "{findings:?}");
    assert_eq!(about(&Subject::Kpi("other".into())), 1, "{findings:?}");
    assert_eq!(about(&Subject::Owner("Ventas".into())), 1, "{findings:?}");
    let shown = |id: &str| {
        let kpi = workspace.kpi(id).unwrap();
        findings.iter().filter(|f| f.concerns(kpi)).count()
    };
    // `other`: its missing grain and its owner's eight KPIs; `v0`: only the owner's.
    assert_eq!((shown("k"), shown("other"), shown("v0")), (3, 2, 1));
}
