//! The boards: the home page (every KPI as a card, grouped by owner, with overdue actions and
//! the insights that hold), the department scorecards of `dashboards/*.yaml`, the wall screen
//! and its rotation, and the views a share link renders. Rendered from typed askama templates.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tablero_engine::{KpiResult, Verdict};
use tablero_model::Kpi;
use tablero_model::display::format_value;

use crate::access::View;
use crate::auth::Caller;
use crate::cards::{Card, Fmt, card};
use crate::error::AppError;
use crate::frame::{Frame, frame, render};
use crate::i18n::Texts;
use crate::query::{PageQuery, ValuesQuery, loaded, loaded_in};
use crate::state::{AppState, Loaded};

pub struct OwnerGroup {
    pub owner: String,
    pub cards: Vec<Arc<Card>>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    groups: Vec<OwnerGroup>,
    /// Open actions past due: (KPI id, KPI name, what, who, due).
    overdue: Vec<(String, String, String, String, String)>,
    /// Messages of the insights that hold now.
    insights: Vec<String>,
}

/// The home page: every KPI as a card, grouped by owner.
pub async fn home(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let workspace = loaded.engine.workspace();
    let (mut frame, locale) = frame(&snapshot.errors, &loaded, &caller, &query, String::new());
    frame.title = format!("{} — {}", frame.company, frame.t.kpis);
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut groups: Vec<OwnerGroup> = Vec::new();
    let mut status = StatusCode::OK;
    match crate::query::compute_page(&state, &loaded, &query, Vec::new()).await {
        Ok(results) => {
            let cards = state.cards.cards(&results, workspace, &fmt, frame.t);
            let view = View::new(&caller, &loaded);
            for (result, card) in results.iter().zip(cards.iter()) {
                let Ok(kpi) = view.kpi(&result.kpi) else {
                    continue;
                };
                let Some(card) = card.clone() else {
                    continue;
                };
                let owner = kpi
                    .owner
                    .as_ref()
                    .map(|o| o.value.clone())
                    .unwrap_or_else(|| "—".into());
                match groups.iter_mut().find(|g| g.owner == owner) {
                    Some(g) => g.cards.push(card),
                    None => groups.push(OwnerGroup {
                        owner,
                        cards: vec![card],
                    }),
                }
            }
        }
        // The page still renders, with the problem in words and the fitting status.
        Err(err) => {
            status = err.status;
            frame.problem = Some(err.message);
        }
    }
    let overdue = overdue_actions(&state, &loaded, &caller).await;
    let insights = crate::insights::messages(&state, &loaded, &caller, locale, &query, None).await;
    render(
        status,
        HomePage {
            frame,
            groups,
            overdue,
            insights,
        },
    )
}

/// The open actions past their due date (today in the workspace's time zone) of the KPIs the
/// caller sees; empty without a state database.
async fn overdue_actions(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
) -> Vec<(String, String, String, String, String)> {
    let Ok(db) = state.db() else {
        return Vec::new();
    };
    let view = View::new(caller, loaded);
    let today = jiff::Timestamp::now()
        .to_zoned(loaded.engine.calendar().time_zone().clone())
        .date()
        .to_string();
    match db.overdue_actions(&today).await {
        Ok(actions) => actions
            .into_iter()
            .filter_map(|o| {
                let kpi = view.kpi(&o.kpi).ok()?;
                Some((
                    o.kpi,
                    kpi.name.clone(),
                    o.action.what,
                    o.action.who,
                    o.action.due,
                ))
            })
            .collect(),
        Err(err) => {
            tracing::warn!(%err, "cannot read overdue actions");
            Vec::new()
        }
    }
}

/// A row of a scorecard: the card's numbers plus what a review meeting reads across.
pub struct ScoreRow {
    /// The title of the dashboard section this row opens, if it opens one.
    pub section: Option<String>,
    pub card: Card,
    pub owner: String,
    /// Value as a share of target, e.g. "94 %".
    pub of_target: String,
    /// Change from the same period a year before.
    pub year_ago: String,
    pub year_ago_class: String,
    /// Year to date (through the page's moment): value and its prorated target.
    pub ytd: String,
    pub ytd_target: String,
}

/// The scorecard's extra columns for one KPI: % of target, change from a year ago, and
/// year to date against its prorated target (each an engine request of its own, cached).
async fn score_row(
    state: &AppState,
    loaded: &Loaded,
    query: &PageQuery,
    kpi: &Kpi,
    result: &KpiResult,
    fmt: &Fmt<'_>,
    t: &Texts,
) -> ScoreRow {
    let card = card(kpi, result, fmt, t);
    let judged = result.judged();
    let last = judged.latest;
    let calendar = loaded.engine.calendar();
    let value = judged.value();
    let of_target = match judged.of_target() {
        Some(share) => format_value(
            share,
            tablero_model::Unit::Percent,
            0,
            fmt.locale,
            fmt.currency,
        ),
        None => "—".into(),
    };
    let mut base = query.values();
    base.by = None;
    let mut year_ago = None;
    if let Some(last) = last {
        let before = calendar.year_ago(last.period);
        let mut q = ValuesQuery {
            from: Some(calendar.label(before)),
            to: Some(last.label.clone()),
            grain: Some(result.grain.as_str().to_string()),
            ..base.clone()
        };
        q.by = None;
        if let Ok(request) = q.request(loaded, vec![kpi.id.value.clone()])
            && let Ok(found) = state.compute(loaded, &request).await
        {
            year_ago = found
                .first()
                .and_then(|r| r.values.first())
                .and_then(|v| v.value);
        }
    }
    let moved = tablero_engine::judged::change(value, year_ago, kpi.direction);
    let change = moved.map(|c| c.delta);
    let year_ago_class = moved.map_or(Verdict::Same, |c| c.verdict).as_str();
    let mut ytd = (None, None);
    let q = ValuesQuery {
        from: None,
        to: None,
        grain: Some("year".into()),
        ..base
    };
    if let Ok(request) = q.request(loaded, vec![kpi.id.value.clone()])
        && let Ok(found) = state.compute(loaded, &request).await
        && let Some(year) = found.first()
    {
        ytd = tablero_engine::judged::year_to_date(year);
    }
    ScoreRow {
        section: None,
        owner: kpi
            .owner
            .as_ref()
            .map(|o| o.value.clone())
            .unwrap_or_default(),
        of_target,
        year_ago: fmt.change(kpi, change),
        year_ago_class: year_ago_class.to_string(),
        ytd: fmt.value(kpi, ytd.0),
        ytd_target: fmt.value(kpi, ytd.1),
        card,
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    dashboard_id: String,
    rows: Vec<ScoreRow>,
}

/// A department's scorecard.
pub async fn dashboard_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    dashboard_view(&state, &caller, &id, query, false).await
}

/// What a board view starts from: the caller's view of the load, the dashboard with the ids of
/// the KPIs it sees (its grain put in `query`), and the page frame — stripped for a share link.
fn open_board<'l>(
    snapshot: &crate::state::Snapshot,
    loaded: &'l Loaded,
    caller: &'l Caller,
    id: &str,
    query: &mut PageQuery,
    shared: bool,
) -> Result<
    (
        View<'l>,
        &'l tablero_model::Dashboard,
        Vec<String>,
        Frame,
        tablero_model::Locale,
    ),
    AppError,
> {
    let view = View::new(caller, loaded);
    let (dashboard, ids) = view.dashboard_for(id, query)?;
    let (mut frame, locale) = frame(
        &snapshot.errors,
        loaded,
        caller,
        query,
        dashboard.title.clone(),
    );
    if shared {
        frame.share();
    }
    Ok((view, dashboard, ids, frame, locale))
}

/// The scorecard of dashboard `id` as `caller` sees it; `shared` strips everything but the
/// table (a share link).
pub(crate) async fn dashboard_view(
    state: &AppState,
    caller: &Caller,
    id: &str,
    mut query: PageQuery,
    shared: bool,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let workspace = loaded.engine.workspace();
    let (view, dashboard, ids, mut frame, locale) =
        open_board(&snapshot, &loaded, caller, id, &mut query, shared)?;
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut rows = Vec::new();
    let mut status = StatusCode::OK;
    match crate::query::compute_page(state, &loaded, &query, ids.clone()).await {
        Ok(results) => {
            // In the dashboard's order, each section's title on its first visible row.
            let sections: Vec<(Option<&str>, &[tablero_model::Text])> =
                if dashboard.sections.is_empty() {
                    vec![(None, dashboard.kpis.as_slice())]
                } else {
                    dashboard
                        .sections
                        .iter()
                        .map(|s| (Some(s.title.as_str()), s.kpis.as_slice()))
                        .collect()
                };
            for (title, members) in sections {
                let mut opens = title.map(str::to_string);
                for member in members {
                    let Some(result) = results.iter().find(|r| r.kpi == member.value) else {
                        continue;
                    };
                    if let Ok(kpi) = view.kpi(&result.kpi) {
                        let mut row =
                            score_row(state, &loaded, &query, kpi, result, &fmt, frame.t).await;
                        row.section = opens.take();
                        rows.push(row);
                    }
                }
            }
        }
        // The page still renders, with the problem in words and the fitting status.
        Err(err) => {
            status = err.status;
            frame.problem = Some(err.message);
        }
    }
    render(
        status,
        DashboardPage {
            frame,
            dashboard_id: id.to_string(),
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "tv.html")]
struct TvPage {
    frame: Frame,
    cards: Vec<Arc<Card>>,
    /// Seconds between reloads.
    refresh: u32,
    /// When the numbers were computed, in the workspace's time zone.
    updated: String,
    /// Where the reload goes when rotating through dashboards.
    next: Option<String>,
}

/// How often a wall screen reloads, in seconds.
const TV_REFRESH: u32 = 60;

/// `/tv/{dashboard}`: a dashboard for a wall screen — large type, no controls, reloading itself
/// every minute (a `<meta>` refresh: no script runs).
pub async fn tv_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
    Query(rotation): Query<Rotation>,
) -> Result<Response, AppError> {
    let rotate = rotation.rotate.is_some_and(|r| r != "0" && !r.is_empty());
    tv_view(&state, &caller, &id, query, false, rotate).await
}

/// `?rotate=1`: each reload of a wall screen moves to the next dashboard.
#[derive(Deserialize, Default)]
pub struct Rotation {
    pub rotate: Option<String>,
}

/// Where a rotating wall screen goes after dashboard `id`: the next dashboard the caller may
/// see; the first when `id` is not in the rotation (it shows no KPI); none when the caller sees
/// no dashboard with a KPI (the page then reloads itself).
fn next_in_rotation(view: &View, id: &str, lang: Option<&str>) -> Option<String> {
    let boards = view.dashboards();
    let next = match boards.iter().position(|d| d.id == id) {
        Some(at) => boards.get((at + 1) % boards.len()),
        None => boards.first(),
    }?;
    let lang = match lang {
        Some(l @ ("es" | "en")) => format!("&lang={l}"),
        _ => String::new(),
    };
    Some(format!("/tv/{}?rotate=1{lang}", next.id))
}

/// `/tv`: a wall screen rotating through every dashboard the caller may see, one a minute.
pub async fn tv_rotation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let loaded = loaded(&state).await?;
    let first = View::new(&caller, &loaded)
        .dashboards()
        .first()
        .map(|d| d.id.clone())
        .ok_or_else(|| AppError::not_found("no dashboard to show"))?;
    let lang = query
        .lang
        .as_deref()
        .filter(|l| matches!(*l, "es" | "en"))
        .map(|l| format!("&lang={l}"))
        .unwrap_or_default();
    Ok(Redirect::to(&format!("/tv/{first}?rotate=1{lang}")).into_response())
}

/// The wall-screen page of dashboard `id` as `caller` sees it (`shared`: through a link;
/// `rotate`: its reload moves on to the next dashboard the caller may see).
pub(crate) async fn tv_view(
    state: &AppState,
    caller: &Caller,
    id: &str,
    mut query: PageQuery,
    shared: bool,
    rotate: bool,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let workspace = loaded.engine.workspace();
    let (view, _, ids, mut frame, locale) =
        open_board(&snapshot, &loaded, caller, id, &mut query, shared)?;
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut cards = Vec::new();
    let mut status = StatusCode::OK;
    match crate::query::compute_page(state, &loaded, &query, ids).await {
        Ok(results) => {
            let built = state.cards.cards(&results, workspace, &fmt, frame.t);
            for (result, card) in results.iter().zip(built.iter()) {
                if view.sees(&result.kpi)
                    && let Some(card) = card
                {
                    cards.push(card.clone());
                }
            }
        }
        Err(err) => {
            status = err.status;
            frame.problem = Some(err.message);
        }
    }
    let updated = jiff::Timestamp::now()
        .to_zoned(loaded.engine.calendar().time_zone().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let next = if rotate {
        next_in_rotation(&view, id, query.lang.as_deref())
    } else {
        None
    };
    render(
        status,
        TvPage {
            frame,
            cards,
            refresh: TV_REFRESH,
            updated,
            next,
        },
    )
}
