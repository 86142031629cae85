//! Store tables: one Delta Lake table per store source, under `data/store/NAME/`.
//!
//! A batch is appended as one Delta commit: its Parquet files are written and flushed first,
//! then a single log entry names them, its contents flushed before it is created atomically
//! (a commit that lost a race to another writer is retried on top of the winner) — see
//! [`crate::durable`]. Until that entry exists nothing of the batch is visible, so a crash at
//! any moment leaves exactly the acknowledged batches (plus, at most, the one being
//! acknowledged). An idempotency key travels in the same commit as a Delta *transaction
//! identifier* (`txn` action) whose version holds the first 63 bits of the batch's SHA-256, so
//! "this key is stored", "these rows are stored" and "this is the body the key was used for"
//! become true together; the full hash is in the commit's `tablero.batchSha256`. A repeated
//! key with the same body stores nothing (after flushing the commit that holds it); with
//! another body it is a [`StoreError::Conflict`].
//!
//! Reading verifies what it reads: if the newest log entry cannot be parsed, or a data file it
//! names is missing, truncated or not Parquet, the table is read at its last good version and
//! the reader gets a message saying so. Writing first sets such torn versions aside
//! ([`crate::torn`]), so a new batch lands on the last intact version where readers see it;
//! damage below an intact newest version makes the writer refuse.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::{Action, StructField, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tablero_model::{ColumnType, Source, SourceData};

use crate::durable::{self, DurableStore, UnflushedCommit};
use crate::error::{Result, StoreError};
use crate::leftovers::{self, Leftover};
use crate::rows::{self, Layout};
use crate::torn::{self, SetAside, TornVersion};

/// The application id prefix of idempotency keys in the Delta log.
const KEY_APP_ID: &str = "tablero-ingest:";
/// Longest accepted idempotency key, in bytes.
const MAX_KEY_BYTES: usize = 200;
/// Commit attempts before a writer gives up (each retry follows another writer's success).
const MAX_COMMIT_ATTEMPTS: usize = 1000;
/// Small files a table may gather before an append compacts it.
pub const COMPACT_AFTER_FILES: usize = 64;
/// How many versions a reader walks back looking for an intact one.
const MAX_WALK_BACK: u64 = 1000;
/// The transaction version of keys committed before batch hashes were recorded: such a key
/// matches any body.
const UNHASHED_KEY_VERSION: i64 = 1;

/// Where a source's store table lives in a workspace.
pub fn table_dir(root: &Path, source: &Source) -> PathBuf {
    root.join("data").join("store").join(&source.name.value)
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Rows the batch added (0 for a repeated key or an empty batch).
    pub rows: usize,
    /// The table version that holds the batch (for a repeated key: the current version).
    pub version: Option<u64>,
    /// The batch's idempotency key had been committed before: nothing was stored.
    pub duplicate: bool,
    /// Torn versions this write set aside before committing (never acknowledged).
    pub set_aside: Vec<TornVersion>,
}

/// A batch's idempotency key and the hash of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    /// SHA-256 of the batch as sent (see [`crate::ingest`]).
    pub body_sha256: [u8; 32],
}

impl Idempotency<'_> {
    /// The `txn` version that records the body: its hash's first 63 bits (never the value of
    /// keys written before hashes were recorded).
    fn txn_version(&self) -> i64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.body_sha256[..8]);
        let value = (u64::from_be_bytes(first) >> 1) as i64;
        if value <= UNHASHED_KEY_VERSION {
            value + 2
        } else {
            value
        }
    }

    fn hex(&self) -> String {
        self.body_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What `tablero store info` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub path: PathBuf,
    pub version: Option<u64>,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Milliseconds since the epoch, and the operation, of the newest commit.
    pub last_commit: Option<(i64, String)>,
    pub warning: Option<String>,
    /// Torn versions on disk now (newest first): the next write or a repair sets them aside.
    pub torn: Vec<TornVersion>,
    /// Versions set aside earlier, oldest first.
    pub set_aside: Vec<SetAside>,
    /// Temporary files crashed writes left, oldest first.
    pub leftovers: Vec<Leftover>,
}

/// The outcome of `tablero store repair`.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired {
    /// The versions set aside now, newest first (empty: nothing was torn).
    pub set_aside: Vec<TornVersion>,
    /// Where their log entries went.
    pub folders: Vec<PathBuf>,
    /// The version the table reads at afterwards.
    pub version: Option<u64>,
    /// Temporary files of crashed writes removed now.
    pub removed: Vec<Leftover>,
    /// Temporary files kept: a write may still be making them.
    pub kept: Vec<Leftover>,
}

/// The outcome of a compaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub files_before: usize,
    pub files_after: usize,
    pub version: Option<u64>,
}

/// A table opened for reading at a verified version.
pub struct Opened {
    /// `None` while nothing has been ingested.
    pub table: Option<DeltaTable>,
    /// Set when the newest version could not be read and an older one is shown.
    pub warning: Option<String>,
}

/// Checks that `source` keeps its rows in the store.
pub fn require_store(source: &Source) -> Result<()> {
    if source.data != SourceData::Store {
        return Err(StoreError::Usage(format!(
            "source `{}` reads its rows from a file ({}), not from the store; add `store: true` to ingest into it",
            source.name.value,
            source.file.display()
        )));
    }
    Ok(())
}

/// Checks an idempotency key: 1 to 200 bytes of visible characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(|c| c.is_control()) {
        return Err(StoreError::Usage(format!(
            "an idempotency key must be 1 to {MAX_KEY_BYTES} bytes of visible characters"
        )));
    }
    Ok(())
}

fn table_url(dir: &Path) -> Result<url::Url> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    url::Url::from_directory_path(&dir)
        .map_err(|()| StoreError::Internal(format!("{} is not a valid path", dir.display())))
}

/// A builder for the table at `url` that writes through [`DurableStore`].
fn builder(url: &url::Url) -> Result<DeltaTableBuilder> {
    Ok(DeltaTableBuilder::from_url(url.clone())?
        .with_storage_backend(DurableStore::new(), url.clone()))
}

fn has_log(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
        && std::fs::read_dir(dir.join("_delta_log")).is_ok_and(|mut entries| {
            entries.any(|e| {
                e.is_ok_and(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".json") && !name.starts_with('_')
                })
            })
        })
}

fn delta_fields(source: &Source) -> Vec<StructField> {
    use deltalake::kernel::DataType as D;
    source
        .columns
        .iter()
        .map(|c| {
            let ty = match c.ty {
                ColumnType::String => D::STRING,
                ColumnType::Integer => D::LONG,
                ColumnType::Number => D::DOUBLE,
                ColumnType::Boolean => D::BOOLEAN,
                ColumnType::Date => D::DATE,
                ColumnType::Timestamp => D::TIMESTAMP,
            };
            StructField::new(&c.name, ty, true)
        })
        .collect()
}

fn damaged(source: &Source, err: impl std::fmt::Display) -> StoreError {
    StoreError::Damaged(format!(
        "the store table of source `{}` cannot be read: {err}",
        source.name.value
    ))
}

/// Loads the table for writing, creating it on first use.
async fn load_or_create(root: &Path, source: &Source) -> Result<DeltaTable> {
    let dir = table_dir(root, source);
    let url = table_url(&dir)?;
    if !has_log(&dir) {
        let created = builder(&url)?
            .build()?
            .create()
            .with_table_name(&source.name.value)
            .with_columns(delta_fields(source))
            .with_save_mode(SaveMode::Ignore)
            .await;
        match created {
            Ok(table) if table.version().is_some() => {
                // The new folders and version 0 must outlive a power cut like any commit.
                flush_commits(&dir, 0, 0)?;
                for folder in dir.ancestors().skip(1).take(2) {
                    durable::sync_dir(folder)?;
                }
                return Ok(table);
            }
            // Another writer created it first: fall through and load theirs.
            Ok(_) | Err(DeltaTableError::Transaction { .. }) => {}
            Err(DeltaTableError::VersionAlreadyExists(_)) => {}
            Err(err) => return Err(write_error(source, err)),
        }
    }
    builder(&url)?
        .load()
        .await
        .map_err(|err| damaged(source, err))
}

/// Makes a table ready for a write: torn versions on top are set aside, damage below an intact
/// version refuses the write, and the columns must still match the declaration.
async fn prepare_write(root: &Path, source: &Source) -> Result<(DeltaTable, Vec<TornVersion>)> {
    let dir = table_dir(root, source);
    leftovers::remove_abandoned(&dir);
    let mut set_aside = Vec::new();
    if has_log(&dir) {
        let inspection = torn::inspect(&dir);
        if !inspection.torn.is_empty() || inspection.too_deep {
            set_aside = set_aside_torn(&dir, source).await?.0;
        }
    }
    let table = load_or_create(root, source).await?;
    if let Err(problem) = verify_files(&dir, &table) {
        return Err(StoreError::Damaged(format!(
            "the store table of source `{}` is damaged below its newest version: {problem}; \
             a batch written on top would not be visible, so nothing is written. Restore the file \
             from a backup (readers show the last version before the damage meanwhile)",
            source.name.value
        )));
    }
    check_schema(&table, source)?;
    Ok((table, set_aside))
}

/// Sets the torn versions on top of the log aside, under the lock, after checking again that
/// they are torn and that the version below them is intact as a whole.
async fn set_aside_torn(dir: &Path, source: &Source) -> Result<(Vec<TornVersion>, Vec<PathBuf>)> {
    let name = &source.name.value;
    let _lock = torn::lock(dir).await.map_err(|err| {
        StoreError::Disk(format!(
            "cannot lock the store table of source `{name}` to set a torn version aside: {err}"
        ))
    })?;
    let inspection = torn::inspect(dir);
    if inspection.torn.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let problems = || {
        inspection
            .torn
            .iter()
            .map(|t| t.problem.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if inspection.too_deep {
        return Err(StoreError::Damaged(format!(
            "the store table of source `{name}` has more than {MAX_WALK_BACK} torn versions on top ({}…); nothing is written — look at data/store/{name}/_delta_log",
            inspection.torn[0].problem
        )));
    }
    if let Some(intact) = inspection.intact {
        let url = table_url(dir)?;
        let below = builder(&url)?
            .with_version(intact)
            .load()
            .await
            .map_err(|err| format!("version {intact} cannot be read ({err})"))
            .and_then(|table| verify_files(dir, &table));
        if let Err(problem) = below {
            return Err(StoreError::Damaged(format!(
                "the store table of source `{name}` is damaged: {}, and below it {problem}; setting the torn versions aside would not make it whole, so nothing is written or moved — restore the damaged files from a backup",
                problems()
            )));
        }
    }
    let folders = torn::set_aside(dir, &inspection.torn).map_err(|err| {
        StoreError::Disk(format!(
            "cannot set the torn versions of source `{name}` aside ({}): {err}",
            problems()
        ))
    })?;
    for t in &inspection.torn {
        tracing::warn!(source = %name, version = t.version, problem = %t.problem, "torn version set aside");
    }
    Ok((inspection.torn, folders))
}

/// Rejects a table whose columns no longer match the source's declaration.
fn check_schema(table: &DeltaTable, source: &Source) -> Result<()> {
    let declared = rows::schema(source, Layout::Stored);
    let stored: SchemaRef = table
        .snapshot()
        .map_err(|err| damaged(source, err))?
        .snapshot()
        .arrow_schema();
    let describe = |fields: Vec<(&str, &DataType)>| {
        fields
            .iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same = declared.fields().len() == stored.fields().len()
        && declared
            .fields()
            .iter()
            .zip(stored.fields())
            .all(|(a, b)| a.name() == b.name() && same_type(a.data_type(), b.data_type()));
    if !same {
        return Err(StoreError::Mismatch(format!(
            "the store table of source `{}` has columns ({}) but {} declares ({}); the store does not change a table's columns",
            source.name.value,
            describe(
                stored
                    .fields()
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect()
            ),
            source.file.display(),
            describe(
                declared
                    .fields()
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect()
            ),
        )));
    }
    Ok(())
}

fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Timestamp(ua, za), DataType::Timestamp(ub, zb)) => {
            ua == ub && za.is_some() == zb.is_some()
        }
        _ => a == b,
    }
}

async fn key_version(table: &DeltaTable, key: &str) -> Result<Option<i64>> {
    let snapshot = table.snapshot()?;
    Ok(snapshot
        .transaction_version(table.log_store().as_ref(), format!("{KEY_APP_ID}{key}"))
        .await?)
}

/// Appends a validated batch as one commit. With a key already committed, stores nothing.
pub async fn append(
    root: &Path,
    source: &Source,
    batches: Vec<RecordBatch>,
    idempotency: Option<Idempotency<'_>>,
) -> Result<Appended> {
    require_store(source)?;
    if let Some(id) = &idempotency {
        check_key(id.key)?;
    }
    let dir = table_dir(root, source);
    durable::quiet_caught_abort_panics();
    durable::phase("store::crash::before_data");
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let (mut table, set_aside) = prepare_write(root, source).await?;
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        if let Some(id) = &idempotency
            && let Some(stored) = key_version(&table, id.key).await?
        {
            if stored != UNHASHED_KEY_VERSION && stored != id.txn_version() {
                return Err(StoreError::Conflict(format!(
                    "idempotency key `{}` was already used for a different batch of source `{}`; nothing was stored. Send the same rows again to have them acknowledged, or use a new key for new rows",
                    id.key, source.name.value
                )));
            }
            flush_key_commit(&dir, id.key).map_err(|err| {
                StoreError::Disk(format!(
                    "idempotency key `{}` is stored but its commit could not be flushed to disk ({err}); send the batch again with the same key",
                    id.key
                ))
            })?;
            return Ok(Appended {
                rows: 0,
                version: table.version(),
                duplicate: true,
                set_aside,
            });
        }
        if rows == 0 {
            return Ok(Appended {
                rows: 0,
                version: table.version(),
                duplicate: false,
                set_aside,
            });
        }
        let mut properties = CommitProperties::default()
            .with_max_retries(MAX_COMMIT_ATTEMPTS)
            .with_create_checkpoint(false)
            .with_metadata([
                ("tablero.rows".to_string(), serde_json::json!(rows)),
                (
                    "tablero.idempotencyKey".to_string(),
                    serde_json::json!(idempotency.map(|id| id.key)),
                ),
                (
                    "tablero.batchSha256".to_string(),
                    serde_json::json!(idempotency.map(|id| id.hex())),
                ),
            ]);
        if let Some(id) = &idempotency {
            properties = properties.with_application_transaction(Transaction::new(
                format!("{KEY_APP_ID}{}", id.key),
                id.txn_version(),
            ));
        }
        let first_new = table.version().map(|v| v + 1).unwrap_or(0);
        match write_and_commit(&table, &batches, properties).await {
            Ok((new_table, version)) => {
                // Also the commits of writers that won races meanwhile: ours names them as its
                // past, so it is only as durable as they are.
                flush_commits(&dir, first_new, version)
                    .map_err(|err| unflushed(source, Some(version), err))?;
                let version = Some(version);
                compact_if_fragmented(root, source, new_table).await;
                durable::phase("store::crash::before_ack");
                return Ok(Appended {
                    rows,
                    version,
                    duplicate: false,
                    set_aside,
                });
            }
            // Another writer won the race (for the same key, or the version): nothing of this
            // attempt is visible; reload, look for the key again, and retry.
            Err(
                DeltaTableError::Transaction {
                    source:
                        TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_),
                }
                | DeltaTableError::VersionAlreadyExists(_),
            ) => {
                table
                    .update_state()
                    .await
                    .map_err(|err| damaged(source, err))?;
            }
            Err(err) => return Err(write_error(source, err)),
        }
    }
    Err(StoreError::Internal(format!(
        "could not commit to the store table of `{}` after {MAX_COMMIT_ATTEMPTS} attempts",
        source.name.value
    )))
}

/// Rows below which an append is written by one writer: a second one would only add a file.
const MIN_ROWS_PER_WRITER: usize = 250_000;

/// Writes `batches` as Parquet files and commits them as one version (a Delta `WRITE` in
/// append mode). Encoding Parquet is most of an append's work, so each core encodes its own
/// contiguous run of the rows into its own files; the commit names them all at once.
/// Returns the table as of that commit and its version.
async fn write_and_commit(
    table: &DeltaTable,
    batches: &[RecordBatch],
    properties: CommitProperties,
) -> std::result::Result<(DeltaTable, u64), DeltaTableError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let writers = cores.min(rows.div_ceil(MIN_ROWS_PER_WRITER)).max(1);
    let mut tasks = Vec::with_capacity(writers);
    for run in runs(batches, rows.div_ceil(writers)) {
        let mut writer = RecordBatchWriter::for_table(table)?;
        tasks.push(tokio::spawn(async move {
            for batch in run {
                writer.write(batch).await?;
            }
            writer.flush().await
        }));
    }
    // Awaited in order, so the log names the files in the order of the rows; dropping the
    // rest on a failure leaves files no commit names, which readers never see.
    let mut actions = Vec::new();
    for task in tasks {
        let adds = task.await.map_err(|err| {
            DeltaTableError::Generic(format!("a Parquet writer stopped: {err}"))
        })??;
        actions.extend(adds.into_iter().map(Action::Add));
    }
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(table.snapshot()? as &dyn TableReference),
            table.log_store(),
            operation,
        )
        .await?;
    // The commit's own snapshot: no second read of the log.
    let mut new_table = table.clone();
    new_table.state = Some(committed.snapshot);
    Ok((new_table, committed.version))
}

/// `batches` cut into runs of about `size` rows each (slices share the batches' memory).
fn runs(batches: &[RecordBatch], size: usize) -> Vec<Vec<RecordBatch>> {
    let size = size.max(1);
    let mut runs = vec![Vec::new()];
    let mut in_run = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if in_run == size {
                runs.push(Vec::new());
                in_run = 0;
            }
            let take = (size - in_run).min(batch.num_rows() - offset);
            if let Some(run) = runs.last_mut() {
                run.push(batch.slice(offset, take));
            }
            offset += take;
            in_run += take;
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// The error of a commit that is visible but could not be flushed: not acknowledged, and the
/// message says the batch may be there.
fn unflushed(source: &Source, version: Option<u64>, err: impl std::fmt::Display) -> StoreError {
    let version = version
        .map(|v| format!(" as version {v}"))
        .unwrap_or_default();
    StoreError::Disk(format!(
        "the batch for source `{}` was committed{version} but could not be flushed to disk ({err}); it is visible now but might not survive a power cut. Send it again with the same idempotency key: that stores nothing twice and flushes it before acknowledging",
        source.name.value
    ))
}

/// Maps a failed write: the disk's refusal (full, failing) as [`StoreError::Disk`], naming
/// what happened to the batch; anything else as internal. Decided from the error chain's
/// types (an [`UnflushedCommit`], an I/O error's kind), never from its text.
fn write_error(source: &Source, err: DeltaTableError) -> StoreError {
    let text = err.to_string();
    let mut links = Vec::new();
    chain(&err, &mut links);
    if links.iter().any(|e| e.is::<UnflushedCommit>()) {
        return unflushed(source, None, text);
    }
    let kinds: Vec<std::io::ErrorKind> = links
        .iter()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .collect();
    let name = &source.name.value;
    if kinds.contains(&std::io::ErrorKind::StorageFull) {
        StoreError::Disk(format!(
            "the disk holding data/store/{name} is full: the batch was not stored ({text}). Free some space and send it again"
        ))
    } else if !kinds.is_empty() {
        StoreError::Disk(format!(
            "writing the store table of source `{name}` failed: the batch was not stored ({text})"
        ))
    } else {
        StoreError::Internal(text)
    }
}

/// Every error in `err`'s chain, `err` first: following `source()`, an I/O error's inner
/// error and an object store's wrapped one.
fn chain<'e>(
    err: &'e (dyn std::error::Error + 'static),
    links: &mut Vec<&'e (dyn std::error::Error + 'static)>,
) {
    let mut current = Some(err);
    while let Some(e) = current {
        links.push(e);
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            chain(inner, links);
        }
        if let Some(deltalake::ObjectStoreError::Generic { source, .. }) =
            e.downcast_ref::<deltalake::ObjectStoreError>()
        {
            chain(source.as_ref(), links);
        }
        current = e.source();
    }
}

/// Flushes the commit holding `key` (another writer's may not be flushed yet) and the log's
/// folder.
fn flush_key_commit(dir: &Path, key: &str) -> std::io::Result<()> {
    if let Some(version) = torn::version_with_transaction(dir, &format!("{KEY_APP_ID}{key}")) {
        flush_commits(dir, version, version)?;
    } else {
        // Older than every entry kept: a checkpoint holds it, flushed when it was written.
        durable::sync_log_dir(&dir.join("_delta_log"))?;
    }
    Ok(())
}

/// Flushes the log entries of versions `from..=to`, the data files they add, and their folders
/// to disk.
fn flush_commits(dir: &Path, from: u64, to: u64) -> std::io::Result<()> {
    for version in from..=to {
        for path in torn::added_files(dir, version) {
            durable::sync_file(&dir.join(path))?;
        }
        durable::sync_file(&torn::log_entry(dir, version))?;
    }
    durable::sync_dir(dir)?;
    durable::sync_log_dir(&dir.join("_delta_log"))?;
    Ok(())
}

/// Many small pushes leave many small files; past a threshold an append compacts them.
/// A failure here loses nothing (the batch is committed), so it is only logged.
async fn compact_if_fragmented(root: &Path, source: &Source, table: DeltaTable) {
    let files = table
        .snapshot()
        .map(|s| s.log_data().num_files())
        .unwrap_or(0);
    if files < COMPACT_AFTER_FILES {
        return;
    }
    if let Err(err) = compact_table(root, source, table).await {
        tracing::warn!(source = %source.name.value, %err, "automatic compaction failed");
    }
}

/// Merges small files into large ones and writes a checkpoint of the log.
pub async fn compact(root: &Path, source: &Source) -> Result<Compacted> {
    require_store(source)?;
    let dir = table_dir(root, source);
    if !has_log(&dir) {
        return Ok(Compacted {
            files_before: 0,
            files_after: 0,
            version: None,
        });
    }
    let (table, _) = prepare_write(root, source).await?;
    compact_table(root, source, table).await
}

async fn compact_table(root: &Path, source: &Source, table: DeltaTable) -> Result<Compacted> {
    durable::quiet_caught_abort_panics();
    let files_before = table.snapshot()?.log_data().num_files();
    let (table, _metrics) = table
        .optimize()
        .with_commit_properties(
            CommitProperties::default()
                .with_max_retries(MAX_COMMIT_ATTEMPTS)
                .with_create_checkpoint(false),
        )
        .await
        .map_err(|err| write_error(source, err))?;
    let version = table.version();
    let dir = table_dir(root, source);
    if let Some(version) = version {
        flush_commits(&dir, version, version)?;
    }
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(|err| write_error(source, err))?;
    // The checkpoint stands in for the entries before it: flush it like a commit.
    for entry in std::fs::read_dir(dir.join("_delta_log"))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let is_checkpoint = version
            .is_some_and(|v| name.starts_with(&format!("{v:020}.checkpoint")))
            || name == "_last_checkpoint";
        if is_checkpoint {
            durable::sync_file(&entry.path())?;
        }
    }
    durable::sync_log_dir(&dir.join("_delta_log"))?;
    Ok(Compacted {
        files_before,
        files_after: table.snapshot()?.log_data().num_files(),
        version,
    })
}

/// Sets the torn versions on top of a store table aside (what a write does first), and says
/// what it did. Damage that setting aside cannot mend is an error naming it.
pub async fn repair(root: &Path, source: &Source) -> Result<Repaired> {
    require_store(source)?;
    let dir = table_dir(root, source);
    let removed = leftovers::remove_abandoned(&dir);
    let kept = leftovers::find(&dir);
    if !has_log(&dir) {
        return Ok(Repaired {
            set_aside: Vec::new(),
            folders: Vec::new(),
            version: None,
            removed,
            kept,
        });
    }
    let (set_aside, folders) = set_aside_torn(&dir, source).await?;
    let opened = open(root, source).await?;
    if let Some(warning) = opened.warning {
        return Err(StoreError::Damaged(format!(
            "{warning}; the damage is below the newest version, which setting torn versions aside does not mend — restore the damaged files from a backup"
        )));
    }
    Ok(Repaired {
        set_aside,
        folders,
        version: opened.table.and_then(|t| t.version()),
        removed,
        kept,
    })
}

/// Opens a store table for reading at its newest intact version.
pub async fn open(root: &Path, source: &Source) -> Result<Opened> {
    require_store(source)?;
    let dir = table_dir(root, source);
    if !has_log(&dir) {
        return Ok(Opened {
            table: None,
            warning: None,
        });
    }
    let url = table_url(&dir)?;
    let newest = torn::newest_log_version(&dir);
    let mut first_problem: Option<String> = None;
    let mut version = newest;
    loop {
        let loaded = match version {
            Some(v) => builder(&url)?
                .with_version(v)
                .load()
                .await
                .map_err(|err| err.to_string()),
            None => builder(&url)?.load().await.map_err(|err| err.to_string()),
        };
        let problem = match loaded {
            Ok(table) => match verify_files(&dir, &table) {
                Ok(()) => {
                    let warning = first_problem.map(|problem| {
                        format!(
                            "store table of source `{}`: {problem}; reading version {} instead, the last intact one",
                            source.name.value,
                            table.version().unwrap_or(0)
                        )
                    });
                    return Ok(Opened {
                        table: Some(table),
                        warning,
                    });
                }
                Err(problem) => problem,
            },
            Err(err) => format!("version {} cannot be read ({err})", version.unwrap_or(0)),
        };
        first_problem.get_or_insert(problem);
        match version {
            Some(v) if v > 0 && newest.is_some_and(|n| n - v < MAX_WALK_BACK) => {
                version = Some(v - 1);
            }
            _ => {
                return Err(damaged(
                    source,
                    first_problem.unwrap_or_default() + "; no earlier version is intact",
                ));
            }
        }
    }
}

/// Checks that every data file a version names exists, has the size the log recorded, and
/// ends like a Parquet file.
fn verify_files(dir: &Path, table: &DeltaTable) -> std::result::Result<(), String> {
    let snapshot = table.snapshot().map_err(|err| err.to_string())?;
    let version = table.version().unwrap_or(0);
    for file in snapshot.log_data().iter() {
        let relative = torn::percent_decode(&file.path());
        torn::check_data_file(dir, &relative, file.size() as u64, version)?;
    }
    Ok(())
}

/// A table provider for DataFusion over an opened table (registering its files with `ctx`).
pub async fn provider(ctx: &SessionContext, table: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
    table.update_datafusion_session(&ctx.state())?;
    table
        .table_provider()
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))
}

/// The Parquet files of the version `table` was opened at, as URIs every reader of the folder
/// can open: for engines that scan them without Delta (the nodes of a cluster).
pub fn file_uris(table: &DeltaTable) -> Result<Vec<String>> {
    Ok(table
        .get_file_uris()
        .map_err(|e| StoreError::Internal(e.to_string()))?
        .collect())
}

/// Versions, files, rows and the newest commit of a store table, with its torn and set-aside
/// versions.
pub async fn info(root: &Path, source: &Source) -> Result<Info> {
    let dir = table_dir(root, source);
    let leftovers = leftovers::find(&dir);
    let opened = open(root, source).await?;
    let (torn, set_aside) = if has_log(&dir) {
        (torn::inspect(&dir).torn, torn::history(&dir))
    } else {
        (Vec::new(), torn::history(&dir))
    };
    let Some(table) = opened.table else {
        return Ok(Info {
            path: dir,
            version: None,
            files: 0,
            rows: 0,
            bytes: 0,
            last_commit: None,
            warning: None,
            torn,
            set_aside,
            leftovers,
        });
    };
    let snapshot = table.snapshot()?;
    let mut rows = 0u64;
    let mut bytes = 0u64;
    let mut files = 0usize;
    for file in snapshot.log_data().iter() {
        files += 1;
        rows += file.num_records().unwrap_or(0) as u64;
        bytes += file.size() as u64;
    }
    let last_commit = {
        use futures::StreamExt;
        let mut history = table.history(Some(1));
        match history.next().await {
            Some(Ok(commit)) => Some((
                commit.timestamp.unwrap_or(0),
                commit.operation.unwrap_or_default(),
            )),
            _ => None,
        }
    };
    Ok(Info {
        path: dir,
        version: table.version(),
        files,
        rows,
        bytes,
        last_commit,
        warning: opened.warning,
        torn,
        set_aside,
        leftovers,
    })
}

/// Every row of a store table at its newest intact version (for tests and tools; the engine
/// scans tables through [`provider`]).
pub async fn read_all(root: &Path, source: &Source) -> Result<Vec<RecordBatch>> {
    let opened = open(root, source).await?;
    let Some(table) = opened.table else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    let provider = provider(&ctx, &table).await?;
    let frame = ctx
        .read_table(provider)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    frame
        .collect()
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Array, Int64Array};
    use deltalake::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(first: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids = Int64Array::from_iter_values(first..first + rows);
        RecordBatch::try_new(schema, vec![Arc::new(ids)]).expect("batch")
    }

    fn ids(run: &[RecordBatch]) -> Vec<i64> {
        run.iter()
            .flat_map(|b| {
                let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..ids.len()).map(|i| ids.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Runs keep the rows' order, cut batches where a run fills, and leave nothing out.
    #[test]
    fn runs_cut_the_rows_in_order_into_runs_of_the_size_asked() {
        // Rows 0..10 in batches of 4, 1 and 5; runs of 4: [0..4], [4..8], [8..10].
        let batches = [batch(0, 4), batch(4, 1), batch(5, 5)];
        let cut = runs(&batches, 4);
        let expected: Vec<Vec<i64>> = vec![(0..4).collect(), (4..8).collect(), (8..10).collect()];
        assert_eq!(cut.iter().map(|r| ids(r)).collect::<Vec<_>>(), expected);
        // One run holds everything when it is large enough; no rows, no runs.
        assert_eq!(runs(&batches, 100).len(), 1);
        assert_eq!(ids(&runs(&batches, 100)[0]), (0..10).collect::<Vec<_>>());
        assert!(runs(&[batch(0, 0)], 4).is_empty());
        // An empty batch between others adds nothing.
        let cut = runs(&[batch(0, 3), batch(3, 0), batch(3, 3)], 3);
        assert_eq!(cut.len(), 2);
        assert_eq!(ids(&cut[1]), vec![3, 4, 5]);
    }
}
