//! Funnels: the KPIs that share a `group:` (a pipeline's stages, in catalog order) for one
//! period — each stage's value and the conversion from the stage before — at
//! `GET /api/v1/funnels/{group}` and on the page `/funnel/{group}`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Serialize;
use tablero_engine::Request;
use tablero_model::display::format_value;
use utoipa::ToSchema;

use crate::access::View;
use crate::auth::Caller;
use crate::error::AppError;
use crate::frame::{Frame, frame, render};
use crate::period::PeriodQuery;
use crate::query::PageQuery;
use crate::query::{loaded, loaded_in};
use crate::state::{AppState, Loaded};

/// A funnel at one period.
#[derive(Serialize, ToSchema, Debug)]
pub struct Funnel {
    pub group: String,
    pub period: String,
    pub stages: Vec<Stage>,
}

/// One stage: its KPI, value, and the percentage of the stage before that reached it. A stage
/// the account may not see is there, hidden: no id, name or numbers, and the stage after it
/// has no conversion (it would tell the hidden value), nor any stage an `of_first` when the
/// first is hidden (SPEC §13).
#[derive(Serialize, ToSchema, Debug)]
pub struct Stage {
    /// Null when hidden.
    pub kpi: Option<String>,
    /// Null when hidden.
    pub name: Option<String>,
    pub value: Option<f64>,
    /// `100 × value / previous stage's value`; null for the first stage, after a zero or a
    /// hidden stage.
    pub conversion: Option<f64>,
    /// `100 × value / first stage's value`.
    pub of_first: Option<f64>,
    /// The account may not see this stage's KPI.
    pub hidden: bool,
}

async fn build(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
    group: &str,
    query: &PeriodQuery,
) -> Result<Funnel, AppError> {
    let workspace = loaded.engine.workspace();
    // Every stage in catalog order, each with whether the caller sees it.
    let view = View::new(caller, loaded);
    let stages: Vec<(&tablero_model::Kpi, bool)> = workspace
        .kpis
        .iter()
        .filter(|k| k.group.as_deref() == Some(group))
        .map(|k| (k, view.sees(&k.id.value)))
        .collect();
    let Some((first, _)) = stages.iter().find(|(_, seen)| *seen) else {
        return Err(AppError::not_found(format!("no funnel named `{group}`")));
    };
    let grain = first.grain_or_default();
    let calendar = loaded.engine.calendar();
    let (as_of, period) = query.resolve(state, loaded, &first.id.value, grain).await?;
    let label = calendar.label(period);
    let results = state
        .compute(
            loaded,
            &Request {
                kpis: stages
                    .iter()
                    .filter(|(_, seen)| *seen)
                    .map(|(k, _)| k.id.value.clone())
                    .collect(),
                from: Some(label.clone()),
                to: Some(label.clone()),
                grain: Some(grain),
                as_of,
                ..Request::default()
            },
        )
        .await
        .map_err(AppError::from_compute)?;
    let value_of = |id: &str| {
        results
            .iter()
            .find(|r| r.kpi == id)
            .and_then(|r| {
                r.values
                    .iter()
                    .find(|v| v.label == label && v.dim.is_none())
            })
            .and_then(|v| v.value)
    };
    // A hidden stage is an unknown number: what follows it has no conversion, and nothing
    // has a share of a hidden first stage.
    let known = |(kpi, seen): &(&tablero_model::Kpi, bool)| seen.then(|| value_of(&kpi.id.value));
    let top = stages.first().and_then(known);
    let mut out = Vec::new();
    let mut before: Option<Option<f64>> = None;
    for stage in &stages {
        let (kpi, seen) = *stage;
        let value = known(stage);
        out.push(match value {
            Some(value) => Stage {
                kpi: Some(kpi.id.value.clone()),
                name: Some(kpi.name.clone()),
                value,
                conversion: before
                    .flatten()
                    .and_then(|b| tablero_engine::judged::conversion(value, Some(b))),
                of_first: top.and_then(|t| tablero_engine::judged::conversion(value, t)),
                hidden: false,
            },
            None => Stage {
                kpi: None,
                name: None,
                value: None,
                conversion: None,
                of_first: None,
                hidden: !seen,
            },
        });
        // After a hidden stage, no conversion can be told.
        before = seen.then(|| value.flatten());
    }
    Ok(Funnel {
        group: group.to_string(),
        period: label,
        stages: out,
    })
}

/// The stages of a funnel (KPIs sharing a `group:`) at one period, with their conversions.
#[utoipa::path(get, path = "/funnels/{group}", tag = "kpis", operation_id = "funnel",
    params(("group" = String, Path, description = "the stages' `group:`"), PeriodQuery),
    responses((status = 200, body = Funnel),
        (status = 400, description = "a bad `period` or `as_of`"),
        (status = 404, description = "no KPI (that the account may see) has this group")))]
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Funnel>, AppError> {
    let loaded = loaded(&state).await?;
    Ok(Json(build(&state, &loaded, &caller, &group, &query).await?))
}

struct StageRow {
    /// Empty for a hidden stage (no link).
    id: String,
    name: String,
    value: String,
    conversion: String,
    of_first: String,
    /// Bar width, percent of the widest stage.
    width: f64,
}

#[derive(Template)]
#[template(path = "funnel.html")]
struct FunnelPage {
    frame: Frame,
    period: String,
    stages: Vec<StageRow>,
}

/// `/funnel/{group}`: the funnel as horizontal bars with the conversion between stages.
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let funnel = build(&state, &loaded, &caller, &group, &query).await?;
    let workspace = loaded.engine.workspace();
    let page_query = PageQuery {
        as_of: query.as_of.clone(),
        lang: query.lang.clone(),
        ..PageQuery::default()
    };
    let (frame, locale) = frame(
        &snapshot.errors,
        &loaded,
        &caller,
        &page_query,
        format!("{} — {}", group, funnel.period),
    );
    let currency = workspace.settings.currency.as_str();
    let widest = funnel
        .stages
        .iter()
        .filter_map(|s| s.value)
        .fold(0.0_f64, f64::max);
    let percent = |v: Option<f64>| {
        v.map(|v| format_value(v, tablero_model::Unit::Percent, 1, locale, currency))
            .unwrap_or_else(|| "—".into())
    };
    let stages = funnel
        .stages
        .iter()
        .map(|s| StageRow {
            id: s.kpi.clone().unwrap_or_default(),
            name: s
                .name
                .clone()
                .unwrap_or_else(|| frame.t.hidden_kpi.to_string()),
            value: match (s.kpi.as_deref().and_then(|k| workspace.kpi(k)), s.value) {
                (Some(k), Some(v)) => format_value(v, k.unit, k.decimals, locale, currency),
                _ => "—".into(),
            },
            conversion: percent(s.conversion),
            of_first: percent(s.of_first),
            width: match s.value {
                Some(v) if widest > 0.0 => (100.0 * v / widest).clamp(0.0, 100.0),
                _ => 0.0,
            },
        })
        .collect();
    render(
        axum::http::StatusCode::OK,
        FunnelPage {
            frame,
            period: funnel.period,
            stages,
        },
    )
}

/// This feature's API routes, merged into the API in `app`.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api))
}
