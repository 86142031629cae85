//! What the store's integration tests share: a fresh copy of the fixture workspace, the real
//! `tablero` binary, generated batches, and reading back what the store holds.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tablero_store::table;

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/store")
}

/// A fresh copy of the fixture workspace.
pub fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture().join("workspace"), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The binary, with `FAILPOINTS` removed from its environment unless a test sets it.
pub fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tablero"));
    command.env_remove("FAILPOINTS").arg("-w").arg(dir);
    command
}

pub fn tablero(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("run tablero")
}

/// `tablero` with fault points set (`FAILPOINTS`, the `fail` crate's syntax).
pub fn tablero_failing(dir: &Path, failpoints: &str, args: &[&str]) -> Output {
    command(dir)
        .env("FAILPOINTS", failpoints)
        .args(args)
        .output()
        .expect("run tablero")
}

pub fn batch(name: &str) -> String {
    fixture().join("batches").join(name).display().to_string()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn source(dir: &Path) -> tablero_model::Source {
    let (workspace, _) = tablero_model::load_workspace(dir);
    workspace.source("encuestas").expect("source").clone()
}

/// Every stored `id`, with how many times it is stored.
pub fn stored_ids(dir: &Path) -> HashMap<i64, usize> {
    use deltalake::arrow::array::AsArray;
    use deltalake::arrow::datatypes::Int64Type;
    let batches = runtime()
        .block_on(table::read_all(dir, &source(dir)))
        .expect("store opens");
    let mut ids = HashMap::new();
    for batch in batches {
        let column = batch.column_by_name("id").expect("id column");
        for id in column.as_primitive::<Int64Type>().iter().flatten() {
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

pub fn table_version(dir: &Path) -> Option<u64> {
    runtime()
        .block_on(table::info(dir, &source(dir)))
        .expect("info")
        .version
}

/// A batch of `rows` generated rows with ids `first..first + rows`.
pub fn generated_batch(path: &Path, first: i64, rows: usize, rng: &mut ChaCha8Rng) {
    let mut text = String::from("id,respondida,dia,nota,cliente,recomienda\n");
    for i in 0..rows as i64 {
        let day = rng.random_range(1..=28);
        let hour = rng.random_range(0..24);
        let nota = rng.random_range(0..=10);
        let cliente = ["Banco Sur", "Retail Norte", "Minera Andes"][rng.random_range(0..3)];
        text.push_str(&format!(
            "{},2026-07-{day:02} {hour:02}:15:00,2026-07-{day:02},{nota},{cliente},{}\n",
            first + i,
            nota >= 9
        ));
    }
    std::fs::write(path, text).expect("write batch");
}

/// How many of the ids `first..first + rows` are stored (each at most once, or it panics).
#[track_caller]
pub fn present(ids: &HashMap<i64, usize>, first: i64, rows: usize) -> usize {
    (first..first + rows as i64)
        .filter(|id| match ids.get(id) {
            None => false,
            Some(1) => true,
            Some(n) => panic!("id {id} is stored {n} times"),
        })
        .count()
}

pub fn spawn_ingest(dir: &Path, file: &Path, key: &str) -> std::process::Child {
    spawn_ingest_with(dir, file, key, None)
}

/// `tablero ingest` in the background, optionally with fault points set.
pub fn spawn_ingest_with(
    dir: &Path,
    file: &Path,
    key: &str,
    failpoints: Option<&str>,
) -> std::process::Child {
    let mut command = command(dir);
    if let Some(failpoints) = failpoints {
        command.env("FAILPOINTS", failpoints);
    }
    command
        .args(["ingest", "encuestas"])
        .arg(file)
        .args(["--idempotency-key", key])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tablero")
}

pub fn log_entry(table: &Path, version: u64) -> PathBuf {
    table.join("_delta_log").join(format!("{version:020}.json"))
}

/// The data files a version's log entry adds, in its order.
pub fn data_files_of(table: &Path, version: u64) -> Vec<PathBuf> {
    let log = std::fs::read_to_string(log_entry(table, version)).expect("log entry");
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.pointer("/add/path")?.as_str().map(|p| table.join(p)))
        .collect()
}

/// The first data file a version's log entry adds.
pub fn data_file_of(table: &Path, version: u64) -> PathBuf {
    data_files_of(table, version)
        .into_iter()
        .next()
        .expect("an add action")
}
