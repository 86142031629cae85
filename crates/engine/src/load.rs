//! Loading a source's rows into DataFusion with the types its YAML declares.
//!
//! CSV files are read by Tablero itself ([`tablero_store::rows::read_csv`]), so that
//! delimiters, decimal commas, a UTF-8 BOM, strftime date formats and local times in the
//! workspace time zone are honoured exactly, and a cell that does not parse is reported with
//! its file, line and column. Parquet files and store tables (Delta Lake) are scanned by
//! DataFusion and cast to the declared types. Every way, each `date` and `timestamp` column
//! becomes an instant: microseconds since the Unix epoch, UTC.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext, cast, col};
use tablero_calendar::Calendar;
use tablero_model::{ColumnType, Source, SourceData};
use tablero_store::rows::{self, Layout};

use crate::error::{EngineError, Result};

/// The schema a source's rows have inside the engine: times as instants.
pub fn source_schema(source: &Source) -> SchemaRef {
    rows::schema(source, Layout::Instants)
}

/// What a source's rows were read from when it was registered: what is computed from them
/// and kept on disk (a daily rollup) is used again only while it is the same.
#[derive(Debug, Clone, PartialEq)]
pub enum DataVersion {
    /// A file, by a BLAKE3 hash of its bytes (hex): a file rewritten with the same size and
    /// modification time, or replaced by rename, is another version (SPEC §14).
    File { content: String },
    /// A store table: its version and the data files that version holds (Delta names each
    /// data file once, by a UUID, and never rewrites it).
    Store { version: u64, files: Vec<String> },
}

/// A registered source.
pub struct Registered {
    /// Shown to the reader when a store table was read at an older version because its
    /// newest one is damaged.
    pub warning: Option<String>,
    /// `None` when it cannot be told (a file unreadable, an empty store source).
    pub version: Option<DataVersion>,
}

/// When a file must be hashed again: any change of its size, modification time, inode or the
/// time its inode changed. The last is set by the system on every write, rename or `touch`
/// (a program can put a modification time back, never that one), so an unchanged stamp means
/// unchanged bytes within this process; a new process hashes each file once.
type Stamp = (u64, Option<std::time::SystemTime>, i64, i64, u64, u64);

#[cfg(unix)]
fn stamp(meta: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    (
        meta.len(),
        meta.modified().ok(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino(),
        meta.dev(),
    )
}

#[cfg(not(unix))]
fn stamp(meta: &std::fs::Metadata) -> Stamp {
    (meta.len(), meta.modified().ok(), 0, 0, 0, 0)
}

/// The content hash of each file this process hashed, with the stamp it had.
static HASHED: std::sync::Mutex<Vec<(std::path::PathBuf, Stamp, String)>> =
    std::sync::Mutex::new(Vec::new());

/// At most this many files' hashes are remembered (the oldest forgotten first).
const HASHED_FILES: usize = 4096;

/// The version of the file at `path`: the hash of its bytes, computed again only when its
/// [`Stamp`] changed since this process last hashed it. With `keep_bytes`, the bytes read to
/// hash it are returned too (none when the hash was remembered). Blocking: call it off the
/// async workers.
pub fn file_version(
    path: &Path,
    keep_bytes: bool,
) -> std::io::Result<(DataVersion, Option<Vec<u8>>)> {
    let before = stamp(&std::fs::metadata(path)?);
    let remembered = HASHED.lock().ok().and_then(|hashed| {
        hashed
            .iter()
            .find(|(p, s, _)| p == path && *s == before)
            .map(|(_, _, h)| h.clone())
    });
    if let Some(content) = remembered {
        return Ok((DataVersion::File { content }, None));
    }
    let (content, bytes) = if keep_bytes {
        let bytes = std::fs::read(path)?;
        (blake3::hash(&bytes).to_hex().to_string(), Some(bytes))
    } else {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(path)?)?;
        (hasher.finalize().to_hex().to_string(), None)
    };
    // Remembered only when nothing changed while it was read: otherwise the next look hashes
    // again.
    let after = stamp(&std::fs::metadata(path)?);
    if after == before
        && let Ok(mut hashed) = HASHED.lock()
    {
        hashed.retain(|(p, _, _)| p != path);
        if hashed.len() >= HASHED_FILES {
            hashed.remove(0);
        }
        hashed.push((path.to_path_buf(), before, content.clone()));
    }
    Ok((DataVersion::File { content }, bytes))
}

/// CSV files this process has parsed, by path: the rows of the version last read (by the
/// hash of its bytes), so that a new engine over the same workspace (the server's, after any
/// change to its data) parses again only the files that changed. At most [`PARSED_FILES`],
/// the oldest out first; the rows are shared with the engines holding them, not copied.
static PARSED: std::sync::Mutex<
    std::collections::VecDeque<(std::path::PathBuf, String, Vec<RecordBatch>)>,
> = std::sync::Mutex::new(std::collections::VecDeque::new());

const PARSED_FILES: usize = 64;

/// What a CSV file's rows depend on: its version, the columns and CSV options it is read
/// with, the zone local times are read in.
fn parse_key(version: &DataVersion, source: &Source, calendar: &Calendar) -> String {
    format!(
        "{version:?}|{:?}|{:?}|{:?}",
        source.columns,
        source.csv,
        calendar.time_zone().iana_name()
    )
}

fn parsed_before(path: &Path, key: &str) -> Option<Vec<RecordBatch>> {
    let parsed = PARSED.lock().ok()?;
    parsed
        .iter()
        .find(|(p, k, _)| p == path && k == key)
        .map(|(_, _, batches)| batches.clone())
}

fn remember_parsed(path: &Path, key: String, batches: &[RecordBatch]) {
    let Ok(mut parsed) = PARSED.lock() else {
        return;
    };
    parsed.retain(|(p, _, _)| p != path);
    if parsed.len() >= PARSED_FILES {
        parsed.pop_front();
    }
    parsed.push_back((path.to_path_buf(), key, batches.to_vec()));
}

/// Registers `source` in `ctx` under its name.
pub async fn register_source(
    ctx: &SessionContext,
    root: &Path,
    source: &Source,
    calendar: &Calendar,
) -> Result<Registered> {
    let name = source.name.value.as_str();
    let rel = match &source.data {
        SourceData::File(rel) => rel,
        SourceData::Store => return register_store(ctx, root, source, calendar).await,
        SourceData::Table { .. } => {
            return Err(EngineError::Internal(format!(
                "source `{name}` is a database table: its leaves run in the database, it is never scanned"
            )));
        }
    };
    let path = root.join(rel);
    let is_parquet = rel
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let cannot_read = {
        let (file, name, label) = (
            source.file.display().to_string(),
            source.name.value.clone(),
            rel.display().to_string(),
        );
        move |err: std::io::Error| {
            EngineError::Data(format!(
                "{file}: cannot read {label} for source `{name}`: {err}"
            ))
        }
    };
    // Hashing (and reading) a large file takes a while: not on an async worker.
    let hash_path = path.clone();
    let looked = tokio::task::spawn_blocking(move || file_version(&hash_path, !is_parquet))
        .await
        .map_err(|e| EngineError::Internal(format!("reading a data file stopped: {e}")))?;
    if is_parquet {
        // An unreadable file is reported by the scan below, with DataFusion's words.
        let version = looked.ok().map(|(version, _)| version);
        let path_text = path.to_string_lossy().to_string();
        let frame = ctx
            .read_parquet(path_text, ParquetReadOptions::default())
            .await
            .map_err(|err| {
                EngineError::Data(format!(
                    "{}: cannot read Parquet file: {err}",
                    rel.display()
                ))
            })?;
        let view = typed_view(frame, source, calendar, &rel.display().to_string())?;
        ctx.register_table(name, view.into_view())?;
        return Ok(Registered {
            warning: None,
            version,
        });
    }
    let (version, bytes) = looked.map_err(cannot_read.clone())?;
    if let Some(batches) = parsed_before(&path, &parse_key(&version, source, calendar)) {
        let table = MemTable::try_new(source_schema(source), split_partitions(batches))?;
        ctx.register_table(name, Arc::new(table))?;
        return Ok(Registered {
            warning: None,
            version: Some(version),
        });
    }
    // Parsing a large file takes seconds: not on an async worker either. The version is that
    // of the bytes parsed (read again when the hash was remembered: the file may have changed
    // since it was looked at).
    let (owned, zone, label) = (source.clone(), calendar.clone(), rel.display().to_string());
    let read_path = path.clone();
    let (version, batches) = tokio::task::spawn_blocking(move || {
        let (version, bytes) = match bytes {
            Some(bytes) => (version, bytes),
            None => {
                let bytes = std::fs::read(&read_path).map_err(cannot_read)?;
                let content = blake3::hash(&bytes).to_hex().to_string();
                (DataVersion::File { content }, bytes)
            }
        };
        let batches = rows::read_csv(&bytes, &label, &owned, &zone).map_err(EngineError::Store)?;
        Ok::<_, EngineError>((version, batches))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("reading a CSV file stopped: {e}")))??;
    remember_parsed(&path, parse_key(&version, source, calendar), &batches);
    let table = MemTable::try_new(source_schema(source), split_partitions(batches))?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(Registered {
        warning: None,
        version: Some(version),
    })
}

/// A store source: its Delta table at the newest intact version, or no rows before the first
/// ingest.
async fn register_store(
    ctx: &SessionContext,
    root: &Path,
    source: &Source,
    calendar: &Calendar,
) -> Result<Registered> {
    let name = source.name.value.as_str();
    let opened = tablero_store::table::open(root, source)
        .await
        .map_err(EngineError::Store)?;
    let Some(table) = opened.table else {
        let empty = MemTable::try_new(source_schema(source), vec![vec![]])?;
        ctx.register_table(name, Arc::new(empty))?;
        return Ok(Registered {
            warning: None,
            version: None,
        });
    };
    let version = DataVersion::Store {
        version: table.version().unwrap_or(0),
        files: tablero_store::table::file_uris(&table).map_err(EngineError::Store)?,
    };
    let provider = tablero_store::table::provider(ctx, &table)
        .await
        .map_err(EngineError::Store)?;
    let frame = ctx.read_table(provider)?;
    let label = tablero_store::table::table_dir(root, source)
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let view = typed_view(frame, source, calendar, &label)?;
    ctx.register_table(name, view.into_view())?;
    if let Some(warning) = &opened.warning {
        tracing::warn!("{warning}");
    }
    Ok(Registered {
        warning: opened.warning,
        version: Some(version),
    })
}

/// The rows of some of a store source's data files (URIs, as [`DataVersion::Store`] lists
/// them), typed as the registered table's: what a rollup reads to take in rows appended since
/// it was made.
pub async fn store_files(
    ctx: &SessionContext,
    root: &Path,
    source: &Source,
    calendar: &Calendar,
    files: Vec<String>,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let label = tablero_store::table::table_dir(root, source)
        .strip_prefix(root)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let frame = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await
        .map_err(|err| EngineError::Data(format!("{label}: cannot read Parquet: {err}")))?;
    Ok(typed_view(frame, source, calendar, &label)?.into_unoptimized_plan())
}

/// Registers `source` in a cluster's session, where every scan must be of files each node
/// can read: a Parquet file as it is; a CSV file parsed here once per file version into a
/// Parquet copy under `.tablero/cache/` of the workspace (instants stored with their UTC
/// zone, so they are not read as local times again); a store table as the Parquet files of
/// its newest intact version.
pub async fn register_source_on_cluster(
    ctx: &SessionContext,
    root: &Path,
    source: &Source,
    calendar: &Calendar,
) -> Result<Option<String>> {
    let name = source.name.value.as_str();
    let (paths, label, warning): (Vec<String>, String, Option<String>) = match &source.data {
        SourceData::File(rel) if is_parquet(rel) => (
            vec![root.join(rel).to_string_lossy().to_string()],
            rel.display().to_string(),
            None,
        ),
        SourceData::File(rel) => {
            let path = root.join(rel);
            let (owned, calendar, label) =
                (source.clone(), calendar.clone(), rel.display().to_string());
            let cache = root.join(".tablero").join("cache");
            let copy = tokio::task::spawn_blocking(move || {
                parquet_copy(&path, &label, &owned, &calendar, &cache)
            })
            .await
            .map_err(|e| EngineError::Internal(format!("copying a CSV file stopped: {e}")))??;
            (vec![copy], rel.display().to_string(), None)
        }
        SourceData::Store => {
            let opened = tablero_store::table::open(root, source)
                .await
                .map_err(EngineError::Store)?;
            let label = tablero_store::table::table_dir(root, source)
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let files = match &opened.table {
                Some(table) => {
                    tablero_store::table::file_uris(table).map_err(EngineError::Store)?
                }
                None => Vec::new(),
            };
            let files = if files.is_empty() {
                // Nothing ingested yet: an empty file of the source's columns.
                let cache = root.join(".tablero").join("cache");
                let empty = write_parquet(&cache, &format!("{name}-empty"), source, Vec::new())?;
                vec![empty]
            } else {
                files
            };
            (files, label, opened.warning)
        }
        SourceData::Table { .. } => {
            return Err(EngineError::Internal(format!(
                "source `{name}` is a database table: its leaves run in the database"
            )));
        }
    };
    let frame = ctx
        .read_parquet(paths, ParquetReadOptions::default())
        .await
        .map_err(|err| EngineError::Data(format!("{label}: cannot read Parquet: {err}")))?;
    let view = typed_view(frame, source, calendar, &label)?;
    ctx.register_table(name, view.into_view())?;
    Ok(warning)
}

fn is_parquet(rel: &Path) -> bool {
    rel.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// The Parquet copy of a CSV source's file for its current bytes and definition, written
/// when missing.
fn parquet_copy(
    path: &Path,
    label: &str,
    source: &Source,
    calendar: &Calendar,
    cache: &Path,
) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|err| {
        EngineError::Data(format!(
            "{}: cannot read {label} for source `{}`: {err}",
            source.file.display(),
            source.name.value
        ))
    })?;
    // The copy's name says what it was made from: the file's bytes, the columns and CSV
    // options it was read with, and the zone local times were read in.
    let mut hasher = blake3::Hasher::new();
    hasher.update(&bytes);
    hasher.update(
        format!(
            "{:?}{:?}{:?}",
            source.columns,
            source.csv,
            calendar.time_zone().iana_name()
        )
        .as_bytes(),
    );
    let stem = format!(
        "{}-{}",
        source.name.value,
        &hasher.finalize().to_hex()[..32]
    );
    let target = cache.join(format!("{stem}.parquet"));
    if target.exists() {
        return Ok(target.to_string_lossy().to_string());
    }
    let batches = rows::read_csv(&bytes, label, source, calendar).map_err(EngineError::Store)?;
    write_parquet(cache, &stem, source, batches)
}

/// Writes `batches` (the engine's layout) as `cache/STEM.parquet`, instants marked UTC;
/// written under a temporary name and renamed, so a reader never sees half a file.
fn write_parquet(
    cache: &Path,
    stem: &str,
    source: &Source,
    batches: Vec<RecordBatch>,
) -> Result<String> {
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    let io = |err: std::io::Error| {
        EngineError::Internal(format!("cannot write {}: {err}", cache.display()))
    };
    std::fs::create_dir_all(cache).map_err(io)?;
    let engine = source_schema(source);
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let fields: Vec<Field> = engine
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                Field::new(f.name(), utc.clone(), f.is_nullable())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let target = cache.join(format!("{stem}.parquet"));
    let partial = cache.join(format!("{stem}.parquet.partial"));
    let file = std::fs::File::create(&partial).map_err(io)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    for batch in batches {
        let batch = cast_batch(&batch, &schema)?;
        writer
            .write(&batch)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
    }
    writer
        .close()
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    std::fs::rename(&partial, &target).map_err(io)?;
    Ok(target.to_string_lossy().to_string())
}

/// `batch`'s columns cast, in order, to the types of `schema`'s.
pub(crate) fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Spreads batches over two partitions so both cores work.
fn split_partitions(batches: Vec<RecordBatch>) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(), Vec::new()];
    for (i, batch) in batches.into_iter().enumerate() {
        parts[i % 2].push(batch);
    }
    parts
}

/// The declared columns of a scanned file or table, cast to the engine's types; dates and
/// zone-less timestamps are local times (SPEC §2), turned into instants by the calendar.
fn typed_view(
    frame: DataFrame,
    source: &Source,
    calendar: &Calendar,
    label: &str,
) -> Result<DataFrame> {
    let schema = frame.schema().clone();
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut projection = Vec::new();
    for column in &source.columns {
        let Some((_, field)) = schema
            .qualified_field_with_unqualified_name(&column.name)
            .ok()
        else {
            return Err(EngineError::Data(format!(
                "{label}: column `{}` declared in {} is not in the file",
                column.name,
                source.file.display()
            )));
        };
        let target = rows::arrow_type(column.ty, Layout::Instants);
        let source_column = || col(datafusion::common::Column::from_name(&column.name));
        let expr = match (field.data_type(), column.ty) {
            (DataType::Date32 | DataType::Date64, ColumnType::Date | ColumnType::Timestamp) => {
                crate::local_time::call(cast(source_column(), DataType::Date32), calendar)
            }
            (DataType::Timestamp(_, None), ColumnType::Date | ColumnType::Timestamp) => {
                crate::local_time::call(cast(source_column(), micros.clone()), calendar)
            }
            (DataType::Timestamp(_, Some(_)), ColumnType::Date | ColumnType::Timestamp) => {
                cast(source_column(), micros.clone())
            }
            (other, ColumnType::Date | ColumnType::Timestamp) => {
                return Err(EngineError::Data(format!(
                    "{label}: column `{}` is {other} in the file, expected a Parquet date or timestamp",
                    column.name
                )));
            }
            _ => cast(source_column(), target),
        };
        projection.push(expr.alias(&column.name));
        // The stored local time too, for the range conditions row groups and files are
        // skipped by (`compile::stored_range`).
        if matches!(column.ty, ColumnType::Date | ColumnType::Timestamp) {
            projection.push(source_column().alias(crate::compile::stored_name(&column.name)));
        }
    }
    Ok(frame.select(projection)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    /// The rows of `ventas` as a new engine's session registers them: the buffer of the
    /// `monto` column (to tell a parse from a reuse), its values, and the rows (held by the
    /// caller, so a new parse cannot land at a freed address).
    async fn registered(root: &Path) -> (usize, Vec<f64>, Vec<RecordBatch>) {
        let (workspace, diagnostics) = tablero_model::load_workspace(root);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        let calendar = Calendar::new("UTC", 1).unwrap();
        let ctx = SessionContext::new();
        let source = workspace.source("ventas").unwrap();
        register_source(&ctx, root, source, &calendar)
            .await
            .unwrap();
        let batches = ctx.table("ventas").await.unwrap().collect().await.unwrap();
        let monto = batches[0].column_by_name("monto").unwrap();
        let values = batches
            .iter()
            .flat_map(|b| {
                let c = b
                    .column_by_name("monto")
                    .unwrap()
                    .as_primitive::<Float64Type>();
                c.values().to_vec()
            })
            .collect();
        (
            monto.to_data().buffers()[0].as_ptr() as usize,
            values,
            batches.clone(),
        )
    }

    /// A CSV file is parsed once per version: a second engine's session gets the same rows
    /// (the same buffers), and a changed file is parsed again.
    #[tokio::test]
    async fn a_csv_file_is_parsed_once_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("tablero.toml", "name = \"x\"\ntimezone = \"UTC\"\n"),
            (
                "sources/ventas.yaml",
                "name: ventas\nfile: data/ventas.csv\ntime: t\ncolumns:\n  t: { type: date }\n  monto: { type: number }\nmeasures:\n  total: { agg: sum, expr: monto }\n",
            ),
            ("data/ventas.csv", "t,monto\n2026-01-05,10\n2026-01-06,20\n"),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        let (first, values, _held) = registered(root).await;
        assert_eq!(values, [10.0, 20.0]);
        let (again, values, _) = registered(root).await;
        assert_eq!((again, values), (first, vec![10.0, 20.0]));
        std::fs::write(
            root.join("data/ventas.csv"),
            "t,monto\n2026-01-05,10\n2026-01-06,20\n2026-01-07,30\n",
        )
        .unwrap();
        let (changed, values, _) = registered(root).await;
        assert_eq!(values, [10.0, 20.0, 30.0]);
        assert_ne!(changed, first);
    }
}
