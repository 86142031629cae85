//! `/metrics` in the Prometheus text format: each KPI's latest complete value, target and
//! status, and the server's own request counts and latencies.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The server's own request metrics, kept for its lifetime.
pub struct HttpMetrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> HttpMetrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let mut registry = Registry::default();
        registry.register(
            "tablero_http_requests",
            "HTTP requests answered",
            requests.clone(),
        );
        registry.register(
            "tablero_http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        HttpMetrics {
            registry: Mutex::new(registry),
            requests,
            latency,
        }
    }
}

/// Middleware counting every request by route and status and timing it.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Methods are the client's to invent: only the standard ones become label values, so a
    // flood of made-up methods cannot grow the series without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "CONNECT"
        | "TRACE") => m.to_string(),
        _ => "other".to_string(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KpiLabels {
    kpi: String,
    owner: String,
    unit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    kpi: String,
    owner: String,
    status: String,
}

/// One KPI's latest complete period, for the gauges.
pub struct KpiGauge {
    pub kpi: String,
    pub owner: String,
    pub unit: String,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub status: &'static str,
}

pub const STATUSES: [&str; 5] = ["on_track", "at_risk", "off_track", "no_data", "no_target"];

/// The whole `/metrics` text.
pub fn render(kpis: &[KpiGauge], http: &HttpMetrics) -> String {
    let value = Family::<KpiLabels, Gauge<f64, AtomicU64>>::default();
    let target = Family::<KpiLabels, Gauge<f64, AtomicU64>>::default();
    let status = Family::<StatusLabels, Gauge>::default();
    for k in kpis {
        let labels = KpiLabels {
            kpi: k.kpi.clone(),
            owner: k.owner.clone(),
            unit: k.unit.clone(),
        };
        if let Some(v) = k.value {
            value.get_or_create(&labels).set(v);
        }
        if let Some(t) = k.target {
            target.get_or_create(&labels).set(t);
        }
        for s in STATUSES {
            let labels = StatusLabels {
                kpi: k.kpi.clone(),
                owner: k.owner.clone(),
                status: s.to_string(),
            };
            status.get_or_create(&labels).set(i64::from(s == k.status));
        }
    }
    let mut registry = Registry::default();
    registry.register(
        "tablero_kpi_value",
        "Latest complete value of each KPI",
        value,
    );
    registry.register(
        "tablero_kpi_target",
        "Target of each KPI for its latest complete period",
        target,
    );
    registry.register(
        "tablero_kpi_status",
        "1 for the current status of each KPI, 0 for the others",
        status,
    );
    let mut text = String::new();
    let _ = encode(&mut text, &registry);
    let kpi_text = text
        .trim_end()
        .strip_suffix("# EOF")
        .unwrap_or(&text)
        .to_string();
    let mut http_text = String::new();
    if let Ok(registry) = http.registry.lock() {
        let _ = encode(&mut http_text, &registry);
    }
    format!("{kpi_text}{http_text}")
}
