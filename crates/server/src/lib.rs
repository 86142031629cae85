//! The web dashboard, the JSON API under `/api/v1` with its OpenAPI document, and `/metrics`
//! in the Prometheus text format (SPEC §7), served by axum on tokio.
//!
//! **Invariant:** the server holds no KPI logic: it asks the engine, caches answers per
//! workspace version, and renders them. It never changes state on a GET.

mod access;
mod api;
pub mod auth;
mod board;
mod cards;
mod chart;
pub mod downloads;
mod entry;
mod error;
mod frame;
mod funnel;
pub mod guard;
mod i18n;
mod insights;
mod kept;
mod kpi_page;
pub mod listen;
mod metrics;
mod period;
mod query;
mod reviews;
mod shares;
mod state;
mod tree;

use crate::error::Code;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::AppError;
pub use error::ComputeError;
pub use listen::{Timeouts, Tls};
pub use state::{AppState, Limits};

/// Content-Security-Policy: everything from this origin, no inline scripts, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The whole application: pages, API, OpenAPI document, metrics, assets.
pub fn app(state: AppState) -> Router {
    // Each feature's API routes, merged in this one place.
    let (api, openapi) = api::router()
        .merge(reviews::routes())
        .merge(insights::routes())
        .merge(tree::routes())
        .merge(funnel::routes())
        .merge(shares::routes())
        .split_for_parts();
    let openapi_json = serde_json::to_string_pretty(&nested_paths(openapi)).unwrap_or_default();
    Router::new()
        .route("/", get(board::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", axum::routing::post(auth::logout))
        .route("/kpi/{id}", get(kpi_page::kpi_page))
        .route("/kpi/{id}/tree", get(tree::page))
        .route("/funnel/{group}", get(funnel::page))
        .route("/share/{secret}", get(shares::page))
        .route("/kpi/{id}/download/{kind}", get(downloads::kpi_periods))
        .route(
            "/kpi/{id}/breakdown/{dim}/download/{kind}",
            get(downloads::breakdown),
        )
        .route("/download/{kind}", get(downloads::latest))
        .route("/dashboards/{id}/download/{kind}", get(downloads::latest))
        .route(
            "/kpi/{id}/reviews",
            axum::routing::post(kpi_page::review_form_submit),
        )
        .route("/dashboards/{id}", get(board::dashboard_page))
        .route("/tv", get(board::tv_rotation))
        .route("/tv/{id}", get(board::tv_page))
        .route("/assets/{name}", get(frame::asset))
        .route(
            "/sources/{name}/entry",
            get(entry::entry_page).post(entry::entry_submit),
        )
        .route("/metrics", get(metrics_handler))
        .route(
            "/api/v1/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi_json.clone(),
                )
            }),
        )
        .nest("/api/v1", api)
        .fallback(|| async { AppError::not_found("no such page") })
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .layer(tower::util::option_layer(
            state.auth.as_ref().map(|auth| auth.session_layer()),
        ))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            // `same-origin`, not `no-referrer`: with `no-referrer` browsers send `Origin: null` on
            // our own forms, which the cross-site guard must refuse. A shared page (no forms,
            // its secret in the address) sets `no-referrer` itself.
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

/// Errors answered by layers and extractors rather than handlers — a body over the limit, a
/// method the route does not take, a query string, path or body that does not deserialize
/// (axum answers those in plain text) — get the JSON error shape every other error has, with
/// their explanation as the message. Pages' own errors (HTML) and JSON errors pass unchanged.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let plain = match response.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(kind) => kind.as_bytes().starts_with(b"text/plain"),
    };
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (code, fallback) = match status {
        StatusCode::BAD_REQUEST => (Code::BadRequest, "the request cannot be read"),
        StatusCode::NOT_FOUND => (Code::NotFound, "no such page"),
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::MethodNotAllowed,
            "this route does not take that method",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            Code::RequestTimeout,
            "the request body did not arrive in time",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::PayloadTooLarge,
            "the request body is larger than this server accepts (serve --max-body-mib)",
        ),
        StatusCode::URI_TOO_LONG => (Code::UriTooLong, "the address is too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Code::UnsupportedMediaType,
            "the request body's Content-Type is not one this route reads",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => (
            Code::UnprocessableEntity,
            "the request body does not have the fields this route reads",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            Code::HeaderFieldsTooLarge,
            "the request's headers are too large",
        ),
        s if s.is_server_error() => {
            let (parts, _) = response.into_parts();
            tracing::error!(status = %parts.status, "a layer answered an error without a body");
            let mut json = AppError {
                status,
                code: Code::Internal,
                message: "internal error; see the server log".into(),
            }
            .into_response();
            carry_headers(&parts.headers, json.headers_mut());
            return json;
        }
        _ => (Code::BadRequest, "the request cannot be answered"),
    };
    let (parts, body) = response.into_parts();
    // An extractor's explanation is a line; anything past 1 kB is an echo of the request.
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match text.char_indices().nth(1000) {
        _ if text.is_empty() => fallback.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    };
    let mut json = AppError {
        status,
        code,
        message,
    }
    .into_response();
    carry_headers(&parts.headers, json.headers_mut());
    json
}

/// The headers of an answer replaced by its JSON form (`Allow`, `WWW-Authenticate`…), but
/// its body's.
fn carry_headers(from: &axum::http::HeaderMap, to: &mut axum::http::HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The API document with the `/api/v1` prefix on every path, as clients call them.
fn nested_paths(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, item) in paths {
        doc.paths.paths.insert(format!("/api/v1{path}"), item);
    }
    doc
}

/// `?as_of=T` of `/metrics`: the KPIs as if it were that instant (for checks and backfills;
/// a scraper sends none).
#[derive(serde::Deserialize, Default)]
struct MetricsQuery {
    as_of: Option<String>,
}

/// `/metrics`: each KPI's latest complete value, target and status, then request metrics.
async fn metrics_handler(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Caller>,
    axum::extract::Query(asked): axum::extract::Query<MetricsQuery>,
) -> Result<impl IntoResponse, AppError> {
    let loaded = query::loaded(&state).await?;
    let as_of = query::as_of(&loaded, asked.as_of.as_deref())?;
    let results = state
        .compute(
            &loaded,
            &tablero_engine::Request {
                as_of,
                ..tablero_engine::Request::default()
            },
        )
        .await
        .map_err(AppError::from_compute)?;
    let view = access::View::new(&caller, &loaded);
    let mut gauges = Vec::new();
    for result in results.iter() {
        let Ok(kpi) = view.kpi(&result.kpi) else {
            continue;
        };
        let judged = result.judged();
        gauges.push(metrics::KpiGauge {
            kpi: result.kpi.clone(),
            owner: kpi
                .owner
                .as_ref()
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            unit: result.unit.as_str().to_string(),
            value: judged.value(),
            target: judged.target(),
            status: judged.status().as_str(),
        });
    }
    let text = metrics::render(&gauges, &state.metrics);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// Allow a non-loopback address although no accounts are configured.
    pub insecure_bind: bool,
    /// Largest request body accepted, in bytes (rows pushed to the store); larger ones get 413.
    pub max_body_bytes: usize,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<Tls>,
    /// A reverse proxy whose `X-Forwarded-For`/`-Proto` are believed (it serves HTTPS, so
    /// cookies are `Secure`).
    pub trusted_proxy: Option<std::net::IpAddr>,
}

impl ServeOptions {
    /// Loopback at `addr` with the default limits and timeouts.
    pub fn new(addr: SocketAddr) -> ServeOptions {
        ServeOptions {
            addr,
            insecure_bind: false,
            max_body_bytes: 16 << 20,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            tls: None,
            trusted_proxy: None,
        }
    }
}

/// Serves the workspace at `root` until SIGINT, SIGTERM or SIGHUP, then finishes the requests
/// in flight (within `timeouts.shutdown`; a second signal stops at once).
pub async fn serve(
    root: &std::path::Path,
    options: &ServeOptions,
    signals: Signals,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    // Refused before anything is written: with no state database there are no accounts.
    let setting = tablero_model::load::state_setting(root).map_err(|d| d.to_string())?;
    let no_database = setting.is_none() && !root.join("data").join("tablero.db").is_file();
    if !options.addr.ip().is_loopback() && !options.insecure_bind && no_database {
        return Err(format!(
            "{} is not a loopback address and this workspace has no accounts: anyone on the network could read it. Add one first (tablero users add EMAIL --role admin), or serve on 127.0.0.1",
            options.addr
        ));
    }
    let db = open_state(root).await?;
    let has_accounts = db.has_accounts().await.map_err(|e| e.to_string())?;
    if !options.addr.ip().is_loopback() && !has_accounts {
        if !options.insecure_bind {
            return Err(format!(
                "{} is not a loopback address and this workspace has no accounts: anyone on the network could read it. Add one first (tablero users add EMAIL --role admin), or serve on 127.0.0.1",
                options.addr
            ));
        }
        tracing::warn!(addr = %options.addr, "serving a workspace without accounts beyond loopback (--insecure-bind): anyone who reaches this address reads every KPI and may push rows");
        eprintln!(
            "warning: --insecure-bind: anyone who reaches {} reads every KPI and may push rows",
            options.addr
        );
    }
    let mut state = AppState::open_with(root, options.limits)
        .map_err(|e| format!("cannot start the computation threads: {e}"))?;
    let mut auth = auth::Auth::new(db.clone());
    auth.secure_cookies = options.tls.is_some() || options.trusted_proxy.is_some();
    auth.trusted_proxy = options.trusted_proxy;
    auth.open_when_empty = options.addr.ip().is_loopback() || options.insecure_bind;
    state.auth = Some(std::sync::Arc::new(auth));
    state.body_limit = options.max_body_bytes;
    state.body_read = options.timeouts.body_read;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // With accounts, people reach the server by the company's own host names; without, only
    // loopback names are answered (DNS rebinding). Which applies is decided per request.
    state.hosts = guard::HostPolicy {
        bound: Some(local),
        any: false,
    };
    // Warm the cache so the first page answers at once.
    if let Some(loaded) = state.snapshot().await.loaded {
        let _ = state
            .compute(&loaded, &tablero_engine::Request::default())
            .await;
    }
    if signals.count() > 0 {
        return Ok(()); // stopped while loading
    }
    on_ready(local);
    let alerts = tokio::spawn(alert_loop(state.clone(), db.clone()));
    let refresher = tokio::spawn(state.clone().keep_fresh());
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            if let Err(err) = db.delete_expired_sessions().await {
                tracing::warn!(%err, "cannot remove expired sessions");
            }
        }
    });
    listen::run(
        listener,
        app(state),
        options.timeouts,
        options.tls.clone(),
        signals.reached(1),
        signals.reached(2),
    )
    .await;
    sweeper.abort();
    alerts.abort();
    refresher.abort();
    Ok(())
}

/// Evaluates the alert rules and the scheduled reports every `alerts_every` minutes (SPEC
/// §12), from the start.
async fn alert_loop(state: AppState, db: tablero_state::StateDb) {
    loop {
        let snapshot = state.snapshot().await;
        let mut every = 15;
        if let Some(loaded) = &snapshot.loaded {
            let workspace = loaded.engine.workspace();
            every = workspace.settings.alerts_every;
            if !workspace.alerts.is_empty() {
                match tablero_alerts::run(&loaded.engine, &db, &Default::default()).await {
                    Ok(report) => tracing::info!(
                        fired = report.fired.iter().filter(|f| f.new).count(),
                        delivered = report.delivered,
                        failed = report.failed,
                        "alerts evaluated"
                    ),
                    Err(err) => tracing::warn!(%err, "alerts could not be evaluated"),
                }
            }
            if !workspace.reports.is_empty() {
                match tablero_reports::run(&loaded.engine, &db, jiff::Timestamp::now()).await {
                    Ok(done) => tracing::info!(
                        recorded = done.recorded.len(),
                        delivered = done.delivered,
                        failed = done.failed,
                        "scheduled reports evaluated"
                    ),
                    Err(err) => tracing::warn!(%err, "scheduled reports could not be evaluated"),
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(every) * 60)).await;
    }
}

/// The workspace's state database (SPEC §14), opened and migrated.
async fn open_state(root: &std::path::Path) -> Result<tablero_state::StateDb, String> {
    tablero_state::StateDb::open_workspace(root)
        .await
        .map_err(|e| e.to_string())
}

/// Shutdown signals (SIGINT, SIGTERM, SIGHUP) counted from [`Signals::install`] on: the
/// first asks for a graceful stop, the second for an immediate one. Installing them before
/// any slow work (generating the demo's data, loading a workspace) means a Ctrl+C then also
/// ends in an orderly way, so temporary folders are removed.
#[derive(Clone)]
pub struct Signals {
    received: tokio::sync::watch::Receiver<u32>,
}

impl Signals {
    /// Installs the handlers; must be called inside a tokio runtime. The handlers are in
    /// place when this returns.
    pub fn install() -> Signals {
        let (count, received) = tokio::sync::watch::channel(0u32);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) => {
                    tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                _ = interrupt.recv() => {},
                                _ = terminate.recv() => {},
                                _ = hangup.recv() => {},
                            }
                            count.send_modify(|n| *n += 1);
                        }
                    });
                }
                _ => {
                    tracing::warn!("cannot install signal handlers; stop the server by killing it")
                }
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                count.send_modify(|n| *n += 1);
            }
        });
        Signals { received }
    }

    /// Signals received so far.
    pub fn count(&self) -> u32 {
        *self.received.borrow()
    }

    /// Completes once `n` signals have been received (never, if none can be).
    pub fn reached(&self, n: u32) -> impl std::future::Future<Output = ()> + use<> {
        let mut received = self.received.clone();
        async move {
            if received.wait_for(|count| *count >= n).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
