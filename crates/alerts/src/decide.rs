//! Whether a rule fires for a KPI: plain functions over its computed values.

use tablero_engine::KpiValue;
use tablero_model::{AlertRule, AlertWhen};
use tablero_state::Firing;

/// A firing or a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fire,
    Recover,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fire => "fire",
            Kind::Recover => "recover",
        }
    }
}

/// What fires, for which period, with the values the message shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub kind: Kind,
    pub period: String,
    pub status: String,
    pub value: Option<f64>,
    pub target: Option<f64>,
}

/// Statuses a status rule fires on when it names none.
const DEFAULT_TO: [&str; 2] = ["at_risk", "off_track"];

/// The rule's verdict on a KPI's values (oldest first, at most one partial period, last):
/// the latest complete period against the one before it. `last` is the newest firing
/// recorded for this rule and KPI, which decides whether a recovery is due.
///
/// `season` is the number of periods in a year at the KPI's grain (for anomaly rules, whose
/// values must then reach back far enough for the model: see `tablero_forecast`).
pub fn decide(
    rule: &AlertRule,
    values: &[KpiValue],
    season: Option<usize>,
    last: Option<&Firing>,
) -> Option<Decision> {
    let complete: Vec<&KpiValue> = values.iter().filter(|v| !v.partial).collect();
    let current = *complete.last()?;
    let previous = complete.len().checked_sub(2).map(|i| complete[i]);
    let status = current.status.as_str();
    let fires = match &rule.when {
        AlertWhen::Status { to } => {
            let to: Vec<&str> = if to.is_empty() {
                DEFAULT_TO.to_vec()
            } else {
                to.iter().map(|t| t.value.as_str()).collect()
            };
            to.contains(&status) && previous.is_none_or(|p| p.status.as_str() != status)
        }
        AlertWhen::Value { condition } => {
            let Ok(condition) = tablero_formula::judge::value_condition(condition) else {
                return None; // `check` reports it; an invalid rule never fires
            };
            condition.holds(&tablero_formula::judge::Judged {
                value: current.value,
                target: current.target,
                previous: previous.and_then(|p| p.value),
            })
        }
        AlertWhen::Anomaly => {
            let series: Vec<Option<f64>> = complete.iter().map(|v| v.value).collect();
            tablero_forecast::anomalies(&series, season)
                .last()
                .copied()
                .unwrap_or(false)
        }
    };
    let decision = |kind| Decision {
        kind,
        period: current.label.clone(),
        status: status.to_string(),
        value: current.value,
        target: current.target,
    };
    if fires {
        return Some(decision(Kind::Fire));
    }
    // Back on track after a firing for an earlier period: one recovery.
    let recovered = status == "on_track"
        && last.is_some_and(|f| f.kind == Kind::Fire.as_str() && f.period < current.label);
    recovered.then(|| decision(Kind::Recover))
}
