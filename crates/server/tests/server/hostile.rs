//! Hostile expressions through the real router, each request on a tokio worker thread: a
//! `where` as long as a URI can hold — `1*1*…`, `+`, `and`, `or`, nested brackets, tens of
//! thousands of terms — is a 400 in the JSON error shape or the page's error, never a stack
//! overflow (which would abort this whole test binary), and the server answers the next
//! request. The deepest expressions the parser accepts compute, and so does a chain of KPIs
//! as deep as the engine inlines. (A URI holds at most 65,534 bytes — the `http` crate's
//! limit, answered 414 by hyper before any handler — so 100,000 terms are tested through the
//! parser, the checker and the command line.)

use crate::support::example;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tablero_server::{AppState, app};
use tower::ServiceExt;

async fn get(state: &AppState, uri: String) -> (StatusCode, String) {
    let router = app(state.clone());
    tokio::spawn(async move {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
    .await
    .expect("the request's task ends without a panic")
}

/// Percent-encodes a query value (`+` would otherwise be a space).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'(' | b')' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` terms joined by `op`.
fn chain(term: &str, op: &str, n: usize) -> String {
    vec![term; n].join(op)
}

const VALUES: &str =
    "/api/v1/kpis/ventas_netas_totales/values?from=2026-07&to=2026-09&as_of=2026-10-15";

fn error_of(body: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:.300}"));
    value["error"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_where_as_long_as_a_uri_holds_is_a_400_and_the_server_keeps_serving() {
    let state = AppState::open(example());
    let (status, healthy) = get(&state, VALUES.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{healthy:.300}");
    // A URI holds at most 65,534 bytes, so through HTTP the longest expressions are tens of
    // thousands of terms: each of these fills most of a URI and is over the token limit.
    let filters = [
        format!("{} = 1", chain("1", "*", 30_000)),
        format!("{} = 1", chain("1", "+", 15_000)), // `+` travels as %2B
        chain("1=1", " and ", 4_400),
        chain("1=1", " or ", 4_700),
        format!("{}1 = 1{}", "(".repeat(30_000), ")".repeat(30_000)),
    ];
    for filter in &filters {
        let head: String = filter.chars().take(12).collect();
        let uri = format!("{VALUES}&where={}", encode(filter));
        assert!(
            (55_000..65_000).contains(&uri.len()),
            "{head}: {}",
            uri.len()
        );
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{head}: {body:.300}");
        let error = error_of(&body);
        assert_eq!(error["code"], "bad_parameter", "{head}: {body:.300}");
        let message = error["message"].as_str().unwrap();
        let limit = format!("more than {} tokens", tablero_formula::parser::MAX_TOKENS);
        assert!(
            message.contains("where") && message.contains(&limit),
            "{head}: {message:.300}"
        );
        // And the next request is answered, with the same values as before.
        let (status, body) = get(&state, VALUES.to_string()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, healthy, "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_under_the_length_limit_is_a_400_naming_the_depth_limit() {
    let state = AppState::open(example());
    let limit = tablero_formula::parser::MAX_DEPTH;
    for filter in [
        format!("{} = 1", chain("1", "*", 5_000)),
        chain("1 = 1", " and ", 3_000),
        chain("1 = 1", " or ", 3_000),
        format!("{}1 = 1{}", "(".repeat(3_000), ")".repeat(3_000)),
    ] {
        let head: String = filter.chars().take(12).collect();
        let (status, body) = get(&state, format!("{VALUES}&where={}", encode(&filter))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{head}: {body:.300}");
        let message = error_of(&body)["message"].as_str().unwrap().to_string();
        assert!(
            message.contains("nested too deeply") && message.contains(&format!("{limit} levels")),
            "{head}: {message:.300}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_accepted_filters_compute_on_a_worker_stack() {
    let state = AppState::open(example());
    let (status, unfiltered) = get(&state, VALUES.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let unfiltered = serde_json::from_str::<serde_json::Value>(&unfiltered).unwrap();
    let limit = tablero_formula::parser::MAX_DEPTH;
    // Each is exactly `limit` levels high and always true, so the values must not change.
    let filters = [
        // 1*1*…*1 (limit - 1 levels) = 1
        format!("{} = 1", chain("1", "*", limit - 1)),
        // (1 = 1) and … : limit - 1 terms, each 2 high
        chain("1 = 1", " and ", limit - 1),
        chain("1 = 1", " or ", limit - 1),
        // not not … (1 = 1)
        format!("{}1 = 1", "not ".repeat(limit - 2)),
        // 1 + (1 + (1 + …)) = limit, nested to the right through brackets
        format!(
            "{}1{} = {}",
            "1 + (".repeat(limit - 2),
            ")".repeat(limit - 2),
            limit - 1
        ),
        // - - - … 1 = ±1
        format!("{}1 <> 0", "-".repeat(limit - 2)),
    ];
    for filter in &filters {
        let parsed = tablero_formula::parse(filter);
        assert!(parsed.errors.is_empty(), "{filter}: {:?}", parsed.errors);
        assert_eq!(parsed.expr.unwrap().height(), limit, "{filter}");
        let (status, body) = get(&state, format!("{VALUES}&where={}", encode(filter))).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body:.300}");
        let values = serde_json::from_str::<serde_json::Value>(&body).unwrap();
        assert_eq!(values["values"], unfiltered["values"], "{filter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_page_where_as_long_as_a_uri_holds_is_a_400_page() {
    let state = AppState::open(example());
    let filter = format!("{} = 1", chain("1", "*", 30_000));
    let (status, body) = get(
        &state,
        format!("/?as_of=2026-10-15&where={}", encode(&filter)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:.300}");
    assert!(body.contains("more than 16384 tokens"), "{body:.300}");
    let (status, _) = get(&state, "/?as_of=2026-10-15".to_string()).await;
    assert_eq!(status, StatusCode::OK);
}

/// KPIs that build on KPIs compose their formulas beyond one formula's depth limit: the
/// engine inlines each into the next. A chain as deep as the engine allows computes on a
/// worker's stack, and one deeper is an error, not an overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_of_kpis_computes_on_a_worker_stack() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::create_dir_all(root.join("kpis")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("tablero.toml"), "name = \"chain\"\n").unwrap();
    std::fs::write(
        root.join("sources/s.yaml"),
        "name: s\nfile: data/s.csv\ntime: t\ncolumns:\n  t: { type: date }\n  v: { type: number }\nmeasures:\n  total: { agg: sum, expr: v }\n",
    )
    .unwrap();
    std::fs::write(root.join("data/s.csv"), "t,v\n2026-01-05,10\n").unwrap();
    // k0 = s.total; k{i} = k{i-1} + 1. The engine counts two levels per link (the `+` and
    // the KPI it inlines) and stops past 256.
    let mut kpis = String::from("- id: k0\n  grain: month\n  formula: s.total\n");
    for i in 1..=200 {
        kpis.push_str(&format!(
            "- id: k{i}\n  grain: month\n  formula: k{} + 1\n",
            i - 1
        ));
    }
    std::fs::write(root.join("kpis/k.yaml"), kpis).unwrap();
    let state = AppState::open(root);
    let values =
        |id: &str| format!("/api/v1/kpis/{id}/values?from=2026-01&to=2026-01&as_of=2026-02-15");
    let (status, body) = get(&state, values("k120")).await;
    assert_eq!(status, StatusCode::OK, "{body:.300}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["values"][0]["value"], 130.0, "{body:.300}");
    let (status, body) = get(&state, values("k200")).await;
    assert_ne!(status, StatusCode::OK, "{body:.300}");
    assert!(body.contains("nested too deeply"), "{body:.300}");
}

/// Regression: division repeated its divisor (`CASE b WHEN 0 THEN NULL ELSE a / b END`), so
/// each nested division doubled the plan — a `where` of forty `1/(1/(…))`, under 200 bytes,
/// asked for 2⁴⁰ nodes, held the computation threads past every deadline and took the
/// machine's memory. The plan now grows with the text: twice the nesting, about twice the SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_division_grows_the_plan_linearly() {
    let (workspace, _) = tablero_model::load_workspace(example());
    let (catalog, _) = tablero_formula::check_workspace(&workspace);
    let engine = tablero_engine::Engine::new(workspace, catalog).unwrap();
    let nested = |n: usize| format!("{}1{} > 0", "1 / (".repeat(n), ")".repeat(n));
    let mut sizes = Vec::new();
    for n in [10, 20] {
        let request = tablero_engine::Request {
            from: Some("2026-09".into()),
            to: Some("2026-09".into()),
            filter: Some(nested(n)),
            as_of: Some("2026-10-15T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        let explained = engine
            .explain("ventas_netas_totales", &request)
            .await
            .unwrap();
        sizes.push(explained.logical_plan.len());
    }
    assert!(
        sizes[1] < 3 * sizes[0],
        "plan sizes for 10 and 20 levels: {sizes:?}"
    );
    // And forty levels compute, to the same values as no filter at all (the filter is true).
    let state = AppState::open(example());
    let values =
        "/api/v1/kpis/ventas_netas_totales/values?from=2026-09&to=2026-09&as_of=2026-10-15";
    let (status, plain) = get(&state, values.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{plain:.300}");
    let (status, filtered) = get(&state, format!("{values}&where={}", encode(&nested(40)))).await;
    assert_eq!(status, StatusCode::OK, "{filtered:.300}");
    let values_of =
        |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["values"].clone();
    assert_eq!(values_of(&filtered), values_of(&plain));
}
