//! Who is asking, and the sign-in pages (SPEC §13).
//!
//! `identify` runs before every handler: an `Authorization: Bearer` token, or the session
//! cookie of a signed-in browser, becomes a [`Caller`] in the request's extensions; nobody
//! signed in while accounts exist may reach only the sign-in page, the assets and the health
//! check (pages redirect to `/login`, the API and `/metrics` answer 401). Handlers then filter
//! what they show through `Caller::visitor` (tablero-access's rules) — this module decides
//! *who*, never *what*.
//!
//! Sessions are tower-sessions records kept in the state database (keyed by a hash of the
//! cookie's id); the cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` with the `__Host-`
//! prefix when served over TLS. Each session carries an anti-CSRF token that every
//! state-changing form (and any cookie-authenticated API call, as `X-CSRF-Token`) must echo.
//!
//! Reading never writes (SPEC §13): a session is created at sign-in only. The forms of
//! callers without one (the sign-in form, every form of the no-accounts mode) carry a
//! stateless token instead — a keyed hash, under a key of this process, of a random nonce
//! kept in a cookie of its own (a signed double submit) — so no page view stores anything.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tablero_access::{Principal, SignInThrottle, Visitor};
use tablero_state::{StateDb, StoredSession};
use tower_sessions::cookie::time::{Duration as CookieDuration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::error::{AppError, Code};
use crate::i18n::{LoginTexts, login_texts, texts};
use crate::state::AppState;

/// Session keys.
const ACCOUNT: &str = "account";
const CSRF: &str = "csrf";

/// The cookie holding the nonce of an anonymous form's anti-CSRF token.
pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tablero_csrf"
    } else {
        "tablero_csrf"
    }
}

/// Hex digits of a nonce (24 random bytes).
const NONCE_HEX: usize = 48;

/// The cookie's name: with the `__Host-` prefix when it is `Secure` (browsers then refuse it
/// from any other host or path, or over plain HTTP).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tablero_session"
    } else {
        "tablero_session"
    }
}

/// A session ends after this long without a request.
const IDLE: CookieDuration = CookieDuration::hours(8);

/// Accounts, sessions and the sign-in throttle of one server.
pub struct Auth {
    pub db: StateDb,
    pub throttle: SignInThrottle,
    /// Cookies get `Secure` and `__Host-` (served over TLS, or behind a proxy that is).
    pub secure_cookies: bool,
    /// The reverse proxy whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxy: Option<IpAddr>,
    /// With no account, whoever reaches the server sees everything; allowed only when it
    /// listens on loopback (or was told `--insecure-bind`).
    pub open_when_empty: bool,
    /// Whether the state database was seen to hold an account: once it has, it always does
    /// (accounts are disabled, never deleted), so the open mode never returns.
    accounts_held: AtomicBool,
    /// The key of anonymous forms' anti-CSRF tokens, new in every process.
    csrf_key: [u8; 32],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("db", self.db.location())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(db: StateDb) -> Auth {
        Auth {
            db,
            throttle: SignInThrottle::default(),
            secure_cookies: false,
            trusted_proxy: None,
            open_when_empty: true,
            accounts_held: AtomicBool::new(false),
            csrf_key: {
                use rand::RngCore;
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                key
            },
        }
    }

    /// Whether the state database holds, or ever held, an account (enabled or not). A yes
    /// is remembered for good; a no is asked again on every request, so an account added
    /// while the server runs closes the open mode at once.
    pub async fn accounts_held(&self) -> Result<bool, AppError> {
        if self.accounts_held.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let held = self.db.has_accounts().await.map_err(AppError::from_state)?;
        if held {
            self.accounts_held.store(true, Ordering::Relaxed);
        }
        Ok(held)
    }

    /// Whether whoever reaches the server sees everything: no account ever existed, and it
    /// listens where that is allowed.
    pub async fn is_open(&self) -> Result<bool, AppError> {
        Ok(self.open_when_empty && !self.accounts_held().await?)
    }

    /// The anti-CSRF token of an anonymous form whose cookie holds `nonce`.
    fn anonymous_csrf(&self, nonce: &str) -> String {
        hex(blake3::keyed_hash(&self.csrf_key, nonce.as_bytes()).as_bytes())
    }

    /// The nonce in the request's anti-CSRF cookie, when it has a well-formed one.
    fn csrf_nonce(&self, headers: &HeaderMap) -> Option<String> {
        let name = csrf_cookie_name(self.secure_cookies);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
            .filter(|v| v.len() == NONCE_HEX && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
    }

    /// The `Set-Cookie` value giving a browser the anti-CSRF `nonce`.
    fn csrf_cookie(&self, nonce: &str) -> Option<HeaderValue> {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={nonce}; Path=/; HttpOnly; SameSite=Lax{secure}",
            csrf_cookie_name(self.secure_cookies)
        ))
        .ok()
    }

    /// The client's address: the peer's, or the one a trusted proxy forwarded.
    pub fn client_address(
        &self,
        request_headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Option<IpAddr> {
        let peer = peer?.ip();
        if self.trusted_proxy != Some(peer) {
            return Some(peer);
        }
        request_headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back()
            .or(Some(peer))
    }

    /// The session layer for this server's cookies and store.
    pub fn session_layer(self: &Arc<Self>) -> SessionManagerLayer<StateSessions> {
        SessionManagerLayer::new(StateSessions {
            db: self.db.clone(),
        })
        .with_name(cookie_name(self.secure_cookies))
        .with_secure(self.secure_cookies)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(IDLE))
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Nothing (no accounts, or not signed in).
    Nothing,
    /// `Authorization: Bearer`.
    Token,
    /// The session cookie.
    Session,
}

/// Who is asking, put in every request's extensions by [`identify`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub visitor: Visitor,
    pub via: Via,
    /// The anti-CSRF token its forms carry and its changes must echo: the session's, or
    /// for a caller without one, the keyed hash of its anti-CSRF cookie's nonce.
    pub csrf: Option<String>,
    /// A nonce this request's answer gives the browser in a new anti-CSRF cookie.
    new_nonce: Option<String>,
}

impl Caller {
    /// Whether this caller sees a KPI (through its owner). Features ask
    /// the access view, which is made from this.
    pub(crate) fn sees(&self, kpi: &tablero_model::Kpi) -> bool {
        self.visitor
            .sees_owner(kpi.owner.as_ref().map(|o| o.value.as_str()))
    }

    /// Someone who reads as `visitor` and may change nothing (a share link's creator).
    pub fn reading_as(visitor: Visitor) -> Caller {
        Caller {
            visitor,
            via: Via::Nothing,
            csrf: None,
            new_nonce: None,
        }
    }

    pub fn everyone() -> Caller {
        Caller {
            visitor: Visitor::Everyone,
            via: Via::Nothing,
            csrf: None,
            new_nonce: None,
        }
    }
}

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    path == "/login"
        || path.starts_with("/assets/")
        // A share link is its own key: the page checks it.
        || path.starts_with("/share/")
        || path == "/api/v1/health"
        || path == "/api/v1/openapi.json"
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// Middleware: decides the [`Caller`] and turns away those who may not go further.
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(auth) = state.auth.clone() else {
        request.extensions_mut().insert(Caller::everyone());
        return next.run(request).await;
    };
    let session = request.extensions().get::<Session>().cloned();
    // Pages that may carry a form: not the API, the assets or a share link.
    let path = request.uri().path();
    let page = !is_api(path) && (path == "/login" || !is_public(path));
    let caller = match caller(&auth, request.headers(), session, page).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    let path = request.uri().path().to_string();
    if !is_public(&path) {
        if caller.visitor.is_anonymous() {
            return if is_api(&path) {
                unauthorized(
                    "sign in first: send Authorization: Bearer TOKEN (tablero tokens create)",
                )
            } else {
                let next = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Redirect::to(&format!("/login?next={}", encode(next))).into_response()
            };
        }
        // /metrics is for machines: a token once accounts exist.
        if path == "/metrics" && caller.via == Via::Session {
            return unauthorized("/metrics needs Authorization: Bearer TOKEN");
        }
        // A cookie rides along on cross-site requests; an API change made with one must
        // prove it comes from our own page.
        let changes = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if changes && is_api(&path) && caller.via == Via::Session {
            let sent = request
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if !csrf_matches(caller.csrf.as_deref(), sent) {
                return csrf_refused(
                    "a change made with the session cookie needs the page's X-CSRF-Token",
                )
                .into_response();
            }
        }
    }
    let cookie = caller
        .new_nonce
        .as_deref()
        .and_then(|nonce| auth.csrf_cookie(nonce));
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn caller(
    auth: &Auth,
    headers: &HeaderMap,
    session: Option<Session>,
    page: bool,
) -> Result<Caller, AppError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(unauthorized_error("Authorization must be `Bearer TOKEN`"));
        };
        return match tablero_access::account_for_token(&auth.db, token).await {
            Ok(Some(account)) => Ok(Caller {
                visitor: Visitor::Signed(Principal::new(&account)),
                via: Via::Token,
                csrf: None,
                new_nonce: None,
            }),
            Ok(None) => Err(unauthorized_error(
                "the token is not valid: unknown, revoked, or its account is disabled",
            )),
            Err(err) => Err(access_failure(err)),
        };
    }
    if let Some(session) = &session {
        let email = session.get::<String>(ACCOUNT).await.ok().flatten();
        let csrf = session.get::<String>(CSRF).await.ok().flatten();
        if let Some(email) = email {
            match auth
                .db
                .account(&email)
                .await
                .map_err(AppError::from_state)?
            {
                Some(account) if !account.is_disabled() => {
                    return Ok(Caller {
                        visitor: Visitor::Signed(Principal::new(&account)),
                        via: Via::Session,
                        csrf,
                        new_nonce: None,
                    });
                }
                // Disabled or removed since it signed in: the session ends now.
                _ => {
                    let _ = session.flush().await;
                }
            }
        }
    }
    let open = auth.is_open().await?;
    // Pages for a caller without a session (the sign-in form, or every page when there are no
    // accounts) carry a stateless token: nothing is stored to show them.
    let (csrf, new_nonce) = if page {
        match auth.csrf_nonce(headers) {
            Some(nonce) => (Some(auth.anonymous_csrf(&nonce)), None),
            None => {
                let nonce = new_csrf();
                (Some(auth.anonymous_csrf(&nonce)), Some(nonce))
            }
        }
    } else {
        (None, None)
    };
    Ok(Caller {
        visitor: if open {
            Visitor::Everyone
        } else {
            Visitor::Anonymous
        },
        via: Via::Nothing,
        csrf,
        new_nonce,
    })
}

fn unauthorized_error(message: &str) -> AppError {
    AppError {
        status: StatusCode::UNAUTHORIZED,
        code: Code::Unauthorized,
        message: message.into(),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = unauthorized_error(message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tablero\""),
    );
    response
}

pub(crate) fn access_failure(err: tablero_access::AccessError) -> AppError {
    match err {
        tablero_access::AccessError::State(err) => AppError::from_state(err),
        other => AppError::internal(other),
    }
}

/// The refusal of a change that does not prove it comes from this server's page.
fn csrf_refused(message: &str) -> AppError {
    AppError {
        status: StatusCode::FORBIDDEN,
        code: Code::Csrf,
        message: message.into(),
    }
}

/// A form that carries its page's anti-CSRF token in a `csrf` field.
pub trait WithCsrf {
    fn csrf(&self) -> Option<&str>;
}

impl WithCsrf for std::collections::HashMap<String, String> {
    fn csrf(&self) -> Option<&str> {
        self.get("csrf").map(String::as_str)
    }
}

/// A form posted from one of this server's pages: read, then refused (403 `csrf`) unless its
/// `csrf` field is the caller's token, whenever accounts are configured. Every state-changing
/// form takes its fields through this extractor (the API's changes are checked by
/// [`identify`], from the `X-CSRF-Token` header), so the check is written once.
pub struct CheckedForm<T>(pub T);

impl<T> axum::extract::FromRequest<AppState> for CheckedForm<T>
where
    T: serde::de::DeserializeOwned + WithCsrf + Send,
{
    /// A form that cannot be read is axum's own answer (415, 422…), which `json_errors` gives
    /// the JSON shape and its fitting code; a wrong token is 403 `csrf`.
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let expected = request
            .extensions()
            .get::<Caller>()
            .and_then(|c| c.csrf.clone());
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if state.auth.is_some() && !csrf_matches(expected.as_deref(), form.csrf()) {
            return Err(csrf_refused(
                "the form is not from this server's page (anti-CSRF token missing or wrong)",
            )
            .into_response());
        }
        Ok(CheckedForm(form))
    }
}

/// Constant-time comparison of the session's CSRF token with the one sent.
pub fn csrf_matches(expected: Option<&str>, sent: Option<&str>) -> bool {
    let (Some(expected), Some(sent)) = (expected, sent) else {
        return false;
    };
    expected.len() == sent.len()
        && expected
            .bytes()
            .zip(sent.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn new_csrf() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where to go after signing in: a path on this server, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.starts_with("/login")
                && n.len() <= 2048
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static LoginTexts,
    company: String,
    lang_link: String,
    csrf: String,
    next: String,
    email: String,
    problem: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    lang: Option<String>,
}

/// The company's name and language for the sign-in page (no KPI is named on it).
async fn login_frame(
    state: &AppState,
    lang: Option<&str>,
) -> (&'static LoginTexts, String, String) {
    let snapshot = state.snapshot().await;
    let (locale, company) = match &snapshot.loaded {
        Some(l) => (
            l.engine.workspace().settings.locale,
            l.engine.workspace().settings.name.clone(),
        ),
        None => (tablero_model::Locale::En, "Tablero".to_string()),
    };
    let (t, _) = texts(lang, locale);
    (login_texts(t.lang), company, t.other_lang.to_string())
}

fn render_login(status: StatusCode, page: LoginPage) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => AppError::internal(err).into_response(),
    }
}

/// GET /login: the sign-in form (or on to the page asked for, when signed in already). It
/// stores nothing: its anti-CSRF token is the stateless one of [`Caller::csrf`].
pub async fn login_page(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if !caller.visitor.is_anonymous() {
        return Redirect::to(&next).into_response();
    }
    let Some(csrf) = caller.csrf else {
        return Redirect::to("/").into_response();
    };
    let (t, company, other) = login_frame(&state, query.lang.as_deref()).await;
    render_login(
        StatusCode::OK,
        LoginPage {
            t,
            company,
            lang_link: format!("/login?lang={other}&next={}", encode(&next)),
            csrf,
            next,
            email: String::new(),
            problem: None,
        },
    )
}

/// POST /login: checks the anti-CSRF token, the throttle and the password; on success a
/// session starts (a new id, so a planted cookie is worthless) with a CSRF token of its own.
pub async fn login_submit(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    session: Option<axum::Extension<Session>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (Some(auth), Some(axum::Extension(session))) = (state.auth.clone(), session) else {
        return Redirect::to("/").into_response();
    };
    let next = safe_next(form.next.as_deref());
    let (t, company, other) = login_frame(&state, form.lang.as_deref()).await;
    let page = |problem: &str, csrf: String| LoginPage {
        t,
        company: company.clone(),
        lang_link: format!("/login?lang={other}&next={}", encode(&next)),
        csrf,
        next: next.clone(),
        email: form.email.chars().take(254).collect(),
        problem: Some(problem.to_string()),
    };
    // The caller's token: of its cookie's nonce, or of a new one its answer carries.
    let csrf = caller.csrf.clone().unwrap_or_default();
    if caller.new_nonce.is_some() || !csrf_matches(caller.csrf.as_deref(), Some(&form.csrf)) {
        return render_login(StatusCode::FORBIDDEN, page(t.expired_form, csrf));
    }
    let address = auth
        .client_address(&headers, Some(peer))
        .unwrap_or(peer.ip());
    if let Err(throttled) = auth.throttle.attempt(&form.email, address) {
        let mut response = render_login(StatusCode::TOO_MANY_REQUESTS, page(t.too_many, csrf));
        let seconds = throttled.retry_after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let account = match tablero_access::sign_in(&auth.db, &form.email, form.password).await {
        Ok(account) => account,
        Err(err) => return access_failure(err).into_response(),
    };
    let Some(account) = account else {
        tracing::info!(%address, "failed sign-in");
        return render_login(StatusCode::UNAUTHORIZED, page(t.wrong, csrf));
    };
    let started = async {
        session.cycle_id().await?;
        session.insert(ACCOUNT, &account.email).await?;
        session.insert(CSRF, new_csrf()).await
    };
    if let Err(err) = started.await {
        return AppError::internal(err).into_response();
    }
    tracing::info!(email = %account.email, %address, "signed in");
    Redirect::to(&next).into_response()
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

impl WithCsrf for LogoutForm {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// POST /logout: ends the session (its record is deleted, the cookie removed).
pub async fn logout(
    session: Option<axum::Extension<Session>>,
    CheckedForm(_): CheckedForm<LogoutForm>,
) -> Response {
    if let Some(axum::Extension(session)) = session
        && let Err(err) = session.flush().await
    {
        return AppError::internal(err).into_response();
    }
    Redirect::to("/login").into_response()
}

/// tower-sessions' records in the state database.
#[derive(Debug, Clone)]
pub struct StateSessions {
    db: StateDb,
}

fn id_hash(id: &Id) -> String {
    hex(&Sha256::digest(id.to_string().as_bytes()))
}

fn stored(record: &Record) -> session_store::Result<StoredSession> {
    Ok(StoredSession {
        id_hash: id_hash(&record.id),
        email: record
            .data
            .get(ACCOUNT)
            .and_then(|v| v.as_str())
            .map(str::to_string),
        data: serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires_at: record.expiry_date.unix_timestamp(),
    })
}

fn backend(err: tablero_state::StateError) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

#[async_trait::async_trait]
impl SessionStore for StateSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            if self
                .db
                .insert_session(&stored(record)?)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.db.put_session(&stored(record)?).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(found) = self.db.session(&id_hash(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = serde_json::from_str(&found.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(found.expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.db.delete_session(&id_hash(id)).await.map_err(backend)
    }
}
