//! The real binary as a server and as a pipe: `tablero demo` removes its temporary folder on
//! every way out (SIGTERM, Ctrl+C while generating, two Ctrl+C), answers only loopback `Host`
//! names, and `tablero compute | head -1` ends quietly with status 0; `serve` on a cluster
//! answers the hand-worked values.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tablero() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tablero"))
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("the kill command");
    assert!(status.success());
}

/// Waits for the child to exit, at most `limit`.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tablero did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `tablero-demo-*` folders left in `tmp`.
fn demo_folders(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tablero-demo-"))
        .collect()
}

/// Starts `tablero demo` on a free port with its temporary folder under `tmp`; returns the
/// child and the address once it serves.
fn start_demo(tmp: &Path) -> (Child, String) {
    let mut child = tablero()
        .args(["demo", "--addr", "127.0.0.1:0"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = served_address(&mut child);
    (child, addr)
}

/// The address a starting server prints on its first line (`… http://ADDR/ …`).
fn served_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

fn http_get(addr: &str, path: &str, host: &str) -> String {
    http_get_with(addr, path, host, "")
}

/// A GET with `headers` (each ending in `\r\n`) added.
fn http_get_with(addr: &str, path: &str, host: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn demo_answers_only_loopback_hosts_and_cleans_up_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_demo(tmp.path());
    assert_eq!(demo_folders(tmp.path()).len(), 1);

    let ok = http_get(&addr, "/api/v1/kpis", &addr);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let rebound = http_get(&addr, "/api/v1/kpis", "attacker.example");
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(rebound.contains("misdirected_request"));
    assert!(!rebound.contains("ventas_netas_totales"));

    signal(&child, "TERM");
    let status = wait(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert_eq!(demo_folders(tmp.path()), Vec::<String>::new());
}

#[test]
fn demo_cleans_up_on_two_interrupts() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_demo(tmp.path());
    // A request in flight whose body never comes, so the first interrupt has to wait.
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/sources/x/rows HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\na"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let status = wait(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert_eq!(demo_folders(tmp.path()), Vec::<String>::new());
}

#[test]
fn demo_cleans_up_when_interrupted_while_generating() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = tablero()
        .args(["demo", "--addr", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the folder exists (generation has begun), then interrupt.
    let started = Instant::now();
    while demo_folders(tmp.path()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no demo folder"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "INT");
    let status = wait(&mut child, Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    assert_eq!(demo_folders(tmp.path()), Vec::<String>::new());
}

#[test]
fn compute_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let init = tablero()
        .args(["init"])
        .arg(&ws)
        .args(["--example", "23people", "--today", "2026-10-15"])
        .output()
        .unwrap();
    assert!(init.status.success());
    // `tablero compute | head -1`: the reader goes away before compute writes anything
    // (loading the example takes far longer than closing a pipe), so every write fails.
    let mut child = tablero()
        .arg("-w")
        .arg(&ws)
        .args(["compute", "--as-of", "2026-10-15", "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// `serve` with `engine = "ballista://…"` (SPEC §9): the values API of a workspace whose
/// leaves run on a real cluster of one scheduler and two executor processes answers the
/// hand-worked values of `tests/cases/rolling_avg` (overlapping `rolling` windows).
#[test]
fn serve_on_a_cluster_answers_the_hand_worked_values() {
    let cluster = crate::cluster_support::Cluster::start();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/rolling_avg");
    let workspace = cluster.workspace(&case, "rolling_avg");
    let mut child = tablero()
        .arg("-w")
        .arg(&workspace)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = served_address(&mut child);
    let answer = http_get_with(
        &addr,
        "/api/v1/kpis/espera_3m/values?from=2026-01&to=2026-03&as_of=2026-12-31",
        &addr,
        "Accept: text/csv\r\n",
    );
    signal(&child, "TERM");
    wait(&mut child, Duration::from_secs(20));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        cluster.log_tails()
    );
    // case.txt: Nov..Jan {100, 10} → 55; Dec..Feb {10, 20, 20, 20} → 17.5;
    // Jan..Mar {10, 20, 20, 20, 40} → 22.
    for row in [
        "espera_3m,2026-01,55,,no_target",
        "espera_3m,2026-02,17.5,,no_target",
        "espera_3m,2026-03,22,,no_target",
    ] {
        assert!(answer.contains(row), "{row} missing from\n{answer}");
    }
}
