//! One KPI's page: its card, the series against target with the band its history expects,
//! periods, a breakdown per dimension, projection, notes, reviews and the review form, the
//! definition, SMART lint and generated SQL. Rendered from a typed askama template.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tablero_engine::{InProgress, Request};
use tablero_model::display::status_label;
use tablero_model::{Kpi, Locale};

use crate::access::View;
use crate::auth::Caller;
use crate::cards::{Card, Fmt, card, pace_and_forecast};
use crate::chart::{self, Point};
use crate::error::AppError;
use crate::frame::{Frame, frame, render};
use crate::i18n::Texts;
use crate::query::{PageQuery, loaded, loaded_in};
use crate::state::{AppState, Loaded};

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
    match crate::query::compute_page(&state, &loaded, &query, vec![id.clone()]).await {
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
    let insights =
        crate::insights::messages(&state, &loaded, &caller, locale, &query, Some(&id)).await;
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
    let series: Vec<Option<f64>> = complete.iter().map(|(_, v)| *v).collect();
    let labels: Vec<String> = complete.into_iter().map(|(l, _)| l).collect();
    let expected = state
        .expected
        .get_or_fit(&results, season, 3, move || {
            tablero_forecast::expected(&series, season, 3)
        })
        .await;
    let (bands, projected) = (&expected.bands, &expected.projection);
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
        .as_deref()
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
