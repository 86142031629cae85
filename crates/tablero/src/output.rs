//! Printing results: JSON and CSV exactly as SPEC §6 fixes them, and a table for people in
//! the workspace locale.

use tablero_engine::KpiResult;
use tablero_model::display::format_value;
use tablero_model::{Locale, Workspace};

use crate::Format;

pub fn render(results: &[KpiResult], workspace: &Workspace, format: Format) -> String {
    match format {
        Format::Json => json(results, workspace),
        Format::Csv => csv(results),
        Format::Table => table(results, workspace),
        // Written by `main` as a workbook, never as text.
        Format::Xlsx => String::new(),
    }
}

fn json(results: &[KpiResult], workspace: &Workspace) -> String {
    let calendar = tablero_calendar::Calendar::new(
        &workspace.settings.timezone,
        workspace.settings.fiscal_year_start,
    )
    .unwrap_or_else(|_| tablero_calendar::Calendar::new("UTC", 1).expect("UTC is a valid zone"));
    let mut out = String::new();
    for result in results {
        let kpi = tablero_wire::kpi_values(result, &calendar);
        out.push_str(&serde_json::to_string(&kpi).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn number(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv(results: &[KpiResult]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let by = results.iter().find_map(|r| r.by.clone());
    let mut header = vec!["kpi".to_string(), "period".to_string()];
    header.extend(by.clone());
    header.extend(["value", "target", "status"].map(String::from));
    let _ = writer.write_record(&header);
    for result in results {
        for v in &result.values {
            let mut row = vec![result.kpi.clone(), v.label.clone()];
            if by.is_some() {
                row.push(v.dim.clone().flatten().unwrap_or_default());
            }
            row.push(number(v.value));
            row.push(number(v.target));
            row.push(v.status.as_str().to_string());
            let _ = writer.write_record(&row);
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn table(results: &[KpiResult], workspace: &Workspace) -> String {
    let settings = &workspace.settings;
    let locale = settings.locale;
    let es = locale == Locale::Es;
    let headers = if es {
        ["Periodo", "Valor", "Meta", "Estado"]
    } else {
        ["Period", "Value", "Target", "Status"]
    };
    let mut out = String::new();
    for result in results {
        let Some(kpi) = workspace.kpi(&result.kpi) else {
            continue;
        };
        let owner = kpi
            .owner
            .as_ref()
            .map(|o| format!(" ({})", o.value))
            .unwrap_or_default();
        out.push_str(&format!("{} — {}{owner}\n", kpi.id.value, kpi.name));
        let fmt = |v: Option<f64>| {
            v.map(|v| format_value(v, result.unit, result.decimals, locale, &settings.currency))
                .unwrap_or_else(|| "—".to_string())
        };
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut head: Vec<String> = vec![headers[0].to_string()];
        head.extend(result.by.clone());
        head.extend(headers[1..].iter().map(|s| s.to_string()));
        rows.push(head);
        for v in &result.values {
            let mut row = vec![v.label.clone()];
            if result.by.is_some() {
                row.push(v.dim.clone().flatten().unwrap_or_else(|| "(null)".into()));
            }
            row.push(fmt(v.value));
            let target = match v.pace_target {
                Some(pace) => format!(
                    "{} ({} {})",
                    fmt(v.target),
                    if es { "ritmo" } else { "pace" },
                    fmt(Some(pace))
                ),
                None => fmt(v.target),
            };
            row.push(target);
            let mut status =
                tablero_model::display::status_label(v.status.as_str(), locale).to_string();
            if v.partial {
                status.push_str(if es { " (parcial" } else { " (partial" });
                if let Some(f) = v.forecast {
                    status.push_str(&format!(
                        ", {} {}",
                        if es { "proyección" } else { "forecast" },
                        fmt(Some(f))
                    ));
                }
                status.push(')');
            }
            row.push(status);
            rows.push(row);
        }
        let columns = rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in rows {
            let mut line = String::from(" ");
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                // Numbers align right, text left.
                if c > 0 && c < columns - 1 && !(result.by.is_some() && c == 1) {
                    line.push_str(&format!(" {}{cell}", " ".repeat(pad)));
                } else {
                    line.push_str(&format!(" {cell}{}", " ".repeat(pad)));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    out
}
