//! Reviews and annotations through the API (SPEC §12): `GET|POST /api/v1/kpis/{id}/reviews`,
//! `POST /api/v1/reviews/{id}/actions/{n}` (an action's state), `GET|POST /api/v1/annotations`.
//! Reading follows what the caller may see; writing needs an editor of the KPI's owner or an
//! admin. Every field is checked, and a problem names it.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tablero_state::{Action, After, Annotation, AnnotationFilter, Review, StateDb};
use utoipa::{IntoParams, ToSchema};

use crate::access::View;
use crate::auth::Caller;
use crate::error::{AppError, ErrorBody};
use crate::query::loaded;
use crate::state::AppState;

/// A review to record.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// A period label at the KPI's grain, e.g. `2026-03`.
    pub period: String,
    pub comment: String,
    pub cause: Option<String>,
    #[serde(default)]
    pub actions: Vec<NewAction>,
}

/// An agreed action.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    pub what: String,
    /// Who does it (a name or an e-mail).
    pub who: String,
    /// Due date, `YYYY-MM-DD`.
    pub due: String,
    /// `open` (default) or `done`.
    pub state: Option<String>,
}

/// A recorded review.
#[derive(Serialize, ToSchema)]
pub struct ReviewBody {
    pub id: String,
    pub kpi: String,
    pub period: String,
    pub comment: String,
    pub cause: Option<String>,
    /// The account that wrote it (`local` on a server without accounts).
    pub author: String,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    pub actions: Vec<NewAction>,
}

/// A review's list.
#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewBody>,
}

/// An action's new state.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionState {
    /// `open` or `done`.
    pub state: String,
}

/// An annotation to record: a day (or a period, meaning its first day), a text, optionally a KPI.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnnotation {
    pub date: Option<String>,
    pub period: Option<String>,
    pub text: String,
    pub kpi: Option<String>,
}

/// A recorded annotation.
#[derive(Serialize, ToSchema)]
pub struct AnnotationBody {
    pub id: String,
    pub kpi: Option<String>,
    pub date: String,
    pub text: String,
    pub author: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AnnotationList {
    pub annotations: Vec<AnnotationBody>,
}

/// The range of annotations to list (dates, inclusive) and the page.
#[derive(Deserialize, IntoParams)]
pub struct AnnotationQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<String>,
    /// Where the page starts: the `cursor` of the `Link: <…>; rel="next"` header of the page
    /// before.
    pub cursor: Option<String>,
}

/// A page of a list: how many, from where.
#[derive(Deserialize, IntoParams)]
pub struct PageParams {
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<String>,
    /// Where the page starts: the `cursor` of the `Link: <…>; rel="next"` header of the page
    /// before.
    pub cursor: Option<String>,
}

/// Entries per page of a list, unless asked otherwise.
const PAGE: usize = 100;
/// The reviews a KPI page shows (the last two years', newest first).
pub const PAGE_REVIEWS: usize = PAGE;
/// The annotations a KPI page's chart shows at most.
pub const MAX_NOTES: usize = MAX_PAGE;
/// The most entries a page may ask for.
const MAX_PAGE: usize = 1_000;

/// The page size asked for, checked.
fn limit_param(limit: Option<&str>) -> Result<usize, AppError> {
    match limit {
        None => Ok(PAGE),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(AppError::bad_parameter(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE}"),
            )),
        },
    }
}

/// A cursor: the key of the last entry of the page before, as `day~micros~id` in hex.
fn cursor_text(after: &After) -> String {
    let text = format!("{}~{}~{}", after.day, after.created_at, after.id);
    crate::auth::hex(text.as_bytes())
}

fn cursor_param(cursor: Option<&str>) -> Result<Option<After>, AppError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let bad = || AppError::bad_parameter("cursor", "is not a cursor this server gave");
    if cursor.len() > 512 || cursor.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '~');
    let (Some(day), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok(Some(After {
        day: day.to_string(),
        created_at: micros.parse().map_err(|_| bad())?,
        id: id.to_string(),
    }))
}

/// Keeps the first `limit` of `entries` (fetched one over), and the `Link` header of the
/// next page when there is one: the request's own URL with its `cursor` replaced.
fn paged<T>(
    uri: &axum::http::Uri,
    mut entries: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> After,
) -> (Vec<T>, HeaderMap) {
    let mut headers = HeaderMap::new();
    if entries.len() > limit {
        entries.truncate(limit);
        if let Some(last) = entries.last() {
            let mut query: Vec<String> = uri
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
                .map(str::to_string)
                .collect();
            query.push(format!("cursor={}", cursor_text(&key(last))));
            let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.join("&"));
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.insert(header::LINK, value);
            }
        }
    }
    (entries, headers)
}

/// Longest comment, cause, action or annotation text accepted.
const MAX_TEXT: usize = 10_000;
const MAX_ACTIONS: usize = 50;

pub fn author(caller: &Caller) -> String {
    caller
        .visitor
        .principal()
        .map(|p| p.email.clone())
        .unwrap_or_else(|| "local".into())
}

/// An instant in Unix microseconds, as RFC 3339.
fn instant(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A text field: trimmed, required or not, at most [`MAX_TEXT`] characters.
fn text_field(name: &str, value: &str, required: bool) -> Result<String, AppError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(AppError::bad_parameter(name, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::bad_parameter(
            name,
            format!("is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(value.to_string())
}

fn date_field(name: &str, value: &str) -> Result<String, AppError> {
    value
        .trim()
        .parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| {
            AppError::bad_parameter(name, format!("`{value}` is not a date like 2026-04-15"))
        })
}

fn state_field(name: &str, value: Option<&str>) -> Result<String, AppError> {
    match value.unwrap_or("open") {
        s @ ("open" | "done") => Ok(s.to_string()),
        other => Err(AppError::bad_parameter(
            name,
            format!("`{other}` is not a state; expected open or done"),
        )),
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| AppError::bad_parameter("body", e))
}

fn review_body(review: Review) -> ReviewBody {
    ReviewBody {
        id: review.id,
        kpi: review.kpi,
        period: review.period,
        comment: review.comment,
        cause: review.cause,
        author: review.author,
        created_at: instant(review.created_at),
        actions: review
            .actions
            .into_iter()
            .map(|a| NewAction {
                what: a.what,
                who: a.who,
                due: a.due,
                state: Some(a.state),
            })
            .collect(),
    }
}

/// A KPI's reviews, newest first, a page at a time (the next one in the `Link` header).
#[utoipa::path(get, path = "/kpis/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "KPI id"), PageParams),
    responses((status = 200, body = ReviewList, headers(("Link" = String, description = "The next page: `<URL>; rel=\"next\"`, when there is one"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> Result<(HeaderMap, Json<ReviewList>), AppError> {
    let limit = limit_param(page.limit.as_deref())?;
    let after = cursor_param(page.cursor.as_deref())?;
    let loaded = loaded(&state).await?;
    View::new(&caller, &loaded).kpi(&id)?;
    let reviews = state
        .db()?
        .reviews_page(&id, i64::MIN, after.as_ref(), limit + 1)
        .await
        .map_err(AppError::from_state)?;
    let (reviews, headers) = paged(&uri, reviews, limit, After::of_review);
    Ok((
        headers,
        Json(ReviewList {
            reviews: reviews.into_iter().map(review_body).collect(),
        }),
    ))
}

/// Records a review of one period of a KPI, with its actions.
#[utoipa::path(post, path = "/kpis/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "KPI id")),
    request_body = NewReview,
    responses((status = 201, body = ReviewBody), (status = 400, body = ErrorBody, description = "A field is missing or wrong; the message names it"),
        (status = 403, body = ErrorBody, description = "Not an editor of the KPI's owner"), (status = 404, body = ErrorBody)))]
pub async fn create_review(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<ReviewBody>), AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    let kpi = view.kpi(&id)?;
    view.edits(kpi)?;
    let new: NewReview = body(&bytes)?;
    let review = checked_review(&loaded, kpi, new, author(&caller))?;
    let stored = state
        .db()?
        .insert_review(&review)
        .await
        .map_err(AppError::from_state)?;
    Ok((StatusCode::CREATED, Json(review_body(stored))))
}

/// A review checked field by field.
pub fn checked_review(
    loaded: &crate::state::Loaded,
    kpi: &tablero_model::Kpi,
    new: NewReview,
    author: String,
) -> Result<Review, AppError> {
    let grain = kpi.grain_or_default();
    let period = loaded
        .engine
        .calendar()
        .parse_period(grain, new.period.trim())
        .map(|p| loaded.engine.calendar().label(p))
        .map_err(|e| AppError::bad_parameter("period", e))?;
    if new.actions.len() > MAX_ACTIONS {
        return Err(AppError::bad_parameter(
            "actions",
            format!("at most {MAX_ACTIONS} actions per review"),
        ));
    }
    let mut actions = Vec::new();
    for (i, a) in new.actions.iter().enumerate() {
        actions.push(Action {
            what: text_field(&format!("actions[{i}].what"), &a.what, true)?,
            who: text_field(&format!("actions[{i}].who"), &a.who, true)?,
            due: date_field(&format!("actions[{i}].due"), &a.due)?,
            state: state_field(&format!("actions[{i}].state"), a.state.as_deref())?,
        });
    }
    Ok(Review {
        id: String::new(),
        kpi: kpi.id.value.clone(),
        period,
        comment: text_field("comment", &new.comment, true)?,
        cause: match new.cause.as_deref().map(|c| text_field("cause", c, false)) {
            Some(Ok(c)) if !c.is_empty() => Some(c),
            Some(Err(e)) => return Err(e),
            _ => None,
        },
        author,
        created_at: 0,
        actions,
    })
}

/// Marks one action of a review `open` or `done`.
#[utoipa::path(post, path = "/reviews/{id}/actions/{n}", tag = "reviews",
    params(("id" = String, Path, description = "Review id"), ("n" = i64, Path, description = "Action position, from 0")),
    request_body = ActionState,
    responses((status = 200, body = ReviewBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_action(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, n)): Path<(String, i64)>,
    bytes: Bytes,
) -> Result<Json<ReviewBody>, AppError> {
    let loaded = loaded(&state).await?;
    let db = state.db()?;
    let review = db
        .review(&id)
        .await
        .map_err(AppError::from_state)?
        .ok_or_else(|| AppError::not_found(format!("no review `{id}`")))?;
    let view = View::new(&caller, &loaded);
    let kpi = view
        .kpi(&review.kpi)
        .map_err(|_| AppError::not_found(format!("no review `{id}`")))?;
    view.edits(kpi)?;
    let change: ActionState = body(&bytes)?;
    let new_state = state_field("state", Some(&change.state))?;
    db.set_action_state(&id, n, &new_state)
        .await
        .map_err(AppError::from_state)?;
    let review = db.review(&id).await.map_err(AppError::from_state)?;
    Ok(Json(review_body(review.ok_or_else(|| {
        AppError::not_found(format!("no review `{id}`"))
    })?)))
}

/// Annotations in a range of dates (default: all), those of hidden KPIs left out, newest
/// first, a page at a time (the next one in the `Link` header).
#[utoipa::path(get, path = "/annotations", tag = "reviews", params(AnnotationQuery),
    responses((status = 200, body = AnnotationList, headers(("Link" = String, description = "The next page: `<URL>; rel=\"next\"`, when there is one"))),
        (status = 400, body = ErrorBody)))]
pub async fn list_annotations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AnnotationQuery>,
    OriginalUri(uri): OriginalUri,
) -> Result<(HeaderMap, Json<AnnotationList>), AppError> {
    let from = match &query.from {
        Some(f) => date_field("from", f)?,
        None => "0000-01-01".into(),
    };
    let to = match &query.to {
        Some(t) => date_field("to", t)?,
        None => "9999-12-31".into(),
    };
    let limit = limit_param(query.limit.as_deref())?;
    let after = cursor_param(query.cursor.as_deref())?;
    let loaded = loaded(&state).await?;
    let annotations = visible_annotations(
        &state.db()?,
        &View::new(&caller, &loaded),
        (&from, &to),
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let (annotations, headers) = paged(&uri, annotations, limit, After::of_annotation);
    Ok((
        headers,
        Json(AnnotationList {
            annotations: annotations.into_iter().map(annotation_body).collect(),
        }),
    ))
}

/// Annotations the caller may see between two days (inclusive), newest first: general ones
/// and those of KPIs it sees, at most `limit` after `after`.
pub async fn visible_annotations(
    db: &StateDb,
    view: &View<'_>,
    (from, to): (&str, &str),
    after: Option<&After>,
    limit: usize,
) -> Result<Vec<Annotation>, AppError> {
    // Whoever sees every KPI needs no list of them.
    let seen: Vec<String> = view.kpis().map(|k| k.id.value.clone()).collect();
    let visible = (seen.len() < view.workspace().kpis.len()).then_some(seen);
    db.annotations_page(&AnnotationFilter {
        from,
        to,
        kpis: visible.as_deref(),
        after,
        limit,
    })
    .await
    .map_err(AppError::from_state)
}

fn annotation_body(a: Annotation) -> AnnotationBody {
    AnnotationBody {
        id: a.id,
        kpi: a.kpi,
        date: a.day,
        text: a.text,
        author: a.author,
        created_at: instant(a.created_at),
    }
}

/// Records an annotation: on one KPI (editors of its owner, admins) or general (admins, or
/// editors of every owner).
#[utoipa::path(post, path = "/annotations", tag = "reviews", request_body = NewAnnotation,
    responses((status = 201, body = AnnotationBody), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_annotation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<AnnotationBody>), AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    let new: NewAnnotation = body(&bytes)?;
    let kpi = match new.kpi.as_deref().filter(|k| !k.trim().is_empty()) {
        Some(id) => {
            let kpi = view.kpi(id.trim())?;
            view.edits(kpi)?;
            Some(kpi.id.value.clone())
        }
        None => {
            view.annotates_everything()?;
            None
        }
    };
    let day = match (&new.date, &new.period) {
        (Some(d), None) => date_field("date", d)?,
        (None, Some(p)) => {
            let calendar = loaded.engine.calendar();
            let period = calendar
                .parse_any_period(p.trim())
                .map_err(|e| AppError::bad_parameter("period", e))?;
            calendar
                .start(period)
                .to_zoned(calendar.time_zone().clone())
                .date()
                .to_string()
        }
        _ => {
            return Err(AppError::bad_parameter(
                "date",
                "give either `date` (YYYY-MM-DD) or `period`",
            ));
        }
    };
    let stored = state
        .db()?
        .insert_annotation(&Annotation {
            id: String::new(),
            kpi,
            day,
            text: text_field("text", &new.text, true)?,
            author: author(&caller),
            created_at: 0,
        })
        .await
        .map_err(AppError::from_state)?;
    Ok((StatusCode::CREATED, Json(annotation_body(stored))))
}

/// This feature's API routes, merged into the API in `app`.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(list_reviews, create_review))
        .routes(routes!(set_action))
        .routes(routes!(list_annotations, create_annotation))
}
