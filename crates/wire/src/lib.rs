//! What a KPI's values look like outside Tablero, in one place for every surface: the JSON
//! objects of the API and `compute --format json` (SPEC §6: one object per KPI; the API adds
//! its judged `latest`), and the table of a KPI's periods that downloads and `compute --format
//! xlsx` write.

mod table;

pub use table::values_table;

use serde::Serialize;
use tablero_calendar::Calendar;
use tablero_engine::KpiResult;

/// One KPI's values over periods.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KpiValues {
    pub kpi: String,
    /// day, week, month, quarter or year.
    pub grain: String,
    pub unit: String,
    pub values: Vec<PeriodValue>,
    /// The API's answers without `by` only: what every surface shows as the KPI's value now
    /// (the engine's judged view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<Latest>,
    /// The API's answers only: when this answer was computed (RFC 3339, the workspace
    /// zone's offset). A server answers from its last complete computation while it computes
    /// a newer one (new data, or a new minute), so this may be up to a computation old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_at: Option<String>,
    /// The API's answers only: how long that computation took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computation_ms: Option<u64>,
}

/// One period's value (per dimension value with `by`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeriodValue {
    /// The period's label: `2026-03`, `2026-Q1`, `FY2026-Q1`, `2026-W11`…
    pub period: String,
    /// First instant, RFC 3339 with the workspace zone's offset.
    pub start: String,
    /// First instant of the next period.
    pub end: String,
    /// The `by` dimension's value (null for the null group); empty without `by`.
    #[schema(value_type = Object)]
    pub dims: serde_json::Map<String, serde_json::Value>,
    pub value: Option<f64>,
    pub target: Option<f64>,
    /// on_track, at_risk, off_track, no_data or no_target.
    pub status: String,
    /// The period in progress.
    pub partial: bool,
    /// Count and currency KPIs in the partial period: the value projected to the period's end.
    pub forecast: Option<f64>,
    /// Count and currency KPIs in the partial period: the target prorated to the time elapsed.
    pub pace_target: Option<f64>,
}

/// A KPI "now", as every surface shows it: its latest complete period with a value (or the
/// latest complete period, without data), the one before, how it moved and its share of target.
#[derive(Serialize, utoipa::ToSchema, Debug, Clone, PartialEq)]
pub struct Latest {
    pub period: String,
    pub value: Option<f64>,
    pub target: Option<f64>,
    /// on_track, at_risk, off_track, no_data or no_target.
    pub status: String,
    /// The complete period with a value before `period`, and its value.
    pub previous_period: Option<String>,
    pub previous: Option<f64>,
    /// `value − previous`.
    pub change: Option<f64>,
    /// `better`, `worse` or `same` for the KPI's direction.
    pub verdict: Option<String>,
    /// `100 × value / target`.
    pub of_target: Option<f64>,
}

/// `result` judged; `None` when no period is complete yet.
pub fn latest(result: &KpiResult) -> Option<Latest> {
    let judged = result.judged();
    let latest = judged.latest?;
    Some(Latest {
        period: latest.label.clone(),
        value: latest.value,
        target: latest.target,
        status: latest.status.as_str().to_string(),
        previous_period: judged.previous.map(|v| v.label.clone()),
        previous: judged.previous.and_then(|v| v.value),
        change: judged.change.map(|c| c.delta),
        verdict: judged.change.map(|c| c.verdict.as_str().to_string()),
        of_target: judged.of_target(),
    })
}

pub fn kpi_values(result: &KpiResult, calendar: &Calendar) -> KpiValues {
    let values = result
        .values
        .iter()
        .map(|v| {
            let mut dims = serde_json::Map::new();
            if let (Some(by), Some(dim)) = (&result.by, &v.dim) {
                dims.insert(
                    by.clone(),
                    dim.clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String),
                );
            }
            PeriodValue {
                period: v.label.clone(),
                start: calendar.format_instant(v.start),
                end: calendar.format_instant(v.end),
                dims,
                value: v.value,
                target: v.target,
                status: v.status.as_str().to_string(),
                partial: v.partial,
                forecast: v.forecast,
                pace_target: v.pace_target,
            }
        })
        .collect();
    KpiValues {
        kpi: result.kpi.clone(),
        grain: result.grain.as_str().to_string(),
        unit: result.unit.as_str().to_string(),
        values,
        latest: None,
        computed_at: None,
        computation_ms: None,
    }
}
