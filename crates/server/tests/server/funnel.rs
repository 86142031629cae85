//! Funnels through the router: three stages of a hand-worked pipeline, their conversions, the
//! page, and the statuses of the routes.

use crate::support::get;

use axum::http::StatusCode;
use tablero_server::AppState;

/// March 2026: 10 opportunities enter `lead`, 4 enter `qualified`, 1 enters `won`. The
/// conversions are 4 / 10 = 40 % and 1 / 4 = 25 %; of the first stage 100 %, 40 %, 10 %.
/// February: 5 leads and nothing after them (conversion 0 %, then 0 / 0: none).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let mut csv = String::from("dia,etapa\n");
    for (month, stage, n) in [
        ("02", "lead", 5),
        ("03", "lead", 10),
        ("03", "qualified", 4),
        ("03", "won", 1),
    ] {
        for i in 0..n {
            csv.push_str(&format!("2026-{month}-{:02},{stage}\n", i + 1));
        }
    }
    let stage = |id: &str, name: &str, etapa: &str| {
        format!(
            "- id: {id}\n  name: {name}\n  owner: Sales\n  group: pipeline\n  unit: count\n  direction: up\n  grain: month\n  formula: \"etapas.entradas[etapa = '{etapa}']\"\n  target: 1\n"
        )
    };
    let kpis = [
        stage("leads", "Leads", "lead"),
        stage("calificadas", "Qualified", "qualified"),
        stage("ganadas", "Won", "won"),
    ]
    .concat();
    let files = [
        (
            "tablero.toml",
            "name = \"shop\"\nlocale = \"es\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n".to_string(),
        ),
        (
            "sources/etapas.yaml",
            "name: etapas\nfile: data/etapas.csv\ntime: dia\ncolumns:\n  dia: { type: date }\n  etapa: { type: string }\nmeasures:\n  entradas: { agg: count }\n".to_string(),
        ),
        ("kpis/k.yaml", kpis),
        ("data/etapas.csv", csv),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

#[tokio::test]
async fn each_stage_with_its_conversion_from_the_one_before() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (status, body) = get(&state, "/api/v1/funnels/pipeline?period=2026-03").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let funnel: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(funnel["period"], "2026-03");
    let stages = funnel["stages"].as_array().unwrap();
    let table = [
        ("leads", 10.0, None, Some(100.0)),
        ("calificadas", 4.0, Some(40.0), Some(40.0)),
        ("ganadas", 1.0, Some(25.0), Some(10.0)),
    ];
    assert_eq!(stages.len(), table.len());
    for (stage, (kpi, value, conversion, of_first)) in stages.iter().zip(table) {
        assert_eq!(stage["kpi"], kpi);
        assert_eq!(stage["value"].as_f64(), Some(value), "{kpi}");
        assert_eq!(stage["conversion"].as_f64(), conversion, "{kpi}");
        assert_eq!(stage["of_first"].as_f64(), of_first, "{kpi}");
    }
    // February: 5 leads, none qualified (0 / 5 = 0 %), none won (0 / 0: no conversion).
    let (_, body) = get(&state, "/api/v1/funnels/pipeline?period=2026-02").await;
    let funnel: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(funnel["stages"][1]["conversion"].as_f64(), Some(0.0));
    assert!(funnel["stages"][2]["conversion"].is_null());
    // As of 10 April the latest complete month is March.
    let (_, body) = get(&state, "/api/v1/funnels/pipeline?as_of=2026-04-10").await;
    assert!(body.contains("\"period\":\"2026-03\""), "{body}");

    let (status, page) = get(&state, "/funnel/pipeline?period=2026-03").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("data-testid=\"funnel-stage\"").count(), 3);
    for shown in ["40,0 %", "25,0 %", "10,0 %"] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let (_, kpi) = get(&state, "/kpi/calificadas").await;
    assert!(
        kpi.contains("href=\"/funnel/pipeline\""),
        "the stage links to its funnel"
    );
}

#[tokio::test]
async fn funnel_routes_answer_with_fitting_statuses() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let table = [
        ("/api/v1/funnels/pipeline", StatusCode::OK),
        ("/api/v1/funnels/nope", StatusCode::NOT_FOUND),
        ("/funnel/nope", StatusCode::NOT_FOUND),
        (
            "/api/v1/funnels/pipeline?period=2026-13",
            StatusCode::BAD_REQUEST,
        ),
        ("/funnel/pipeline?period=2026-Q1", StatusCode::BAD_REQUEST),
        (
            "/api/v1/funnels/pipeline?as_of=ayer",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (uri, expected) in table {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
    }
}

/// SPEC §13: a stage the account may not see is there as hidden — no id, name or value — and
/// no conversion is told across it (it would give the hidden value away). Qualified belongs to
/// Marketing here; a Sales viewer sees leads 10, a hidden stage, won 1 with no conversion and
/// 1 / 10 = 10 % of the first stage.
#[tokio::test]
async fn a_hidden_stage_is_named_as_hidden_and_nothing_is_told_across_it() {
    use crate::access::{Backend, fresh_db, get as request, send};
    let dir = workspace();
    let kpis = std::fs::read_to_string(dir.path().join("kpis/k.yaml")).unwrap();
    let marketing = kpis.replacen(
        "name: Qualified\n  owner: Sales",
        "name: Qualified\n  owner: Marketing",
        1,
    );
    assert_ne!(marketing, kpis);
    std::fs::write(dir.path().join("kpis/k.yaml"), marketing).unwrap();
    let db_dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_db(Backend::Sqlite, db_dir.path()).await;
    tablero_access::add_account(
        &db,
        "ventas@shop.test",
        tablero_access::Role::Viewer,
        &["Sales".to_string()],
        crate::access::PASSWORD.into(),
    )
    .await
    .unwrap();
    let token = tablero_access::create_token(&db, "ventas@shop.test", "t")
        .await
        .unwrap()
        .secret;
    let mut state = AppState::open(dir.path());
    state.auth = Some(std::sync::Arc::new(tablero_server::auth::Auth::new(db)));

    let answer = send(
        &state,
        request(
            "/api/v1/funnels/pipeline?period=2026-03",
            Some(&token),
            None,
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let funnel: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let stages = funnel["stages"].as_array().unwrap();
    // (kpi, value, conversion, of first, hidden)
    let table = [
        (Some("leads"), Some(10.0), None, Some(100.0), false),
        (None, None, None, None, true),
        (Some("ganadas"), Some(1.0), None, Some(10.0), false),
    ];
    assert_eq!(stages.len(), table.len(), "{}", answer.body);
    for (stage, (kpi, value, conversion, of_first, hidden)) in stages.iter().zip(table) {
        assert_eq!(stage["kpi"].as_str(), kpi, "{stage}");
        assert_eq!(stage["value"].as_f64(), value, "{stage}");
        assert_eq!(stage["conversion"].as_f64(), conversion, "{stage}");
        assert_eq!(stage["of_first"].as_f64(), of_first, "{stage}");
        assert_eq!(stage["hidden"], hidden, "{stage}");
    }
    assert!(!answer.body.contains("calificadas") && !answer.body.contains("Qualified"));

    let page = send(
        &state,
        request(
            "/funnel/pipeline?period=2026-03&lang=en",
            Some(&token),
            None,
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("A KPI your account may not see"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("calificadas") && !page.body.contains("Qualified"));
    assert!(!page.body.contains("25,0 %") && !page.body.contains("25.0 %"));
}
