//! The server on a real socket: a client that dribbles its request head (slowloris) or its
//! body, an idle kept-alive connection, and a shutdown that waits for requests in flight only
//! up to its deadline, or not at all after a second signal.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tablero_server::{AppState, Timeouts, app};

/// A workspace with one store source, to push rows to.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::write(
        root.join("tablero.toml"),
        "name = \"t\"\nlocale = \"en\"\ntimezone = \"UTC\"\ncurrency = \"USD\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("sources/notas.yaml"),
        "name: notas\nstore: true\ntime: dia\ncolumns:\n  dia: { type: date }\n  nota: { type: integer }\nmeasures:\n  total: { agg: sum, expr: nota }\n",
    )
    .unwrap();
    dir
}

const SHORT: Timeouts = Timeouts {
    header_read: Duration::from_secs(1),
    body_read: Duration::from_secs(1),
    shutdown: Duration::from_secs(1),
};

/// Serves `root` on a free loopback port until the returned senders fire (first: graceful
/// stop; second: stop now). The join handle resolves when the server has stopped.
async fn start(
    root: &std::path::Path,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut state = AppState::open(root);
    state.body_read = SHORT.body_read;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (now, stopped_now) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tablero_server::listen::run(
        listener,
        app(state),
        SHORT,
        None,
        async move {
            let _ = stopped.await;
        },
        async move {
            let _ = stopped_now.await;
        },
    ));
    (addr, stop, now, server)
}

/// Reads until the server closes the connection; what it sent, and how long it took.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open past {limit:?}: {e}"),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_request_head_is_cut_off() {
    let dir = workspace();
    let (addr, _stop, _now, _server) = start(dir.path()).await;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /api/v1/health HTTP/1.1\r\n")
            .unwrap();
        let started = Instant::now();
        // One header byte every 200 ms: each is progress, but the head never completes.
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut closed_after = None;
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if stream.write_all(&[*byte]).is_err() {
                closed_after = Some(started.elapsed());
                break;
            }
            let mut probe = [0u8; 64];
            match stream.read(&mut probe) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // Closed (0), reset, or an answer before closing: cut off either way.
                _ => {
                    closed_after = Some(started.elapsed());
                    break;
                }
            }
        }
        closed_after
    })
    .await
    .unwrap();
    let closed_after = outcome.expect("a request head dribbled for 9 s was never cut off");
    assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let dir = workspace();
    let (addr, _stop, _now, _server) = start(dir.path()).await;
    let (text, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        read_until_closed(&mut stream, Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // Answered at once, then the idle connection is closed after the header timeout (1 s).
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_body_is_cut_off_and_nothing_is_stored() {
    let dir = workspace();
    let root = dir.path().to_path_buf();
    let (addr, _stop, _now, _server) = start(&root).await;
    let (text, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /api/v1/sources/notas/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\ndia,nota\n",
            )
            .unwrap();
        let started = Instant::now();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(150));
            if stream.write_all(b"2").is_err() {
                break;
            }
        }
        let (text, _) = read_until_closed(&mut stream, Duration::from_secs(5));
        (text, started.elapsed())
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert!(!root.join("data/store/notas").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_requests_only_up_to_its_deadline() {
    let dir = workspace();
    let (addr, stop, _now, server) = start(dir.path()).await;
    // A request in flight that will not finish: its body never comes.
    let client = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /api/v1/sources/notas/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\ndia",
            )
            .unwrap();
        std::thread::sleep(Duration::from_secs(4));
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stopped within its shutdown deadline")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(addr).is_err());
    client.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once() {
    let dir = workspace();
    let (addr, stop, now, server) = start(dir.path()).await;
    let _client = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /api/v1/sources/notas/rows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\ndia",
            )
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    now.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the second signal stopped the server")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}
