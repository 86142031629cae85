//! The dashboard's HTML pages: home (every KPI as a card, grouped by owner), one page per KPI,
//! and the department scorecards of `dashboards/*.yaml`. Rendered from typed askama templates.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tablero_engine::{InProgress, KpiResult, Request, Verdict};
use tablero_model::display::{format_value, status_label};
use tablero_model::{Kpi, Locale};

use crate::access::View;
use crate::auth::Caller;
use crate::cards::{Card, Fmt, card, pace_and_forecast};
use crate::chart::{self, Point};
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

async fn compute_all(
    state: &AppState,
    loaded: &Loaded,
    query: &PageQuery,
    kpis: Vec<String>,
) -> Result<Arc<Vec<KpiResult>>, AppError> {
    let request = query.values().request(loaded, kpis)?;
    state
        .compute(loaded, &request)
        .await
        .map_err(AppError::from_compute)
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
    match compute_all(&state, &loaded, &query, Vec::new()).await {
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
    let insights = page_insights(&state, &loaded, &caller, locale, &query, None).await;
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

/// The messages of the insights that hold now (as of the page's `as_of`), those naming `kpi`
/// when given; a problem computing them leaves them out and is logged.
async fn page_insights(
    state: &AppState,
    loaded: &Loaded,
    caller: &Caller,
    locale: Locale,
    query: &PageQuery,
    kpi: Option<&str>,
) -> Vec<String> {
    let as_of = query
        .as_of
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| loaded.engine.calendar().parse_as_of(t).ok());
    match crate::insights::active(
        state,
        loaded,
        caller,
        locale,
        as_of,
        crate::insights::Which::LatestComplete,
    )
    .await
    {
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

/// A review as the KPI page shows it.
pub struct ReviewView {
    pub period: String,
    pub author: String,
    pub when: String,
    pub comment: String,
    pub cause: Option<String>,
    /// (what, who, due, state, state in words)
    pub actions: Vec<(String, String, String, String, String)>,
}

/// The review form, for those who may write reviews of the KPI.
pub struct ReviewForm {
    pub csrf: String,
    /// Complete periods, newest first.
    pub periods: Vec<String>,
}

pub struct Row {
    pub period: String,
    pub value: String,
    pub target: String,
    pub status: String,
    pub status_label: String,
    pub note: String,
}

pub struct Breakdown {
    pub dimension: String,
    pub period: String,
    pub rows: Vec<(String, String, String, String, String)>,
    pub filters: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "kpi.html")]
struct KpiPage {
    frame: Frame,
    kpi_id: String,
    name: String,
    description: String,
    owner: String,
    kind: String,
    direction: String,
    unit: String,
    formula: String,
    target: String,
    chart: String,
    /// The KPI now, as its card shows it.
    latest: Option<Card>,
    rows: Vec<Row>,
    breakdowns: Vec<Breakdown>,
    lint: Vec<String>,
    sql: String,
    reviews: Vec<ReviewView>,
    review_form: Option<ReviewForm>,
    /// The next periods as the model projects them: (period, expected, interval).
    projection: Vec<(String, String, String)>,
    /// Messages of the insights that hold now and read this KPI.
    insights: Vec<String>,
    /// Manual sources this KPI reads whose values the caller may enter: (name, label).
    entries: Vec<(String, String)>,
    /// Annotations in the chart's range: (date, text).
    notes: Vec<(String, String)>,
    /// The KPI is a product or ratio of other KPIs: its tree page is linked.
    tree: bool,
    /// The KPI is a stage of this funnel (its `group:`): the funnel is linked.
    funnel: Option<String>,
}

/// One KPI: its series against target, periods, breakdowns, definition, lint and query.
pub async fn kpi_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let snapshot = state.snapshot().await;
    let loaded = loaded_in(&snapshot)?;
    let workspace = loaded.engine.workspace();
    // A KPI this account may not see is answered exactly like one that does not exist.
    let view = View::new(&caller, &loaded);
    let kpi = view.kpi(&id)?;
    let (mut frame, locale) = frame(&snapshot.errors, &loaded, &caller, &query, kpi.name.clone());
    let t = frame.t;
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut rows = Vec::new();
    let mut points = Vec::new();
    // (label, start, end, partial) of each period drawn.
    let mut periods_shown: Vec<(String, jiff::Timestamp, jiff::Timestamp, bool)> = Vec::new();
    let mut breakdowns = Vec::new();
    let mut latest = None;
    let mut status = StatusCode::OK;
    match compute_all(&state, &loaded, &query, vec![id.clone()]).await {
        Ok(results) => {
            if let Some(result) = results.first() {
                latest = Some(card(kpi, result, &fmt, t));
                for v in &result.values {
                    let label = status_label(v.status.as_str(), locale).to_string();
                    let mut note = String::new();
                    let now = v.partial.then(|| InProgress::of(v));
                    if let Some(now) = now {
                        note = t.in_progress.to_string();
                        note.push_str(&pace_and_forecast(now, kpi, &fmt, t));
                    }
                    periods_shown.push((v.label.clone(), v.start, v.end, v.partial));
                    points.push(Point {
                        note: None,
                        band: None,
                        anomaly: false,
                        partial: v.partial.then(|| chart::Partial {
                            pace: v.pace_target,
                            projection: now.and_then(|n| n.forecast),
                        }),
                        label: v.label.clone(),
                        value: v.value,
                        target: v.target,
                        status: v.status.as_str().to_string(),
                        tooltip: format!(
                            "{}: {} ({} {}) — {label}",
                            v.label,
                            fmt.value(kpi, v.value),
                            t.target.to_lowercase(),
                            fmt.value(kpi, v.target)
                        ),
                    });
                    rows.push(Row {
                        period: v.label.clone(),
                        value: fmt.value(kpi, v.value),
                        target: fmt.value(kpi, v.target),
                        status: v.status.as_str().to_string(),
                        status_label: label,
                        note,
                    });
                }
                // One breakdown per dimension, at the last complete period.
                let period = result.judged().latest.map(|v| v.label.clone());
                let definition = view.definition(kpi);
                for dim in definition.dimensions {
                    let mut q = query.values();
                    q.by = Some(dim.clone());
                    if let Some(p) = &period {
                        q.from = Some(p.clone());
                        q.to = Some(p.clone());
                    }
                    let request: Request = q.request(&loaded, vec![id.clone()])?;
                    let Ok(split) = state.compute(&loaded, &request).await else {
                        continue;
                    };
                    let mut table = Vec::new();
                    let mut filters = Vec::new();
                    for v in split.first().map(|r| r.values.as_slice()).unwrap_or(&[]) {
                        let name = v.dim.clone().flatten().unwrap_or_else(|| "(null)".into());
                        if let Some(Some(value)) = &v.dim {
                            filters.push((
                                format!("{dim} = '{}'", value.replace('\'', "''")),
                                value.clone(),
                            ));
                        }
                        table.push((
                            name,
                            fmt.value(kpi, v.value),
                            fmt.value(kpi, v.target),
                            v.status.as_str().to_string(),
                            status_label(v.status.as_str(), locale).to_string(),
                        ));
                    }
                    breakdowns.push(Breakdown {
                        dimension: dim,
                        period: period.clone().unwrap_or_default(),
                        rows: table,
                        filters,
                    });
                }
            }
        }
        // The page still renders, with the problem in words and the fitting status.
        Err(err) => {
            status = err.status;
            frame.problem = Some(err.message);
        }
    }
    let projection = expected_bands(&state, &loaded, &query, kpi, &mut points, &fmt, t).await;
    // Annotations in the chart's range, each on the period that contains its day.
    let mut notes = Vec::new();
    if let (Ok(db), Some(first), Some(last)) =
        (state.db(), periods_shown.first(), periods_shown.last())
    {
        let calendar = loaded.engine.calendar();
        let day = |t: jiff::Timestamp| t.to_zoned(calendar.time_zone().clone()).date();
        let (from, to) = (day(first.1).to_string(), day(last.2).to_string());
        let annotations = crate::reviews::visible_annotations(
            &db,
            &view,
            (&from, &to),
            None,
            crate::reviews::MAX_NOTES,
        )
        .await;
        // Oldest first on the chart.
        for a in annotations
            .unwrap_or_default()
            .into_iter()
            .rev()
            .filter(|a| a.kpi.as_ref().is_none_or(|k| *k == id))
        {
            let Ok(date) = a.day.parse::<jiff::civil::Date>() else {
                continue;
            };
            let at = calendar.date_start(date);
            if let Some(i) = periods_shown
                .iter()
                .position(|(_, s, e, _)| *s <= at && at < *e)
            {
                let note = points[i].note.get_or_insert_with(String::new);
                if !note.is_empty() {
                    note.push_str(" · ");
                }
                note.push_str(&format!("{}: {}", a.day, a.text));
            }
            notes.push((a.day, a.text));
        }
    }
    let chart = chart::series(&points, &format!("{} {}", t.chart_label, kpi.name));
    let (reviews, review_form) =
        review_section(&state, &view, kpi, locale, t, &periods_shown).await;
    let insights = page_insights(&state, &loaded, &caller, locale, &query, Some(&id)).await;
    let entries: Vec<(String, String)> = view
        .entries_of(&id)
        .into_iter()
        .map(|s| {
            (
                s.name.value.clone(),
                s.label.clone().unwrap_or_else(|| s.name.value.clone()),
            )
        })
        .collect();
    let lint = loaded.lint_for(&id);
    let sql = if view.hides_a_dependency(&id) {
        t.hidden_dependency.to_string()
    } else {
        page_sql(&state, &loaded, &query, &id).await
    };
    let definition = view.definition(kpi);
    render(
        status,
        KpiPage {
            tree: tablero_formula::tree::kpi_tree(workspace, &id).is_some(),
            funnel: kpi.group.clone(),
            kpi_id: id.clone(),
            name: kpi.name.clone(),
            description: kpi.description.clone().unwrap_or_default(),
            owner: definition.owner.unwrap_or_default(),
            kind: match kpi.kind {
                Some(tablero_model::KpiKind::Leading) => t.leading.into(),
                Some(tablero_model::KpiKind::Lagging) => t.lagging.into(),
                None => "—".into(),
            },
            direction: match kpi.direction {
                tablero_model::Direction::Up => t.up_better.into(),
                tablero_model::Direction::Down => t.down_better.into(),
            },
            unit: kpi.unit.as_str().into(),
            formula: definition.formula.unwrap_or_default(),
            target: definition.target.unwrap_or_else(|| "—".into()),
            chart,
            latest,
            rows,
            breakdowns,
            lint,
            sql,
            reviews,
            review_form,
            projection,
            insights,
            entries,
            notes,
            frame,
        },
    )
}

/// How many of a page's last periods get an expected band (each is one model fit).
const BANDED: usize = 36;

/// The band the KPI's own history expects for each complete period shown (anomalies are the
/// values outside it), and the projection of the next three periods. The history reaches back
/// as far as the model needs before the first period shown.
async fn expected_bands(
    state: &AppState,
    loaded: &Loaded,
    query: &PageQuery,
    kpi: &Kpi,
    points: &mut [Point],
    fmt: &Fmt<'_>,
    t: &Texts,
) -> Vec<(String, String, String)> {
    let calendar = loaded.engine.calendar();
    let grain = match query
        .grain
        .as_deref()
        .and_then(tablero_calendar::Grain::parse)
    {
        Some(g) => g,
        None => kpi.grain_or_default(),
    };
    let season = tablero_forecast::season_length(grain.as_str());
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let (Ok(first), Ok(last)) = (
        calendar.parse_period(grain, &first.label),
        calendar.parse_period(grain, &last.label),
    ) else {
        return Vec::new();
    };
    let back = tablero_forecast::min_band_history(season) as i64;
    let mut history = query.values();
    history.from = Some(calendar.label(calendar.shift(first, -back)));
    history.to = Some(calendar.label(last));
    let Ok(request) = history.request(loaded, vec![kpi.id.value.clone()]) else {
        return Vec::new();
    };
    let Ok(results) = state.compute(loaded, &request).await else {
        return Vec::new();
    };
    let Some(result) = results.first() else {
        return Vec::new();
    };
    let complete: Vec<(String, Option<f64>)> = result
        .values
        .iter()
        .filter(|v| !v.partial)
        .map(|v| (v.label.clone(), v.value))
        .collect();
    let shown = points.len().min(BANDED);
    let start = points.len() - shown;
    let (labels, bands, projected) = tokio::task::spawn_blocking(move || {
        let series: Vec<Option<f64>> = complete.iter().map(|(_, v)| *v).collect();
        let expected = tablero_forecast::expected(&series, season, 3);
        let labels: Vec<String> = complete.into_iter().map(|(l, _)| l).collect();
        (labels, expected.bands, expected.projection)
    })
    .await
    .unwrap_or_default();
    for point in &mut points[start..] {
        let Some(i) = labels.iter().position(|l| *l == point.label) else {
            continue;
        };
        if let Some(band) = bands.get(i).copied().flatten() {
            point.band = Some((band.lower, band.upper));
            if let Some(v) = point.value
                && !band.contains(v)
            {
                point.anomaly = true;
                point.tooltip = format!(
                    "{} — {}: {} – {}",
                    point.tooltip,
                    t.unusual,
                    fmt.value(kpi, Some(band.lower)),
                    fmt.value(kpi, Some(band.upper))
                );
            }
        }
    }
    let Some(last_complete) = labels
        .last()
        .and_then(|l| calendar.parse_period(grain, l).ok())
    else {
        return Vec::new();
    };
    projected
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(h, band)| {
            (
                calendar.label(calendar.shift(last_complete, h as i64 + 1)),
                fmt.value(kpi, Some(band.expected)),
                format!(
                    "{} – {}",
                    fmt.value(kpi, Some(band.lower)),
                    fmt.value(kpi, Some(band.upper))
                ),
            )
        })
        .collect()
}

/// The KPI's reviews, and the form when the caller may write one.
async fn review_section(
    state: &AppState,
    view: &View<'_>,
    kpi: &Kpi,
    locale: Locale,
    t: &Texts,
    periods: &[(String, jiff::Timestamp, jiff::Timestamp, bool)],
) -> (Vec<ReviewView>, Option<ReviewForm>) {
    let Ok(db) = state.db() else {
        return (Vec::new(), None);
    };
    // The last two years' reviews, a page of them at most.
    let since = jiff::Timestamp::now()
        .as_microsecond()
        .saturating_sub(2 * 366 * 24 * 3600 * 1_000_000);
    let reviews = db
        .reviews_page(&kpi.id.value, since, None, crate::reviews::PAGE_REVIEWS)
        .await
        .map_err(|err| tracing::warn!(%err, "cannot read reviews"))
        .unwrap_or_default();
    let views = reviews
        .into_iter()
        .map(|r| ReviewView {
            period: r.period,
            author: r.author,
            when: jiff::Timestamp::from_microsecond(r.created_at)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            comment: r.comment,
            cause: r.cause,
            actions: r
                .actions
                .into_iter()
                .map(|a| {
                    let label = if a.state == "done" { t.done } else { t.open };
                    (a.what, a.who, a.due, a.state, label.to_string())
                })
                .collect(),
        })
        .collect();
    let _ = locale;
    let may_write = view.may_edit(kpi);
    let form = (may_write && state.auth.is_some())
        .then(|| view.caller().csrf.clone())
        .flatten()
        .map(|csrf| ReviewForm {
            csrf,
            periods: periods
                .iter()
                .rev()
                .filter(|p| !p.3)
                .map(|p| p.0.clone())
                .collect(),
        });
    (views, form)
}

impl crate::auth::WithCsrf for ReviewFormFields {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// The review form's fields.
#[derive(Deserialize)]
pub struct ReviewFormFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    comment: String,
    cause: Option<String>,
    what: Option<String>,
    who: Option<String>,
    due: Option<String>,
}

/// POST /kpi/{id}/reviews: the review form; back to the KPI page's reviews.
pub async fn review_form_submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    crate::auth::CheckedForm(form): crate::auth::CheckedForm<ReviewFormFields>,
) -> Result<Response, AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    let kpi = view.kpi(&id)?;
    view.edits(kpi)?;
    let what = form.what.unwrap_or_default();
    let actions = if what.trim().is_empty() {
        Vec::new()
    } else {
        vec![crate::reviews::NewAction {
            what,
            who: form.who.unwrap_or_default(),
            due: form.due.unwrap_or_default(),
            state: None,
        }]
    };
    let review = crate::reviews::checked_review(
        &loaded,
        kpi,
        crate::reviews::NewReview {
            period: form.period,
            comment: form.comment,
            cause: form.cause,
            actions,
        },
        crate::reviews::author(&caller),
    )?;
    state
        .db()?
        .insert_review(&review)
        .await
        .map_err(AppError::internal)?;
    Ok(axum::response::Redirect::to(&format!("/kpi/{id}#reviews")).into_response())
}

/// The KPI page's SQL: the plan's shape for the page's grain, dimension and filter over the
/// default range — the SQL lists every period, so a hostile range must not make the page grow
/// with it.
async fn page_sql(state: &AppState, loaded: &Loaded, query: &PageQuery, id: &str) -> String {
    let mut shape = query.values();
    shape.from = None;
    shape.to = None;
    let request = shape
        .request(loaded, vec![id.to_string()])
        .unwrap_or_default();
    let engine = loaded.engine.clone();
    let explained = id.to_string();
    match state
        .run(async move { engine.explain(&explained, &request).await })
        .await
    {
        Ok(e) => e.sql.unwrap_or(e.logical_plan),
        Err(e) => AppError::from_compute(e).message,
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
    let view = View::new(caller, &loaded);
    let (dashboard, ids) = view.dashboard_for(id, &mut query)?;
    let (mut frame, locale) = frame(
        &snapshot.errors,
        &loaded,
        caller,
        &query,
        dashboard.title.clone(),
    );
    if shared {
        frame.share();
    }
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut rows = Vec::new();
    let mut status = StatusCode::OK;
    match compute_all(state, &loaded, &query, ids.clone()).await {
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
    let view = View::new(caller, &loaded);
    let (dashboard, ids) = view.dashboard_for(id, &mut query)?;
    let (mut frame, locale) = frame(
        &snapshot.errors,
        &loaded,
        caller,
        &query,
        dashboard.title.clone(),
    );
    if shared {
        frame.share();
    }
    let fmt = Fmt {
        locale,
        currency: &workspace.settings.currency,
    };
    let mut cards = Vec::new();
    let mut status = StatusCode::OK;
    match compute_all(state, &loaded, &query, ids).await {
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

/// Static files, embedded in the binary.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match name.as_str() {
        "app.css" => (include_str!("../assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return AppError::not_found(format!("no asset `{name}`")).into_response(),
    };
    (
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
