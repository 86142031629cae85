//! The web dashboard, the JSON API under `/api/v1` with its OpenAPI document, and `/metrics`
//! in the Prometheus text format (SPEC §7), served by axum on tokio.
//!
//! **Invariant:** the server holds no KPI logic: it asks the engine, caches answers per
//! workspace version, and renders them. It never changes state on a GET.

mod api;
mod chart;
mod error;
mod i18n;
mod metrics;
mod pages;
mod state;
pub mod wire;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::AppError;
pub use state::AppState;

/// Content-Security-Policy: everything from this origin, no inline scripts, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The whole application: pages, API, OpenAPI document, metrics, assets.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let openapi_json = serde_json::to_string_pretty(&nested_paths(openapi)).unwrap_or_default();
    Router::new()
        .route("/", get(pages::home))
        .route("/kpi/{id}", get(pages::kpi_page))
        .route("/dashboards/{id}", get(pages::dashboard_page))
        .route("/assets/{name}", get(pages::asset))
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .layer(axum::extract::DefaultBodyLimit::disable())
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
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// The API document with the `/api/v1` prefix on every path, as clients call them.
fn nested_paths(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, item) in paths {
        doc.paths.paths.insert(format!("/api/v1{path}"), item);
    }
    doc
}

/// `/metrics`: each KPI's latest complete value, target and status, then request metrics.
async fn metrics_handler(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let loaded = api::loaded(&state)?;
    let workspace = loaded.engine.workspace();
    let results = state
        .compute(&loaded, &tablero_engine::Request::default())
        .await
        .map_err(AppError::from_engine)?;
    let mut gauges = Vec::new();
    for result in results.iter() {
        let Some(kpi) = workspace.kpi(&result.kpi) else {
            continue;
        };
        let last = result
            .values
            .iter()
            .rev()
            .find(|v| !v.partial && v.value.is_some());
        gauges.push(metrics::KpiGauge {
            kpi: result.kpi.clone(),
            owner: kpi
                .owner
                .as_ref()
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            unit: result.unit.as_str().to_string(),
            value: last.and_then(|v| v.value),
            target: last.and_then(|v| v.target),
            status: last.map(|v| v.status.as_str()).unwrap_or("no_data"),
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
}

/// Serves the workspace at `root` until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn serve(
    root: &std::path::Path,
    options: &ServeOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    if !options.addr.ip().is_loopback() && !options.insecure_bind {
        return Err(format!(
            "{} is not a loopback address and this workspace has no accounts: anyone on the network could read it. Use 127.0.0.1, or --insecure-bind to serve anyway",
            options.addr
        ));
    }
    let mut state = AppState::open(root);
    state.body_limit = options.max_body_bytes;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Warm the cache so the first page answers at once.
    if let Some(loaded) = state.snapshot().loaded {
        let _ = state
            .compute(&loaded, &tablero_engine::Request::default())
            .await;
    }
    on_ready(local);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
