//! Fault injection into the store's appends, through the real binary: every step of a batch —
//! writing a data file, its fsync, its folder's fsync, writing the log entry, its fsync, the
//! log folder's fsync — fails once (in a server, which then takes the next push) and
//! persistently (across commands, until cleared). The client never hears success unless the
//! batch is durable, the store stays readable, and the next write succeeds. A disk that fills
//! up for real (a small tmpfs) does the same.
//!
//! The faults are the `fail` crate's points in `tablero-store` (`crates/store/src/durable.rs`),
//! compiled into the test build's binary by this crate's dev-dependency and set per process
//! through `FAILPOINTS`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::store_support::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The steps before the commit: a fault in one of them leaves nothing of the batch visible.
const BEFORE_COMMIT: [&str; 5] = [
    "store::data::write",
    "store::data::fsync",
    "store::data::dir_fsync",
    "store::log::write",
    "store::log::fsync",
];
/// The step after the log entry is linked: the batch is visible but not known durable.
const AFTER_COMMIT: &str = "store::log::dir_fsync";

/// September's batch (ids 6–8), the one the faults strike.
fn september() -> String {
    batch("septiembre.ndjson")
}

/// A workspace holding August's batch (ids 1–5) as version 1.
fn workspace_with_august() -> tempfile::TempDir {
    let ws = workspace();
    ok(&tablero(
        ws.path(),
        &["ingest", "encuestas", &batch("agosto.csv")],
    ));
    ws
}

fn sorted_ids(dir: &Path) -> Vec<i64> {
    let ids = stored_ids(dir);
    assert!(ids.values().all(|&n| n == 1), "a row stored twice: {ids:?}");
    let mut ids: Vec<i64> = ids.into_keys().collect();
    ids.sort();
    ids
}

/// The store opens, computes, and `store info` finds nothing torn.
#[track_caller]
fn assert_readable(dir: &Path, what: &str) {
    let out = ok(&tablero(
        dir,
        &[
            "compute",
            "nota_total",
            "--from",
            "2026-08",
            "--to",
            "2026-09",
            "--as-of",
            "2026-11-15",
            "--format",
            "csv",
        ],
    ));
    assert!(out.contains("nota_total,2026-08,33,"), "{what}: {out}");
    let info = tablero(dir, &["store", "info", "encuestas"]);
    let stdout = ok(&info);
    assert!(!stdout.contains("torn:"), "{what}: {stdout}");
    assert!(
        text(&info.stderr).is_empty(),
        "{what}: {}",
        text(&info.stderr)
    );
}

#[test]
fn failpoints_are_compiled_in_and_inert_without_the_variable() {
    let ws = workspace_with_august();
    let dir = ws.path();
    // Without FAILPOINTS: nothing fails, nothing is reported.
    let plain = tablero(dir, &["ingest", "encuestas", &september()]);
    ok(&plain);
    assert!(
        !text(&plain.stderr).contains("failpoint"),
        "{}",
        text(&plain.stderr)
    );
    // With it, the binary the tests run reports passing a point: they are compiled in.
    let traced = tablero_failing(
        dir,
        "store::crash::before_ack=return",
        &["ingest", "encuestas", &batch("octubre.xlsx")],
    );
    ok(&traced);
    assert!(
        text(&traced.stderr).contains("tablero: failpoint store::crash::before_ack reached"),
        "{}",
        text(&traced.stderr)
    );
    assert_eq!(sorted_ids(dir), (1..=10).collect::<Vec<_>>());
}

/// Each step before the commit failing in every command until cleared: every attempt fails
/// with a message naming the fault and saying nothing was stored, the store stays readable
/// with exactly the acknowledged batches, and once the fault is gone the same batch (same
/// key) is stored once.
#[test]
fn a_persistent_fault_before_the_commit_stores_nothing_until_cleared() {
    for step in BEFORE_COMMIT {
        let ws = workspace_with_august();
        let dir = ws.path();
        let args = [
            "ingest",
            "encuestas",
            &september(),
            "--idempotency-key",
            "lote-9",
        ];
        for attempt in 0..2 {
            let output = tablero_failing(dir, &format!("{step}=return"), &args);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(3), "{step} #{attempt}: {stderr}");
            assert!(
                stderr.contains(&format!("injected fault at {step}"))
                    && stderr.contains("the batch was not stored"),
                "{step} #{attempt}: {stderr}"
            );
            assert!(text(&output.stdout).is_empty(), "{step}");
            assert!(!stderr.contains("panicked"), "{step}: {stderr}");
            assert_eq!(sorted_ids(dir), vec![1, 2, 3, 4, 5], "{step} #{attempt}");
            assert_readable(dir, step);
        }
        let out = ok(&tablero(dir, &args));
        assert!(
            out.contains("stored 3 rows into `encuestas` (table version 2)"),
            "{step}: {out}"
        );
        assert_eq!(sorted_ids(dir), (1..=8).collect::<Vec<_>>(), "{step}");
    }
}

/// The flush of `_delta_log` after the entry is linked failing: the commit is visible but not
/// known durable, so the client hears an error that says so; a retry with the same key stores
/// nothing twice, and acknowledges only once the flush succeeds.
#[test]
fn a_fault_after_the_commit_is_reported_and_healed_by_the_same_key() {
    let ws = workspace_with_august();
    let dir = ws.path();
    let args = [
        "ingest",
        "encuestas",
        &september(),
        "--idempotency-key",
        "lote-9",
    ];
    let failing = format!("{AFTER_COMMIT}=return");
    let output = tablero_failing(dir, &failing, &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("was committed")
            && stderr.contains("could not be flushed")
            && stderr.contains("Send it again with the same idempotency key"),
        "{stderr}"
    );
    assert_eq!(sorted_ids(dir), (1..=8).collect::<Vec<_>>());
    assert_readable(dir, AFTER_COMMIT);
    // Still failing: the retry is not acknowledged either.
    let output = tablero_failing(dir, &failing, &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is stored but its commit could not be flushed"),
        "{stderr}"
    );
    // Cleared: acknowledged, still once.
    let out = ok(&tablero(dir, &args));
    assert!(out.contains("already stored"), "{out}");
    assert_eq!(sorted_ids(dir), (1..=8).collect::<Vec<_>>());
    // The next batch lands on top.
    ok(&tablero(
        dir,
        &["ingest", "encuestas", &batch("octubre.xlsx")],
    ));
    assert_eq!(sorted_ids(dir), (1..=10).collect::<Vec<_>>());
}

/// A server whose fault points are set; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, failpoints: &str) -> Server {
        let mut child = command(dir)
            .env("FAILPOINTS", failpoints)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tablero serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// POSTs NDJSON rows; the status and the body of the answer.
    fn push(&self, body: &str, key: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        write!(
            stream,
            "POST /api/v1/sources/encuestas/rows HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"));
        (status, answer)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each step failing once in a running server: that push is refused (503, the JSON error
/// shape; for the flush after the commit, saying it was committed), the next push of the same
/// batch succeeds in the same process, and reusing its key for other rows is a 409.
#[test]
fn a_fault_once_in_a_server_then_the_next_push_succeeds() {
    let september_rows = std::fs::read_to_string(september()).expect("batch");
    let other_rows = "{\"id\": 50, \"respondida\": \"2026-10-02T10:00:00Z\", \"dia\": \"2026-10-02\", \"nota\": 7, \"cliente\": \"x\", \"recomienda\": false}\n";
    for step in BEFORE_COMMIT.into_iter().chain([AFTER_COMMIT]) {
        let ws = workspace_with_august();
        let dir = ws.path();
        let server = Server::start(dir, &format!("{step}=1*return"));
        let (status, answer) = server.push(&september_rows, "lote-9");
        assert_eq!(status, 503, "{step}: {answer}");
        assert!(
            answer.contains("\"code\":\"storage_failure\""),
            "{step}: {answer}"
        );
        assert!(
            answer.contains(&format!("injected fault at {step}")),
            "{step}: {answer}"
        );
        // The same batch again, in the same process: stored now, or (committed by the failed
        // push) acknowledged as a repeat.
        let (expected, said, duplicate) = if step == AFTER_COMMIT {
            (200, "was committed", "\"duplicate\":true")
        } else {
            (201, "the batch was not stored", "\"duplicate\":false")
        };
        assert!(answer.contains(said), "{step}: {answer}");
        let (status, answer) = server.push(&september_rows, "lote-9");
        assert_eq!(status, expected, "{step}: {answer}");
        assert!(answer.contains(duplicate), "{step}: {answer}");
        let (status, answer) = server.push(other_rows, "lote-9");
        assert_eq!(status, 409, "{step}: {answer}");
        assert!(
            answer.contains("\"code\":\"idempotency_conflict\""),
            "{step}: {answer}"
        );
        drop(server);
        assert_eq!(sorted_ids(dir), (1..=8).collect::<Vec<_>>(), "{step}");
        assert_readable(dir, step);
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount {
    path: PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "this test mounts a small tmpfs to fill it and needs root (as in CI): mount failed: {}",
            text(&output.stderr)
        );
        Mount {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// A real full disk: batches go into a workspace on an 8 MiB tmpfs until one is refused. The
/// refusal names the full disk and stores nothing; every acknowledged batch is readable; after
/// space is freed the refused batch (same key) is stored once.
#[test]
fn a_full_disk_refuses_the_batch_clearly_and_the_store_recovers() {
    let outer = tempfile::tempdir().expect("temp dir");
    let mount = Mount::tmpfs(&outer.path().join("disk"), "8m");
    let dir = mount.path.join("ws");
    copy_dir(&fixture().join("workspace"), &dir);
    // Space to give back once the disk is full.
    std::fs::write(mount.path.join("ballast"), vec![7u8; 2 << 20]).expect("ballast");
    let inputs = tempfile::tempdir().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(28);
    let rows = 40_000;
    let mut stored = Vec::new();
    let mut refused = None;
    for b in 0..200 {
        let first = (b + 1) as i64 * 1_000_000;
        let file = inputs.path().join(format!("b{b}.csv"));
        generated_batch(&file, first, rows, &mut rng);
        let key = format!("lote-{b}");
        let output = tablero(
            &dir,
            &[
                "ingest",
                "encuestas",
                &file.display().to_string(),
                "--idempotency-key",
                &key,
            ],
        );
        if output.status.success() {
            stored.push(first);
            continue;
        }
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains(
                "the disk holding data/store/encuestas is full: the batch was not stored"
            ),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        eprintln!("the disk filled up at batch {b}: {stderr}");
        refused = Some((file, key, first));
        break;
    }
    let (file, key, first) = refused.expect("the disk never filled up");
    assert!(!stored.is_empty(), "the first batch already did not fit");
    let ids = stored_ids(&dir);
    for &batch_first in &stored {
        assert_eq!(
            present(&ids, batch_first, rows),
            rows,
            "an acknowledged batch is missing"
        );
    }
    assert_eq!(
        present(&ids, first, rows),
        0,
        "the refused batch is partly visible"
    );
    assert_eq!(ids.len(), stored.len() * rows);
    assert_readable_counts(&dir, stored.len() * rows);
    // Free space; the same batch goes in once.
    std::fs::remove_file(mount.path.join("ballast")).expect("free space");
    let out = ok(&tablero(
        &dir,
        &[
            "ingest",
            "encuestas",
            &file.display().to_string(),
            "--idempotency-key",
            &key,
        ],
    ));
    assert!(out.contains(&format!("stored {rows} rows")), "{out}");
    let ids = stored_ids(&dir);
    assert_eq!(present(&ids, first, rows), rows);
    assert_eq!(ids.len(), (stored.len() + 1) * rows);
    drop(mount);
}

/// `store info` and `compute` on a table holding `rows` generated rows (all in July 2026).
#[track_caller]
fn assert_readable_counts(dir: &Path, rows: usize) {
    let info = tablero(dir, &["store", "info", "encuestas"]);
    let stdout = ok(&info);
    assert!(stdout.contains(&format!("rows:        {rows}")), "{stdout}");
    assert!(!stdout.contains("torn:"), "{stdout}");
    let out = ok(&tablero(
        dir,
        &[
            "compute",
            "respuestas_por_dia",
            "--from",
            "2026-07",
            "--to",
            "2026-07",
            "--as-of",
            "2026-11-15",
            "--format",
            "csv",
        ],
    ));
    assert!(out.contains(&format!(",2026-07,{rows},")), "{out}");
}
