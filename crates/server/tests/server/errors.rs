//! Errors the stack answers itself, in the API's JSON shape `{"error": {"code", "message"}}`:
//! hyper's answers to requests it cannot read (400, 414, 431), over a real socket; and axum's
//! — a method the route does not take (405), a body over the limit (413), a query string,
//! path or form that does not deserialize (400, 415, 422) — over the socket and through the
//! router alone. Pages' own errors stay pages.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tablero_server::{AppState, Timeouts, app};
use tower::ServiceExt;

/// The small valid workspace `tablero init` writes, with a store source to push rows to.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tablero_example::write_empty(dir.path(), true).unwrap();
    std::fs::write(
        dir.path().join("sources/notas.yaml"),
        "name: notas\nstore: true\ntime: dia\ncolumns:\n  dia: { type: date }\n  nota: { type: integer }\nmeasures:\n  total: { agg: sum, expr: nota }\n",
    )
    .unwrap();
    dir
}

fn state(root: &std::path::Path) -> AppState {
    let mut state = AppState::open(root);
    state.body_limit = 1024;
    state
}

/// Serves the workspace on a free loopback port, as `tablero serve` does.
async fn start(root: &std::path::Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeouts = Timeouts {
        header_read: Duration::from_secs(5),
        body_read: Duration::from_secs(5),
        shutdown: Duration::from_secs(1),
    };
    tokio::spawn(tablero_server::listen::run(
        listener,
        app(state(root)),
        timeouts,
        None,
        std::future::pending(),
        std::future::pending(),
    ));
    addr
}

/// One answer read off the wire.
#[derive(Debug)]
struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error's code, after checking the answer is the JSON error shape.
    fn code(&self) -> String {
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{self:?}"
        );
        assert_eq!(
            self.header("content-length"),
            Some(self.body.len().to_string().as_str()),
            "{self:?}"
        );
        error_code(&self.body)
    }
}

fn error_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not the JSON error shape ({e}): {body:.300}"));
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body:.300}"
    );
    value["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {body:.300}"))
        .to_string()
}

/// Writes `request` on a new connection and reads every answer until the server closes it.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<Wire> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may answer (and close) before it has read everything sent.
    let _ = stream.write_all(request);
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    parse_answers(&received)
}

fn parse_answers(mut bytes: &[u8]) -> Vec<Wire> {
    let mut answers = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let body = &bytes[end + 4..(end + 4 + length).min(bytes.len())];
        answers.push(Wire {
            status,
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
        });
        bytes = &bytes[(end + 4 + length).min(bytes.len())..];
    }
    answers
}

fn one(addr: SocketAddr, request: &[u8]) -> Wire {
    let mut answers = exchange(addr, request);
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hypers_own_answers_carry_the_json_error_shape() {
    let dir = workspace();
    let addr = start(dir.path()).await;
    tokio::task::spawn_blocking(move || {
        // 414: a URI of 100 kB (hyper reads at most 65,534 bytes of one).
        let long = format!(
            "GET /api/v1/kpis/revenue/values?where={} HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "a".repeat(100_000)
        );
        let answer = one(addr, long.as_bytes());
        assert_eq!(answer.status, 414, "{answer:?}");
        assert_eq!(answer.code(), "uri_too_long");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

        // 431: more headers than hyper reads (100), and a head larger than its buffer.
        let mut many = String::from("GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n");
        for i in 0..150 {
            many.push_str(&format!("X-Header-{i}: {i}\r\n"));
        }
        many.push_str("\r\n");
        let answer = one(addr, many.as_bytes());
        assert_eq!(answer.status, 431, "{answer:?}");
        assert_eq!(answer.code(), "header_fields_too_large");
        let large = format!(
            "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Large: {}\r\n\r\n",
            "b".repeat(600_000)
        );
        let answer = one(addr, large.as_bytes());
        assert_eq!(answer.status, 431, "{answer:?}");
        assert_eq!(answer.code(), "header_fields_too_large");

        // 400: a header line without a colon; a request line that is not one.
        for bad in [
            "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n",
            "GET /api/v1/health HTTP/9.9\r\nHost: localhost\r\n\r\n",
            "G\0T / HTTP/1.1\r\n\r\n",
        ] {
            let answer = one(addr, bad.as_bytes());
            assert_eq!(answer.status, 400, "{bad:?}: {answer:?}");
            assert_eq!(answer.code(), "bad_request", "{bad:?}");
        }

        // After an answered request on the same connection, the unreadable one's answer
        // follows the first unchanged.
        let pipelined = "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\nno request\r\n\r\n";
        let answers = exchange(addr, pipelined.as_bytes());
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert_eq!(answers[0].status, 200, "{answers:?}");
        assert!(answers[0].body.contains("\"status\""), "{answers:?}");
        assert_eq!(answers[1].status, 400, "{answers:?}");
        assert_eq!(answers[1].code(), "bad_request");

        // And the server answers the next connection.
        let answer = one(
            addr,
            b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axums_own_answers_carry_the_json_error_shape_over_a_socket() {
    let dir = workspace();
    let addr = start(dir.path()).await;
    tokio::task::spawn_blocking(move || {
        // 405, with the methods the route takes.
        let answer = one(
            addr,
            b"DELETE /api/v1/kpis HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(answer.status, 405, "{answer:?}");
        assert_eq!(answer.code(), "method_not_allowed");
        assert!(answer.header("allow").is_some_and(|a| a.contains("GET")));

        // 413: a body over the limit (1 kB here).
        let body = "dia,nota\n".to_string() + &"2026-01-05,3\n".repeat(400);
        let push = format!(
            "POST /api/v1/sources/notas/rows HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = one(addr, push.as_bytes());
        assert_eq!(answer.status, 413, "{answer:?}");
        assert_eq!(answer.code(), "payload_too_large");

        // 400: a query string that does not deserialize (a parameter given twice).
        let answer = one(
            addr,
            b"GET /api/v1/kpis/revenue/values?from=2026-01&from=2026-02 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.code(), "bad_request");
        assert!(answer.body.contains("from"), "{answer:?}");

        // 415: a form sent without its content type.
        let answer = one(
            addr,
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\nConnection: close\r\n\r\nemail=a",
        );
        assert_eq!(answer.status, 415, "{answer:?}");
        assert_eq!(answer.code(), "unsupported_media_type");
    })
    .await
    .unwrap();
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(state: &AppState, mut request: Request<Body>) -> Answer {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
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

fn request(method: &str, uri: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost");
    if let Some(kind) = content_type {
        builder = builder.header(header::CONTENT_TYPE, kind);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn axums_own_rejections_carry_the_json_error_shape() {
    let dir = workspace();
    let state = state(dir.path());
    let form = Some("application/x-www-form-urlencoded");
    let cases = [
        // (request, status, code)
        (
            request(
                "GET",
                "/api/v1/kpis/revenue/values?grain=month&grain=day",
                None,
                "",
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // A page's query string, too: the page never ran.
        (
            request("GET", "/?from=2026-01&from=2026-02", None, ""),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // A path segment that is not the number the route takes.
        (
            request(
                "POST",
                "/api/v1/reviews/r1/actions/first",
                Some("application/json"),
                "{}",
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            request("POST", "/login", None, "email=a"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            request("POST", "/login", form, "email=a&email=b"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            request("PUT", "/", None, ""),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            request(
                "POST",
                "/api/v1/sources/notas/rows",
                Some("text/csv"),
                &"x".repeat(4096),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let answer = send(&state, request).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert!(
            answer.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}"
        );
        assert_eq!(error_code(&answer.body), code, "{what}");
        // The headers every answer has are kept.
        assert!(
            answer.headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{what}"
        );
    }

    // A page's own error is still a page.
    let answer = send(&state, request("GET", "/?grain=fortnight", None, "")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{}",
        answer.body
    );
}
