//! Tablero's store: rows pushed by users, kept as Delta Lake tables under
//! `data/store/NAME/` (SPEC §8), and the readers that turn outside files and request bodies
//! into typed Arrow batches.
//!
//! [`rows`] reads CSV, NDJSON, JSON arrays, Parquet and spreadsheets against a source's
//! declared columns — all or nothing, errors naming file, row and column. [`table`] appends a
//! batch as one atomic, idempotent, flushed Delta commit, compacts, repairs, and opens a table
//! for reading at its newest intact version; [`torn`] finds and sets aside torn versions;
//! `durable` makes Delta Lake's writes reach the disk before they are named, and holds the
//! fault-injection points (feature `failpoints`).

mod durable;
pub mod error;
pub mod leftovers;
pub mod rows;
pub mod table;
pub mod torn;

pub use error::{Result, StoreError};
pub use table::{Appended, Compacted, Idempotency, Info, Opened, Repaired};
pub use torn::{SetAside, TornVersion};

use std::path::Path;

use tablero_calendar::Calendar;
use tablero_model::Source;

/// Reads every input against `source`'s columns and appends them all as one batch: one bad
/// row anywhere and nothing is stored. With a key, the batch's hash (of the inputs as sent:
/// format, sheet and bytes of each) is stored with it, so the key repeated with another body
/// is a [`StoreError::Conflict`].
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
    let idempotency = key.map(|key| table::Idempotency {
        key,
        body_sha256: body_sha256(inputs),
    });
    table::append(root, source, batches, idempotency).await
}

/// SHA-256 of a batch as sent: each input's format, sheet and bytes, length-prefixed.
pub fn body_sha256(inputs: &[rows::Input<'_>]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"tablero-batch-1");
    for input in inputs {
        let format = format!("{:?}", input.format);
        let sheet = input.sheet.unwrap_or("");
        for part in [format.as_bytes(), sheet.as_bytes(), input.bytes] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hasher.finalize().into()
}
