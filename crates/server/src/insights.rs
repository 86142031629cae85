//! Insights (SPEC §12): conditions over several KPIs together, each with a message in Spanish
//! and English, evaluated per period: by default on every KPI's latest complete period, or on
//! the period asked for (`?period=2026-03`; a KPI of another grain reads the period that covers
//! its end). Active ones show on the home page, on the pages of the KPIs they name, and at
//! `GET /api/v1/insights`. An insight naming a KPI the caller may not see is absent for it.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use tablero_engine::{KpiResult, Request};
use tablero_formula::insight::{Fact, Facts, Field, insight_condition};
use tablero_model::Locale;
use utoipa::ToSchema;

use crate::access::View;
use crate::auth::Caller;
use crate::error::AppError;
use crate::query::PageQuery;
use crate::query::loaded;
use crate::state::{AppState, Loaded};

/// An insight that holds now.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct ActiveInsight {
    pub id: String,
    /// The message in the requested (or the workspace's) language.
    pub message: String,
    /// The KPIs it reads.
    pub kpis: Vec<String>,
    /// The period each of those KPIs was read at (its label at the KPI's grain).
    pub periods: BTreeMap<String, String>,
    /// The value each of those KPIs had there (null: no data).
    pub values: BTreeMap<String, Option<f64>>,
}

#[derive(Serialize, ToSchema)]
pub struct InsightList {
    /// The period asked for, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    pub insights: Vec<ActiveInsight>,
}

/// Which period each KPI is read at.
#[derive(Clone, Copy)]
pub enum Which<'a> {
    /// Each KPI's latest complete period.
    LatestComplete,
    /// The period with this label (a KPI of another grain: the period covering its end).
    Period(&'a str),
}

/// A KPI's period: its label, value, target, status, the value of the period before and the
/// KPI's direction.
struct Period {
    label: String,
    value: Option<f64>,
    target: Option<f64>,
    status: Option<String>,
    previous: Option<f64>,
    direction: tablero_model::Direction,
}

/// Each KPI's period the insights read.
struct Latest(HashMap<String, Period>);

impl Facts for Latest {
    fn fact(&self, kpi: &str, field: Field) -> Fact {
        let Some(Period {
            value,
            target,
            status,
            previous,
            direction,
            ..
        }) = self.0.get(kpi)
        else {
            return match field {
                Field::Status => Fact::Status(None),
                _ => Fact::Number(None),
            };
        };
        match field {
            Field::Value => Fact::Number(*value),
            Field::Target => Fact::Number(*target),
            Field::Status => Fact::Status(status.clone()),
            Field::Previous => Fact::Number(*previous),
            Field::Growth => Fact::Number(
                tablero_engine::judged::change(*value, *previous, *direction)
                    .and_then(|c| c.growth),
            ),
        }
    }
}

/// The facts of each KPI's period: with [`Which::LatestComplete`] the engine's judged latest
/// complete period with a value and the one before it (what every surface shows); with
/// [`Which::Period`] the last one computed (the request ends at the period asked for) and the
/// one before it.
fn facts(results: &[KpiResult], which: Which<'_>) -> Latest {
    let mut map = HashMap::new();
    for result in results {
        let (current, previous) = match which {
            Which::LatestComplete => {
                let judged = result.judged();
                (judged.latest, judged.previous)
            }
            Which::Period(_) => {
                let n = result.values.len();
                (
                    result.values.last(),
                    n.checked_sub(2).map(|i| &result.values[i]),
                )
            }
        };
        let Some(current) = current else {
            continue;
        };
        map.insert(
            result.kpi.clone(),
            Period {
                label: current.label.clone(),
                value: current.value,
                target: current.target,
                status: Some(current.status.as_str().to_string()),
                previous: previous.and_then(|v| v.value),
                direction: result.direction,
            },
        );
    }
    Latest(map)
}

/// The insights that hold at `which` period, for this caller, in this language.
pub async fn active(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
    locale: Locale,
    as_of: Option<jiff::Timestamp>,
    which: Which<'_>,
) -> Result<Vec<ActiveInsight>, AppError> {
    let workspace = loaded.engine.workspace();
    if workspace.insights.is_empty() {
        return Ok(Vec::new());
    }
    let view = View::new(caller, loaded);
    let mut checked = Vec::new();
    for insight in &workspace.insights {
        // The workspace checks before it loads: an invalid condition never gets here.
        let Ok(condition) = insight_condition(workspace, &insight.when) else {
            continue;
        };
        let kpis = condition.kpis();
        if kpis.iter().all(|k| view.sees(k)) {
            checked.push((insight, condition, kpis));
        }
    }
    let mut wanted: Vec<String> = checked.iter().flat_map(|(_, _, k)| k.clone()).collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let results = state
        .compute(
            loaded,
            &Request {
                kpis: wanted,
                as_of,
                to: match which {
                    Which::LatestComplete => None,
                    Which::Period(label) => Some(label.to_string()),
                },
                ..Request::default()
            },
        )
        .await
        .map_err(AppError::from_compute)?;
    let facts = facts(&results, which);
    Ok(checked
        .into_iter()
        .filter(|(_, condition, _)| condition.holds(&facts))
        .map(|(insight, _, kpis)| ActiveInsight {
            id: insight.id.value.clone(),
            message: insight.message(locale).to_string(),
            periods: kpis
                .iter()
                .filter_map(|k| Some((k.clone(), facts.0.get(k)?.label.clone())))
                .collect(),
            values: kpis
                .iter()
                .filter_map(|k| Some((k.clone(), facts.0.get(k)?.value)))
                .collect(),
            kpis,
        })
        .collect())
}

/// The messages of the insights that hold now (as of the page's `as_of`), those naming `kpi`
/// when given; a problem computing them leaves them out and is logged.
pub async fn messages(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
    locale: Locale,
    query: &PageQuery,
    kpi: Option<&str>,
) -> Vec<String> {
    let as_of = crate::query::as_of(loaded, query.as_of.as_deref())
        .ok()
        .flatten();
    match active(state, loaded, caller, locale, as_of, Which::LatestComplete).await {
        Ok(active) => active
            .into_iter()
            .filter(|i| kpi.is_none_or(|k| i.kpis.iter().any(|x| x == k)))
            .map(|i| i.message)
            .collect(),
        Err(err) => {
            tracing::warn!(message = %err.message, "insights could not be evaluated");
            Vec::new()
        }
    }
}

/// The insights that hold on each KPI's latest complete period, or on `period`.
#[utoipa::path(get, path = "/insights", tag = "kpis", params(InsightQuery),
    responses((status = 200, body = InsightList),
        (status = 400, description = "a bad `period`, `as_of` or `lang`")))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(query): axum::extract::Query<InsightQuery>,
) -> Result<Json<InsightList>, AppError> {
    let loaded = loaded(&state).await?;
    let settings = &loaded.engine.workspace().settings;
    let locale = match query.lang.as_deref() {
        Some("es") => Locale::Es,
        Some("en") => Locale::En,
        _ => settings.locale,
    };
    let as_of = crate::query::as_of(&loaded, query.as_of.as_deref())?;
    let period = match query.period.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(label) => {
            loaded
                .engine
                .calendar()
                .parse_any_period(label)
                .map_err(|e| AppError::bad_parameter("period", e))?;
            Some(label.to_string())
        }
    };
    let which = match &period {
        Some(label) => Which::Period(label),
        None => Which::LatestComplete,
    };
    Ok(Json(InsightList {
        insights: active(&state, &loaded, &caller, locale, as_of, which).await?,
        period,
    }))
}

/// `?lang=es|en&as_of=T&period=P`.
#[derive(serde::Deserialize, utoipa::IntoParams, Default)]
pub struct InsightQuery {
    /// `es` or `en`; the workspace's language by default.
    pub lang: Option<String>,
    /// Evaluate as if it were this instant.
    pub as_of: Option<String>,
    /// A period label (`2026-03`, `2026-Q1`, …); each KPI's latest complete period by default.
    pub period: Option<String>,
}

/// This feature's API routes, merged into the API in `app`.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(list))
}
