//! Accounts and access through the router (SPEC §13), each test run on SQLite and on a real
//! PostgreSQL server (`scripts/test.sh` starts one and sets `TABLERO_TEST_POSTGRES`):
//! the authorization matrix, KPI-of-KPIs, sign-in with its cookie and CSRF token, tokens
//! and passwords never stored in clear, disabled accounts and revoked tokens, and the
//! sign-in throttle.

use crate::support::example;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use sqlx::Connection;
use tablero_access::Role;
use tablero_server::auth::Auth;
use tablero_server::{AppState, app};
use tablero_state::{Location, StateDb};
use tower::ServiceExt;

/// The example company, generated once (a fixed day, so its numbers hold still).
const FINANCES: [&str; 4] = [
    "concentracion_ventas_cliente",
    "margen_ebitda",
    "rentabilidad_ventas",
    "ventas_netas_totales",
];
const PEOPLE_GROWTH: [&str; 2] = ["tasa_absentismo", "tasa_rotacion_profesionales"];

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh state database: a SQLite file in `dir`, or a new database on the PostgreSQL
/// server the test script started.
pub(crate) async fn fresh_db(backend: Backend, dir: &std::path::Path) -> (StateDb, Option<String>) {
    let (location, url) = match backend {
        Backend::Sqlite => (Location::sqlite_file(&dir.join("state.db")).unwrap(), None),
        Backend::Postgres => {
            let admin = std::env::var("TABLERO_TEST_POSTGRES").expect(
                "TABLERO_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a PostgreSQL server for these tests",
            );
            sqlx::any::install_default_drivers();
            let name = format!("tablero_t{:016x}", rand::random::<u64>());
            let mut conn = sqlx::AnyConnection::connect(&admin)
                .await
                .expect("the test PostgreSQL server answers");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (
                Location::parse(url.as_str()).unwrap(),
                Some(url.to_string()),
            )
        }
    };
    let db = StateDb::open(&location)
        .await
        .expect("state database opens");
    (db, url)
}

pub(crate) struct World {
    pub _dir: tempfile::TempDir,
    pub db: StateDb,
    pub pg_url: Option<String>,
    pub state: AppState,
    pub admin: String,
    pub finance_editor: String,
    pub people_viewer: String,
}

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn world(backend: Backend, root: &std::path::Path) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg_url) = fresh_db(backend, dir.path()).await;
    let finances = vec!["Finances".to_string()];
    let people = vec!["People Growth".to_string()];
    for (email, role, owners) in [
        ("admin@acme.cl", Role::Admin, &Vec::new()),
        ("fin@acme.cl", Role::Editor, &finances),
        ("pg@acme.cl", Role::Viewer, &people),
    ] {
        tablero_access::add_account(&db, email, role, owners, PASSWORD.into())
            .await
            .unwrap();
    }
    let token = |email: &'static str| {
        let db = db.clone();
        async move {
            tablero_access::create_token(&db, email, "test")
                .await
                .unwrap()
                .secret
        }
    };
    let (admin, finance_editor, people_viewer) = (
        token("admin@acme.cl").await,
        token("fin@acme.cl").await,
        token("pg@acme.cl").await,
    );
    let mut state = AppState::open(root);
    state.auth = Some(Arc::new(Auth::new(db.clone())));
    World {
        _dir: dir,
        db,
        pg_url,
        state,
        admin,
        finance_editor,
        people_viewer,
    }
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub(crate) async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let mut request = request;
    if request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_none()
    {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    }
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub(crate) fn get(uri: &str, token: Option<&str>, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .uri(uri)
        .header(header::HOST, "localhost");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).unwrap()
}

pub(crate) fn form(
    uri: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    from: [u8; 4],
) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    let mut request = builder.body(Body::from(body)).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((from, 40000))));
    request
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The KPI ids a page links to (`/kpi/ID`).
pub(crate) fn linked_kpis(html: &str) -> BTreeSet<String> {
    html.split("href=\"/kpi/")
        .skip(1)
        .map(|rest| {
            rest.split(['"', '?'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

pub(crate) fn api_kpis(body: &str) -> BTreeSet<String> {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

fn metric_kpis(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| l.starts_with("tablero_kpi_value{"))
        .filter_map(|l| l.split("kpi=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

async fn authorization_matrix(backend: Backend) {
    let w = world(backend, example()).await;
    let all: BTreeSet<String> = api_kpis(
        &send(&w.state, get("/api/v1/kpis", Some(&w.admin), None))
            .await
            .body,
    );
    assert_eq!(all.len(), 28, "the admin sees the whole catalog");
    let callers: [(&str, Option<&str>); 4] = [
        ("admin", Some(&w.admin)),
        ("editor of Finances", Some(&w.finance_editor)),
        ("viewer of People Growth", Some(&w.people_viewer)),
        ("nobody", None),
    ];
    // route → expected status per caller (admin, finance editor, people viewer, nobody)
    let matrix: &[(&str, [u16; 4])] = &[
        ("/", [200, 200, 200, 303]),
        ("/kpi/ventas_netas_totales", [200, 200, 404, 303]),
        ("/kpi/tasa_rotacion_profesionales", [200, 404, 200, 303]),
        ("/kpi/tiempo_promedio_espera", [200, 404, 404, 303]),
        // A KPI tree shows its drivers: only to those who see the KPI.
        ("/kpi/ventas_ganadas/tree", [200, 404, 404, 303]),
        ("/api/v1/kpis/ventas_ganadas/tree", [200, 404, 404, 401]),
        // A funnel shows only the stages the account may see: none is none at all.
        ("/funnel/embudo", [200, 404, 404, 303]),
        ("/api/v1/funnels/embudo", [200, 404, 404, 401]),
        ("/dashboards/finances", [200, 200, 404, 303]),
        ("/dashboards/people_growth", [200, 404, 200, 303]),
        ("/dashboards/direccion", [200, 200, 200, 303]),
        ("/api/v1/kpis", [200, 200, 200, 401]),
        ("/api/v1/kpis/ventas_netas_totales", [200, 200, 404, 401]),
        ("/api/v1/kpis/tasa_absentismo", [200, 404, 200, 401]),
        (
            "/api/v1/kpis/ventas_netas_totales/values?as_of=2026-10-15",
            [200, 200, 404, 401],
        ),
        (
            "/api/v1/kpis/tasa_absentismo/values?as_of=2026-10-15",
            [200, 404, 200, 401],
        ),
        ("/metrics", [200, 200, 200, 401]),
        ("/api/v1/health", [200, 200, 200, 200]),
        ("/api/v1/openapi.json", [200, 200, 200, 200]),
        ("/assets/app.css", [200, 200, 200, 200]),
        ("/login", [303, 303, 303, 200]),
        // Added with alerts, reviews, insights, manual values, downloads and the wall screen.
        ("/tv/finances", [200, 200, 404, 303]),
        ("/tv/people_growth", [200, 404, 200, 303]),
        ("/download/csv", [200, 200, 200, 303]),
        ("/dashboards/finances/download/xlsx", [200, 200, 404, 303]),
        (
            "/kpi/ventas_netas_totales/download/csv",
            [200, 200, 404, 303],
        ),
        ("/kpi/tasa_absentismo/download/xlsx", [200, 404, 200, 303]),
        (
            "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/csv",
            [200, 200, 404, 303],
        ),
        ("/tv", [303, 303, 303, 303]),
        // Share links: listed by editors and admins; a link is its own key, for anyone.
        ("/api/v1/shares", [200, 200, 403, 401]),
        ("/share/shr_0000_made_up", [404, 404, 404, 404]),
        ("/api/v1/insights", [200, 200, 200, 401]),
        ("/api/v1/annotations", [200, 200, 200, 401]),
        (
            "/api/v1/kpis/ventas_netas_totales/reviews",
            [200, 200, 404, 401],
        ),
        ("/api/v1/kpis/tasa_absentismo/reviews", [200, 404, 200, 401]),
        // The market size is the example's manual source: editors and admins enter its
        // values (SPEC §13: an editor pushes rows to store sources), viewers may not.
        // Only editors of the source's owner (Marketing & Strategic Growth): not Finances'.
        ("/sources/mercado/entry", [200, 403, 403, 303]),
        ("/sources/facturas/entry", [404, 404, 404, 303]),
    ];
    for (route, expected) in matrix {
        for ((who, token), status) in callers.iter().zip(expected) {
            let answer = send(&w.state, get(route, *token, None)).await;
            assert_eq!(
                answer.status.as_u16(),
                *status,
                "{backend:?}: {who} GET {route}: {}",
                answer.body.chars().take(300).collect::<String>()
            );
            if answer.status == StatusCode::SEE_OTHER && *who == "nobody" {
                let location = answer.headers[header::LOCATION].to_str().unwrap();
                assert!(location.starts_with("/login?next="), "{location}");
            }
            if answer.status == StatusCode::UNAUTHORIZED {
                assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
                assert!(answer.body.contains("\"unauthorized\""), "{}", answer.body);
            }
        }
    }
    // Exactly which KPIs each one sees, on every listing surface.
    let visible: [(&str, &str, BTreeSet<String>); 3] = [
        ("admin", &w.admin, all.clone()),
        ("editor of Finances", &w.finance_editor, set(&FINANCES)),
        (
            "viewer of People Growth",
            &w.people_viewer,
            set(&PEOPLE_GROWTH),
        ),
    ];
    for (who, token, expected) in &visible {
        let api = api_kpis(
            &send(&w.state, get("/api/v1/kpis", Some(token), None))
                .await
                .body,
        );
        assert_eq!(&api, expected, "{backend:?}: {who} /api/v1/kpis");
        let home = send(&w.state, get("/?as_of=2026-10-15", Some(token), None)).await;
        assert_eq!(
            &linked_kpis(&home.body),
            expected,
            "{backend:?}: {who} home page"
        );
        let metrics = send(&w.state, get("/metrics", Some(token), None)).await;
        assert_eq!(
            &metric_kpis(&metrics.body),
            expected,
            "{backend:?}: {who} /metrics"
        );
        let board = send(&w.state, get("/dashboards/direccion", Some(token), None)).await;
        let on_board = linked_kpis(&board.body);
        assert!(
            on_board.is_subset(expected),
            "{backend:?}: {who} dashboard: {on_board:?}"
        );
    }
    // The viewer's pages never name a Finances KPI, not even in the navigation.
    let home = send(&w.state, get("/", Some(&w.people_viewer), None)).await;
    for id in FINANCES {
        assert!(
            !home.body.contains(id),
            "{backend:?}: viewer's home names {id}"
        );
    }
    assert!(!home.body.contains("/dashboards/finances"));
    // Health says nothing of the catalog to nobody.
    let health = send(&w.state, get("/api/v1/health", None, None)).await;
    assert!(health.body.contains("\"kpis\":0"), "{}", health.body);
}

#[tokio::test]
async fn authorization_matrix_sqlite() {
    authorization_matrix(Backend::Sqlite).await;
}

#[tokio::test]
async fn authorization_matrix_postgres() {
    authorization_matrix(Backend::Postgres).await;
}

/// A tiny workspace: sales owned by Finances, headcount and sales per person by People
/// Growth, and a store source for pushed rows.
fn kpi_of_kpis_workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let files = [
        (
            "tablero.toml",
            "name = \"tiny\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
        ),
        (
            "sources/ventas.yaml",
            "name: ventas\nfile: data/ventas.csv\ntime: fecha\ncolumns:\n  fecha: { type: date }\n  monto: { type: number }\n  persona: { type: string }\nmeasures:\n  total: { agg: sum, expr: monto }\n  personas: { agg: count_distinct, expr: persona }\n",
        ),
        (
            "sources/pedidos.yaml",
            "name: pedidos\nstore: true\nowner: Finances\ntime: fecha\ncolumns:\n  fecha: { type: date }\n  monto: { type: number }\nmeasures:\n  total: { agg: sum, expr: monto }\n",
        ),
        // No `owner:`: read by a KPI of People Growth, so written by its editors.
        (
            "sources/gente.yaml",
            "name: gente\nstore: true\ntime: fecha\ncolumns:\n  fecha: { type: date }\n  n: { type: number }\nmeasures:\n  total: { agg: sum, expr: n }\n",
        ),
        (
            "kpis/kpis.yaml",
            "- id: ventas\n  name: Sales\n  owner: Finances\n  unit: number\n  direction: up\n  grain: month\n  formula: ventas.total\n- id: personas\n  name: People\n  owner: People Growth\n  unit: count\n  direction: up\n  grain: month\n  formula: ventas.personas\n- id: ventas_por_persona\n  name: Sales per person\n  owner: People Growth\n  unit: number\n  direction: up\n  grain: month\n  formula: ventas / personas\n- id: gente_ingresada\n  name: People entered\n  owner: People Growth\n  unit: count\n  direction: up\n  grain: month\n  formula: gente.total\n",
        ),
        // January: 100 + 200 by two people = 150 per person.
        (
            "data/ventas.csv",
            "fecha,monto,persona\n2026-01-05,100,ana\n2026-01-20,200,beto\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

async fn kpi_of_kpis_and_pushing_rows(backend: Backend) {
    let workspace = kpi_of_kpis_workspace();
    let w = world(backend, workspace.path()).await;
    let viewer = Some(w.people_viewer.as_str());
    // The viewer sees the value built on the hidden KPI…
    let values = send(
        &w.state,
        get(
            "/api/v1/kpis/ventas_por_persona/values?from=2026-01&to=2026-01&as_of=2026-03-01",
            viewer,
            None,
        ),
    )
    .await;
    assert_eq!(values.status, StatusCode::OK, "{}", values.body);
    let json: serde_json::Value = serde_json::from_str(&values.body).unwrap();
    // (100 + 200) / 2 people = 150
    assert_eq!(
        json["values"][0]["value"].as_f64(),
        Some(150.0),
        "{}",
        values.body
    );
    // …but not the hidden one's definition: no SQL (it would spell out `ventas`), no page.
    let detail = send(
        &w.state,
        get("/api/v1/kpis/ventas_por_persona", viewer, None),
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&detail.body).unwrap();
    assert!(json["sql"].is_null(), "{}", detail.body);
    let page = send(
        &w.state,
        get("/kpi/ventas_por_persona?as_of=2026-03-01", viewer, None),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("SELECT"),
        "the page shows the hidden KPI's query"
    );
    assert_eq!(
        send(&w.state, get("/kpi/ventas", viewer, None))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Its formula and its tree name the hidden driver as hidden: no id, no name, no number.
    assert_eq!(json["formula"], "(hidden) / personas", "{}", detail.body);
    let tree = send(
        &w.state,
        get(
            "/api/v1/kpis/ventas_por_persona/tree?period=2026-01&as_of=2026-03-01",
            viewer,
            None,
        ),
    )
    .await;
    assert_eq!(tree.status, StatusCode::OK, "{}", tree.body);
    let json: serde_json::Value = serde_json::from_str(&tree.body).unwrap();
    let drivers = json["drivers"].as_array().unwrap();
    assert_eq!(drivers.len(), 2, "{}", tree.body);
    let hidden: Vec<&serde_json::Value> = drivers.iter().filter(|d| d["hidden"] == true).collect();
    assert_eq!(hidden.len(), 1, "{}", tree.body);
    assert!(
        hidden[0]["kpi"].is_null() && hidden[0]["name"].is_null() && hidden[0]["value"].is_null(),
        "{}",
        tree.body
    );
    assert_eq!(json["formula"], "(hidden) / personas", "{}", tree.body);
    for page in [
        "/kpi/ventas_por_persona/tree?period=2026-01&as_of=2026-03-01",
        "/kpi/ventas_por_persona?as_of=2026-03-01",
    ] {
        let body = send(&w.state, get(page, viewer, None)).await.body;
        for leak in [
            "\"Sales\"",
            ">Sales<",
            "/kpi/ventas\"",
            "data-kpi=\"ventas\"",
            "ventas / personas",
        ] {
            assert!(!body.contains(leak), "{page} names the hidden KPI: {leak}");
        }
    }
    for (body, leak) in [(&tree.body, "\"ventas\""), (&tree.body, "Sales\"")] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
    // The admin sees the query.
    let detail = send(
        &w.state,
        get("/api/v1/kpis/ventas_por_persona", Some(&w.admin), None),
    )
    .await;
    assert!(detail.body.contains("SELECT"), "{}", detail.body);

    // Pushing rows: editors and admins, by token; a viewer is refused, nobody is asked to sign in.
    let push_to = |source: &str,
                   rows: &'static str,
                   token: Option<&str>,
                   cookie: Option<&str>,
                   csrf: Option<&str>| {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/sources/{source}/rows"))
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "text/csv");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        if let Some(csrf) = csrf {
            builder = builder.header("x-csrf-token", csrf);
        }
        builder.body(Body::from(rows)).unwrap()
    };
    let push = |token: Option<&str>, cookie: Option<&str>, csrf: Option<&str>| {
        push_to(
            "pedidos",
            "fecha,monto\n2026-01-07,5\n",
            token,
            cookie,
            csrf,
        )
    };
    let table = [
        (Some(w.people_viewer.as_str()), 403),
        (None, 401),
        (Some("tbl_not_a_token"), 401),
        (Some(w.finance_editor.as_str()), 201),
        (Some(w.admin.as_str()), 201),
    ];
    for (token, status) in table {
        let answer = send(&w.state, push(token, None, None)).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{backend:?} push with {token:?}: {}",
            answer.body
        );
    }
    // A source of another owner's KPIs: the Finances editor is refused, the admin is not.
    for (token, status) in [
        (w.finance_editor.as_str(), 403),
        (w.people_viewer.as_str(), 403),
        (w.admin.as_str(), 201),
    ] {
        let answer = send(
            &w.state,
            push_to("gente", "fecha,n\n2026-01-07,3\n", Some(token), None, None),
        )
        .await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{backend:?} push to gente: {}",
            answer.body
        );
    }
    // With the editor's session cookie: only with the page's CSRF token.
    let (cookie, csrf) = sign_in(&w.state, "fin@acme.cl", [10, 1, 1, 1]).await;
    let answer = send(&w.state, push(None, Some(&cookie), None)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(answer.body.contains("\"csrf\""));
    let answer = send(&w.state, push(None, Some(&cookie), Some("wrong"))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = send(&w.state, push(None, Some(&cookie), Some(&csrf))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    drop(w.db);
}

#[tokio::test]
async fn kpi_of_kpis_and_pushing_rows_sqlite() {
    kpi_of_kpis_and_pushing_rows(Backend::Sqlite).await;
}

#[tokio::test]
async fn kpi_of_kpis_and_pushing_rows_postgres() {
    kpi_of_kpis_and_pushing_rows(Backend::Postgres).await;
}

/// The session cookie's `name=value`.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("tablero_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// The anti-CSRF cookie a page for someone without a session sets (`NAME=VALUE`).
pub(crate) fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("tablero_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

pub(crate) fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has an anti-CSRF field")
        .to_string()
}

/// Signs in through the login page; returns the session cookie and the session's CSRF token.
pub(crate) async fn sign_in(state: &AppState, email: &str, from: [u8; 4]) -> (String, String) {
    let page = send(state, get("/login", None, None)).await;
    assert_eq!(
        session_cookie(&page.headers),
        None,
        "the login page starts no session"
    );
    let cookie = csrf_cookie(&page.headers).expect("the login page sets its anti-CSRF cookie");
    let csrf = csrf_in(&page.body);
    let answer = send(
        state,
        form(
            "/login",
            Some(&cookie),
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "/"),
            ],
            from,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let signed = session_cookie(&answer.headers).expect("a new session id at sign-in");
    assert_ne!(signed, cookie, "the session id changes at sign-in");
    let home = send(state, get("/", None, Some(&signed))).await;
    (signed, csrf_in(&home.body))
}

async fn sign_in_sessions_and_csrf(backend: Backend) {
    let w = world(backend, example()).await;
    // The cookie's flags.
    let page = send(&w.state, get("/login?lang=es", None, None)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Iniciar sesión"),
        "the page speaks Spanish"
    );
    // The sign-in page stores nothing: its only cookie holds its anti-CSRF nonce.
    let set_cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.starts_with("tablero_csrf="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let before = csrf_cookie(&page.headers).unwrap();
    // Another browser's nonce does not go with this page's token.
    let other = send(&w.state, get("/login", None, None)).await;
    let other_cookie = csrf_cookie(&other.headers).unwrap();
    assert_ne!(other_cookie, before);
    let crossed = send(
        &w.state,
        form(
            "/login",
            Some(&other_cookie),
            &[
                ("email", "pg@acme.cl"),
                ("password", PASSWORD),
                ("csrf", &csrf_in(&page.body)),
            ],
            [10, 0, 0, 9],
        ),
    )
    .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    let csrf = csrf_in(&page.body);
    // A login form without the token, or with another one, is refused.
    for token in ["", "0000"] {
        let answer = send(
            &w.state,
            form(
                "/login",
                Some(&before),
                &[
                    ("email", "pg@acme.cl"),
                    ("password", PASSWORD),
                    ("csrf", token),
                ],
                [10, 0, 0, 9],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    let wrong = send(
        &w.state,
        form(
            "/login",
            Some(&before),
            &[
                ("email", "pg@acme.cl"),
                ("password", "not it at all"),
                ("csrf", &csrf),
            ],
            [10, 0, 0, 9],
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let (cookie, csrf) = sign_in(&w.state, "pg@acme.cl", [10, 0, 0, 8]).await;
    let home = send(&w.state, get("/", None, Some(&cookie))).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("pg@acme.cl"),
        "the header names the account"
    );
    assert_eq!(linked_kpis(&home.body), set(&PEOPLE_GROWTH));
    // The session cookie is not a token for /metrics.
    assert_eq!(
        send(&w.state, get("/metrics", None, Some(&cookie)))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The cookie from before signing in is worth nothing.
    assert_eq!(
        send(&w.state, get("/", None, Some(&before))).await.status,
        StatusCode::SEE_OTHER
    );
    // Signing out needs the token too.
    for token in ["", "0000"] {
        let answer = send(
            &w.state,
            form("/logout", Some(&cookie), &[("csrf", token)], [10, 0, 0, 8]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
    }
    let out = send(
        &w.state,
        form("/logout", Some(&cookie), &[("csrf", &csrf)], [10, 0, 0, 8]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&w.state, get("/", None, Some(&cookie))).await.status,
        StatusCode::SEE_OTHER
    );
    // Disabling an account ends its sessions and its tokens at once.
    let (cookie, _) = sign_in(&w.state, "fin@acme.cl", [10, 0, 0, 7]).await;
    assert_eq!(
        send(&w.state, get("/", None, Some(&cookie))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&w.state, get("/api/v1/kpis", Some(&w.finance_editor), None))
            .await
            .status,
        StatusCode::OK
    );
    w.db.disable_account("fin@acme.cl").await.unwrap();
    assert_eq!(
        send(&w.state, get("/", None, Some(&cookie))).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        send(&w.state, get("/api/v1/kpis", Some(&w.finance_editor), None))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A revoked token at once.
    w.db.revoke_token("pg@acme.cl", "test").await.unwrap();
    assert_eq!(
        send(&w.state, get("/api/v1/kpis", Some(&w.people_viewer), None))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Neither passwords nor tokens are kept in clear.
    let stored = stored_text(backend, &w).await;
    assert!(!stored.is_empty());
    for secret in [
        PASSWORD,
        w.admin.as_str(),
        w.admin.rsplit('_').next().unwrap(),
        w.people_viewer.as_str(),
    ] {
        assert!(
            !stored.contains(secret),
            "{backend:?}: `{secret}` is stored in clear"
        );
    }
}

/// Everything the state database holds, as text: the SQLite file's raw bytes, or every
/// column of the PostgreSQL tables.
async fn stored_text(backend: Backend, w: &World) -> String {
    match backend {
        Backend::Sqlite => {
            w.db.close().await;
            let mut text = String::new();
            for entry in std::fs::read_dir(w._dir.path()).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
            text
        }
        Backend::Postgres => {
            let url = w.pg_url.as_deref().unwrap();
            let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
            let mut text = String::new();
            for query in [
                "SELECT email || role || password_hash FROM accounts",
                "SELECT email || owner FROM account_owners",
                "SELECT id || email || name || secret_hash FROM tokens",
                "SELECT id_hash || data FROM sessions",
            ] {
                use sqlx::Row;
                for row in sqlx::query(query).fetch_all(&mut conn).await.unwrap() {
                    text.push_str(&row.get::<String, _>(0));
                }
            }
            text
        }
    }
}

#[tokio::test]
async fn sign_in_sessions_and_csrf_sqlite() {
    sign_in_sessions_and_csrf(Backend::Sqlite).await;
}

#[tokio::test]
async fn sign_in_sessions_and_csrf_postgres() {
    sign_in_sessions_and_csrf(Backend::Postgres).await;
}

async fn repeated_failures_are_slowed(backend: Backend) {
    let w = world(backend, example()).await;
    let page = send(&w.state, get("/login", None, None)).await;
    let cookie = csrf_cookie(&page.headers).unwrap();
    let csrf = csrf_in(&page.body);
    let attempt = |password: &'static str, from: [u8; 4]| {
        form(
            "/login",
            Some(&cookie),
            &[
                ("email", "pg@acme.cl"),
                ("password", password),
                ("csrf", &csrf),
            ],
            from,
        )
    };
    for n in 0..5 {
        let answer = send(&w.state, attempt("wrong password!", [192, 0, 2, 1])).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let refused = send(&w.state, attempt(PASSWORD, [192, 0, 2, 1])).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // The right password from another address still signs in.
    let elsewhere = send(&w.state, attempt(PASSWORD, [192, 0, 2, 2])).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::SEE_OTHER,
        "{}",
        elsewhere.body
    );
}

#[tokio::test]
async fn repeated_failures_are_slowed_sqlite() {
    repeated_failures_are_slowed(Backend::Sqlite).await;
}

#[tokio::test]
async fn repeated_failures_are_slowed_postgres() {
    repeated_failures_are_slowed(Backend::Postgres).await;
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure_and_host_only() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, dir.path()).await;
    tablero_access::add_account(&db, "a@acme.cl", Role::Admin, &[], PASSWORD.into())
        .await
        .unwrap();
    let mut auth = Auth::new(db);
    auth.secure_cookies = true;
    let mut state = AppState::open(example());
    state.auth = Some(Arc::new(auth));
    let page = send(&state, get("/login", None, None)).await;
    let set_cookie = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.starts_with("__Host-tablero_csrf="),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains("Secure") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    // The session cookie that signing in sets, too.
    let signed = send(
        &state,
        form(
            "/login",
            Some(&csrf_cookie(&page.headers).unwrap()),
            &[
                ("email", "a@acme.cl"),
                ("password", PASSWORD),
                ("csrf", &csrf_in(&page.body)),
            ],
            [10, 0, 0, 1],
        ),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let set_cookie = signed
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("tablero_session="))
        .unwrap();
    assert!(
        set_cookie.starts_with("__Host-tablero_session=")
            && set_cookie.contains("Secure")
            && set_cookie.contains("HttpOnly")
            && !set_cookie.contains("Domain"),
        "{set_cookie}"
    );
}

#[tokio::test]
async fn with_no_accounts_everyone_sees_everything_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, dir.path()).await;
    let mut state = AppState::open(example());
    state.auth = Some(Arc::new(Auth::new(db.clone())));
    let answer = send(&state, get("/api/v1/kpis", None, None)).await;
    assert_eq!(api_kpis(&answer.body).len(), 28);
    // Served beyond loopback by mistake (all accounts disabled): nobody sees anything.
    let mut closed = Auth::new(db);
    closed.open_when_empty = false;
    state.auth = Some(Arc::new(closed));
    assert_eq!(
        send(&state, get("/api/v1/kpis", None, None)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A login form as a browser behind the reverse proxy sends it: from `peer`, with the
/// forwarded headers given.
fn proxied_login(
    peer: [u8; 4],
    headers: &[(&str, &str)],
    cookie: &str,
    csrf: &str,
    password: &str,
) -> Request<Body> {
    let mut request = form(
        "/login",
        Some(cookie),
        &[
            ("email", "pg@acme.cl"),
            ("password", password),
            ("csrf", csrf),
        ],
        peer,
    );
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn behind_a_trusted_proxy_only_its_forwarded_headers_count() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, dir.path()).await;
    tablero_access::add_account(&db, "pg@acme.cl", Role::Viewer, &[], PASSWORD.into())
        .await
        .unwrap();
    let mut auth = Auth::new(db);
    auth.trusted_proxy = Some("10.9.9.9".parse().unwrap());
    auth.secure_cookies = true;
    let mut state = AppState::open(example());
    state.auth = Some(Arc::new(auth));
    state.hosts = tablero_server::guard::HostPolicy {
        bound: None,
        any: true,
    };
    let page = send(&state, get("/login", None, None)).await;
    let cookie = csrf_cookie(&page.headers).unwrap();
    let csrf = csrf_in(&page.body);
    let proxy = [10, 9, 9, 9];
    let stranger = [203, 0, 113, 5];
    let forwarded = |client: &'static str| {
        vec![
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "tablero.acme.cl"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://tablero.acme.cl"),
            ("x-forwarded-for", client),
        ]
    };
    // Through the proxy, the browser's origin is the public one; the client is the forwarded
    // address: five failures from 198.51.100.7 slow that address down…
    for n in 0..5 {
        let answer = send(
            &state,
            proxied_login(
                proxy,
                &forwarded("198.51.100.7"),
                &cookie,
                &csrf,
                "wrong password!",
            ),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "attempt {n}: {}",
            answer.body
        );
    }
    let slowed = send(
        &state,
        proxied_login(proxy, &forwarded("198.51.100.7"), &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(slowed.status, StatusCode::TOO_MANY_REQUESTS);
    // …but not another client behind the same proxy.
    let other = send(
        &state,
        proxied_login(proxy, &forwarded("198.51.100.8"), &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER, "{}", other.body);
    // The same headers from anyone else are not believed: the forwarded host does not make
    // its origin ours…
    let answer = send(
        &state,
        proxied_login(
            stranger,
            &forwarded("198.51.100.9"),
            &cookie,
            &csrf,
            PASSWORD,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("cross_origin"), "{}", answer.body);
    // …and its forwarded address is not the client (198.51.100.7 is slowed; this is not).
    let direct = [
        ("host", "tablero.acme.cl"),
        ("origin", "https://tablero.acme.cl"),
        ("x-forwarded-for", "198.51.100.7"),
    ];
    let page = send(&state, get("/login", None, None)).await;
    let (cookie, csrf) = (csrf_cookie(&page.headers).unwrap(), csrf_in(&page.body));
    let answer = send(
        &state,
        proxied_login(stranger, &direct, &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    // The proxy says the browser used https: an http origin is another site.
    let mut plain = forwarded("198.51.100.10");
    plain[3] = ("origin", "http://tablero.acme.cl");
    let answer = send(
        &state,
        proxied_login(proxy, &plain, &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

pub(crate) fn post_json(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

async fn reviews_and_annotations(backend: Backend) {
    let w = world(backend, example()).await;
    let review = r#"{"period": "2026-09", "comment": "Cierre débil en Cloud.", "cause": "Dos proyectos postergados",
        "actions": [{"what": "Reprogramar kick-off", "who": "ana@acme.cl", "due": "2020-01-15"}]}"#;
    let ventas = "/api/v1/kpis/ventas_netas_totales/reviews";
    let absentismo = "/api/v1/kpis/tasa_absentismo/reviews";
    // (caller, route, body, status, a fragment of the answer)
    let table: Vec<(Option<&str>, &str, &str, u16, &str)> = vec![
        (
            Some(&w.finance_editor),
            ventas,
            review,
            201,
            "\"author\":\"fin@acme.cl\"",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-08", "comment": "Agosto bien."}"#,
            201,
            "\"period\":\"2026-08\"",
        ),
        (Some(&w.people_viewer), absentismo, review, 403, "forbidden"),
        (
            Some(&w.finance_editor),
            absentismo,
            review,
            404,
            "unknown KPI",
        ),
        (None, ventas, review, 401, "unauthorized"),
        (
            Some(&w.admin),
            "/api/v1/kpis/no_such_kpi/reviews",
            review,
            404,
            "unknown KPI",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-09"}"#,
            400,
            "missing field `comment`",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-13", "comment": "x"}"#,
            400,
            "period:",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-09", "comment": "  "}"#,
            400,
            "comment: must not be empty",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-09", "comment": "x", "actions": [{"what": "a", "who": "b", "due": "mañana"}]}"#,
            400,
            "actions[0].due",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-09", "comment": "x", "actions": [{"what": "a", "who": "b", "due": "2026-10-01", "state": "closed"}]}"#,
            400,
            "actions[0].state",
        ),
        (
            Some(&w.admin),
            ventas,
            r#"{"period": "2026-09", "comment": "x", "color": "red"}"#,
            400,
            "unknown field `color`",
        ),
        (Some(&w.admin), ventas, "not json", 400, "body:"),
    ];
    for (token, route, body, status, fragment) in table {
        let answer = send(&w.state, post_json(route, token, body)).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{backend:?} POST {route} {body}: {}",
            answer.body
        );
        assert!(
            answer.body.contains(fragment),
            "{backend:?} {route} {body}: {}",
            answer.body
        );
    }
    // Newest first, with ids and actions.
    let list = send(&w.state, get(ventas, Some(&w.finance_editor), None)).await;
    let json: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    let reviews = json["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 2, "{}", list.body);
    let periods: Vec<&str> = reviews
        .iter()
        .map(|r| r["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-08", "2026-09"], "newest first");
    let first_id = reviews[1]["id"].as_str().unwrap().to_string();
    assert_eq!(reviews[1]["actions"][0]["state"], "open");
    // The viewer of People Growth reads no Finances review.
    assert_eq!(
        send(&w.state, get(ventas, Some(&w.people_viewer), None))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The action is overdue (due 2020-01-15): on the home page of those who see the KPI.
    let home = send(&w.state, get("/", Some(&w.finance_editor), None)).await;
    assert!(
        home.body.contains("data-testid=\"overdue\"") && home.body.contains("Reprogramar kick-off"),
        "{backend:?}"
    );
    let home = send(&w.state, get("/", Some(&w.people_viewer), None)).await;
    assert!(!home.body.contains("Reprogramar kick-off"));
    // Done: no longer overdue.
    let done = send(
        &w.state,
        post_json(
            &format!("/api/v1/reviews/{first_id}/actions/0"),
            Some(&w.finance_editor),
            r#"{"state": "done"}"#,
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("\"state\":\"done\""));
    let viewer_done = send(
        &w.state,
        post_json(
            &format!("/api/v1/reviews/{first_id}/actions/0"),
            Some(&w.people_viewer),
            r#"{"state": "open"}"#,
        ),
    )
    .await;
    assert_eq!(
        viewer_done.status,
        StatusCode::NOT_FOUND,
        "a hidden KPI's review is not there"
    );
    let home = send(&w.state, get("/", Some(&w.finance_editor), None)).await;
    assert!(!home.body.contains("Reprogramar kick-off"));

    // Annotations: on a KPI (its editors), general (admins); hidden with their KPI.
    let notes = [
        (
            Some(w.finance_editor.as_str()),
            r#"{"kpi": "ventas_netas_totales", "date": "2026-08-20", "text": "Cambio de lista de precios"}"#,
            201,
        ),
        (
            Some(w.admin.as_str()),
            r#"{"period": "2026-07", "text": "Fiestas patrias adelantadas"}"#,
            201,
        ),
        (
            Some(w.finance_editor.as_str()),
            r#"{"date": "2026-08-20", "text": "general"}"#,
            403,
        ),
        (
            Some(w.people_viewer.as_str()),
            r#"{"kpi": "tasa_absentismo", "date": "2026-08-20", "text": "x"}"#,
            403,
        ),
        (
            Some(w.admin.as_str()),
            r#"{"kpi": "ventas_netas_totales", "text": "no date"}"#,
            400,
        ),
        (
            Some(w.admin.as_str()),
            r#"{"kpi": "ventas_netas_totales", "date": "2026-02-30", "text": "bad"}"#,
            400,
        ),
    ];
    for (token, body, status) in notes {
        let answer = send(&w.state, post_json("/api/v1/annotations", token, body)).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{backend:?} {body}: {}",
            answer.body
        );
    }
    let listed = send(
        &w.state,
        get("/api/v1/annotations", Some(&w.people_viewer), None),
    )
    .await;
    assert!(
        listed.body.contains("Fiestas patrias") && !listed.body.contains("lista de precios"),
        "{}",
        listed.body
    );
    assert!(
        listed.body.contains("\"date\":\"2026-07-01\""),
        "a period is its first day: {}",
        listed.body
    );
    let page = send(
        &w.state,
        get(
            "/kpi/ventas_netas_totales?as_of=2026-10-15",
            Some(&w.admin),
            None,
        ),
    )
    .await;
    assert!(
        page.body.contains("data-testid=\"notes\"")
            && page.body.contains("Cambio de lista de precios")
    );
    assert_eq!(
        page.body.matches("data-testid=\"annotation\"").count(),
        2,
        "July and August are marked on the chart"
    );
    assert!(
        page.body.contains("Cierre débil en Cloud.")
            && page.body.contains("Dos proyectos postergados")
    );

    // The page's own form: with the session's token only.
    let (cookie, _) = sign_in(&w.state, "fin@acme.cl", [10, 2, 2, 2]).await;
    let page = send(
        &w.state,
        get(
            "/kpi/ventas_netas_totales?as_of=2026-10-15",
            None,
            Some(&cookie),
        ),
    )
    .await;
    assert!(page.body.contains("data-testid=\"review-form\""));
    let csrf = csrf_in(
        page.body
            .split("data-testid=\"review-form\"")
            .nth(1)
            .unwrap(),
    );
    let fields = [
        ("period", "2026-07"),
        ("comment", "Julio, desde el formulario"),
        ("what", "Llamar a clientes"),
        ("who", "pedro"),
        ("due", "2026-11-30"),
    ];
    let mut with_token = fields.to_vec();
    with_token.push(("csrf", &csrf));
    let refused = send(
        &w.state,
        form(
            "/kpi/ventas_netas_totales/reviews",
            Some(&cookie),
            &fields,
            [10, 2, 2, 2],
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let saved = send(
        &w.state,
        form(
            "/kpi/ventas_netas_totales/reviews",
            Some(&cookie),
            &with_token,
            [10, 2, 2, 2],
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = send(
        &w.state,
        get(
            "/kpi/ventas_netas_totales?as_of=2026-10-15",
            None,
            Some(&cookie),
        ),
    )
    .await;
    assert!(
        page.body.contains("Julio, desde el formulario") && page.body.contains("Llamar a clientes")
    );
    // A viewer's page has no form.
    let page = send(
        &w.state,
        get("/kpi/tasa_absentismo", Some(&w.people_viewer), None),
    )
    .await;
    assert!(!page.body.contains("review-form"));
}

#[tokio::test]
async fn reviews_and_annotations_sqlite() {
    reviews_and_annotations(Backend::Sqlite).await;
}

#[tokio::test]
async fn reviews_and_annotations_postgres() {
    reviews_and_annotations(Backend::Postgres).await;
}

/// Share links: made by editors and admins, opened by nobody signed in, showing one board with
/// what the creator may see and nothing else; listed, revoked, expired, dead with their
/// creator's account.
async fn share_links(backend: Backend) {
    let w = world(backend, example()).await;
    let make = |token: Option<&str>, body: &str| post_json("/api/v1/shares", token, body);
    let board = r#"{"dashboard": "direccion", "days": 7}"#;
    // (caller, body, status, the field named)
    let viewer = Some(w.people_viewer.as_str());
    let editor = Some(w.finance_editor.as_str());
    let admin = Some(w.admin.as_str());
    let refusals = [
        (None, board, 401, ""),
        (viewer, board, 403, ""),
        (
            editor,
            r#"{"dashboard": "direccion", "days": 0}"#,
            400,
            "days:",
        ),
        (
            editor,
            r#"{"dashboard": "direccion", "days": 366}"#,
            400,
            "days:",
        ),
        (
            editor,
            r#"{"dashboard": "direccion", "view": "wall"}"#,
            400,
            "view:",
        ),
        (
            editor,
            r#"{"dashboard": "direccion", "who": 1}"#,
            400,
            "body:",
        ),
        (editor, r#"{"dashboard": "nope"}"#, 404, ""),
        // The People Growth board has no KPI of Finances: as good as absent for its editor.
        (editor, r#"{"dashboard": "people_growth"}"#, 404, ""),
    ];
    for (token, body, status, field) in refusals {
        let answer = send(&w.state, make(token, body)).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.body);
        assert!(answer.body.contains(field), "{body}: {}", answer.body);
    }
    let created = send(&w.state, make(editor, board)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let json: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let url = json["url"].as_str().unwrap();
    // The example's public_url, then the link's path.
    assert!(url.starts_with("http://127.0.0.1:8080/share/shr_"), "{url}");
    let path = &url[url.find("/share/").unwrap()..];
    let editor_link = json["id"].as_str().unwrap().to_string();

    // Nobody signed in opens it: the board with what its creator sees — the Finances KPIs of
    // the management board — and no way to anything else.
    let page = send(&w.state, get(path, None, None)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let shown: BTreeSet<String> = page
        .body
        .split("data-testid=\"score-row\" data-kpi=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(
        shown,
        set(&[
            "concentracion_ventas_cliente",
            "margen_ebitda",
            "ventas_netas_totales"
        ])
    );
    for elsewhere in [
        "href=\"/kpi/",
        "href=\"/dashboards/",
        "/download/",
        "action=\"/logout\"",
    ] {
        assert!(
            !page.body.contains(elsewhere),
            "{elsewhere} on a shared page"
        );
    }
    assert!(
        page.headers.get(header::SET_COOKIE).is_none(),
        "a link carries no session"
    );
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    // The link is not a key to anything else: not as a token, not under another path.
    let secret = path.trim_start_matches("/share/");
    let api = send(&w.state, get("/api/v1/kpis", Some(secret), None)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    let home = send(&w.state, get("/", None, None)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);

    // The wall-screen view of the same board, made by the admin: all 9 KPIs of the board.
    let tv = send(
        &w.state,
        make(admin, r#"{"dashboard": "direccion", "view": "tv"}"#),
    )
    .await;
    assert_eq!(tv.status, StatusCode::CREATED, "{}", tv.body);
    let tv: serde_json::Value = serde_json::from_str(&tv.body).unwrap();
    let tv_url = tv["url"].as_str().unwrap();
    let tv_path = &tv_url[tv_url.find("/share/").unwrap()..];
    let wall = send(&w.state, get(tv_path, None, None)).await;
    assert_eq!(wall.status, StatusCode::OK);
    assert!(wall.body.contains("data-testid=\"tv\""));
    assert_eq!(wall.body.matches("data-testid=\"kpi-card\"").count(), 9);

    // Lists: an editor its own, the admin every link; a viewer none.
    let count = |body: &str| {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["shares"].as_array().unwrap().len()
    };
    let mine = send(&w.state, get("/api/v1/shares", editor, None)).await;
    assert_eq!(count(&mine.body), 1);
    let all = send(&w.state, get("/api/v1/shares", admin, None)).await;
    assert_eq!(count(&all.body), 2);
    let refused = send(&w.state, get("/api/v1/shares", viewer, None)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Revoking: not another's (404), one's own (204, and the link is dead), not twice.
    let delete = |id: &str, token: Option<&str>| {
        let mut builder = Request::builder()
            .method(Method::DELETE)
            .uri(format!("/api/v1/shares/{id}"))
            .header(header::HOST, "localhost");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    };
    let tv_id = tv["id"].as_str().unwrap();
    assert_eq!(
        send(&w.state, delete(tv_id, editor)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&w.state, delete(&editor_link, viewer)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&w.state, delete(&editor_link, editor)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&w.state, get(path, None, None)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&w.state, delete(&editor_link, editor)).await.status,
        StatusCode::NOT_FOUND
    );

    // Expiry is the state database's `live_share` (tested there with a clock).

    // A link dies with its creator's account.
    let again = send(&w.state, make(editor, board)).await;
    let again: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    let again_url = again["url"].as_str().unwrap();
    let again_path = &again_url[again_url.find("/share/").unwrap()..];
    assert_eq!(
        send(&w.state, get(again_path, None, None)).await.status,
        StatusCode::OK
    );
    w.db.disable_account("fin@acme.cl").await.unwrap();
    assert_eq!(
        send(&w.state, get(again_path, None, None)).await.status,
        StatusCode::NOT_FOUND
    );

    // Made-up links, and an API token in a link's place.
    for made_up in [
        "/share/shr_0000_1111",
        "/share/nothing",
        &format!("/share/{}", w.admin),
    ] {
        assert_eq!(
            send(&w.state, get(made_up, None, None)).await.status,
            StatusCode::NOT_FOUND,
            "{made_up}"
        );
    }
}

#[tokio::test]
async fn share_links_sqlite() {
    share_links(Backend::Sqlite).await;
}

#[tokio::test]
async fn share_links_postgres() {
    share_links(Backend::Postgres).await;
}
