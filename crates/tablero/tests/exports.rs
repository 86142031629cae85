//! `compute --format xlsx --output FILE` (SPEC §6): one sheet per KPI, numbers as numbers.
//! The numbers are those of `tests/cases/filters`: Cloud won in January {1, 5} = 2 of the
//! closed {1, 2, 5} = 3, so conv_cloud = 100 × 2 / 3; February wins no Cloud deal of 1 closed.

use std::process::Command;

use calamine::{Data, Reader, Xlsx};

#[test]
fn compute_writes_a_workbook_with_a_sheet_per_kpi() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kpis.xlsx");
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases/filters");
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["-w", case, "compute", "conv_cloud", "ganadas_cloud"])
        .args([
            "--from",
            "2026-01",
            "--to",
            "2026-02",
            "--as-of",
            "2026-12-31",
        ])
        .args(["--format", "xlsx", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut book: Xlsx<_> = calamine::open_workbook(&file).unwrap();
    assert_eq!(book.sheet_names(), ["conv_cloud", "ganadas_cloud"]);
    let conv = book.worksheet_range("conv_cloud").unwrap();
    assert_eq!(conv.get((0, 0)), Some(&Data::String("kpi".into())));
    assert_eq!(conv.get((1, 1)), Some(&Data::String("2026-01".into())));
    assert_eq!(conv.get((1, 2)), Some(&Data::Float(100.0 * 2.0 / 3.0)));
    assert_eq!(conv.get((2, 2)), Some(&Data::Float(0.0)));
    assert_eq!(conv.get((1, 4)), Some(&Data::String("on_track".into())));
    let won = book.worksheet_range("ganadas_cloud").unwrap();
    assert_eq!(won.get((1, 2)), Some(&Data::Float(2.0)));
    // Without --output a workbook has nowhere to go.
    let refused = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["-w", case, "compute", "conv_cloud", "--format", "xlsx"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

/// `tablero top` (SPEC §6) on the `filters` case as of 1 March 2026: February is the latest
/// complete month; conv_cloud there is 0 (no Cloud win of 1 closed) against 50, off track, and
/// it fell from January's 100 × 2 / 3.
#[test]
fn top_shows_the_cards_by_owner() {
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases/filters");
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["-w", case, "top", "--as-of", "2026-03-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Sales & Marketing\n"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("Conversión Cloud"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("fuera de meta") && line.contains("2026-02") && line.contains('▼'),
        "{line}"
    );
}
