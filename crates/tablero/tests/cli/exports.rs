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

/// The workbook read back by another program — Python's openpyxl, the reader most
/// spreadsheet tooling uses (installed by `scripts/test.sh`): each value cell is a number (type
/// `n`), the percent KPI's cells carry a percent format and the currency KPI's a currency one.
#[test]
fn the_workbook_reads_back_in_openpyxl_with_numbers_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kpis.xlsx");
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases/filters");
    let out = Command::new(env!("CARGO_BIN_EXE_tablero"))
        .args(["-w", case, "compute", "conv_cloud", "monto_ganado_asignado"])
        .args([
            "--from",
            "2026-01",
            "--to",
            "2026-01",
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
    const READ: &str = r#"
import json, sys, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
out = {}
for sheet in book.worksheets:
    cell = sheet.cell(row=2, column=3)
    out[sheet.title] = {"type": cell.data_type, "value": cell.value, "format": cell.number_format,
                        "header": sheet.cell(row=1, column=3).value}
print(json.dumps(out))
"#;
    let read = Command::new("python3")
        .args(["-c", READ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "openpyxl (python3 -m pip install openpyxl): {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let cells: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let conv = &cells["conv_cloud"];
    assert_eq!(conv["type"], "n");
    // January: 2 Cloud wins of 3 closed.
    assert!(
        (conv["value"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9,
        "{conv}"
    );
    assert!(conv["format"].as_str().unwrap().contains('%'), "{conv}");
    let amount = &cells["monto_ganado_asignado"];
    assert_eq!(amount["type"], "n", "{amount}");
    assert!(
        amount["format"].as_str().unwrap().starts_with("\"$\"#,##0"),
        "{amount}"
    );
}

/// The live board, driven in a real terminal (tmux, installed by `scripts/test.sh`): the
/// cards of the (only) owner, Enter to the selected KPI's periods, Esc back, q to quit. The
/// `filters` case as of 1 March 2026 (numbers as in `top_shows_the_cards_by_owner`).
#[test]
fn the_live_board_moves_between_owners_and_opens_periods() {
    let case = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases/filters");
    let session = format!("tablero-top-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux (scripts/test.sh installs it)")
    };
    let command = format!(
        "{} -w {case} top --as-of 2026-03-01",
        env!("CARGO_BIN_EXE_tablero")
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let wait_for = |needle: &str| {
        for _ in 0..100 {
            let shown = screen();
            if shown.contains(needle) {
                return shown;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let shown = screen();
        let _ = tmux(&["kill-session", "-t", &session]);
        panic!("`{needle}` never shown:\n{shown}");
    };
    let first = wait_for("Conversión Cloud");
    assert!(
        first.contains("fuera de meta") && first.contains("2026-02"),
        "{first}"
    );
    assert!(first.contains("← → owner"), "{first}");
    // Enter opens the selected KPI's periods: January's 66.7 % (2 Cloud wins of 3 closed).
    tmux(&["send-keys", "-t", &session, "Enter"]);
    let periods = wait_for("2026-01");
    assert!(periods.contains("66,7 %"), "{periods}");
    tmux(&["send-keys", "-t", &session, "Escape"]);
    wait_for("← → owner");
    tmux(&["send-keys", "-t", &session, "q"]);
    for _ in 0..50 {
        if !tmux(&["has-session", "-t", &session]).status.success() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = tmux(&["kill-session", "-t", &session]);
    panic!("q did not quit");
}
