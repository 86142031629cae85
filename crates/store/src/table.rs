//! Store tables: one Delta Lake table per store source, under `data/store/NAME/`.
//!
//! A batch is appended as one Delta commit: its Parquet files are written first, then a single
//! log entry names them, created atomically (a commit that lost a race to another writer is
//! retried on top of the winner). Until that entry exists nothing of the batch is visible, so a
//! crash at any moment leaves exactly the acknowledged batches. An idempotency key travels in
//! the same commit as a Delta *transaction identifier* (`txn` action), so "this key is stored"
//! and "these rows are stored" become true together. Before success is reported the new files
//! and the log entry are flushed to disk.
//!
//! Reading verifies what it reads: if the newest log entry cannot be parsed, or a data file it
//! names is missing, truncated or not Parquet, the table is read at its last good version and
//! the reader gets a message saying so.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::kernel::{StructField, Transaction};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tablero_model::{ColumnType, Source, SourceData};

use crate::error::{Result, StoreError};
use crate::rows::{self, Layout};

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
        let created = DeltaTable::try_from_url(url.clone())
            .await?
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
                    sync(folder)?;
                }
                return Ok(table);
            }
            // Another writer created it first: fall through and load theirs.
            Ok(_) | Err(DeltaTableError::Transaction { .. }) => {}
            Err(DeltaTableError::VersionAlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    DeltaTableBuilder::from_url(url)?
        .load()
        .await
        .map_err(|err| damaged(source, err))
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
    key: Option<&str>,
) -> Result<Appended> {
    require_store(source)?;
    if let Some(key) = key {
        check_key(key)?;
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut table = load_or_create(root, source).await?;
    check_schema(&table, source)?;
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        if let Some(key) = key
            && key_version(&table, key).await?.is_some()
        {
            let version = table.version();
            if let Some(version) = version {
                // The commit holding the key may be another writer's, not yet flushed.
                flush_commits(&table_dir(root, source), version, version)?;
            }
            return Ok(Appended {
                rows: 0,
                version,
                duplicate: true,
            });
        }
        if rows == 0 {
            return Ok(Appended {
                rows: 0,
                version: table.version(),
                duplicate: false,
            });
        }
        let mut properties = CommitProperties::default()
            .with_max_retries(MAX_COMMIT_ATTEMPTS)
            .with_create_checkpoint(false)
            .with_metadata([
                ("tablero.rows".to_string(), serde_json::json!(rows)),
                ("tablero.idempotencyKey".to_string(), serde_json::json!(key)),
            ]);
        if let Some(key) = key {
            properties = properties
                .with_application_transaction(Transaction::new(format!("{KEY_APP_ID}{key}"), 1));
        }
        let first_new = table.version().map(|v| v + 1).unwrap_or(0);
        let written = table
            .clone()
            .write(batches.clone())
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(properties)
            .await;
        match written {
            Ok(new_table) => {
                let version = new_table.version();
                if let Some(version) = version {
                    // Also the commits of writers that won races meanwhile: ours names them
                    // as its past, so it is only as durable as they are.
                    flush_commits(&table_dir(root, source), first_new, version)?;
                }
                compact_if_fragmented(root, source, new_table).await;
                return Ok(Appended {
                    rows,
                    version,
                    duplicate: false,
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
                table.update_state().await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(StoreError::Internal(format!(
        "could not commit to the store table of `{}` after {MAX_COMMIT_ATTEMPTS} attempts",
        source.name.value
    )))
}

/// Flushes the log entries of versions `from..=to`, the data files they add, and their folders
/// to disk.
fn flush_commits(dir: &Path, from: u64, to: u64) -> Result<()> {
    for version in from..=to {
        let log = dir.join("_delta_log").join(format!("{version:020}.json"));
        let text = std::fs::read_to_string(&log)?;
        for line in text.lines() {
            let Ok(action) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(path) = action.pointer("/add/path").and_then(|p| p.as_str()) {
                let decoded = percent_decode(path);
                sync(&dir.join(decoded))?;
            }
        }
        sync(&log)?;
    }
    sync(dir)?;
    sync(&dir.join("_delta_log"))?;
    Ok(())
}

fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| path.to_string())
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
    let table = DeltaTableBuilder::from_url(table_url(&dir)?)?
        .load()
        .await
        .map_err(|err| damaged(source, err))?;
    compact_table(root, source, table).await
}

async fn compact_table(root: &Path, source: &Source, table: DeltaTable) -> Result<Compacted> {
    let files_before = table.snapshot()?.log_data().num_files();
    let (table, _metrics) = table
        .optimize()
        .with_commit_properties(
            CommitProperties::default()
                .with_max_retries(MAX_COMMIT_ATTEMPTS)
                .with_create_checkpoint(false),
        )
        .await?;
    let version = table.version();
    let dir = table_dir(root, source);
    if let Some(version) = version {
        flush_commits(&dir, version, version)?;
    }
    deltalake::checkpoints::create_checkpoint(&table, None).await?;
    // The checkpoint stands in for the entries before it: flush it like a commit.
    for entry in std::fs::read_dir(dir.join("_delta_log"))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let is_checkpoint = version
            .is_some_and(|v| name.starts_with(&format!("{v:020}.checkpoint")))
            || name == "_last_checkpoint";
        if is_checkpoint {
            sync(&entry.path())?;
        }
    }
    sync(&dir.join("_delta_log"))?;
    Ok(Compacted {
        files_before,
        files_after: table.snapshot()?.log_data().num_files(),
        version,
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
    let newest = newest_log_version(&dir);
    let mut first_problem: Option<String> = None;
    let mut version = newest;
    loop {
        let loaded = match version {
            Some(v) => DeltaTableBuilder::from_url(url.clone())?
                .with_version(v)
                .load()
                .await
                .map_err(|err| err.to_string()),
            None => DeltaTableBuilder::from_url(url.clone())?
                .load()
                .await
                .map_err(|err| err.to_string()),
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

/// The highest version with a log entry on disk.
fn newest_log_version(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir.join("_delta_log"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max()
}

/// Checks that every data file a version names exists, has the size the log recorded, and
/// ends like a Parquet file.
fn verify_files(dir: &Path, table: &DeltaTable) -> std::result::Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let snapshot = table.snapshot().map_err(|err| err.to_string())?;
    for file in snapshot.log_data().iter() {
        let relative = percent_decode(&file.path());
        let path = dir.join(&relative);
        let version = table.version().unwrap_or(0);
        let bad = |what: &str| format!("data file {relative} of version {version} is {what}");
        let meta = std::fs::metadata(&path).map_err(|_| bad("missing"))?;
        if meta.len() != file.size() as u64 {
            return Err(bad(&format!(
                "damaged ({} bytes on disk, {} recorded)",
                meta.len(),
                file.size()
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

/// Versions, files, rows and the newest commit of a store table.
pub async fn info(root: &Path, source: &Source) -> Result<Info> {
    let dir = table_dir(root, source);
    let opened = open(root, source).await?;
    let Some(table) = opened.table else {
        return Ok(Info {
            path: dir,
            version: None,
            files: 0,
            rows: 0,
            bytes: 0,
            last_commit: None,
            warning: None,
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
