//! The router driven without a socket: every endpoint, every error status, the OpenAPI
//! document against the routes, `/metrics` through a Prometheus text-format parser, the live
//! reload of an edited workspace, and the security headers.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tablero_server::{AppState, app};
use tower::ServiceExt;

/// The example company, generated once for all tests (a fixed day, so the numbers hold still).
fn example() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let options = tablero_example::GenerateOptions::new("2026-10-15".parse().unwrap());
        tablero_example::write_example(&dir.path().join("acme"), &options, false).unwrap();
        dir
    })
    .path()
    .join("acme")
    .leak()
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app(state.clone())
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn api_endpoints_answer() {
    let state = AppState::open(example());
    let (status, _, body) = get(&state, "/api/v1/kpis").await;
    assert_eq!(status, StatusCode::OK);
    let list = json(&body);
    assert_eq!(list["kpis"].as_array().unwrap().len(), 26);
    assert!(
        list["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == "ventas_netas_totales" && k["owner"] == "Finances")
    );

    let (status, _, body) = get(&state, "/api/v1/kpis/margen_ebitda").await;
    assert_eq!(status, StatusCode::OK);
    let detail = json(&body);
    assert_eq!(detail["unit"], "percent");
    assert!(detail["sql"].as_str().unwrap().contains("SELECT"));

    let (status, _, body) = get(
        &state,
        "/api/v1/kpis/ventas_netas_totales/values?from=2026-07&to=2026-09&as_of=2026-10-15",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let values = json(&body);
    assert_eq!(values["kpi"], "ventas_netas_totales");
    assert_eq!(values["values"].as_array().unwrap().len(), 3);
    assert_eq!(values["values"][0]["period"], "2026-07");
    assert!(values["values"][0]["value"].is_number());

    let (status, _, body) =
        get(&state, "/api/v1/kpis/ventas_netas_totales/values?from=2026-09&to=2026-09&by=linea_servicio&as_of=2026-10-15").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["values"].as_array().unwrap().len(), 4, "{body}");

    let (status, _, body) = get(&state, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "ok");
}

#[tokio::test]
async fn api_errors_have_fitting_statuses() {
    let state = AppState::open(example());
    let cases = [
        (
            "/api/v1/kpis/nope",
            StatusCode::NOT_FOUND,
            "not_found",
            "nope",
        ),
        (
            "/api/v1/kpis/nope/values",
            StatusCode::NOT_FOUND,
            "not_found",
            "nope",
        ),
        (
            "/api/v1/kpis/margen_ebitda/values?grain=fortnight",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "grain",
        ),
        (
            "/api/v1/kpis/margen_ebitda/values?from=2026-13",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "from",
        ),
        (
            "/api/v1/kpis/margen_ebitda/values?where=nope%20%3D%201",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "where",
        ),
        (
            "/api/v1/kpis/margen_ebitda/values?by=pais",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "by",
        ),
        (
            "/api/v1/kpis/margen_ebitda/values?as_of=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "as_of",
        ),
        (
            "/api/v1/nothing",
            StatusCode::NOT_FOUND,
            "not_found",
            "no such page",
        ),
    ];
    for (uri, expected, code, mention) in cases {
        let (status, _, body) = get(&state, uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
        let error = &json(&body)["error"];
        assert_eq!(error["code"], code, "{uri}: {body}");
        assert!(
            error["message"].as_str().unwrap().contains(mention),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn openapi_document_lists_every_api_route() {
    let state = AppState::open(example());
    let (status, _, body) = get(&state, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc = json(&body);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/api/v1/kpis",
        "/api/v1/kpis/{id}",
        "/api/v1/kpis/{id}/values",
        "/api/v1/health",
    ] {
        let item = paths
            .get(route)
            .unwrap_or_else(|| panic!("{route} missing from the document"));
        assert!(item["get"]["responses"]["200"].is_object(), "{route}");
        // Every documented route answers (with the example's first KPI for `{id}`).
        let uri = route.replace("{id}", "margen_ebitda");
        let (status, _, body) = get(&state, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    assert_eq!(
        paths.len(),
        4,
        "undocumented or stale routes: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    // Every schema a response refers to exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in body
        .match_indices("#/components/schemas/")
        .map(|(i, _)| &body[i + 21..])
    {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        assert!(schemas.contains_key(&name), "missing schema {name}");
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let state = AppState::open(example());
    let _ = get(&state, "/api/v1/health").await;
    let (status, headers, body) = get(&state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let value = |name: &str| scrape.samples.iter().filter(|s| s.metric == name).count();
    assert_eq!(
        value("tablero_kpi_value"),
        26,
        "every KPI has a latest complete value"
    );
    assert_eq!(
        value("tablero_kpi_status"),
        26 * 5,
        "one gauge per status label"
    );
    let ebitda = scrape
        .samples
        .iter()
        .find(|s| s.metric == "tablero_kpi_value" && s.labels.get("kpi") == Some("margen_ebitda"))
        .expect("margen_ebitda gauge");
    assert_eq!(ebitda.labels.get("owner"), Some("Finances"));
    assert_eq!(ebitda.labels.get("unit"), Some("percent"));
    let current: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "tablero_kpi_status" && s.labels.get("kpi") == Some("margen_ebitda")
        })
        .filter(|s| matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0))
        .collect();
    assert_eq!(current.len(), 1, "exactly one current status");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("tablero_http_requests"))
    );
    assert!(scrape.samples.iter().any(|s| {
        s.metric
            .starts_with("tablero_http_request_duration_seconds")
    }));
}

#[tokio::test]
async fn pages_render_with_security_headers() {
    let state = AppState::open(example());
    for uri in [
        "/",
        "/?lang=en",
        "/kpi/ventas_netas_totales",
        "/dashboards/finances",
        "/assets/app.css",
        "/assets/app.js",
    ] {
        let (status, headers, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{uri}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        if uri.starts_with("/kpi") || uri == "/" {
            assert!(
                !body.contains("<script>") && !body.contains("style="),
                "{uri}: inline script or style"
            );
        }
    }
    let (_, _, es) = get(&state, "/").await;
    let (_, _, en) = get(&state, "/?lang=en").await;
    assert!(es.contains("Responsable") || es.contains("Meta"));
    assert!(en.contains("Target") && !en.contains(">Meta "));
    assert_eq!(es.matches("data-testid=\"kpi-card\"").count(), 26);
    let (status, _, _) = get(&state, "/kpi/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let state = AppState::open(example());
    let body = vec![b'x'; 2 << 20];
    let response = app(state)
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/api/v1/kpis")
                .header("content-length", body.len())
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn post_is_not_allowed_on_pages() {
    let state = AppState::open(example());
    let response = app(state)
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_edited_workspace_is_served_without_restart_and_a_broken_edit_keeps_the_last_good() {
    let dir = tempfile::tempdir().unwrap();
    tablero_example::write_empty(dir.path(), false).unwrap();
    let state = AppState::open(dir.path());
    let uri = "/api/v1/kpis/revenue/values?from=2026-01&to=2026-02&as_of=2026-03-01";
    let (_, _, body) = get(&state, uri).await;
    assert_eq!(json(&body)["values"][0]["value"], 750.0);
    // New data: a CSV replaced.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let csv = "id,region,amount,ordered_at\n1,North,400,2026-01-05T10:00:00Z\n2,South,350,2026-01-20T15:30:00Z\n3,North,100,2026-01-21T09:15:00Z\n";
    std::fs::write(dir.path().join("data/sales.csv"), csv).unwrap();
    let (_, _, body) = get(&state, uri).await;
    assert_eq!(json(&body)["values"][0]["value"], 850.0);
    // A broken edit: the last good catalog keeps answering, and the errors are shown.
    std::fs::write(
        dir.path().join("kpis/revenue.yaml"),
        "id: revenue\nformula: sales.nope\n",
    )
    .unwrap();
    let (status, _, body) = get(&state, uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["values"][0]["value"], 850.0);
    let (_, _, health) = get(&state, "/api/v1/health").await;
    assert_eq!(json(&health)["status"], "degraded");
    let (_, _, page) = get(&state, "/").await;
    assert!(
        page.contains("workspace-errors") && page.contains("nope"),
        "{page}"
    );
}
