//! Insights (SPEC §12) through the router: a hand-worked workspace of two KPIs read together,
//! the exact set of active insights at three moments, and where their messages show.

use crate::support::get;

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
    for folder in ["sources", "kpis", "insights", "dashboards", "data"] {
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
            "dashboards/comercial.yaml",
            "id: comercial\ntitle: Comercial\ngrain: month\nkpis: [pedidos, retorno]\n",
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
    // Per period: the same facts read at the period asked for, whatever the date. (period,
    // active insights): January both on track; February 4 orders on track but 60 < 100;
    // March orders fell by half; the first quarter reads the monthly KPIs at its last month,
    // March; April is in progress as of the end of the 10th (10 of 30 days), so its statuses
    // compare with the pace targets: 1 order ≥ 3 × 10 / 30 = 1 on track, margin 10 < 100 ×
    // 10 / 30 = 33.3 off track; and the orders fell again, (1 − 2) / 2 = −0.5.
    let table = [
        ("2026-01", "", vec!["ambos_bien"]),
        ("2026-02", "", vec!["muchos_pedidos_poco_retorno"]),
        ("2026-03", "", vec!["caida_pedidos"]),
        ("2026-Q1", "", vec!["caida_pedidos"]),
        (
            "2026-04",
            "&as_of=2026-04-10",
            vec!["caida_pedidos", "muchos_pedidos_poco_retorno"],
        ),
        ("2025-06", "", vec![]),
    ];
    for (period, as_of, expected) in table {
        let (status, body) = get(&state, &format!("/api/v1/insights?period={period}{as_of}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["period"], period);
        let mut ids: Vec<&str> = json["insights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, expected, "period {period}");
    }
    let (_, body) = get(&state, "/api/v1/insights?period=2026-Q1").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["insights"][0]["periods"],
        serde_json::json!({"pedidos": "2026-03"})
    );
    for bad in ["2026-13", "marzo", "2026-W99"] {
        let (status, body) = get(&state, &format!("/api/v1/insights?period={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.contains("period:"), "{body}");
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

/// The period in progress (issue: a cliff on every chart, and a projection of a whole month
/// from its first hours). April 2026 has one order by the 5th. As of the end of 5 April, 5 of
/// April's 30 days have passed (17 %): too early to project, and the page says so; as of the
/// end of the 10th (33 %) the projection is 1 × 30 / 10 = 3 orders.
#[tokio::test]
async fn the_period_in_progress_is_drawn_and_projected_honestly() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (_, early) = get(&state, "/?as_of=2026-04-05").await;
    assert!(
        early.contains("aún es pronto para proyectar (ha pasado 17 % del periodo)"),
        "{early}"
    );
    let (_, page) = get(&state, "/kpi/pedidos?as_of=2026-04-05").await;
    assert!(page.contains("data-testid=\"partial-point\""));
    assert!(page.contains("data-testid=\"pace-mark\""));
    assert!(
        !page.contains("data-testid=\"projection-band\""),
        "no projection drawn yet"
    );
    let (_, later) = get(&state, "/?as_of=2026-04-10").await;
    assert!(later.contains("proyección 3"), "{later}");
    let (_, page) = get(&state, "/kpi/pedidos?as_of=2026-04-10").await;
    assert!(page.contains("data-testid=\"projection-band\""));
    // The line of complete periods does not run into the point in progress: its last
    // vertex is March's, the point before the hollow one.
    let line = page
        .split("stroke=\"#1f3a93\" stroke-width=\"2.5\"")
        .next()
        .and_then(|before| before.rsplit("<path d=\"").next())
        .unwrap();
    let vertices = line.matches(['M', 'L']).count();
    let circles = page.matches("<circle cx=").count();
    assert_eq!(vertices, circles, "one vertex per complete period: {line}");
}

async fn download(
    state: &AppState,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut builder = Request::builder().uri(uri).header("host", "localhost");
    if let Some(accept) = accept {
        builder = builder.header("accept", accept);
    }
    let response = app(state.clone())
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// The KPI page's periods as CSV for a Spanish spreadsheet and as XLSX, and the values API's
/// CSV for programs. January 4 orders, February 4, March 2 against a target of 3.
#[tokio::test]
async fn periods_download_as_csv_and_xlsx() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let range = "from=2026-01&to=2026-03&as_of=2026-04-10";
    let (status, headers, body) =
        download(&state, &format!("/kpi/pedidos/download/csv?{range}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("pedidos.csv")
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "\u{feff}Periodo;Valor;Meta;Estado\n2026-01;4;3;en meta\n2026-02;4;3;en meta\n2026-03;2;3;fuera de meta\n"
    );
    let (status, _, body) =
        download(&state, &format!("/kpi/pedidos/download/xlsx?{range}"), None).await;
    assert_eq!(status, StatusCode::OK);
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(body)).unwrap();
    let sheet = book.sheet_names()[0].clone();
    let cells = book.worksheet_range(&sheet).unwrap();
    assert_eq!(cells.get((0, 0)), Some(&Data::String("Periodo".into())));
    assert_eq!(
        cells.get((3, 1)),
        Some(&Data::Float(2.0)),
        "March's 2 orders, a number"
    );
    let (_, _, body) = download(
        &state,
        &format!("/api/v1/kpis/pedidos/values?{range}"),
        Some("text/csv"),
    )
    .await;
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "kpi,period,value,target,status\npedidos,2026-01,4,3,on_track\npedidos,2026-02,4,3,on_track\npedidos,2026-03,2,3,off_track\n"
    );
    // The KPI page links to both.
    let (_, page) = get(&state, "/kpi/pedidos").await;
    assert!(
        page.contains("/kpi/pedidos/download/csv") && page.contains("/kpi/pedidos/download/xlsx")
    );
}

/// The scorecard of `dashboards/comercial.yaml` as of 10 April 2026, for `pedidos` (target 3 a
/// month): March's 2 orders are 2 / 3 = 67 % of target, 2 − 4 = −2 from February, and +2 from
/// March 2025 (no orders then); the year to date is 4 + 4 + 2 + 1 = 11 orders against the
/// year's 12 × 3 = 36 prorated to 100 of 365 days (1 January to the end of 10 April):
/// 36 × 100 / 365 = 9.86, shown as 10.
#[tokio::test]
async fn the_scorecard_reads_across_each_kpi() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (status, page) = get(&state, "/dashboards/comercial?as_of=2026-04-10").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let row = page
        .split("data-kpi=\"pedidos\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("a row for pedidos");
    let cell = |testid: &str| {
        row.split(&format!("data-testid=\"{testid}\">"))
            .nth(1)
            .and_then(|c| c.split('<').next())
            .unwrap_or_else(|| panic!("{testid} in {row}"))
            .to_string()
    };
    assert_eq!(cell("score-value"), "2");
    assert_eq!(cell("score-of-target"), "67 %");
    assert_eq!(cell("score-year-ago"), "▲ +2");
    assert_eq!(cell("score-ytd"), "11");
    assert_eq!(cell("score-ytd-target"), "10");
    assert!(row.contains("▼ -2"), "the change from February: {row}");
}

/// The home page's and a scorecard's tables download too: each KPI's latest complete period
/// (March as of 10 April): pedidos 2 of 3 = 66.67 % (off track), retorno 60 + 60 = 120 of 100
/// = 120 % (on track), in the Spanish spreadsheet's notation.
#[tokio::test]
async fn the_home_and_scorecard_tables_download() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let expected = "\u{feff}KPI;Responsable;Periodo;Valor;Meta;% de la meta;Estado\nPedidos;Sales;2026-03;2;3;66,66666666666667;fuera de meta\nRetorno;Finances;2026-03;120;100;120;en meta\n";
    for uri in [
        "/download/csv?as_of=2026-04-10",
        "/dashboards/comercial/download/csv?as_of=2026-04-10",
    ] {
        let (status, _, body) = download(&state, uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(String::from_utf8(body).unwrap(), expected, "{uri}");
    }
    let (status, _, body) = download(
        &state,
        "/dashboards/comercial/download/xlsx?as_of=2026-04-10",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(body)).unwrap();
    let sheet = book.sheet_names()[0].clone();
    let cells = book.worksheet_range(&sheet).unwrap();
    assert_eq!(cells.get((2, 3)), Some(&Data::Float(120.0)));
    let (status, _, _) = download(&state, "/dashboards/nope/download/csv", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// `/tv/{dashboard}` (SPEC §7): the dashboard's cards in large type, reloading itself, with no
/// pickers, links or forms.
#[tokio::test]
async fn a_dashboard_on_the_wall() {
    let dir = workspace();
    let state = AppState::open(dir.path());
    let (status, page) = get(&state, "/tv/comercial?as_of=2026-04-10").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
    assert_eq!(page.matches("data-testid=\"kpi-card\"").count(), 2);
    for control in ["<form", "<a ", "<script", "<select", "<button"] {
        assert!(!page.contains(control), "a wall screen has no {control}");
    }
    let (status, _) = get(&state, "/tv/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A dashboard with `sections:` shows each section's title over its KPIs, in the dashboard's
/// order (not the catalog's): here the margin first, then the orders.
#[tokio::test]
async fn a_scorecard_shows_its_sections_in_order() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("dashboards/secciones.yaml"),
        "id: secciones\ntitle: Por secciones\ngrain: month\nsections:\n  - title: Rentabilidad\n    kpis: [retorno]\n  - title: Volumen\n    kpis: [pedidos]\n",
    )
    .unwrap();
    let state = AppState::open(dir.path());
    let (status, page) = get(&state, "/dashboards/secciones?as_of=2026-04-10").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let order: Vec<usize> = [
        "Rentabilidad",
        "data-kpi=\"retorno\"",
        "Volumen",
        "data-kpi=\"pedidos\"",
    ]
    .iter()
    .map(|needle| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {page}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(page.matches("data-testid=\"score-section\"").count(), 2);
}

/// `/tv` rotates: each wall-screen page's reload goes on to the next dashboard the caller may
/// see, in catalog order, and wraps; without `rotate` it reloads itself.
#[tokio::test]
async fn a_wall_screen_rotates_through_the_dashboards() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("dashboards/zeta.yaml"),
        "id: zeta\ntitle: Zeta\nkpis: [retorno]\n",
    )
    .unwrap();
    let state = AppState::open(dir.path());
    let response = app(state.clone())
        .oneshot(
            Request::builder()
                .uri("/tv?lang=en")
                .header("host", "localhost")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/tv/comercial?rotate=1&lang=en"
    );
    let (_, first) = get(&state, "/tv/comercial?rotate=1&lang=en").await;
    assert!(
        first.contains("content=\"60; url=/tv/zeta?rotate=1&#38;lang=en\""),
        "{first}"
    );
    let (_, second) = get(&state, "/tv/zeta?rotate=1").await;
    assert!(
        second.contains("content=\"60; url=/tv/comercial?rotate=1\""),
        "{second}"
    );
    let (_, still) = get(&state, "/tv/zeta").await;
    assert!(still.contains("content=\"60\""), "{still}");
}
