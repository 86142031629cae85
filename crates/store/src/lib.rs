//! Tablero's store: rows pushed by users, kept as Delta Lake tables under
//! `data/store/NAME/` (SPEC §8), and the readers that turn outside files and request bodies
//! into typed Arrow batches.
//!
//! [`rows`] reads CSV, NDJSON, JSON arrays, Parquet and spreadsheets against a source's
//! declared columns — all or nothing, errors naming file, row and column. [`table`] appends a
//! batch as one atomic, idempotent, flushed Delta commit, compacts, and opens a table for
//! reading at its newest intact version.

pub mod error;
pub mod rows;
pub mod table;

pub use error::{Result, StoreError};
pub use table::{Appended, Compacted, Info, Opened};

use std::path::Path;

use tablero_calendar::Calendar;
use tablero_model::Source;

/// Reads every input against `source`'s columns and appends them all as one batch: one bad
/// row anywhere and nothing is stored.
pub async fn ingest(
    root: &Path,
    source: &Source,
    calendar: &Calendar,
    inputs: &[rows::Input<'_>],
    key: Option<&str>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Appended> {
    table::require_store(source)?;
    if let Some(key) = key {
        table::check_key(key)?;
    }
    let mut batches = Vec::new();
    let mut done = 0u64;
    for input in inputs {
        let mut report = |bytes: u64| progress(done + bytes);
        batches.extend(rows::read(input, source, calendar, &mut report)?);
        done += input.bytes.len() as u64;
    }
    table::append(root, source, batches, key).await
}
