//! What a KPI's own history expects, on the KPI page and in alerts: a monthly series with a
//! yearly season and a trend, one month planted at half its value. The planted month is marked
//! as unusual, the ordinary (seasonal) months are not, and the page projects the next three
//! months, labelled as a projection.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tablero_server::{AppState, app};
use tower::ServiceExt;

/// 40 months from 2023-01, one row each (`tablero_forecast::sample`: 100 + m + 20·sin(2πm/12)
/// + noise ±3); month 36 (2026-01) is planted at half its value (about 68 instead of 136).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for folder in ["sources", "kpis", "data"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let mut csv = String::from("day,amount\n");
    for m in 0..40usize {
        let mut value = tablero_forecast::sample::month(m);
        if m == 36 {
            value /= 2.0;
        }
        csv.push_str(&format!(
            "{}-{:02}-10,{value:.3}\n",
            2023 + m / 12,
            m % 12 + 1
        ));
    }
    let files = [
        ("tablero.toml", "name = \"seasons\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n".to_string()),
        ("sources/sales.yaml", "name: sales\nfile: data/sales.csv\ntime: day\ncolumns:\n  day: { type: date }\n  amount: { type: number }\nmeasures:\n  total: { agg: sum, expr: amount }\n".to_string()),
        ("kpis/sales.yaml", "- id: sales\n  name: Sales\n  owner: Finances\n  unit: number\n  decimals: 1\n  direction: up\n  grain: month\n  formula: sales.total\n  target: 100\n".to_string()),
        ("data/sales.csv", csv),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).unwrap();
    }
    dir
}

async fn page(state: &AppState, uri: &str) -> String {
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
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn the_planted_month_is_unusual_and_the_seasons_are_not() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    // 2025-03 … 2026-03 as of 2026-04-10: twelve complete months, 2026-01 among them.
    let html = page(
        &state,
        "/kpi/sales?from=2025-03&to=2026-03&as_of=2026-04-10",
    )
    .await;
    let rings: Vec<&str> = html.split("data-testid=\"anomaly\"").skip(1).collect();
    assert_eq!(rings.len(), 1, "exactly one unusual month");
    assert!(
        rings[0].contains("2026-01"),
        "the planted month: {}",
        &rings[0][..200.min(rings[0].len())]
    );
    // Months with 31 before them (25 to fit, 6 to learn the band's width) have a band:
    // 2025-08 (month 31) to 2026-03, 8 of the 13 shown.
    assert_eq!(html.matches("data-testid=\"expected-band\"").count(), 8);
    // The projection of the next three months, after the last complete one (2026-03).
    let projection = html
        .split("data-testid=\"projection\"")
        .nth(1)
        .expect("a projection");
    for label in ["2026-04", "2026-05", "2026-06"] {
        assert!(projection.contains(label), "{label}");
    }
    assert!(projection.contains("not a measured value"));
}

#[tokio::test]
async fn the_example_marks_its_planted_month_on_the_kpi_page() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::write_example(&dir.path().join("acme"), "2026-10-15");
    let state = AppState::open(&dir.path().join("acme"));
    let html = page(&state, "/kpi/tiempo_promedio_espera?as_of=2026-10-15").await;
    let rings: Vec<&str> = html.split("data-testid=\"anomaly\"").skip(1).collect();
    assert_eq!(rings.len(), 1, "only the planted month is unusual");
    assert!(
        rings[0].contains("2026-09"),
        "{}",
        &rings[0][..200.min(rings[0].len())]
    );
}
