//! The table of a KPI's periods, as downloads and `compute --format xlsx` write it.

use tablero_engine::KpiResult;
use tablero_export::{Cell, Column, Table};
use tablero_model::{Kpi, Locale};

/// A KPI's values as a table: period, the `--by` dimension when there is one, value, target,
/// status. For people (`words`: the locale and its column names for period, value, target and
/// status) statuses are in words; for programs (`None`) the columns are
/// `kpi,period,<dim>,value,target,status` with status codes.
pub fn values_table(kpi: &Kpi, result: &KpiResult, words: Option<(Locale, [&str; 4])>) -> Table {
    let locale = words.map(|(l, _)| l);
    let [period, value, target, status] = match words {
        Some((_, names)) => names,
        None => ["period", "value", "target", "status"],
    };
    let number = Some((kpi.unit, kpi.decimals));
    let mut columns = vec![Column {
        name: period.into(),
        number: None,
    }];
    if let Some(by) = &result.by {
        columns.push(Column {
            name: by.clone(),
            number: None,
        });
    }
    columns.extend([
        Column {
            name: value.into(),
            number,
        },
        Column {
            name: target.into(),
            number,
        },
        Column {
            name: status.into(),
            number: None,
        },
    ]);
    if locale.is_none() {
        columns.insert(
            0,
            Column {
                name: "kpi".into(),
                number: None,
            },
        );
    }
    let rows = result
        .values
        .iter()
        .map(|v| {
            let mut row = Vec::new();
            if locale.is_none() {
                row.push(Cell::Text(kpi.id.value.clone()));
            }
            row.push(Cell::Text(v.label.clone()));
            if result.by.is_some() {
                row.push(Cell::Text(
                    v.dim.clone().flatten().unwrap_or_else(|| "null".into()),
                ));
            }
            row.push(Cell::Number(v.value));
            row.push(Cell::Number(v.target));
            row.push(Cell::Text(match locale {
                Some(l) => tablero_model::display::status_label(v.status.as_str(), l).to_string(),
                None => v.status.as_str().to_string(),
            }));
            row
        })
        .collect();
    Table { columns, rows }
}
