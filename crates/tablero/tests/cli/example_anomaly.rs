//! The example's planted anomaly (SPEC §12, the generator's `planted` month): with
//! `--today 2026-10-15` customers waited about 2.5 times as long as usual in September 2026.
//! The example's own anomaly rule (`alerts/inusuales.yaml`, Customer Service's four KPIs)
//! finds it in September and in no earlier month of the last five with a band.

use std::process::Command;

fn tablero() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tablero"))
}

#[test]
fn the_planted_month_is_found_and_ordinary_months_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("23people");
    let init = tablero()
        .arg("init")
        .arg(&root)
        .args(["--example", "23people", "--today", "2026-10-15"])
        .output()
        .unwrap();
    assert!(init.status.success());
    // (as of, what fires): each month's evaluation judges the month before it.
    let table = [
        ("2026-06-15", None),
        ("2026-07-15", None),
        ("2026-08-15", None),
        ("2026-09-15", None),
        (
            "2026-10-15",
            Some("fire inusuales_customer_service tiempo_promedio_espera 2026-09"),
        ),
    ];
    for (as_of, expected) in table {
        let out = tablero()
            .arg("-w")
            .arg(&root)
            .args(["alerts", "run", "--dry-run", "--as-of", as_of])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let fired: Vec<&str> = text.lines().filter(|l| l.starts_with("fire")).collect();
        match expected {
            None => assert!(fired.is_empty(), "{as_of}: {fired:?}"),
            Some(line) => {
                assert_eq!(fired.len(), 1, "{as_of}: {fired:?}");
                assert!(fired[0].starts_with(line), "{as_of}: {fired:?}");
            }
        }
    }
}

/// The example opens with reviews: one of the planted month with a done, an overdue and a
/// pending action, one of net sales the month before (dates counted from `--today`).
#[test]
fn the_example_opens_with_reviews_and_an_overdue_action() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("23people");
    let init = tablero()
        .arg("init")
        .arg(&root)
        .args(["--example", "23people", "--today", "2026-10-15"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let out = tablero()
        .arg("-w")
        .arg(&root)
        .args(["reviews", "list", "tiempo_promedio_espera"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("tiempo_promedio_espera 2026-09"), "{text}");
    // Due 2026-10-15 − 10 days (done), − 3 days (open, so overdue) and + 14 days.
    assert!(
        text.contains("[done] Postmortem de la migración — ti@23people.io, 2026-10-05"),
        "{text}"
    );
    assert!(text.contains("2026-10-12 (overdue)"), "{text}");
    assert!(text.contains("2026-10-29"), "{text}");
    let all = tablero()
        .arg("-w")
        .arg(&root)
        .args(["reviews", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&all.stdout).contains("ventas_netas_totales 2026-08"));
    let unknown = tablero()
        .arg("-w")
        .arg(&root)
        .args(["reviews", "list", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    // Only the open actions past due (the tests run after 2026-10-29, so every open action of
    // the example — due 2026-10-12, -22 and -29 — is past), and only an owner's KPIs.
    let run = |args: &[&str]| {
        let out = tablero().arg("-w").arg(&root).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, overdue, _) = run(&["reviews", "list", "--overdue"]);
    assert_eq!(code, Some(0));
    assert!(overdue.contains("2026-10-12 (overdue)"), "{overdue}");
    assert!(!overdue.contains("[done]"), "{overdue}");
    assert!(
        !overdue.contains("2026-10-05"),
        "done actions are not listed: {overdue}"
    );
    let (_, finances, _) = run(&["reviews", "list", "--owner", "finances"]);
    assert!(
        finances.contains("ventas_netas_totales 2026-08"),
        "{finances}"
    );
    assert!(!finances.contains("tiempo_promedio_espera"), "{finances}");
    let (code, _, err) = run(&["reviews", "list", "--owner", "Nadie"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--owner Nadie") && err.contains("Finances"),
        "{err}"
    );
}

/// The market size is a manual source: the example opens with the quarters entered so far in
/// its store table and no file under `data/` — one report per complete quarter, 2023-Q4 (the
/// data begins in October 2023) to 2026-Q3 (complete on 2026-09-30): 2023-Q4 (1), 2024 (4),
/// 2025 (4), 2026-Q1..Q3 (3) = 12 rows.
#[test]
fn the_market_size_is_entered_by_hand_and_starts_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("23people");
    let init = tablero()
        .arg("init")
        .arg(&root)
        .args(["--example", "23people", "--today", "2026-10-15"])
        .output()
        .unwrap();
    assert!(init.status.success());
    assert!(!root.join("data/mercado.csv").exists());
    let source = std::fs::read_to_string(root.join("sources/mercado.yaml")).unwrap();
    assert!(source.contains("manual: true") && !source.contains("file:"));
    let info = tablero()
        .arg("-w")
        .arg(&root)
        .args(["store", "info", "mercado"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["rows:", "12"]),
        "{text}"
    );
}
