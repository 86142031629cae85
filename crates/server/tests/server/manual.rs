//! Manual values (SPEC §12): a `manual: true` source's form, each field checked as an ingested
//! batch checks it, problems shown next to their fields, a save stored once per form (its
//! idempotency key), and only editors and admins may enter values.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tablero_access::Role;
use tablero_server::auth::Auth;
use tablero_server::{AppState, app};
use tower::ServiceExt;

/// A survey entered by hand (`encuesta`: a date and a score) and the KPI that sums it monthly.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let files = [
        (
            "tablero.toml",
            "name = \"survey\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
        ),
        (
            "sources/encuesta.yaml",
            "name: encuesta\nlabel: Survey score\nmanual: true\ntime: fecha\ncolumns:\n  fecha: { type: date }\n  puntaje: { type: number }\n  nota: { type: string }\nmeasures:\n  puntaje: { agg: sum, expr: puntaje }\n",
        ),
        (
            "kpis/k.yaml",
            "- id: puntaje\n  name: Score\n  owner: People Growth\n  unit: number\n  decimals: 1\n  direction: up\n  grain: month\n  formula: encuesta.puntaje\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .uri(uri)
        .header(header::HOST, "localhost");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

fn post(fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "+").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&");
    Request::builder()
        .method(Method::POST)
        .uri("/sources/encuesta/entry")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// The KPI's March 2026 value, as the API computes it.
async fn march(state: &AppState) -> Option<f64> {
    let (status, body) = send(
        state,
        get(
            "/api/v1/kpis/puntaje/values?from=2026-03&to=2026-03&as_of=2026-04-10",
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["values"][0]["value"].as_f64()
}

#[tokio::test]
async fn a_manual_value_is_checked_stored_once_and_counted() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (status, form) = send(&state, get("/sources/encuesta/entry", None)).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(
        form.contains("type=\"date\" name=\"fecha\""),
        "a date field: {form}"
    );
    assert!(form.contains("data-testid=\"entry-puntaje\""));
    // Wrong values: each named next to its field, and nothing stored.
    let (status, page) = send(
        &state,
        post(&[("fecha", "31/02/2026"), ("puntaje", "four"), ("key", "k1")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("data-testid=\"problem-fecha\"")
            && page.contains("data-testid=\"problem-puntaje\""),
        "{page}"
    );
    assert!(
        !page.contains("data-testid=\"problem-nota\""),
        "an empty text is fine"
    );
    let (status, page) = send(
        &state,
        post(&[("fecha", ""), ("puntaje", "4"), ("key", "k1")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the time column is needed");
    assert!(page.contains("data-testid=\"problem-fecha\""));
    // Nothing stored: the sum of no rows is 0.
    assert_eq!(march(&state).await, Some(0.0), "nothing was stored");
    // A good row: 4.5 in March.
    let good = [
        ("fecha", "2026-03-15"),
        ("puntaje", "4.5"),
        ("nota", "panel de marzo"),
        ("key", "k1"),
    ];
    let (status, _) = send(&state, post(&good)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(march(&state).await, Some(4.5));
    // The same form sent twice (same key): stored once.
    let (status, _) = send(&state, post(&good)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(march(&state).await, Some(4.5));
    // Another form's row in the same month adds up: 4.5 + 5.5 = 10.
    let (status, _) = send(
        &state,
        post(&[("fecha", "2026-03-20"), ("puntaje", "5.5"), ("key", "k2")]),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(march(&state).await, Some(10.0));
    // The KPI page links to the form.
    let (_, page) = send(&state, get("/kpi/puntaje", None)).await;
    assert!(page.contains("href=\"/sources/encuesta/entry\""));
    // A source that is not manual has no form.
    let (status, _) = send(&state, get("/sources/nope/entry", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_editors_and_admins_enter_values() {
    let dir = workspace();
    let db_dir = tempfile::tempdir().unwrap();
    let db = tablero_state::StateDb::open(
        &tablero_state::Location::sqlite_file(&db_dir.path().join("s.db")).unwrap(),
    )
    .await
    .unwrap();
    let people = vec!["People Growth".to_string()];
    for (email, role) in [("v@x.cl", Role::Viewer), ("e@x.cl", Role::Editor)] {
        tablero_access::add_account(&db, email, role, &people, "a long enough password".into())
            .await
            .unwrap();
    }
    let viewer = tablero_access::create_token(&db, "v@x.cl", "t")
        .await
        .unwrap()
        .secret;
    let editor = tablero_access::create_token(&db, "e@x.cl", "t")
        .await
        .unwrap()
        .secret;
    let mut state = AppState::open(dir.path());
    state.auth = Some(Arc::new(Auth::new(db)));
    let (status, _) = send(&state, get("/sources/encuesta/entry", Some(&viewer))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&state, get("/sources/encuesta/entry", Some(&editor))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = send(&state, get("/kpi/puntaje", Some(&viewer))).await;
    assert!(
        !page.contains("/sources/encuesta/entry"),
        "no link for a viewer"
    );
}
