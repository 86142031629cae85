//! Durable writes for Delta Lake on a local disk, and the store's fault-injection points.
//!
//! Delta Lake writes through an `ObjectStore`; object_store's local one renames or links a new
//! file into place without flushing it. [`DurableStore`] wraps it so that every file Delta Lake
//! writes is on disk before it gets its name: the bytes go to a hidden temporary file beside
//! the target, that file is flushed (fsync), then renamed — or, for a log entry, hard-linked,
//! which fails if the version exists, so two writers never both create it — and the folder is
//! flushed. A commit's data files are written (and so flushed) before its log entry is
//! created, so a version that is visible after a power cut names only complete files, and its
//! log entry is complete too. The one step after the entry is linked is the flush of
//! `_delta_log`; if that fails the commit is visible but maybe not durable, and the error says
//! so ([`UnflushedCommit`]).
//!
//! The steps are fault points of the `fail` crate, compiled in only with the `failpoints`
//! feature and inert unless the `FAILPOINTS` variable names them (`name=action;…`):
//!
//! | point | where |
//! |---|---|
//! | `store::data::write`, `store::data::fsync`, `store::data::dir_fsync` | a data file (or checkpoint) and its folder |
//! | `store::log::write`, `store::log::fsync`, `store::log::dir_fsync` | a log entry and `_delta_log` |
//! | `store::crash::before_data` | the batch is read and checked; nothing of it is written yet |
//! | `store::crash::after_data` | all data files of a commit are durable; the log entry is next |
//! | `store::crash::after_log` | the log entry is linked and flushed; nothing acknowledged yet |
//! | `store::crash::before_ack` | everything is flushed; success is about to be reported |
//!
//! An I/O point with `return` fails that step (`return(enospc)`: disk full, `return(eio)`:
//! an I/O error); a crash point with `return` prints `tablero: failpoint NAME reached` on
//! stderr and goes on, with `return(stop)` it prints that and waits to be killed.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use deltalake::logstore::object_store::{
    self, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart, local::LocalFileSystem,
    path::Path,
};
use futures::stream::BoxStream;

/// What the error of a commit whose log entry exists but whose folder flush failed says.
const UNFLUSHED_COMMIT: &str = "the log entry was created but could not be flushed";

/// The error of a commit whose log entry exists but whose folder flush failed: the batch is
/// visible but might not survive a power cut. Carried inside the I/O error the object store
/// returns, and found again by type in a failed write's error chain.
#[derive(Debug)]
pub(crate) struct UnflushedCommit {
    path: String,
    source: std::io::Error,
}

impl std::fmt::Display for UnflushedCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{UNFLUSHED_COMMIT} ({}): {}", self.path, self.source)
    }
}

impl std::error::Error for UnflushedCommit {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The local file system, with every write flushed before its file gets its name.
#[derive(Debug)]
pub(crate) struct DurableStore {
    inner: LocalFileSystem,
}

impl DurableStore {
    pub(crate) fn new() -> Arc<DurableStore> {
        Arc::new(DurableStore {
            inner: LocalFileSystem::new(),
        })
    }
}

impl std::fmt::Display for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DurableStore({})", self.inner)
    }
}

fn store_error(err: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "DurableStore",
        source: Box::new(err),
    }
}

/// Which kind of file a write is: it decides the fault points' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Log,
}

impl Kind {
    fn of(path: &FsPath) -> Kind {
        let in_log = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|name| name == "_delta_log");
        if in_log { Kind::Log } else { Kind::Data }
    }

    fn point(self, step: &str) -> String {
        match self {
            Kind::Data => format!("store::data::{step}"),
            Kind::Log => format!("store::log::{step}"),
        }
    }
}

/// Writes `payload` to `path` durably: temporary file, flush, rename (or link for
/// `PutMode::Create`), folder flush.
fn write_durably(path: &FsPath, payload: &PutPayload, create: bool) -> object_store::Result<()> {
    let kind = Kind::of(path);
    let commit = create && kind == Kind::Log;
    if commit {
        phase("store::crash::after_data");
    }
    let dir = path
        .parent()
        .ok_or_else(|| store_error(std::io::Error::other("a file without a folder")))?;
    create_dirs(dir).map_err(store_error)?;
    let temp = temporary_name(path);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let parts: Vec<&Bytes> = payload.iter().collect();
        let half = parts.len().div_ceil(2);
        for (i, part) in parts.iter().enumerate() {
            if i == half {
                fault(&kind.point("write"))?;
            }
            file.write_all(part)?;
        }
        if parts.len() < 2 {
            fault(&kind.point("write"))?;
        }
        fault(&kind.point("fsync"))?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(store_error(err));
    }
    if create {
        if let Err(err) = std::fs::hard_link(&temp, path) {
            let _ = std::fs::remove_file(&temp);
            return Err(match err.kind() {
                std::io::ErrorKind::AlreadyExists => object_store::Error::AlreadyExists {
                    path: path.display().to_string(),
                    source: Box::new(err),
                },
                _ => store_error(err),
            });
        }
        let _ = std::fs::remove_file(&temp);
    } else if let Err(err) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(store_error(err));
    }
    let flushed = fault(&kind.point("dir_fsync")).and_then(|()| sync_dir(dir));
    if let Err(err) = flushed {
        if commit {
            return Err(store_error(std::io::Error::new(
                err.kind(),
                UnflushedCommit {
                    path: path.display().to_string(),
                    source: err,
                },
            )));
        }
        return Err(store_error(err));
    }
    if commit {
        phase("store::crash::after_log");
    }
    Ok(())
}

/// A hidden name beside `path` that no Delta reader takes for a log entry or data file.
fn temporary_name(path: &FsPath) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tablero-tmp", std::process::id()))
}

/// Creates `dir` and its missing ancestors, flushing the folder that holds each new one.
fn create_dirs(dir: &FsPath) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(err) => return Err(err),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Flushes a file's contents (and size) to disk.
pub(crate) fn sync_file(path: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Flushes a folder, so the names created or removed in it survive a power cut.
pub(crate) fn sync_dir(path: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Flushes `_delta_log` (its entries' names), with the log's folder fault point.
pub(crate) fn sync_log_dir(path: &FsPath) -> std::io::Result<()> {
    fault("store::log::dir_fsync")?;
    sync_dir(path)
}

#[async_trait::async_trait]
impl ObjectStore for DurableStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let create = match opts.mode {
            PutMode::Overwrite => false,
            PutMode::Create => true,
            PutMode::Update(_) => return self.inner.put_opts(location, payload, opts).await,
        };
        if !opts.attributes.is_empty() {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let path = self.inner.path_to_filesystem(location)?;
        tokio::task::spawn_blocking(move || write_durably(&path, &payload, create))
            .await
            .map_err(|err| store_error(std::io::Error::other(err)))??;
        Ok(PutResult {
            e_tag: None,
            version: None,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let path = self.inner.path_to_filesystem(location)?;
        let kind = Kind::of(&path);
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(DurableUpload { inner, path, kind }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        let to = self.inner.path_to_filesystem(to)?;
        flush_in_place(to).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        let to = self.inner.path_to_filesystem(to)?;
        flush_in_place(to).await
    }
}

/// Flushes a file that already has its name, and its folder.
async fn flush_in_place(path: PathBuf) -> object_store::Result<()> {
    tokio::task::spawn_blocking(move || {
        let kind = Kind::of(&path);
        fault(&kind.point("fsync"))?;
        sync_file(&path)?;
        fault(&kind.point("dir_fsync"))?;
        match path.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    })
    .await
    .map_err(|err| store_error(std::io::Error::other(err)))?
    .map_err(store_error)
}

/// A large data file written in parts by object_store; flushed when completed.
#[derive(Debug)]
struct DurableUpload {
    inner: Box<dyn MultipartUpload>,
    path: PathBuf,
    kind: Kind,
}

#[async_trait::async_trait]
impl MultipartUpload for DurableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if let Err(err) = fault(&self.kind.point("write")) {
            return Box::pin(futures::future::ready(Err(store_error(err))));
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.inner.complete().await?;
        flush_in_place(self.path.clone()).await?;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

/// Silences one panic that delta-rs provokes and catches itself: when a data file's upload
/// fails as it completes (disk full), it aborts object_store's writer, which panics "Already
/// shut down" by design; delta-rs catches that and returns the upload's error, but the panic
/// hook would still print a panic and a backtrace for what is a reported I/O error. Every
/// other panic goes to the hook that was there before.
pub(crate) fn quiet_caught_abort_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_buffered_writer = info.location().is_some_and(|l| {
                l.file().contains("object_store") && l.file().ends_with("buffered.rs")
            });
            let message = info.payload().downcast_ref::<&str>().copied();
            if in_buffered_writer && message == Some("Already shut down") {
                tracing::debug!("delta-rs aborted the upload of a data file that had failed");
                return;
            }
            previous(info);
        }));
    });
}

/// An I/O fault point: `Err` when `FAILPOINTS` makes `name` return.
pub(crate) fn fault(name: &str) -> std::io::Result<()> {
    #[cfg(feature = "failpoints")]
    {
        configure_from_env();
        fail::fail_point!(name, |arg: Option<String>| Err(injected(
            name,
            arg.as_deref()
        )));
    }
    let _ = name;
    Ok(())
}

/// A crash point: announces itself on stderr when `FAILPOINTS` makes `name` return, and with
/// `return(stop)` waits there to be killed (`return(abort)`: aborts the process).
pub(crate) fn phase(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        configure_from_env();
        fail::fail_point!(name, |arg: Option<String>| reached(name, arg.as_deref()));
    }
    let _ = name;
}

#[cfg(feature = "failpoints")]
fn injected(name: &str, arg: Option<&str>) -> std::io::Error {
    match arg {
        Some("enospc") => std::io::Error::from_raw_os_error(28),
        Some("eio") => std::io::Error::from_raw_os_error(5),
        _ => std::io::Error::other(format!("injected fault at {name}")),
    }
}

#[cfg(feature = "failpoints")]
fn reached(name: &str, arg: Option<&str>) {
    eprintln!("tablero: failpoint {name} reached");
    match arg {
        Some("stop") => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Some("abort") => std::process::abort(),
        _ => {}
    }
}

/// Reads `FAILPOINTS` once per process (the `fail` crate's own syntax).
#[cfg(feature = "failpoints")]
fn configure_from_env() {
    static CONFIGURED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CONFIGURED.get_or_init(|| {
        let Ok(points) = std::env::var("FAILPOINTS") else {
            return;
        };
        for point in points.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let configured = match point.split_once('=') {
                Some((name, actions)) => fail::cfg(name.trim(), actions.trim()),
                None => Err("expected NAME=ACTIONS".to_string()),
            };
            if let Err(err) = configured {
                eprintln!("tablero: FAILPOINTS: cannot use `{point}`: {err}");
            }
        }
    });
}
