//! What a careless operator, a monitoring probe or an attacker could do to a running server,
//! each on SQLite and on a real PostgreSQL server where it touches the state database:
//! reading writes nothing (no session per page view), the open mode never comes back once an
//! account existed, lists come a page at a time, a download of an unknown kind is refused
//! before anything is computed, and changing an account ends its sessions at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use sqlx::{Connection, Row};
use tablero_access::Role;
use tablero_server::AppState;
use tablero_server::auth::Auth;

use crate::access::{
    Backend, PASSWORD, api_kpis, csrf_cookie, csrf_in, fresh_db, get, post_json, send, sign_in,
    world,
};
use crate::support::example;

/// How long each backend and mode is read from: four of them make a minute.
fn reading_time() -> Duration {
    let seconds = std::env::var("TABLERO_TEST_READ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    Duration::from_secs(seconds)
}

/// The row count of every table of the state database at `url` (a SQLite file's or a
/// PostgreSQL database's).
async fn row_counts(url: &str) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let list = if url.starts_with("sqlite:") {
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    } else {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
    };
    let tables: Vec<String> = sqlx::query(list)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let mut counts = Vec::new();
    for table in tables {
        let sql = format!("SELECT CAST(count(*) AS BIGINT) FROM \"{table}\"");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        counts.push((table, row.get::<i64, _>(0)));
    }
    conn.close().await.unwrap();
    counts
}

/// The URL of a test's state database: PostgreSQL's, or the SQLite file `fresh_db` makes.
fn state_url(dir: &std::path::Path, pg_url: Option<&str>) -> String {
    match pg_url {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}", dir.join("state.db").display()),
    }
}

/// Every page and read of the API, as a probe or a wall screen asks for them: no cookie.
const READS: [&str; 17] = [
    "/",
    "/login",
    "/login?next=/kpi/ventas_netas_totales&lang=en",
    "/kpi/ventas_netas_totales",
    "/kpi/margen_ebitda/tree",
    "/funnel/embudo",
    "/dashboards/finances",
    "/tv",
    "/tv/finances?rotate=1",
    "/download/csv",
    "/api/v1/kpis",
    "/api/v1/kpis/ventas_netas_totales/values",
    "/api/v1/annotations",
    "/api/v1/insights",
    "/api/v1/health",
    "/metrics",
    "/assets/app.css",
];

async fn reading_writes_nothing(backend: Backend) {
    for accounts in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (db, pg_url) = fresh_db(backend, dir.path()).await;
        if accounts {
            tablero_access::add_account(&db, "a@acme.cl", Role::Admin, &[], PASSWORD.into())
                .await
                .unwrap();
        }
        let mut state = AppState::open(example());
        state.auth = Some(Arc::new(Auth::new(db.clone())));
        let url = state_url(dir.path(), pg_url.as_deref());
        let before = row_counts(&url).await;
        let started = Instant::now();
        let mut requests = 0;
        while started.elapsed() < reading_time() {
            for path in READS {
                let mut request = get(path, None, None);
                if requests % 5 == 0 {
                    *request.method_mut() = Method::HEAD;
                }
                let answer = send(&state, request).await;
                assert!(
                    !answer.status.is_server_error(),
                    "{backend:?} {path}: {} {}",
                    answer.status,
                    answer.body
                );
                requests += 1;
                // A steady trickle, as probes send: the tests beside this one keep their cores.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let after = row_counts(&url).await;
        assert!(before.iter().any(|(t, _)| t == "sessions"), "{before:?}");
        assert_eq!(
            before, after,
            "{backend:?}, accounts {accounts}: {requests} cookie-less reads changed the state database"
        );
    }
}

#[tokio::test]
async fn reading_writes_nothing_sqlite() {
    reading_writes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn reading_writes_nothing_postgres() {
    reading_writes_nothing(Backend::Postgres).await;
}

/// With no accounts, the one person's forms still work: their token is stateless.
#[tokio::test]
async fn forms_without_accounts_carry_a_stateless_token() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, dir.path()).await;
    let mut state = AppState::open(example());
    state.auth = Some(Arc::new(Auth::new(db.clone())));
    let page = send(&state, get("/kpi/ventas_netas_totales", None, None)).await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = csrf_cookie(&page.headers).expect("an anti-CSRF cookie");
    let token = csrf_in(&page.body);
    // The same cookie gives the same token, and sets no new cookie.
    let again = send(
        &state,
        get("/kpi/ventas_netas_totales", None, Some(&cookie)),
    )
    .await;
    assert_eq!(csrf_in(&again.body), token);
    assert!(csrf_cookie(&again.headers).is_none());
    // A review through the page's form: with the token it is recorded, without it refused.
    let review = |csrf: &str, cookie: Option<&str>| {
        crate::access::form(
            "/kpi/ventas_netas_totales/reviews",
            cookie,
            &[
                ("csrf", csrf),
                ("period", "2026-09"),
                ("comment", "Septiembre revisado."),
            ],
            [127, 0, 0, 1],
        )
    };
    let refused = send(&state, review("0000", Some(&cookie))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let refused = send(&state, review(&token, None)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let recorded = send(&state, review(&token, Some(&cookie))).await;
    assert!(
        recorded.status.is_redirection() || recorded.status.is_success(),
        "{} {}",
        recorded.status,
        recorded.body
    );
    assert_eq!(db.reviews("ventas_netas_totales").await.unwrap().len(), 1);
}

/// Once the state database has held an account, nobody gets in without one — even with every
/// account disabled while the server runs — and any host name is answered (it asks for a
/// sign-in). Without one ever, only loopback names are.
#[tokio::test]
async fn the_open_mode_never_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, dir.path()).await;
    let mut state = AppState::open(example());
    state.auth = Some(Arc::new(Auth::new(db.clone())));
    let from_host = |host: &str, path: &str| {
        let mut request = get(path, None, None);
        request
            .headers_mut()
            .insert(header::HOST, host.parse().unwrap());
        request
    };
    // No account yet: open, on loopback names only.
    let open = send(&state, get("/api/v1/kpis", None, None)).await;
    assert_eq!(api_kpis(&open.body).len(), 28);
    let rebound = send(&state, from_host("evil.example", "/api/v1/kpis")).await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);
    // An account added while it runs closes it at once.
    tablero_access::add_account(&db, "a@acme.cl", Role::Admin, &[], PASSWORD.into())
        .await
        .unwrap();
    let closed = send(&state, get("/api/v1/kpis", None, None)).await;
    assert_eq!(closed.status, StatusCode::UNAUTHORIZED, "{}", closed.body);
    let named = send(&state, from_host("kpis.acme.cl", "/api/v1/kpis")).await;
    assert_eq!(named.status, StatusCode::UNAUTHORIZED, "{}", named.body);
    // Every account disabled: still nobody.
    db.disable_account("a@acme.cl").await.unwrap();
    for (host, path, status) in [
        ("localhost", "/api/v1/kpis", StatusCode::UNAUTHORIZED),
        ("evil.example", "/api/v1/kpis", StatusCode::UNAUTHORIZED),
        ("localhost", "/", StatusCode::SEE_OTHER),
        ("localhost", "/metrics", StatusCode::UNAUTHORIZED),
    ] {
        let answer = send(&state, from_host(host, path)).await;
        assert_eq!(answer.status, status, "{host} {path}: {}", answer.body);
    }
    // A new server on the same database: the same.
    let mut restarted = AppState::open(example());
    restarted.auth = Some(Arc::new(Auth::new(db.clone())));
    let answer = send(&restarted, get("/api/v1/kpis", None, None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// The `next` page of a list, from its `Link` header.
fn next_page(headers: &axum::http::HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(link.split('<').nth(1)?.split('>').next()?.to_string())
}

fn field(body: &str, list: &str, key: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_string())
        .collect()
}

async fn lists_come_a_page_at_a_time(backend: Backend) {
    let w = world(backend, example()).await;
    // Seven annotations on seven days, one of a KPI the People Growth viewer does not see.
    for (day, kpi) in [
        ("2026-01-05", None),
        ("2026-02-05", None),
        ("2026-03-05", Some("ventas_netas_totales")),
        ("2026-04-05", None),
        ("2026-05-05", Some("tasa_absentismo")),
        ("2026-06-05", None),
        ("2026-07-05", None),
    ] {
        let body = match kpi {
            Some(kpi) => format!(r#"{{"date": "{day}", "text": "nota {day}", "kpi": "{kpi}"}}"#),
            None => format!(r#"{{"date": "{day}", "text": "nota {day}"}}"#),
        };
        let answer = send(
            &w.state,
            post_json("/api/v1/annotations", Some(&w.admin), &body),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    // The admin, three at a time: newest first, across three pages.
    let mut days = Vec::new();
    let mut uri = Some("/api/v1/annotations?limit=3".to_string());
    let mut pages = 0;
    while let Some(next) = uri {
        let answer = send(&w.state, get(&next, Some(&w.admin), None)).await;
        assert_eq!(answer.status, StatusCode::OK, "{next}: {}", answer.body);
        let got = field(&answer.body, "annotations", "date");
        assert!(got.len() <= 3);
        days.extend(got);
        uri = next_page(&answer.headers);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        days,
        [
            "2026-07-05",
            "2026-06-05",
            "2026-05-05",
            "2026-04-05",
            "2026-03-05",
            "2026-02-05",
            "2026-01-05"
        ]
    );
    // The viewer's pages skip the hidden KPI's note without coming up short: 2 + 2 + 2.
    let mut days = Vec::new();
    let mut uri = Some("/api/v1/annotations?limit=2&from=2026-01-01".to_string());
    while let Some(next) = uri {
        let answer = send(&w.state, get(&next, Some(&w.people_viewer), None)).await;
        let got = field(&answer.body, "annotations", "date");
        assert!(got.len() == 2 || next_page(&answer.headers).is_none());
        days.extend(got);
        uri = next_page(&answer.headers);
    }
    assert_eq!(
        days,
        [
            "2026-07-05",
            "2026-06-05",
            "2026-05-05",
            "2026-04-05",
            "2026-02-05",
            "2026-01-05"
        ]
    );
    // Reviews too.
    for period in ["2026-06", "2026-07", "2026-08"] {
        let body = format!(r#"{{"period": "{period}", "comment": "Revisado {period}."}}"#);
        let answer = send(
            &w.state,
            post_json(
                "/api/v1/kpis/ventas_netas_totales/reviews",
                Some(&w.admin),
                &body,
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let first = send(
        &w.state,
        get(
            "/api/v1/kpis/ventas_netas_totales/reviews?limit=2",
            Some(&w.admin),
            None,
        ),
    )
    .await;
    assert_eq!(
        field(&first.body, "reviews", "period"),
        ["2026-08", "2026-07"]
    );
    let next = next_page(&first.headers).expect("a second page");
    let second = send(&w.state, get(&next, Some(&w.admin), None)).await;
    assert_eq!(field(&second.body, "reviews", "period"), ["2026-06"]);
    assert_eq!(next_page(&second.headers), None);
    // Bad pages are refused, naming the parameter.
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=", "cursor"),
        ("cursor=7e7e", "cursor"),
    ] {
        for list in [
            "/api/v1/annotations",
            "/api/v1/kpis/ventas_netas_totales/reviews",
        ] {
            let answer = send(
                &w.state,
                get(&format!("{list}?{query}"), Some(&w.admin), None),
            )
            .await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{list}?{query}");
            assert!(answer.body.contains(parameter), "{}", answer.body);
        }
    }
}

#[tokio::test]
async fn lists_come_a_page_at_a_time_sqlite() {
    lists_come_a_page_at_a_time(Backend::Sqlite).await;
}

#[tokio::test]
async fn lists_come_a_page_at_a_time_postgres() {
    lists_come_a_page_at_a_time(Backend::Postgres).await;
}

/// A download of a kind that does not exist is refused before the table is computed.
#[tokio::test]
async fn an_unknown_download_is_refused_before_any_computation() {
    let state = AppState::open(example());
    for path in [
        "/kpi/ventas_netas_totales/download/pdf",
        "/kpi/ventas_netas_totales/breakdown/linea_servicio/download/html",
        "/download/zip",
        "/dashboards/finances/download/exe",
    ] {
        let (status, body) = crate::support::get(&state, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body.contains("csv"), "{body}");
        assert_eq!(state.answers_kept(), 0, "{path} computed something");
    }
    let (status, _) = crate::support::get(&state, "/kpi/ventas_netas_totales/download/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(state.answers_kept() > 0, "a download's table is an answer");
}

async fn changing_an_account(backend: Backend) {
    let w = world(backend, example()).await;
    let (cookie, _) = sign_in(&w.state, "fin@acme.cl", [10, 0, 0, 30]).await;
    assert_eq!(
        send(&w.state, get("/", None, Some(&cookie))).await.status,
        StatusCode::OK
    );
    // The Finances editor becomes a People Growth viewer.
    let people = vec!["People Growth".to_string()];
    let changed =
        w.db.update_account("fin@acme.cl", Some(Role::Viewer), Some(&people))
            .await
            .unwrap();
    assert_eq!(
        (changed.role, changed.owners.clone()),
        (Role::Viewer, people)
    );
    // Its session ended…
    assert_eq!(
        send(&w.state, get("/", None, Some(&cookie))).await.status,
        StatusCode::SEE_OTHER
    );
    // …and its token sees and may do what the new role allows, at once.
    let listed = send(&w.state, get("/api/v1/kpis", Some(&w.finance_editor), None)).await;
    assert_eq!(
        api_kpis(&listed.body),
        ["tasa_absentismo", "tasa_rotacion_profesionales"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let review = send(
        &w.state,
        post_json(
            "/api/v1/kpis/tasa_absentismo/reviews",
            Some(&w.finance_editor),
            r#"{"period": "2026-09", "comment": "No puedo."}"#,
        ),
    )
    .await;
    assert_eq!(review.status, StatusCode::FORBIDDEN, "{}", review.body);
    // Back to every owner, role kept.
    let changed =
        w.db.update_account("fin@acme.cl", None, Some(&[]))
            .await
            .unwrap();
    assert_eq!(changed.role, Role::Viewer);
    assert!(changed.owners.is_empty());
    let listed = send(&w.state, get("/api/v1/kpis", Some(&w.finance_editor), None)).await;
    assert_eq!(api_kpis(&listed.body).len(), 28);
    // An unknown account is not found.
    assert!(matches!(
        w.db.update_account("nobody@acme.cl", Some(Role::Admin), None)
            .await,
        Err(tablero_state::StateError::NotFound(_))
    ));
}

#[tokio::test]
async fn changing_an_account_sqlite() {
    changing_an_account(Backend::Sqlite).await;
}

#[tokio::test]
async fn changing_an_account_postgres() {
    changing_an_account(Backend::Postgres).await;
}

/// A running server sees edits to every folder the loader reads: an insight added while it
/// serves shows on the next request.
#[tokio::test]
async fn every_definition_folder_is_watched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    crate::support::write_example(&root, "2026-10-15");
    let state = AppState::open(&root);
    let uri = "/api/v1/insights?as_of=2026-10-15";
    let (status, before) = crate::support::get(&state, uri).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert!(!before.contains("siempre_activa"), "{before}");
    std::fs::write(
        root.join("insights/siempre_activa.yaml"),
        "id: siempre_activa\nwhen: \"ventas_netas_totales.value > -1\"\nmessage:\n  es: Una nota que siempre se cumple.\n  en: A note that always holds.\n",
    )
    .unwrap();
    let (status, after) = crate::support::get(&state, uri).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert!(after.contains("siempre_activa"), "{after}");
}
