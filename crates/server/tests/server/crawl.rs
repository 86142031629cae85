//! The route crawler: every route of the router — its GET routes read from the router itself,
//! the API's query parameters from the OpenAPI document it serves, the pages' from
//! [`PAGE_QUERY`] — asked for with each path and query parameter absent, empty, as long as a
//! URI holds, repeated, malformed and hostile (`../`, NUL, SQL, `<script>`, unicode, signs and
//! overflowing numbers, impossible dates and periods, ranges past the limit), by nobody, a
//! viewer and an admin (accounts exist) and with no accounts, on a workspace without
//! dashboards, on one whose only dashboard shows no KPI, and on the example. No answer may be
//! a 5xx other than a limit's (503 with no turn or memory left, 504 past the deadline); every
//! error is the JSON shape or a page; nothing panics, on the request's task or on any thread
//! of the server (a panic hook watches them); and the server answers as before afterwards.
//!
//! Each parameter meets a sample of the hostile values — absent, empty, huge and repeated
//! always, the others rotating between routes and callers — so every value reaches every
//! kind of route without every combination, and the crawl stays within minutes in a debug
//! build. A route whose path parameter the crawler has no valid value for fails the test:
//! new routes are crawled as they are added, and a new kind of parameter asks for one.

use crate::support::example;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tablero_access::Role;
use tablero_server::auth::Auth;
use tablero_server::{AppState, app};
use tablero_state::{Location, StateDb};
use tower::ServiceExt;

/// The query parameters the pages read, all of them (each page's query is a struct of the
/// server's own; a page ignores those it does not read). The API's come from its document.
const PAGE_QUERY: &[&str] = &[
    "from", "to", "grain", "where", "as_of", "lang", "period", "rotate", "next", "saved", "by",
];

/// The longest value: a URI holds at most 65,534 bytes (the `http` crate's limit; hyper
/// answers a longer one 414 before the router, which `errors.rs` tests over a socket).
const HUGE: usize = 60_000;

/// How many of the rotating hostile values each parameter meets, per caller.
const SAMPLE: usize = 6;

/// Requests in flight at once.
const IN_FLIGHT: usize = 4;

#[test]
fn crawl_a_workspace_without_dashboards() {
    crawl_workspace("bare", true, |root| {
        tablero_example::write_empty(root, false).unwrap();
    });
}

/// It found `/tv/{id}?rotate=1` panicking on a dashboard that shows no KPI (see
/// [`a_rotating_wall_screen_of_a_dashboard_without_kpis_answers`]).
#[test]
fn crawl_a_workspace_whose_only_dashboard_shows_no_kpi() {
    crawl_workspace("empty-dashboard", false, |root| {
        tablero_example::write_empty(root, false).unwrap();
        std::fs::create_dir_all(root.join("dashboards")).unwrap();
        std::fs::write(
            root.join("dashboards/nada.yaml"),
            "id: nada\ntitle: Nothing yet\nkpis: []\n",
        )
        .unwrap();
    });
}

#[test]
fn crawl_the_example() {
    crawl_root("example", example(), false);
}

/// Regression: `/tv/{id}?rotate=1` indexed the list of the dashboards in the rotation — those
/// showing a KPI the caller sees — which is empty when the caller sees none, and does not hold
/// a dashboard that shows no KPI.
#[tokio::test]
async fn a_rotating_wall_screen_of_a_dashboard_without_kpis_answers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tablero_example::write_empty(root, true).unwrap();
    std::fs::create_dir_all(root.join("dashboards")).unwrap();
    std::fs::write(root.join("dashboards/nada.yaml"), "id: nada\nkpis: []\n").unwrap();
    let state = AppState::open(root);
    let router = app(state);
    let everyone = Caller {
        name: "no accounts",
        token: None,
    };
    // Nothing to rotate to: the page reloads itself.
    let tv = send(&router, &everyone, "/tv/nada?rotate=1&lang=en").await;
    assert_eq!(tv.status, StatusCode::OK, "{}", tv.body);
    assert!(
        tv.body.contains("http-equiv=\"refresh\" content=\"60\">"),
        "{}",
        tv.body
    );
    // With a dashboard in the rotation, it goes there, and that one comes back to itself.
    std::fs::write(
        root.join("dashboards/ventas.yaml"),
        "id: ventas\nkpis: [revenue]\n",
    )
    .unwrap();
    let router = app(AppState::open(root));
    let tv = send(&router, &everyone, "/tv/nada?rotate=1&lang=en").await;
    assert!(
        tv.body.contains("url=/tv/ventas?rotate=1&#38;lang=en"),
        "{}",
        tv.body
    );
    let tv = send(&router, &everyone, "/tv/ventas?rotate=1").await;
    assert!(tv.body.contains("url=/tv/ventas?rotate=1\""), "{}", tv.body);
    let rotation = send(&router, &everyone, "/tv").await;
    assert_eq!(rotation.status, StatusCode::SEE_OTHER);
}

fn crawl_workspace(name: &'static str, long_range: bool, write: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    write(&root);
    crawl_root(name, &root, long_range);
}

/// Crawls the workspace at `root` as every caller, on a runtime whose threads the panic hook
/// recognises by their name.
fn crawl_root(name: &'static str, root: &Path, long_range: bool) {
    install_panic_hook();
    let threads = format!("{CRAWL_THREADS}{name}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(&threads)
        .enable_all()
        .build()
        .unwrap();
    let mut problems = runtime.block_on(crawl(name, root, long_range));
    problems.extend(panics_seen(&threads));
    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(60).collect();
        panic!(
            "{name}: {} problems (first {}):\n{}",
            problems.len(),
            shown.len(),
            shown
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Panics on any thread of the server.

/// The start of the names of a crawl's threads (its name follows).
const CRAWL_THREADS: &str = "crawl-";

/// Panics on the crawls' threads and the computation threads, with the thread's name, as they
/// happen (a panic on a background task never reaches a request's answer).
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if name.starts_with(CRAWL_THREADS) || name == COMPUTE_THREADS {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                if let Ok(mut panics) = PANICS.lock() {
                    panics.push((
                        name.to_string(),
                        format!("panic on {name} at {location}: {message:.300}"),
                    ));
                }
            }
            previous(info);
        }));
    });
}

/// The panics on this crawl's threads, and on computation threads (of every server in this
/// binary: a panic there is a defect whichever test set it off).
fn panics_seen(threads: &str) -> Vec<String> {
    PANICS
        .lock()
        .map(|p| {
            p.iter()
                .filter(|(name, _)| name == threads || name == COMPUTE_THREADS)
                .map(|(_, panic)| panic.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The name of the server's computation threads.
const COMPUTE_THREADS: &str = "tablero-compute";

// ---------------------------------------------------------------------------------------------
// The values.

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Values every parameter is tried with besides the ones always tried, as they travel in a
/// URI: percent-encoded text, and a few raw escapes that are malformed on purpose.
fn rotating_values() -> Vec<String> {
    let texts = [
        " ",
        "../../../../etc/passwd",
        "..",
        "/",
        "\0",
        "a\0b",
        "'; drop table kpis; --",
        "\" or 1=1 --",
        "<script>alert(1)</script>",
        "{{7*7}}",
        "ñandú Ünïcödé 日本語 🙂",
        "\u{202e}gnp.exe",
        "\u{feff}2026-01",
        "-1",
        "0",
        "-9223372036854775809",
        "18446744073709551616",
        "1e309",
        "NaN",
        "9999-99",
        "0000-00-00",
        "2026-02-30",
        "-0001-01",
        "99999-01",
        "2026-W54",
        "2026-Q0",
        "FY2026-Q5",
        "2026-13",
        "9999-12-31T23:59:59.999999999+14:00",
        "2026-01-01T00:00:00-25:00",
        "-9999-01-01",
        "9999",
        "9999-12",
        "9999-12-31",
        "9999-W52",
        "FY9999-Q4",
        "0001-01-01",
        "day",
        "year",
        "es",
        "1",
        "true",
        "a = 'b' or not (",
        "region = 'North'",
        "ventas_netas_totales",
        "http://evil.example/",
        "//evil.example",
        "\r\nSet-Cookie: x=1",
    ];
    let mut values: Vec<String> = texts.iter().map(|t| encode(t)).collect();
    values.extend(
        [
            "%",
            "%zz",
            "%FF%FE",
            "%C0%AF",
            "+",
            "a+b",
            "%2e%2e%2f",
            "&",
            "=",
        ]
        .map(String::from),
    );
    values
}

/// The values every parameter meets: empty, as long as a URI holds, and the rotating ones
/// picked for this parameter, route and caller.
fn values_for(seed: u64, rotating: &[String]) -> Vec<String> {
    let mut values = vec![String::new(), "x".repeat(HUGE)];
    let step = (rotating.len() / SAMPLE).max(1);
    for i in 0..SAMPLE {
        let at = (seed as usize + i * step) % rotating.len();
        values.push(rotating[at].clone());
    }
    values
}

/// Ranges of periods past the limit, backwards, or across grains: each refused before any
/// work, or small.
const RANGES: &[&str] = &[
    "from=0001-01&to=9999-12",
    "from=1900-01-01&to=2100-12-31&grain=day",
    "from=-9999&to=9999&grain=year",
    "from=1000-W01&to=9000-W01&grain=week",
    "from=2026-12&to=2026-01",
    "from=2026-W01&to=2026-03",
    "from=FY1-Q1&to=FY9999-Q4",
    "from=2026-01&to=2026-01&grain=day&as_of=1970-01-01",
];

/// A range just within the limit (1,493 days), which a debug build computes for many seconds
/// (past the deadline on the example): asked for of the values API by the admin of a small
/// workspace, after the rest, so that its computation does not hold the turns of the others.
const LONG_RANGE: &str = "from=2022-01-01&to=2026-02-01&grain=day";

fn seed_of(parts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

// ---------------------------------------------------------------------------------------------
// The routes.

/// A route of the router: its path template and whether it answers GET.
#[derive(Debug, Clone)]
struct Route {
    path: String,
    get: bool,
}

/// The router's routes, read from its `Debug` form: axum lists every path it matches (nested
/// ones with their prefix) by route id, and each route's method router with `get: None` when
/// it has no GET handler.
fn routes_of(router: &Router) -> Vec<Route> {
    let text = format!("{router:?}");
    let text = &text[..text.find("fallback_router").unwrap_or(text.len())];
    let mut paths = BTreeMap::new();
    let mut gets = BTreeMap::new();
    for piece in text.split("RouteId(").skip(1) {
        let Some((id, rest)) = piece.split_once(')') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(": ") else {
            continue;
        };
        if let Some(quoted) = rest.strip_prefix('"') {
            if let Some(end) = quoted.find('"') {
                paths.insert(id.to_string(), quoted[..end].to_string());
            }
        } else if let Some(methods) = rest.strip_prefix("MethodRouter(MethodRouter { get: ") {
            gets.insert(id.to_string(), !methods.starts_with("None"));
        }
    }
    let routes: Vec<Route> = paths
        .into_iter()
        .filter(|(_, path)| !path.contains("__private__"))
        .map(|(id, path)| Route {
            get: gets.get(&id).copied().unwrap_or(true),
            path,
        })
        .collect();
    // The reading of the Debug form is checked against routes known to exist.
    for (known, get) in [("/", true), ("/api/v1/kpis", true), ("/logout", false)] {
        assert!(
            routes.iter().any(|r| r.path == known && r.get == get),
            "the router's routes could not be read from its Debug form: {routes:?}"
        );
    }
    routes
}

/// The path parameters of a template, in order: `/kpi/{id}/download/{kind}` → `id`, `kind`.
fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_string())
        .collect()
}

fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    template
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => values[name.trim_start_matches('*')].clone(),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The query parameters of each API GET operation, from the OpenAPI document.
fn api_queries(doc: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let mut queries = BTreeMap::new();
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        let Some(get) = item.get("get") else { continue };
        let params = get["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        queries.insert(path.clone(), params);
    }
    queries
}

// ---------------------------------------------------------------------------------------------
// The worlds and their callers.

struct Caller {
    name: &'static str,
    token: Option<String>,
}

/// Valid values of path parameters, for one caller: what it may see.
#[derive(Default, Clone)]
struct Valid {
    kpi: String,
    dimension: String,
    dashboard: String,
    group: String,
    manual_source: String,
    secret: String,
    share: String,
}

impl Valid {
    /// A valid value for parameter `param` of route `template`; `None` when the crawler does
    /// not know the kind of parameter.
    fn of(&self, template: &str, param: &str) -> Option<String> {
        let value = match param {
            "id" if template.starts_with("/kpi/") || template.starts_with("/api/v1/kpis/") => {
                &self.kpi
            }
            "id" if template.starts_with("/dashboards/") || template.starts_with("/tv/") => {
                &self.dashboard
            }
            "id" if template.starts_with("/api/v1/shares/") => &self.share,
            "id" if template.starts_with("/api/v1/reviews/") => "1",
            "n" => "1",
            "dim" => &self.dimension,
            "kind" => "csv",
            "group" => &self.group,
            "secret" => &self.secret,
            "name" if template.starts_with("/assets/") => "app.css",
            "name"
                if template.starts_with("/sources/")
                    || template.starts_with("/api/v1/sources/") =>
            {
                &self.manual_source
            }
            _ => return None,
        };
        Some(value.to_string())
    }
}

const PASSWORD: &str = "correct horse battery";

async fn database(dir: &Path) -> StateDb {
    std::fs::create_dir_all(dir).unwrap();
    StateDb::open(&Location::sqlite_file(&dir.join("state.db")).unwrap())
        .await
        .unwrap()
}

async fn crawl(name: &'static str, root: &Path, long_range: bool) -> Vec<String> {
    let (workspace, _) = tablero_model::load_workspace(root);
    let dir = tempfile::tempdir().unwrap();

    // With accounts: an admin, and a viewer of one owner's KPIs.
    let db = database(&dir.path().join("accounts")).await;
    for (email, role, owners) in [
        ("admin@acme.cl", Role::Admin, vec![]),
        (
            "viewer@acme.cl",
            Role::Viewer,
            vec!["People Growth".to_string()],
        ),
    ] {
        tablero_access::add_account(&db, email, role, &owners, PASSWORD.into())
            .await
            .unwrap();
    }
    let admin = tablero_access::create_token(&db, "admin@acme.cl", "crawl")
        .await
        .unwrap()
        .secret;
    let viewer = tablero_access::create_token(&db, "viewer@acme.cl", "crawl")
        .await
        .unwrap()
        .secret;
    let (share, secret) = match workspace.dashboards.first() {
        Some(d) => {
            let (share, secret) =
                tablero_access::create_share(&db, "admin@acme.cl", &d.id, "tv", 30)
                    .await
                    .unwrap();
            (share.id, secret)
        }
        None => ("shr_none".to_string(), "shr_none".to_string()),
    };
    let mut with_accounts = AppState::open(root);
    with_accounts.auth = Some(Arc::new(Auth::new(db)));
    // Without: the state database exists and holds none. The same server otherwise, so the
    // answers computed for the others are found in its cache.
    let empty_db = database(&dir.path().join("empty")).await;
    let mut without_accounts = with_accounts.clone();
    without_accounts.auth = Some(Arc::new(Auth::new(empty_db)));

    let mut problems = Vec::new();
    let worlds = [
        (
            with_accounts,
            vec![
                Caller {
                    name: "nobody",
                    token: None,
                },
                Caller {
                    name: "viewer",
                    token: Some(viewer),
                },
                Caller {
                    name: "admin",
                    token: Some(admin),
                },
            ],
        ),
        (
            without_accounts,
            vec![Caller {
                name: "no accounts",
                token: None,
            }],
        ),
    ];
    let rotating = Arc::new(rotating_values());
    for (state, callers) in worlds {
        let router = app(state.clone());
        let routes = routes_of(&router);
        let doc = send(
            &router,
            &Caller {
                name: "",
                token: None,
            },
            "/api/v1/openapi.json",
        )
        .await
        .json()
        .expect("the OpenAPI document is JSON");
        let queries = api_queries(&doc);
        // Every API route is in the document, with its GET when it has one.
        for route in routes.iter().filter(|r| r.path.starts_with("/api/v1/")) {
            let documented = doc["paths"].get(&route.path).is_some();
            if !documented && route.path != "/api/v1/openapi.json" {
                problems.push(format!("{} is not in the OpenAPI document", route.path));
            }
            if route.get != queries.contains_key(&route.path) && documented {
                problems.push(format!(
                    "{}: the router's GET and the document's disagree",
                    route.path
                ));
            }
        }
        for caller in &callers {
            let started = std::time::Instant::now();
            let valid = valid_for(&router, &workspace, caller, &secret, &share).await;
            let before = send(&router, caller, "/").await.status;
            let mut requests = Vec::new();
            for route in &routes {
                let params = path_params(&route.path);
                let mut base = BTreeMap::new();
                for param in &params {
                    match valid.of(&route.path, param) {
                        Some(v) => {
                            base.insert(param.clone(), v);
                        }
                        None => problems.push(format!(
                            "{}: the crawler has no valid value for {{{param}}}; add one to Valid::of",
                            route.path
                        )),
                    }
                }
                if base.len() < params.len() {
                    continue;
                }
                let uri = fill(&route.path, &base);
                requests.push(uri.clone());
                if !route.get {
                    continue; // answered 405 in the JSON shape: checked like any error
                }
                // Nobody is turned away before any parameter is read: a lighter sample.
                let sample = if caller.token.is_none() && caller.name == "nobody" {
                    1
                } else {
                    SAMPLE
                };
                for param in &params {
                    let seed = seed_of(&[name, caller.name, &route.path, param]);
                    for value in values_for(seed, &rotating).into_iter().take(2 + sample) {
                        let mut values = base.clone();
                        values.insert(param.clone(), value);
                        requests.push(fill(&route.path, &values));
                    }
                }
                let query: Vec<String> = if route.path.starts_with("/api/v1/") {
                    queries.get(&route.path).cloned().unwrap_or_default()
                } else {
                    PAGE_QUERY.iter().map(|s| s.to_string()).collect()
                };
                for param in &query {
                    let seed = seed_of(&[name, caller.name, &route.path, param, "q"]);
                    for value in values_for(seed, &rotating).into_iter().take(2 + sample) {
                        requests.push(format!("{uri}?{param}={value}"));
                    }
                    requests.push(format!("{uri}?{param}=1&{param}=2"));
                }
                if query.iter().any(|q| q == "from") && query.iter().any(|q| q == "to") {
                    for range in RANGES
                        .iter()
                        .take(if sample == 1 { 1 } else { RANGES.len() })
                    {
                        requests.push(format!("{uri}?{range}"));
                    }
                }
            }
            let count = requests.len();
            problems.extend(send_all(&router, caller, requests).await);
            if long_range && caller.name == "admin" {
                let long = format!("/api/v1/kpis/{}/values?{LONG_RANGE}", valid.kpi);
                problems.extend(send_all(&router, caller, vec![long]).await);
            }
            // And it answers as before.
            let health = send(&router, caller, "/api/v1/health").await;
            if health.status != StatusCode::OK {
                problems.push(format!(
                    "{name}/{}: /api/v1/health afterwards: {}",
                    caller.name, health.status
                ));
            }
            let after = send(&router, caller, "/").await.status;
            if after != before {
                problems.push(format!(
                    "{name}/{}: / answered {before} before the crawl, {after} after",
                    caller.name
                ));
            }
            eprintln!(
                "crawl {name}/{}: {count} requests in {:.1} s",
                caller.name,
                started.elapsed().as_secs_f64()
            );
        }
    }
    problems
}

/// Valid path values for `caller`: the first KPI it sees (one with a dimension when there is
/// one), a dashboard showing one of its KPIs, and so on.
async fn valid_for(
    router: &Router,
    workspace: &tablero_model::Workspace,
    caller: &Caller,
    secret: &str,
    share: &str,
) -> Valid {
    let list = send(router, caller, "/api/v1/kpis").await.json();
    let kpis: Vec<(String, Vec<String>)> = list
        .as_ref()
        .and_then(|l| l["kpis"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|k| {
            let id = k["id"].as_str().unwrap_or_default().to_string();
            let dims = k["dimensions"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|d| d.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (id, dims)
        })
        .collect();
    let seen: BTreeSet<&str> = kpis.iter().map(|(id, _)| id.as_str()).collect();
    let (kpi, dimension) = kpis
        .iter()
        .find(|(_, dims)| !dims.is_empty())
        .or(kpis.first())
        .map(|(id, dims)| (id.clone(), dims.first().cloned().unwrap_or_default()))
        .unwrap_or_else(|| {
            // Nobody sees no list: the workspace's first KPI then.
            let id = workspace
                .kpis
                .first()
                .map(|k| k.id.value.clone())
                .unwrap_or_else(|| "none".into());
            (id, "none".into())
        });
    let dashboard = workspace
        .dashboards
        .iter()
        .find(|d| d.kpis.iter().any(|k| seen.contains(k.value.as_str())))
        .or(workspace.dashboards.first())
        .map(|d| d.id.clone())
        .unwrap_or_else(|| "none".into());
    let group = workspace
        .kpis
        .iter()
        .filter(|k| seen.is_empty() || seen.contains(k.id.value.as_str()))
        .find_map(|k| k.group.clone())
        .unwrap_or_else(|| "none".into());
    let manual_source = workspace
        .sources
        .iter()
        .find(|s| s.manual)
        .or(workspace.sources.first())
        .map(|s| s.name.value.clone())
        .unwrap_or_else(|| "none".into());
    Valid {
        kpi,
        dimension: if dimension.is_empty() {
            "none".into()
        } else {
            dimension
        },
        dashboard,
        group,
        manual_source,
        secret: secret.to_string(),
        share: share.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Asking and judging.

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

fn request(caller: &Caller, uri: &str) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .uri(uri)
        .header(header::HOST, "localhost");
    if let Some(token) = &caller.token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = builder.body(Body::empty()).ok()?;
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    Some(request)
}

async fn answer(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn send(router: &Router, caller: &Caller, uri: &str) -> Answer {
    answer(router.clone(), request(caller, uri).unwrap()).await
}

/// Sends every request (a few at once, each on its own task so that a panic is caught and
/// named), and returns what was wrong with the answers.
async fn send_all(router: &Router, caller: &Caller, uris: Vec<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let mut uris = uris.into_iter();
    loop {
        while running.len() < IN_FLIGHT {
            let Some(uri) = uris.next() else { break };
            // A value the `http` crate refuses as a URI never reaches a server either (hyper
            // answers it 400 itself, tested over a socket in `errors.rs`).
            let Some(request) = request(caller, &uri) else {
                continue;
            };
            let router = router.clone();
            running.spawn(async move {
                let outcome = tokio::spawn(answer(router, request)).await;
                (uri, outcome)
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (uri, outcome) = done.expect("the crawler's own task ends");
        let short: String = uri.chars().take(160).collect();
        match outcome {
            Err(err) => problems.push(format!("{} GET {short}: panicked: {err}", caller.name)),
            Ok(answer) => {
                if let Some(problem) = judge(&answer) {
                    problems.push(format!(
                        "{} GET {short} → {}: {problem}",
                        caller.name, answer.status
                    ));
                }
            }
        }
    }
    problems
}

/// What is wrong with an answer, if anything: a 5xx other than a 503 from a limit, or an
/// error that is neither the JSON shape nor a page.
fn judge(answer: &Answer) -> Option<String> {
    let status = answer.status;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let body: String = answer.body.chars().take(300).collect();
    if answer.content_type.starts_with("text/html") {
        // A page shows the error's message, not its code: a limit is told by its status.
        return (status.is_server_error() && !is_limit(status, None))
            .then(|| format!("a page with a server error: {body}"));
    }
    let Some(json) = answer.json() else {
        return Some(format!(
            "not the JSON error shape ({}): {body}",
            answer.content_type
        ));
    };
    let code = json["error"]["code"].as_str();
    if code.is_none() || json["error"]["message"].as_str().is_none() {
        return Some(format!("not the JSON error shape: {body}"));
    }
    (status.is_server_error() && !is_limit(status, code)).then(|| format!("a server error: {body}"))
}

/// Whether a 5xx is a limit doing its work: no turn free or memory exhausted (503), or the
/// computation's deadline (504; a debug build reaches it on long ranges).
fn is_limit(status: StatusCode, code: Option<&str>) -> bool {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => code.is_none_or(|c| matches!(c, "busy" | "over_limit")),
        StatusCode::GATEWAY_TIMEOUT => code.is_none_or(|c| c == "deadline_exceeded"),
        _ => false,
    }
}
