//! Share links: an editor or an admin makes a signed-in-free, read-only link to one
//! dashboard's scorecard or wall-screen page, expiring after some days and revocable. The link
//! (`/share/shr_…`) carries a 256-bit secret of which the state database keeps only the hash;
//! it shows that one page — no navigation, no downloads, no other KPI — with what its creator
//! may see, sets no cookie, and stops working when it expires, is revoked, or its creator's
//! account is disabled.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tablero_access::{Principal, Visitor};
use utoipa::ToSchema;

use crate::access::{View, sharer};
use crate::auth::Caller;
use crate::board;
use crate::error::AppError;
use crate::query::PageQuery;
use crate::state::AppState;

/// Days a link lives when none are asked for, and at most.
const DEFAULT_DAYS: u32 = 30;
const MAX_DAYS: u32 = 365;

/// A link to create.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// The dashboard's id.
    pub dashboard: String,
    /// `board` (the scorecard, default) or `tv` (the wall-screen page).
    pub view: Option<String>,
    /// Days until it expires: 1 to 365, 30 by default.
    pub days: Option<u32>,
}

/// A link as listed.
#[derive(Serialize, ToSchema, Debug)]
pub struct ShareInfo {
    pub id: String,
    pub dashboard: String,
    pub view: String,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// A link just created: `url` holds its secret and is shown this once.
#[derive(Serialize, ToSchema, Debug)]
pub struct CreatedShare {
    #[serde(flatten)]
    pub share: ShareInfo,
    /// The link: `public_url` from `tablero.toml` (when set) followed by `/share/shr_…`.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct ShareList {
    pub shares: Vec<ShareInfo>,
}

fn time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn info(share: tablero_state::Share) -> ShareInfo {
    ShareInfo {
        id: share.id,
        dashboard: share.dashboard,
        view: share.view,
        created_by: share.created_by,
        created_at: time(share.created_at),
        expires_at: time(share.expires_at),
        revoked_at: share.revoked_at.map(time),
    }
}

/// Creates a share link to one dashboard (editors and admins; the link shows what its creator
/// may see).
#[utoipa::path(post, path = "/shares", tag = "shares", operation_id = "create_share", request_body = NewShare,
    responses((status = 201, body = CreatedShare),
        (status = 400, description = "a bad field, named"),
        (status = 403, description = "a viewer"),
        (status = 404, description = "no such dashboard for this account"),
        (status = 409, description = "the workspace has no accounts")))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CreatedShare>), AppError> {
    let (principal, _) = sharer(&caller)?;
    let new: NewShare = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_parameter("body", e.to_string()))?;
    let view = match new.view.as_deref().unwrap_or("board") {
        v @ ("board" | "tv") => v,
        other => {
            return Err(AppError::bad_parameter(
                "view",
                format!("`{other}`: expected `board` or `tv`"),
            ));
        }
    };
    let days = new.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::bad_parameter(
            "days",
            format!("{days}: a link lives 1 to {MAX_DAYS} days"),
        ));
    }
    let loaded = crate::query::loaded(&state).await?;
    let workspace = loaded.engine.workspace();
    View::new(&caller, &loaded).dashboard(&new.dashboard)?;
    let (share, secret) =
        tablero_access::create_share(&state.db()?, &principal.email, &new.dashboard, view, days)
            .await
            .map_err(crate::auth::access_failure)?;
    let base = workspace
        .settings
        .public_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    Ok((
        StatusCode::CREATED,
        Json(CreatedShare {
            url: format!("{base}/share/{secret}"),
            share: info(share),
        }),
    ))
}

/// The share links this account made (an admin: every link), newest first.
#[utoipa::path(get, path = "/shares", tag = "shares", operation_id = "list_shares",
    responses((status = 200, body = ShareList), (status = 403, description = "a viewer")))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ShareList>, AppError> {
    let (principal, admin) = sharer(&caller)?;
    let shares = state
        .db()?
        .shares((!admin).then_some(principal.email.as_str()))
        .await
        .map_err(AppError::from_state)?;
    Ok(Json(ShareList {
        shares: shares.into_iter().map(info).collect(),
    }))
}

/// Revokes a link at once (its creator, or an admin).
#[utoipa::path(delete, path = "/shares/{id}", tag = "shares", operation_id = "revoke_share",
    params(("id" = String, Path, description = "the link's id")),
    responses((status = 204, description = "revoked"),
        (status = 403, description = "a viewer"),
        (status = 404, description = "no live link of this account with this id")))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let (principal, admin) = sharer(&caller)?;
    let revoked = state
        .db()?
        .revoke_share(&id, (!admin).then_some(principal.email.as_str()))
        .await
        .map_err(AppError::from_state)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!("no live share link `{id}`")))
    }
}

/// `?lang=es|en`: the only thing a link's holder may choose.
#[derive(Deserialize, Default)]
pub struct ShareQuery {
    pub lang: Option<String>,
}

/// `/share/{secret}`: the shared page, as its creator would see it, with nothing else.
pub async fn page(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    Query(query): Query<ShareQuery>,
) -> Response {
    let gone = || AppError::not_found("this link does not exist, has expired or was revoked");
    let answer = async {
        let db = state.db().map_err(|_| gone())?;
        let (share, account) = tablero_access::share_for_link(&db, &secret)
            .await
            .map_err(crate::auth::access_failure)?
            .ok_or_else(gone)?;
        let caller = Caller::reading_as(Visitor::Signed(Principal::new(&account)));
        let query = PageQuery {
            lang: query.lang,
            ..PageQuery::default()
        };
        match share.view.as_str() {
            "tv" => board::tv_view(&state, &caller, &share.dashboard, query, true, false).await,
            _ => board::dashboard_view(&state, &caller, &share.dashboard, query, true).await,
        }
    }
    .await;
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    let headers = response.headers_mut();
    // The secret is in the address: no cache, no referrer, no search engine keeps it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

/// This feature's API routes, merged into the API in `app`.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}
