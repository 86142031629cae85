//! `tablero top` (SPEC §6): the home page's cards in the terminal — every KPI's latest
//! complete value, target, status and change from the period before, grouped by owner, in the
//! workspace's language and number format.

use std::path::Path;

use tablero_engine::{KpiResult, KpiValue, Request};
use tablero_model::display::{format_value, status_label};

use crate::{EXIT_USER, Failure};

/// The latest complete period with a value, and the complete period before it.
fn latest(result: &KpiResult) -> (Option<&KpiValue>, Option<&KpiValue>) {
    let complete: Vec<&KpiValue> = result
        .values
        .iter()
        .filter(|v| !v.partial && v.value.is_some())
        .collect();
    let last = complete.last().copied();
    let before = complete.len().checked_sub(2).map(|i| complete[i]);
    (last, before)
}

pub async fn top(root: &Path, as_of: Option<String>) -> Result<(), Failure> {
    let (engine, _) = tablero_engine::open(root)?;
    let as_of = match as_of {
        Some(text) => Some(engine.calendar().parse_as_of(&text).map_err(|e| Failure {
            code: EXIT_USER,
            message: format!("--as-of: {e}"),
        })?),
        None => None,
    };
    let results = engine
        .compute(&Request {
            as_of,
            ..Request::default()
        })
        .await?;
    let workspace = engine.workspace();
    let settings = &workspace.settings;
    let mut owners: Vec<String> = Vec::new();
    for kpi in &workspace.kpis {
        let owner = kpi
            .owner
            .as_ref()
            .map(|o| o.value.clone())
            .unwrap_or_else(|| "—".into());
        if !owners.contains(&owner) {
            owners.push(owner);
        }
    }
    let width = workspace
        .kpis
        .iter()
        .map(|k| k.name.chars().count())
        .max()
        .unwrap_or(10);
    for owner in owners {
        out!("{owner}");
        for result in &results {
            let Some(kpi) = workspace.kpi(&result.kpi) else {
                continue;
            };
            if kpi.owner.as_ref().map(|o| o.value.as_str()).unwrap_or("—") != owner {
                continue;
            }
            let number = |v: Option<f64>| {
                v.map(|v| {
                    format_value(
                        v,
                        kpi.unit,
                        kpi.decimals,
                        settings.locale,
                        &settings.currency,
                    )
                })
                .unwrap_or_else(|| "—".into())
            };
            let (last, before) = latest(result);
            let status = last.map(|v| v.status.as_str()).unwrap_or("no_data");
            let mark = match status {
                "on_track" => "●",
                "at_risk" => "◐",
                "off_track" => "○",
                _ => "·",
            };
            let change = match (last.and_then(|v| v.value), before.and_then(|v| v.value)) {
                (Some(a), Some(b)) if a > b => format!("▲ +{}", number(Some(a - b))),
                (Some(a), Some(b)) if a < b => format!("▼ {}", number(Some(a - b))),
                (Some(_), Some(_)) => "=".to_string(),
                _ => String::new(),
            };
            let name: String = kpi.name.clone();
            out!(
                "  {mark} {name:width$}  {:>18}  / {:>18}  {:<14} {}  {change}",
                number(last.and_then(|v| v.value)),
                number(last.and_then(|v| v.target)),
                status_label(status, settings.locale),
                last.map(|v| v.label.as_str()).unwrap_or(""),
            );
        }
    }
    Ok(())
}
