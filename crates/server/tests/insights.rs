//! Insights (SPEC §12) through the router: a hand-worked workspace of two KPIs read together,
//! the exact set of active insights at three moments, and where their messages show.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tablero_server::{AppState, app};
use tower::ServiceExt;

/// Orders (`pedidos`, a count, target 3) and their margin (`retorno`, a sum, target 100):
/// January 4 orders, 40 + 40 + 40 + 30 = 150 → both on track;
/// February 4 orders, 4 × 15 = 60 → orders on track, margin off track (60 < 100);
/// March 2 orders, 60 + 60 = 120 → orders off track (2 < 3), margin on track; growth of the
/// orders (2 − 4) / 4 = −0.5.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis", "insights", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let files = [
        (
            "tablero.toml",
            "name = \"shop\"\nlocale = \"es\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
        ),
        (
            "sources/pedidos.yaml",
            "name: pedidos\nfile: data/pedidos.csv\ntime: dia\ncolumns:\n  dia: { type: date }\n  margen: { type: number }\nmeasures:\n  cantidad: { agg: count }\n  margen: { agg: sum, expr: margen }\n",
        ),
        (
            "kpis/k.yaml",
            "- id: pedidos\n  name: Pedidos\n  owner: Sales\n  unit: count\n  direction: up\n  grain: month\n  formula: pedidos.cantidad\n  target: 3\n- id: retorno\n  name: Retorno\n  owner: Finances\n  unit: number\n  direction: up\n  grain: month\n  formula: pedidos.margen\n  target: 100\n",
        ),
        (
            "insights/pocos_retornos.yaml",
            "id: muchos_pedidos_poco_retorno\nwhen: \"pedidos.status = 'on_track' and retorno.status = 'off_track'\"\nmessage:\n  es: Muchos pedidos nuevos pero bajo retorno.\n  en: Many new orders but low return.\n",
        ),
        (
            "insights/caida.yaml",
            "id: caida_pedidos\nwhen: \"pedidos.growth < -0.3\"\nmessage:\n  es: Los pedidos cayeron más de 30 %.\n",
        ),
        (
            "insights/bien.yaml",
            "id: ambos_bien\nwhen: \"pedidos.status = 'on_track' and retorno.status = 'on_track'\"\nmessage: Todo en meta.\n",
        ),
        (
            "data/pedidos.csv",
            "dia,margen\n2026-01-05,40\n2026-01-10,40\n2026-01-15,40\n2026-01-20,30\n2026-02-05,15\n2026-02-06,15\n2026-02-07,15\n2026-02-08,15\n2026-03-05,60\n2026-03-15,60\n2026-04-05,10\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    let response = app(state.clone())
        .oneshot(
            Request::builder()
                .uri(uri)
                .header("host", "localhost")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_active_insights_are_exactly_those_whose_condition_holds() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    // (as of, active insights)
    let table = [
        ("2026-02-10", vec!["ambos_bien"]),
        ("2026-03-10", vec!["muchos_pedidos_poco_retorno"]),
        ("2026-04-10", vec!["caida_pedidos"]),
    ];
    for (as_of, expected) in table {
        let (status, body) = get(&state, &format!("/api/v1/insights?as_of={as_of}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut ids: Vec<&str> = json["insights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, expected, "as of {as_of}");
    }
    // The message in the asked language, falling back to the other one.
    let (_, body) = get(&state, "/api/v1/insights?as_of=2026-03-10&lang=en").await;
    assert!(body.contains("Many new orders but low return."), "{body}");
    let (_, body) = get(&state, "/api/v1/insights?as_of=2026-04-10&lang=en").await;
    assert!(
        body.contains("Los pedidos cayeron"),
        "only Spanish was written: {body}"
    );
    // On the home page, and on the page of each KPI it reads (not on others').
    let (_, home) = get(&state, "/?as_of=2026-03-10").await;
    assert!(
        home.contains("data-testid=\"insights\"")
            && home.contains("Muchos pedidos nuevos pero bajo retorno.")
    );
    let (_, page) = get(&state, "/kpi/retorno?as_of=2026-04-10").await;
    assert!(
        !page.contains("Los pedidos cayeron"),
        "caida_pedidos reads only pedidos"
    );
    let (_, page) = get(&state, "/kpi/pedidos?as_of=2026-04-10").await;
    assert!(page.contains("Los pedidos cayeron"));
}
