//! Temporary files a crashed write left behind: [`crate::durable`] writes every data file and
//! log entry under a hidden name (`.NAME.PID-N.tablero-tmp`) and renames it once flushed, so a
//! process killed mid-write leaves such a file. No Delta reader takes it for part of the table;
//! it only takes room. A write to the table (when it opens the table) and `tablero store
//! repair` remove those no write can still be making; `tablero store info` lists them.
//!
//! A temporary file may still be written only by the process that named it: one of this
//! machine's that is still running, or — on storage shared between machines — one elsewhere.
//! So a file is removed only when it is not this process's, has not changed for
//! [`QUIET`], and its process is gone from this machine; or, whoever named it, when it has
//! not changed for [`ABANDONED`] (no write takes that long between two of its bytes).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::torn::TORN_DIR;

/// The suffix of a temporary file's name.
pub const SUFFIX: &str = ".tablero-tmp";
/// How long a temporary file of a process gone from this machine must have been left alone.
pub const QUIET: Duration = Duration::from_secs(60);
/// How long any temporary file must have been left alone to be taken as abandoned.
pub const ABANDONED: Duration = Duration::from_secs(3600);

/// A temporary file found in a table's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    pub bytes: u64,
    /// The process that named it, when its name says.
    pub pid: Option<u32>,
    /// How long ago it last changed.
    pub age: Duration,
}

impl Leftover {
    /// Whether no write can still be making it.
    pub fn is_abandoned(&self) -> bool {
        let own = self.pid == Some(std::process::id());
        let gone = self.pid.is_some_and(|pid| !running(pid));
        !own && (self.age >= ABANDONED || (self.age >= QUIET && gone))
    }
}

/// Whether a process with this id runs on this machine.
fn running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true // Cannot tell: only the age decides.
    }
}

/// The process id in a temporary file's name: `.NAME.PID-N.tablero-tmp`.
fn pid_of(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (_, last) = stem.rsplit_once('.')?;
    let (pid, _) = last.split_once('-')?;
    pid.parse().ok()
}

/// The temporary files under a table's folder (its data files' folders and its log), oldest
/// first; set-aside versions are not looked into.
pub fn find(dir: &Path) -> Vec<Leftover> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    let now = SystemTime::now();
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                if name != TORN_DIR {
                    folders.push(entry.path());
                }
            } else if meta.is_file() && name.starts_with('.') && name.ends_with(SUFFIX) {
                let changed = meta.modified().unwrap_or(now);
                found.push(Leftover {
                    path: entry.path(),
                    bytes: meta.len(),
                    pid: pid_of(&name),
                    age: now.duration_since(changed).unwrap_or_default(),
                });
            }
        }
    }
    found.sort_by(|a, b| b.age.cmp(&a.age).then_with(|| a.path.cmp(&b.path)));
    found
}

/// Removes the abandoned temporary files under a table's folder; returns those removed.
/// One that cannot be removed stays (the next write tries again) and is logged.
pub fn remove_abandoned(dir: &Path) -> Vec<Leftover> {
    let mut removed = Vec::new();
    for leftover in find(dir).into_iter().filter(Leftover::is_abandoned) {
        match std::fs::remove_file(&leftover.path) {
            Ok(()) => removed.push(leftover),
            Err(err) => tracing::warn!(
                path = %leftover.path.display(),
                %err,
                "cannot remove a temporary file a crashed write left"
            ),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_read_from_the_name() {
        let cases = [
            (".part-0001.parquet.4242-7.tablero-tmp", Some(4242)),
            (".00000000000000000003.json.17-0.tablero-tmp", Some(17)),
            (".x.tablero-tmp", None),
            (".x.abc-1.tablero-tmp", None),
            ("plain.parquet", None),
        ];
        for (name, pid) in cases {
            assert_eq!(pid_of(name), pid, "{name}");
        }
    }

    #[test]
    fn only_what_no_write_can_still_be_making_is_abandoned() {
        let gone = u32::MAX - 1; // no such process
        let me = std::process::id();
        let minute = Duration::from_secs(60);
        let cases = [
            // (pid, age, abandoned)
            (Some(gone), Duration::from_secs(5), false),
            (Some(gone), minute, true),
            (Some(me), ABANDONED * 2, false),
            (None, minute, false),
            (None, ABANDONED, true),
            (Some(1), minute, false), // a running process (init)
            (Some(1), ABANDONED, true),
        ];
        for (pid, age, abandoned) in cases {
            let leftover = Leftover {
                path: PathBuf::from("x"),
                bytes: 0,
                pid,
                age,
            };
            assert_eq!(leftover.is_abandoned(), abandoned, "{pid:?} {age:?}");
        }
    }
}
