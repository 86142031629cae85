//! The router driven without a socket: every endpoint, every error status, the OpenAPI
//! document against the routes, `/metrics` through a Prometheus text-format parser, the live
//! reload of an edited workspace, and the security headers.

use crate::support::example;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tablero_server::{AppState, app};
use tower::ServiceExt;

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
    assert_eq!(list["kpis"].as_array().unwrap().len(), 28);
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
    let ingest = paths
        .get("/api/v1/sources/{name}/rows")
        .expect("the ingest route is documented");
    for status in ["201", "200", "400", "404", "413", "415"] {
        assert!(
            ingest["post"]["responses"][status].is_object(),
            "ingest lacks {status}"
        );
    }
    // Reviews and annotations live in the state database, which this state has none of:
    // documented, answered in access.rs.
    for route in [
        "/api/v1/kpis/{id}/reviews",
        "/api/v1/reviews/{id}/actions/{n}",
        "/api/v1/annotations",
        "/api/v1/insights",
        "/api/v1/kpis/{id}/tree",
        "/api/v1/funnels/{group}",
        "/api/v1/shares",
    ] {
        assert!(
            paths.get(route).is_some(),
            "{route} missing from the document"
        );
    }
    assert_eq!(
        paths.len(),
        13,
        "undocumented or stale routes: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    // Operation ids are unique (an OpenAPI 3.1 rule that code generators rely on).
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operation ids: {ids:?}");
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
        28,
        "every KPI has a latest complete value"
    );
    assert_eq!(
        value("tablero_kpi_status"),
        28 * 5,
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
    assert_eq!(es.matches("data-testid=\"kpi-card\"").count(), 28);
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

/// Revenue of January and February 2026 in the empty example (January: 750).
const REVENUE_JANUARY: &str =
    "/api/v1/kpis/revenue/values?from=2026-01&to=2026-02&as_of=2026-03-01";

/// New data: the empty example's sales CSV replaced by January sales of 400 + 350 + 100 = 850.
fn replace_sales(root: &std::path::Path) {
    // Past the file system's modification time resolution.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let csv = "id,region,amount,ordered_at\n1,North,400,2026-01-05T10:00:00Z\n2,South,350,2026-01-20T15:30:00Z\n3,North,100,2026-01-21T09:15:00Z\n";
    std::fs::write(root.join("data/sales.csv"), csv).unwrap();
}

#[tokio::test]
async fn an_edited_workspace_is_served_without_restart_and_a_broken_edit_keeps_the_last_good() {
    let dir = tempfile::tempdir().unwrap();
    tablero_example::write_empty(dir.path(), false).unwrap();
    let state = AppState::open(dir.path());
    let uri = REVENUE_JANUARY;
    let (_, _, body) = get(&state, uri).await;
    assert_eq!(json(&body)["values"][0]["value"], 750.0);
    replace_sales(dir.path());
    // The first answer after the change does not wait for the new computation: it is the
    // last one (750), or the new one if that was quick; the new one (400 + 350 + 100 = 850)
    // follows, computed in the background.
    let (_, _, body) = get(&state, uri).await;
    let first = json(&body);
    assert!(
        first["values"][0]["value"] == 750.0 || first["values"][0]["value"] == 850.0,
        "{first}"
    );
    let fresh = answer_once(&state, uri, |v| v["values"][0]["value"] == 850.0).await;
    assert!(fresh["computed_at"].as_str().unwrap() >= first["computed_at"].as_str().unwrap());
    assert!(fresh["computation_ms"].is_u64(), "{fresh}");
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

#[tokio::test]
async fn answers_asked_for_lately_are_recomputed_before_anyone_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    tablero_example::write_empty(dir.path(), false).unwrap();
    let state = AppState::open(dir.path());
    let refresher = tokio::spawn(state.clone().keep_fresh());
    let uri = REVENUE_JANUARY;
    let (_, _, body) = get(&state, uri).await;
    assert_eq!(json(&body)["values"][0]["value"], 750.0);
    replace_sales(dir.path());
    // Nobody asks for a while: the refresher (every second) sees the new data and computes
    // the answer again, so the next request gets 400 + 350 + 100 = 850 at once. Without it,
    // that request would get the last answer, 750 (checked by leaving the refresher out).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let (_, _, body) = get(&state, uri).await;
    assert_eq!(json(&body)["values"][0]["value"], 850.0, "{body}");
    refresher.abort();
}

/// The values answer at `uri` once it satisfies `wanted`, asking every 50 ms for at most
/// 30 s (answers computed in the background arrive after a computation).
async fn answer_once(
    state: &AppState,
    uri: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let (status, _, body) = get(state, uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer = json(&body);
        if wanted(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still {answer} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A copy of the store fixture workspace (`tests/store/workspace`).
fn store_workspace() -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store/workspace");
    copy(&fixture, dir.path());
    dir
}

async fn post(
    state: &AppState,
    uri: &str,
    content_type: Option<&str>,
    key: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method("POST").uri(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = app(state.clone())
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const ROWS_URI: &str = "/api/v1/sources/encuestas/rows";
const AUGUST_NPS: &str = "/api/v1/kpis/nps/values?from=2026-08&to=2026-09&as_of=2026-11-15";

fn nps_values(body: &str) -> Vec<serde_json::Value> {
    json(body)["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].clone())
        .collect()
}

#[tokio::test]
async fn rows_pushed_over_http_are_stored_once_and_served_at_once() {
    let ws = store_workspace();
    let state = AppState::open(ws.path());
    // Before any push: no values. The result is now cached.
    let (status, _, body) = get(&state, AUGUST_NPS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(nps_values(&body), vec![serde_json::Value::Null; 2]);

    let csv = std::fs::read("../../tests/store/batches/agosto.csv").unwrap();
    let (status, body) = post(
        &state,
        ROWS_URI,
        Some("text/csv; charset=utf-8"),
        Some("k1"),
        csv.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let answer = json(&body);
    assert_eq!(answer["rows"], 5);
    assert_eq!(answer["version"], 1);
    assert_eq!(answer["duplicate"], false);
    // The next request sees the commit (hand-worked: August 25, September -100).
    let (_, _, body) = get(&state, AUGUST_NPS).await;
    assert_eq!(
        nps_values(&body),
        vec![serde_json::json!(25.0), serde_json::json!(-100.0)]
    );

    // The same key again: acknowledged, nothing stored.
    let (status, body) = post(&state, ROWS_URI, Some("text/csv"), Some("k1"), csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["duplicate"], true);
    assert_eq!(json(&body)["rows"], 0);

    // NDJSON and JSON arrays.
    let ndjson = std::fs::read("../../tests/store/batches/septiembre.ndjson").unwrap();
    let (status, body) = post(&state, ROWS_URI, Some("application/x-ndjson"), None, ndjson).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(json(&body)["rows"], 3);
    let array = r#"[{"id": 9, "respondida": "2026-10-05 11:00:00", "dia": "2026-10-05", "nota": 10, "cliente": "Retail Norte", "recomienda": true},
                    {"id": 10, "respondida": "2026-10-20T18:00:00-03:00", "dia": "2026-10-20", "nota": 8, "cliente": "Banco Sur", "recomienda": false}]"#;
    let (status, body) = post(
        &state,
        ROWS_URI,
        Some("application/json"),
        Some("k2"),
        array,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, _, body) = get(
        &state,
        "/api/v1/kpis/nps/values?from=2026-08&to=2026-10&as_of=2026-11-15",
    )
    .await;
    assert_eq!(
        nps_values(&body),
        vec![
            serde_json::json!(25.0),
            serde_json::json!(0.0),
            serde_json::json!(50.0)
        ]
    );
}

#[tokio::test]
async fn bad_pushes_get_fitting_statuses_and_store_nothing() {
    let ws = store_workspace();
    let state = AppState::open(ws.path());
    let header = "id,respondida,dia,nota,cliente,recomienda\n";
    let cases: Vec<(&str, Option<&str>, String, StatusCode, &str)> = vec![
        (ROWS_URI, Some("text/csv"), format!("{header}1,2026-10-01 10:00:00,2026-10-01,nueve,x,true\n"),
            StatusCode::BAD_REQUEST, "request body:2: column 'nota': expected a number"),
        (ROWS_URI, Some("application/x-ndjson"), r#"{"id": 1, "respondida": "2026-10-01T10:00:00Z", "dia": "2026-10-01", "nota": 9, "cliente": "x", "recomienda": true, "otra": 1}"#.to_string(),
            StatusCode::BAD_REQUEST, "request body:1: unknown column 'otra'"),
        (ROWS_URI, Some("application/json"), r#"[{"id": 1, "respondida": "2026-10-01T10:00:00Z", "dia": "2026-13-01", "nota": 9, "cliente": "x", "recomienda": true}]"#.to_string(),
            StatusCode::BAD_REQUEST, "request body: row 1: column 'dia': expected a date"),
        (ROWS_URI, Some("text/csv"), String::new(), StatusCode::BAD_REQUEST, "the file is empty"),
        (ROWS_URI, Some("text/plain"), header.to_string(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected text/csv"),
        (ROWS_URI, None, header.to_string(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected text/csv"),
        ("/api/v1/sources/nadie/rows", Some("text/csv"), header.to_string(), StatusCode::NOT_FOUND, "no store source named `nadie`"),
        ("/api/v1/sources/encuestas_archivo/rows", Some("text/csv"), header.to_string(), StatusCode::NOT_FOUND, "no store source"),
    ];
    for (uri, content_type, body, status, message) in cases {
        let (got, answer) = post(&state, uri, content_type, None, body).await;
        assert_eq!(got, status, "{uri} {content_type:?}: {answer}");
        let error = json(&answer);
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{answer}"
        );
    }
    // A 10 MB line is above the (1 MiB) limit of this server: 413 before anything is read.
    let huge = format!(
        "{header}1,2026-10-01 10:00:00,2026-10-01,1,{},true\n",
        "x".repeat(10 << 20)
    );
    let (status, _) = post(&state, ROWS_URI, Some("text/csv"), None, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was stored: the table was never even created.
    assert!(!ws.path().join("data/store/encuestas/_delta_log").exists());
}

/// A KPI page's breakdown downloads as a table: one row per service line at the period asked
/// for, whose net sales add up to the KPI's total for that month (a sum splits exactly).
#[tokio::test]
async fn a_breakdown_downloads_and_adds_up_to_the_total() {
    let state = AppState::open(example());
    let uri =
        "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/csv?period=2026-09&lang=en";
    let (status, headers, body) = get(&state, uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut lines = body.trim_start_matches('\u{feff}').lines();
    assert_eq!(
        lines.next().unwrap(),
        "Period,linea_servicio,Value,Target,Status"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert!(rows.len() >= 3, "{body}");
    assert!(rows.iter().all(|r| r[0] == "2026-09"), "{body}");
    let sum: f64 = rows.iter().map(|r| r[2].parse::<f64>().unwrap()).sum();
    let (_, _, total) = get(
        &state,
        "/api/v1/kpis/ventas_netas_totales/values?from=2026-09&to=2026-09&as_of=2026-10-15",
    )
    .await;
    let total: serde_json::Value = serde_json::from_str(&total).unwrap();
    let total = total["values"][0]["value"].as_f64().unwrap();
    assert!(
        (sum - total).abs() <= 1e-6 * total.abs(),
        "{sum} vs {total}"
    );
    // XLSX too; a dimension the KPI lacks, a bad period, another kind.
    let table = [
        (
            "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/xlsx",
            StatusCode::OK,
        ),
        (
            "/kpi/ventas_netas_totales/breakdown/etapa/download/csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/csv?period=2026-13",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/pdf",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (uri, expected) in table {
        let (status, _, body) = get(&state, uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
    }
    // The KPI page links each breakdown's downloads.
    let (_, _, page) = get(&state, "/kpi/ventas_netas_totales?as_of=2026-10-15").await;
    assert!(
        page.contains("/kpi/ventas_netas_totales/breakdown/linea_servicio/download/csv?period=")
    );
}
