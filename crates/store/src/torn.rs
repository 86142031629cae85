//! Torn versions: the newest log entries of a store table that cannot be read, or that name a
//! data file of their own that is missing, truncated or not Parquet — what a power cut leaves
//! when a log entry reached the disk before the files it names.
//!
//! The writer flushes every data file and the log entry's contents before the entry gets its
//! name ([`crate::durable`]), and acknowledges a batch only after that; so a torn version was
//! never acknowledged (unless the disk lost flushed data). Readers walk back past torn versions
//! to the last intact one; a writer must not commit on top of them, or its batch would sit
//! behind the tear where no reader looks.
//!
//! **Setting aside.** Before writing, the writer (and `tablero store repair`) moves the torn
//! versions' log entries — with any checkpoint of those versions, and `_last_checkpoint` if it
//! points at one — out of `_delta_log` into `_tablero_torn/VERSION-MILLIS/`, with a
//! `set-aside.json` saying why and when. This is the safest choice with Delta Lake:
//!
//! - the version numbers become free again, so the next commit is the intact version + 1 and
//!   every Delta reader (delta-rs, Spark, DuckDB, Polars) reads the table as it was last
//!   intact, with the new batch on top — nothing needs a reader that knows about tears;
//! - nothing is deleted: the entries (and the data files, which stay where they are,
//!   unnamed by any version) can be examined or restored by hand;
//! - a folder whose name starts with `_` is ignored by Delta readers;
//! - only a *suffix* of the log is ever moved, and only when the version below it is intact
//!   as a whole. Damage below an intact newest version (a data file of an older version) is
//!   not a tear: there the store refuses to write and says what is damaged, since setting
//!   aside acknowledged versions is a decision for a person.
//!
//! Moving is done under an exclusive lock (`_tablero_torn/lock`) after checking again: a torn
//! entry blocks its version number, so while it is in place nobody can commit that version,
//! and once it is moved the lock-holder does not touch the log again.

use std::path::{Path, PathBuf};

use crate::durable::{sync_dir, sync_file};

/// The folder of a table that holds set-aside log entries.
pub const TORN_DIR: &str = "_tablero_torn";
/// How many versions an inspection walks back.
const MAX_WALK_BACK: u64 = 1000;

/// A version whose log entry or own data files are damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornVersion {
    pub version: u64,
    /// What is damaged, in words.
    pub problem: String,
}

/// A version set aside earlier, as recorded in `_tablero_torn/*/set-aside.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub version: u64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub problem: String,
    pub folder: PathBuf,
}

/// The tail of a table's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inspection {
    /// The highest version with a log entry.
    pub newest: Option<u64>,
    /// Torn versions, newest first; they form the top of the log.
    pub torn: Vec<TornVersion>,
    /// The version below the torn ones (`None` when every version is torn or there is none).
    pub intact: Option<u64>,
    /// The walk stopped at its limit before finding an intact version.
    pub too_deep: bool,
}

pub(crate) fn log_entry(dir: &Path, version: u64) -> PathBuf {
    dir.join("_delta_log").join(format!("{version:020}.json"))
}

/// The highest version with a log entry on disk.
pub(crate) fn newest_log_version(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir.join("_delta_log"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
}

/// Walks down from the newest version while versions are torn.
pub(crate) fn inspect(dir: &Path) -> Inspection {
    let newest = newest_log_version(dir);
    let mut torn = Vec::new();
    let mut version = newest;
    while let Some(v) = version {
        if newest.is_some_and(|n| n - v >= MAX_WALK_BACK) {
            return Inspection {
                newest,
                torn,
                intact: None,
                too_deep: true,
            };
        }
        match check_own(dir, v) {
            Ok(()) => {
                return Inspection {
                    newest,
                    torn,
                    intact: Some(v),
                    too_deep: false,
                };
            }
            Err(problem) => torn.push(TornVersion {
                version: v,
                problem,
            }),
        }
        version = v.checked_sub(1);
    }
    Inspection {
        newest,
        torn,
        intact: None,
        too_deep: false,
    }
}

/// What a log entry says, as far as checking it needs.
struct Entry {
    adds: Vec<(String, i64, Option<i64>)>,
    /// The rows the writer said the batch had (`tablero.rows` of its commitInfo).
    rows: Option<i64>,
    operation: Option<String>,
}

/// Reads a log entry: every line a JSON object. `Ok(None)` when the entry does not exist.
fn read_entry(dir: &Path, version: u64) -> Result<Option<Entry>, String> {
    let path = log_entry(dir, version);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(format!(
                "the log entry of version {version} is unreadable ({err})"
            ));
        }
    };
    let bad = |what: &str| format!("the log entry of version {version} is {what}");
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("damaged (not UTF-8)"))?;
    let mut entry = Entry {
        adds: Vec::new(),
        rows: None,
        operation: None,
    };
    let mut actions = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let action = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| bad(&format!("damaged (line {} is not a JSON action)", i + 1)))?;
        actions += 1;
        if let Some(add) = action.get("add") {
            let path = add.get("path").and_then(|p| p.as_str());
            let size = add.get("size").and_then(|s| s.as_i64());
            let (Some(path), Some(size)) = (path, size) else {
                return Err(bad("damaged (an add action without path or size)"));
            };
            let records = add
                .get("stats")
                .and_then(|s| s.as_str())
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(|n| n.as_i64()));
            entry.adds.push((percent_decode(path), size, records));
        }
        if let Some(info) = action.get("commitInfo") {
            entry.rows = info.get("tablero.rows").and_then(|r| r.as_i64());
            entry.operation = info
                .get("operation")
                .and_then(|o| o.as_str())
                .map(String::from);
        }
    }
    if actions == 0 {
        return Err(bad("empty"));
    }
    Ok(Some(entry))
}

/// Checks one version on its own: its log entry parses, and the data files it adds are whole.
fn check_own(dir: &Path, version: u64) -> Result<(), String> {
    // A version whose entry was cleaned up after a checkpoint is judged by the checkpoint.
    let Some(entry) = read_entry(dir, version)? else {
        return Ok(());
    };
    for (path, size, _) in &entry.adds {
        check_data_file(dir, path, *size as u64, version)?;
    }
    // A batch written by Tablero records its row count: an entry cut at a line boundary, which
    // still parses, names fewer rows than that.
    if let Some(rows) = entry.rows
        && entry.operation.as_deref() == Some("WRITE")
        && entry.adds.iter().all(|(_, _, r)| r.is_some())
    {
        let named: i64 = entry.adds.iter().filter_map(|(_, _, r)| *r).sum();
        if named != rows {
            return Err(format!(
                "the log entry of version {version} is damaged (it names {named} rows of a batch of {rows})"
            ));
        }
    }
    Ok(())
}

/// Checks that a data file exists, has the size the log recorded, and ends like Parquet.
pub(crate) fn check_data_file(
    dir: &Path,
    relative: &str,
    size: u64,
    version: u64,
) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let path = dir.join(relative);
    let bad = |what: &str| format!("data file {relative} of version {version} is {what}");
    let meta = std::fs::metadata(&path).map_err(|_| bad("missing"))?;
    if meta.len() != size {
        return Err(bad(&format!(
            "damaged ({} bytes on disk, {size} recorded)",
            meta.len()
        )));
    }
    let mut tail = [0u8; 4];
    let mut handle = std::fs::File::open(&path).map_err(|_| bad("unreadable"))?;
    handle
        .seek(SeekFrom::End(-4))
        .and_then(|_| handle.read_exact(&mut tail))
        .map_err(|_| bad("unreadable"))?;
    if &tail != b"PAR1" {
        return Err(bad("not a Parquet file"));
    }
    Ok(())
}

pub(crate) fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// The version whose log entry records the transaction `app_id`, looking back from the newest
/// (entries cleaned up after a checkpoint are not searched).
pub(crate) fn version_with_transaction(dir: &Path, app_id: &str) -> Option<u64> {
    let newest = newest_log_version(dir)?;
    let oldest = newest.saturating_sub(MAX_WALK_BACK);
    (oldest..=newest).rev().find(|&v| {
        std::fs::read_to_string(log_entry(dir, v)).is_ok_and(|text| {
            text.lines().any(|line| {
                serde_json::from_str::<serde_json::Value>(line).is_ok_and(|action| {
                    action.pointer("/txn/appId").and_then(|a| a.as_str()) == Some(app_id)
                })
            })
        })
    })
}

/// The data files a version's log entry adds (empty when it has no readable entry).
pub(crate) fn added_files(dir: &Path, version: u64) -> Vec<String> {
    match read_entry(dir, version) {
        Ok(Some(entry)) => entry.adds.into_iter().map(|(path, _, _)| path).collect(),
        _ => Vec::new(),
    }
}

/// An exclusive lock on setting aside a table's torn versions.
pub(crate) struct TornLock {
    _file: std::fs::File,
}

/// Takes the lock, waiting up to a minute for another process that holds it.
pub(crate) async fn lock(dir: &Path) -> std::io::Result<TornLock> {
    let folder = dir.join(TORN_DIR);
    std::fs::create_dir_all(&folder)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(folder.join("lock"))?;
    for _ in 0..6000 {
        match file.try_lock() {
            Ok(()) => return Ok(TornLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(err),
        }
    }
    Err(std::io::Error::other(format!(
        "{} stayed locked for a minute",
        folder.join("lock").display()
    )))
}

/// Moves the torn versions' log entries (newest first) into `_tablero_torn/`, with a record of
/// why. Call with the lock held and `torn` just inspected. Returns the folders written.
pub(crate) fn set_aside(dir: &Path, torn: &[TornVersion]) -> std::io::Result<Vec<PathBuf>> {
    let log = dir.join("_delta_log");
    let folder = dir.join(TORN_DIR);
    let Some(lowest) = torn.iter().map(|t| t.version).min() else {
        return Ok(Vec::new());
    };
    let now = jiff::Timestamp::now();
    let mut folders = Vec::new();
    for (i, version) in torn.iter().enumerate() {
        let target = folder.join(format!("{:020}-{}", version.version, now.as_millisecond()));
        std::fs::create_dir_all(&target)?;
        let record = serde_json::json!({
            "version": version.version,
            "setAsideAt": now.to_string(),
            "setAsideAtMillis": now.as_millisecond(),
            "problem": version.problem,
            "note": "Moved out of _delta_log because it was torn. Tablero acknowledges a batch only once its log entry and data files are flushed, so this version was never acknowledged (unless the disk lost flushed data). The data files it names stay in the table folder.",
        });
        let record_path = target.join("set-aside.json");
        std::fs::write(&record_path, format!("{record:#}\n"))?;
        sync_file(&record_path)?;
        // `_last_checkpoint` pointing at a version being set aside (or unreadable) goes too,
        // with the newest version, before any entry moves.
        if i == 0 {
            let last = log.join("_last_checkpoint");
            let points_above = std::fs::read_to_string(&last).ok().map(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("version").and_then(|v| v.as_u64()))
                    .is_none_or(|v| v >= lowest)
            });
            if points_above == Some(true) {
                std::fs::rename(&last, target.join("_last_checkpoint"))?;
            }
        }
        let prefix = format!("{:020}.", version.version);
        for entry in std::fs::read_dir(&log)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                std::fs::rename(entry.path(), target.join(&name))?;
            }
        }
        sync_dir(&target)?;
        folders.push(target);
    }
    sync_dir(&folder)?;
    sync_dir(&log)?;
    Ok(folders)
}

/// The versions set aside so far, oldest first.
pub(crate) fn history(dir: &Path) -> Vec<SetAside> {
    let Ok(entries) = std::fs::read_dir(dir.join(TORN_DIR)) else {
        return Vec::new();
    };
    let mut found: Vec<SetAside> = entries
        .flatten()
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("set-aside.json")).ok()?;
            let record: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some(SetAside {
                version: record.get("version")?.as_u64()?,
                at: record.get("setAsideAtMillis")?.as_i64()?,
                problem: record.get("problem")?.as_str()?.to_string(),
                folder: entry.path(),
            })
        })
        .collect();
    found.sort_by_key(|s| (s.at, s.version));
    found
}
