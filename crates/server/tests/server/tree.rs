//! KPI trees through the router: a hand-worked workspace where won sales are closed
//! opportunities × conversion × average deal, the split of its change checked against the
//! arithmetic in the comments, and the statuses of the routes.

use crate::support::get;

use axum::http::StatusCode;
use tablero_server::AppState;

/// January 2026: 10 opportunities closed, 3 won at 1,000 each → conversion 30 %, average deal
/// 1,000, won sales 10 × 30 / 100 × 1,000 = 3,000. February: 12 closed, 3 won at 1,200 →
/// conversion 25 %, average 1,200, won sales 12 × 25 / 100 × 1,200 = 3,600.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let mut csv = String::from("cerrada,etapa,monto\n");
    for (month, closed, won, amount) in [("01", 10, 3, 1000), ("02", 12, 3, 1200)] {
        for i in 0..closed {
            let stage = if i < won { "won" } else { "lost" };
            csv.push_str(&format!("2026-{month}-{:02},{stage},{amount}\n", i + 1));
        }
    }
    let files = [
        (
            "tablero.toml",
            "name = \"shop\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
        ),
        (
            "sources/opps.yaml",
            "name: opps\nfile: data/opps.csv\ntime: cerrada\ncolumns:\n  cerrada: { type: date }\n  etapa: { type: string }\n  monto: { type: number }\nmeasures:\n  cerradas: { agg: count }\n  ganadas: { agg: count, filter: \"etapa = 'won'\" }\n  promedio: { agg: avg, expr: monto, filter: \"etapa = 'won'\" }\n",
        ),
        (
            "kpis/k.yaml",
            "- id: cerradas\n  name: Closed\n  owner: Sales\n  unit: count\n  direction: up\n  grain: month\n  formula: opps.cerradas\n  target: 10\n\
             - id: conversion\n  name: Conversion\n  owner: Sales\n  unit: percent\n  direction: up\n  grain: month\n  formula: 100 * opps.ganadas / opps.cerradas\n  target: 30\n\
             - id: promedio\n  name: Average deal\n  owner: Sales\n  unit: number\n  direction: up\n  grain: month\n  formula: opps.promedio\n  target: 1000\n\
             - id: ventas\n  name: Won sales\n  owner: Sales\n  unit: number\n  direction: up\n  grain: month\n  formula: cerradas * conversion / 100 * promedio\n  target: 3000\n\
             - id: suma\n  name: Not a product\n  owner: Sales\n  unit: number\n  direction: up\n  grain: month\n  formula: cerradas + promedio\n",
        ),
        ("data/opps.csv", csv.as_str()),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

fn close(got: &serde_json::Value, want: f64) {
    let got = got.as_f64().unwrap_or(f64::NAN);
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[tokio::test]
async fn the_change_is_split_exactly_between_the_drivers() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (status, body) = get(&state, "/api/v1/kpis/ventas/tree?period=2026-02").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tree: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tree["period"], "2026-02");
    close(&tree["value"], 3600.0);
    close(&tree["constant"], 0.01);
    let drivers = tree["drivers"].as_array().unwrap();
    let ids: Vec<&str> = drivers.iter().map(|d| d["kpi"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cerradas", "conversion", "promedio"]);
    // closed 10 → 12, conversion 30 → 25, average 1000 → 1200.
    for (driver, (previous, value)) in
        drivers
            .iter()
            .zip([(10.0, 12.0), (30.0, 25.0), (1000.0, 1200.0)])
    {
        close(&driver["previous"], previous);
        close(&driver["value"], value);
        close(&driver["change"], value - previous);
    }
    let previous = &tree["changes"][0];
    assert_eq!(previous["against"], "previous");
    assert_eq!(previous["period"], "2026-01");
    close(&previous["change"], 600.0);
    // L = 600 / ln(3600 / 3000) = 600 / 0.1823215568 = 3290.889.
    close(&previous["log_mean"], 600.0 / (1.2f64).ln());
    // Each driver moved by a factor of 1.2, 1/1.2 and 1.2: L × ln(…) = +600, −600, +600.
    let parts: Vec<f64> = previous["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contribution"].as_f64().unwrap())
        .collect();
    for (got, want) in parts.iter().zip([600.0, -600.0, 600.0]) {
        assert!((got - want).abs() < 1e-6, "{parts:?}");
    }
    // February 2025 has no opportunities: 0 closed (a count over no rows is 0, SPEC §3),
    // which has no logarithm, so nothing is split.
    let year_ago = &tree["changes"][1];
    assert_eq!(year_ago["period"], "2025-02");
    assert_eq!(year_ago["undecomposed"], "not_positive");
    assert!(year_ago["contributions"].is_null());

    // The page shows the same split with its arithmetic, and the KPI page links to it.
    let (status, page) = get(&state, "/kpi/ventas/tree?period=2026-02").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("data-testid=\"tree-contribution\"").count(), 3);
    assert!(page.contains("+600.0") && page.contains("-600.0"), "{page}");
    assert!(page.contains("L = (3,600.0 − 3,000.0)"), "{page}");
    assert!(page.contains("= 3,290.8890"), "{page}");
    let (_, kpi) = get(&state, "/kpi/ventas").await;
    assert!(kpi.contains("href=\"/kpi/ventas/tree\""));
    // The link keeps the page's moment, so the tree opens at the same latest complete period.
    let (_, kpi) = get(&state, "/kpi/ventas?as_of=2026-03-10").await;
    assert!(
        kpi.contains("href=\"/kpi/ventas/tree?as_of=2026-03-10\""),
        "{kpi}"
    );
    let (_, other) = get(&state, "/kpi/cerradas").await;
    assert!(!other.contains("/tree\""), "a count of rows has no tree");
}

#[tokio::test]
async fn routes_answer_with_fitting_statuses() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let table = [
        ("/api/v1/kpis/ventas/tree?period=2026-02", StatusCode::OK),
        ("/api/v1/kpis/ventas/tree?as_of=2026-03-10", StatusCode::OK),
        (
            "/api/v1/kpis/ventas/tree?period=2026-13",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/kpis/ventas/tree?period=2026-Q1",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/kpis/suma/tree", StatusCode::NOT_FOUND),
        ("/api/v1/kpis/nope/tree", StatusCode::NOT_FOUND),
        ("/kpi/suma/tree", StatusCode::NOT_FOUND),
        ("/kpi/ventas/tree?period=marzo", StatusCode::BAD_REQUEST),
    ];
    for (uri, expected) in table {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
        if expected == StatusCode::BAD_REQUEST {
            assert!(body.contains("period"), "{uri}: {body}");
        }
    }
    // As of 10 March the latest complete month is February.
    let (_, body) = get(&state, "/api/v1/kpis/ventas/tree?as_of=2026-03-10").await;
    assert!(body.contains("\"period\":\"2026-02\""), "{body}");
}
