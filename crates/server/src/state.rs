//! The server's shared state: the workspace as last loaded, reloaded when a file under it
//! changes, a cache of computed answers kept fresh in the background, and the limits that
//! keep one client from starving the others.
//!
//! Every request compares a fingerprint of the workspace files (paths, sizes, modification
//! times), taken after it arrived, with the one the engine was built from; requests that
//! arrive together share one look at the files ([`AppState::snapshot`]). When a file changed,
//! the workspace is loaded and checked again (on a blocking thread, not on an async worker, and by one request while
//! the others keep the last load): if it is good, the engine is replaced; if not, the last
//! good engine keeps serving and the errors are shown on the dashboard.
//!
//! Nobody waits on a recomputation of something already answered: an answer computed on the
//! same definitions is served while a newer one is computed in the background, when the data
//! changed or the clock crossed into a new minute (answers without an as-of depend on the
//! clock). `serve` also refreshes the answers asked for lately as soon as that happens
//! ([`AppState::keep_fresh`]). Only a request never answered on these definitions, or one
//! after a write through this server ([`AppState::invalidate`], so that whoever wrote reads
//! what they wrote), is computed on the request's path, once for all who ask at once.
//!
//! Computations run on their own runtime ([`ComputePool`]), so a long one never holds the
//! threads that answer pages; at most [`Limits::computations`] run at once, each within
//! [`Limits::deadline`] (waiting for a turn included), inside DataFusion's memory pool. The
//! cache holds at most [`Limits::cache_bytes`], dropping the oldest answers first.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tablero_engine::{Engine, KpiResult, Request};
use tablero_model::Diagnostic;
use tokio::sync::Semaphore;

use crate::error::{AppError, ComputeError};
use crate::guard::HostPolicy;
use crate::metrics::HttpMetrics;

/// What one request, and all of them together, may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The engine's limits: periods per request and DataFusion's memory pool.
    pub engine: tablero_engine::Limits,
    /// Computations running at once; more wait for a turn.
    pub computations: usize,
    /// How long one request's computation may take, its wait for a turn included.
    pub deadline: Duration,
    /// Bytes of computed results kept for later requests.
    pub cache_bytes: usize,
    /// Batches of rows being stored at once; more wait for a turn.
    pub ingests: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            engine: tablero_engine::Limits {
                // Four years of days, or any sane range of weeks, months and quarters.
                max_periods: 1_500,
                memory_bytes: 2 << 30,
            },
            computations: cores.max(2),
            deadline: Duration::from_secs(30),
            cache_bytes: 64 << 20,
            ingests: 2,
        }
    }
}

/// Stack of each computation thread (address space; pages are touched only when used).
const COMPUTE_STACK_BYTES: usize = 32 << 20;

/// A runtime of its own for DataFusion's work, shut down without blocking when the server's
/// state is dropped (dropping a runtime inside another one would panic).
struct ComputePool {
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

impl ComputePool {
    fn new() -> std::io::Result<ComputePool> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name("tablero-compute")
            // DataFusion plans and optimizes recursively; a formula at the parser's depth limit
            // needs more than tokio's default 2 MiB in a debug build.
            .thread_stack_size(COMPUTE_STACK_BYTES)
            .enable_all()
            .build()?;
        Ok(ComputePool {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
        })
    }
}

impl Drop for ComputePool {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

/// One loaded, checked workspace.
pub struct Loaded {
    pub engine: Arc<Engine>,
    pub warnings: Vec<Diagnostic>,
    /// Increases with every successful reload (new data or new definitions).
    pub version: u64,
    /// Increases when the definitions change (not when only data does): answers computed
    /// on another catalog are never served.
    pub catalog: u64,
    /// The workspace's SMART lint, worked out once per load (it reads only definitions).
    lint: std::sync::OnceLock<Vec<tablero_formula::Finding>>,
}

impl Loaded {
    /// The SMART lint warnings about one KPI or its owner.
    pub fn lint_for(&self, id: &str) -> Vec<String> {
        let Some(kpi) = self.engine.workspace().kpi(id) else {
            return Vec::new();
        };
        self.lint()
            .iter()
            .filter(|f| f.concerns(kpi))
            .map(|f| f.warning.message.clone())
            .collect()
    }

    /// The SMART lint's findings of this load, computed on first use.
    pub fn lint(&self) -> &[tablero_formula::Finding] {
        self.lint.get_or_init(|| {
            tablero_formula::smart_findings(self.engine.workspace(), self.engine.catalog())
        })
    }
}

/// What the dashboard shows of the workspace right now.
#[derive(Clone)]
pub struct Snapshot {
    pub loaded: Option<Arc<Loaded>>,
    /// Errors of the files as they are on disk, when they do not check.
    pub errors: Vec<Diagnostic>,
}

/// A request's cache key: its every field (the KPIs, range, grain, filter and as-of).
type CacheKey = String;

/// Which clock minute a request's answer belongs to: `None` when it names its own as-of
/// moment and so does not change with the clock.
fn minute_of(request: &Request) -> Option<i64> {
    request
        .as_of
        .is_none()
        .then(|| jiff::Timestamp::now().as_second().div_euclid(60))
}

/// A computed answer and when and how it was computed.
#[derive(Clone)]
pub struct Computed {
    pub results: Arc<Vec<KpiResult>>,
    /// When the computation started: the "now" of an answer without as-of.
    pub at: jiff::Timestamp,
    /// How long the engine took.
    pub took: Duration,
}

/// One cached answer.
struct Entry {
    computed: Computed,
    request: Request,
    /// The workspace load it was computed on, and that load's catalog (definitions) version.
    version: u64,
    catalog: u64,
    minute: Option<i64>,
    size: usize,
    last_used: Instant,
    /// The load and minute a newer answer was last started for (it is being computed, or
    /// failed): not started again until one of them changes.
    attempted: Option<(u64, Option<i64>)>,
}

/// How a cached answer stands against the workspace and the clock now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Computed on this load of the workspace, in this minute (or for a fixed as-of).
    Fresh,
    /// Same definitions, but the data changed or the clock moved on: served while a newer
    /// answer is computed.
    Stale,
    /// Computed on other definitions: never served.
    Unusable,
}

impl Entry {
    /// Against the load serving now (its version and catalog), the minute the request's
    /// answer belongs to now, and `floor`, the first load whose answers may be served
    /// ([`AppState::invalidate`]).
    fn freshness(
        &self,
        (version, catalog): (u64, u64),
        minute: Option<i64>,
        floor: u64,
    ) -> Freshness {
        if self.catalog != catalog || self.version < floor {
            Freshness::Unusable
        } else if self.version == version && self.minute == minute {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }
}

/// Computed answers by request, bounded by an estimate of their size in bytes.
#[derive(Default)]
struct ResultCache {
    entries: HashMap<CacheKey, Entry>,
    /// Keys in insertion order, oldest first: the order of eviction.
    order: VecDeque<CacheKey>,
    bytes: usize,
}

impl ResultCache {
    /// Stores an answer, replacing the request's previous one, and drops the oldest answers
    /// until the cache fits `budget` again.
    fn insert(&mut self, key: CacheKey, entry: Entry, budget: usize) {
        self.remove(&key);
        if entry.size > budget {
            return;
        }
        while self.bytes + entry.size > budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(dropped) = self.entries.remove(&oldest) {
                self.bytes -= dropped.size;
            }
        }
        self.bytes += entry.size;
        self.order.push_back(key.clone());
        self.entries.insert(key, entry);
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= old.size;
            self.order.retain(|k| k != key);
        }
    }
}

/// How long after its last request an answer is still kept fresh in the background.
const RECENT: Duration = Duration::from_secs(15 * 60);

/// The load of the workspace a background refresh computes on.
struct Target {
    engine: Arc<Engine>,
    versions: (u64, u64),
}

impl Target {
    fn of(loaded: &Loaded) -> Target {
        Target {
            engine: loaded.engine.clone(),
            versions: (loaded.version, loaded.catalog),
        }
    }
}

/// An estimate of the memory a result holds: its values and their strings.
fn estimated_bytes(results: &[KpiResult]) -> usize {
    results
        .iter()
        .map(|r| {
            std::mem::size_of::<KpiResult>()
                + r.kpi.len()
                + r.values
                    .iter()
                    .map(|v| {
                        std::mem::size_of_val(v)
                            + v.label.len()
                            + v.dim
                                .as_ref()
                                .and_then(|d| d.as_ref())
                                .map_or(0, String::len)
                    })
                    .sum::<usize>()
        })
        .sum()
}

struct Inner {
    root: PathBuf,
    state: RwLock<(Arc<Fingerprint>, Snapshot)>,
    /// Requests that asked for the workspace as it is now, numbered in order of arrival.
    arrivals: AtomicU64,
    /// The latest look at the files, shared by the requests that arrived before it began.
    look: tokio::sync::Mutex<Look>,
    cache: Mutex<ResultCache>,
    /// One lock per request being computed for a missing answer, so that clients asking the
    /// same thing at once wait for one computation instead of starting one each.
    inflight: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Serializes reloads so concurrent requests do not load the workspace twice.
    reload: Mutex<()>,
    /// The version the next load of the workspace gets.
    versions: AtomicU64,
    /// The first load whose answers may be served ([`AppState::invalidate`]).
    floor: AtomicU64,
    limits: Limits,
    pool: ComputePool,
    computations: Semaphore,
    ingests: Semaphore,
}

/// Shared state: cheap to clone, one per server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    pub metrics: Arc<HttpMetrics>,
    /// Request body limit in bytes.
    pub body_limit: usize,
    /// The `Host` values this server answers for.
    pub hosts: HostPolicy,
    /// How long a request body may take to arrive.
    pub body_read: Duration,
    /// Accounts and sessions; `None` serves everyone everything (tests of other parts).
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// The dashboard's cards already built for an answer.
    pub cards: Arc<crate::cards::CardMemo>,
    /// The KPI page's expected bands already fitted for an answer.
    pub expected: Arc<crate::kept::ExpectedMemo>,
}

/// A file's path, size, modification time and identity. The path is kept as its bytes:
/// comparing `PathBuf`s walks their components, and every request compares a fingerprint.
type FileStamp = (std::ffi::OsString, u64, Option<SystemTime>, Identity);

/// What tells a file rewritten in place with its size and modification time put back (`cp
/// -p`, `rsync -t`, `tar x`), or replaced by rename, from the one seen before: the time its
/// inode last changed (set by the system, never by a program) and the inode itself.
type Identity = (i64, i64, u64);

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (meta.ctime(), meta.ctime_nsec(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Identity {
    (0, 0, 0)
}

/// The paths, sizes and modification times of the workspace's files: the definitions apart
/// from the data, since new data alone leaves earlier answers worth showing meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Fingerprint {
    definitions: Vec<FileStamp>,
    data: Vec<FileStamp>,
}

/// A look at the workspace's files: what it saw, and the arrivals it answers (those numbered
/// below `covers`, which arrived before it began, so it saw every change they could know of).
#[derive(Default)]
struct Look {
    covers: u64,
    print: Arc<Fingerprint>,
}

fn fingerprint(root: &Path) -> Fingerprint {
    fn add(entries: &mut Vec<FileStamp>, path: &Path) {
        if let Ok(meta) = std::fs::metadata(path) {
            entries.push((
                path.as_os_str().to_owned(),
                meta.len(),
                meta.modified().ok(),
                identity(&meta),
            ));
        }
    }
    fn add_folder(entries: &mut Vec<FileStamp>, folder: &Path) {
        if let Ok(dir) = std::fs::read_dir(folder) {
            let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                add(entries, &path);
            }
        }
    }
    let mut print = Fingerprint::default();
    add(
        &mut print.definitions,
        &root.join(tablero_model::load::SETTINGS_FILE),
    );
    // Every folder the loader reads, from its own list: an edit to any definition reloads.
    for folder in tablero_model::load::DEFINITION_FOLDERS {
        add_folder(&mut print.definitions, &root.join(folder));
    }
    add_folder(&mut print.data, &root.join("data"));
    // The state database (sessions, reviews, alert firings) lives there too, and is no data
    // of any KPI: its writes must not look like new data.
    print.data.retain(|(path, _, _, _)| {
        !Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("tablero.db"))
    });
    // A commit to a store table adds a file to its log folder, changing the folder.
    if let Ok(dir) = std::fs::read_dir(root.join("data").join("store")) {
        let mut logs: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path().join("_delta_log")))
            .collect();
        logs.sort();
        for log in logs {
            add(&mut print.data, &log);
        }
    }
    print
}

fn load(
    root: &Path,
    (version, catalog): (u64, u64),
    limits: tablero_engine::Limits,
) -> Result<Loaded, Vec<Diagnostic>> {
    match tablero_engine::open_with_limits(root, limits) {
        Ok((engine, warnings)) => Ok(Loaded {
            engine: Arc::new(engine),
            warnings,
            version,
            catalog,
            lint: std::sync::OnceLock::new(),
        }),
        Err(tablero_engine::EngineError::Definitions(errors)) => Err(errors),
        Err(other) => Err(vec![Diagnostic::error(None, other.to_string())]),
    }
}

impl AppState {
    /// The state database, when this server has one (accounts, reviews, share links).
    pub fn db(&self) -> Result<tablero_state::StateDb, AppError> {
        self.auth
            .as_ref()
            .map(|a| a.db.clone())
            .ok_or_else(|| AppError::unavailable("this server has no state database"))
    }

    /// Loads the workspace at `root` with the default [`Limits`]; a workspace with errors
    /// still opens, showing them.
    pub fn open(root: &Path) -> AppState {
        AppState::open_with(root, Limits::default()).expect("a runtime for computations")
    }

    /// Loads the workspace at `root`, held to `limits`. Fails only when the computation
    /// runtime cannot start (no threads left).
    pub fn open_with(root: &Path, limits: Limits) -> std::io::Result<AppState> {
        let print = fingerprint(root);
        let snapshot = match load(root, (1, 1), limits.engine) {
            Ok(loaded) => Snapshot {
                loaded: Some(Arc::new(loaded)),
                errors: Vec::new(),
            },
            Err(errors) => Snapshot {
                loaded: None,
                errors,
            },
        };
        Ok(AppState {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                state: RwLock::new((Arc::new(print), snapshot)),
                arrivals: AtomicU64::new(0),
                look: tokio::sync::Mutex::new(Look::default()),
                cache: Mutex::new(ResultCache::default()),
                inflight: Mutex::new(HashMap::new()),
                reload: Mutex::new(()),
                versions: AtomicU64::new(2),
                floor: AtomicU64::new(0),
                limits,
                pool: ComputePool::new()?,
                computations: Semaphore::new(limits.computations.max(1)),
                ingests: Semaphore::new(limits.ingests.max(1)),
            }),
            metrics: Arc::new(HttpMetrics::default()),
            body_limit: 1 << 20,
            hosts: HostPolicy {
                bound: None,
                any: false,
            },
            body_read: crate::listen::Timeouts::default().body_read,
            auth: None,
            cards: Arc::default(),
            expected: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// A turn to store a batch, waiting at most the deadline for one.
    pub async fn ingest_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(self.inner.limits.deadline, self.inner.ingests.acquire())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The workspace as it is now, reloaded first if a file changed. The file system is read
    /// on a blocking thread.
    pub async fn snapshot(&self) -> Snapshot {
        let print = self.look().await;
        {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            if state.0 == print {
                return state.1.clone();
            }
        }
        let state = self.clone();
        match tokio::task::spawn_blocking(move || state.snapshot_blocking(print)).await {
            Ok(snapshot) => snapshot,
            Err(_) => self.current(),
        }
    }

    /// The workspace's files as they are now: a look begun after this call, shared with every
    /// other request that arrived before that look began — under load, one look answers many
    /// requests instead of each reading the folders, and none is answered with a look older
    /// than itself, so a change is seen by every request that comes after it.
    async fn look(&self) -> Arc<Fingerprint> {
        let ticket = self.inner.arrivals.fetch_add(1, Ordering::SeqCst);
        let mut look = self.inner.look.lock().await;
        if look.covers > ticket {
            return look.print.clone();
        }
        let covers = self.inner.arrivals.load(Ordering::SeqCst);
        let root = self.inner.root.clone();
        match tokio::task::spawn_blocking(move || fingerprint(&root)).await {
            Ok(print) => {
                *look = Look {
                    covers,
                    print: Arc::new(print),
                };
                look.print.clone()
            }
            // The look could not be made: what is serving stays.
            Err(_) => {
                let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
                state.0.clone()
            }
        }
    }

    /// The snapshot in memory, without looking at the files.
    fn current(&self) -> Snapshot {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        state.1.clone()
    }

    fn snapshot_blocking(&self, print: Arc<Fingerprint>) -> Snapshot {
        let (previous_print, previous) = {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            if state.0 == print {
                return state.1.clone();
            }
            state.clone()
        };
        // Another request is loading the workspace: the last load answers meanwhile, unless a
        // write through this server came after it (then wait for the new one).
        let floor = self.inner.floor.load(Ordering::SeqCst);
        let serving_is_current = previous.loaded.as_ref().is_none_or(|l| l.version >= floor);
        let _guard = match self.inner.reload.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if serving_is_current => return previous,
            Err(std::sync::TryLockError::WouldBlock) => {
                self.inner.reload.lock().unwrap_or_else(|e| e.into_inner())
            }
        };
        {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            if state.0 == print {
                return state.1.clone();
            }
        }
        let version = self.inner.versions.fetch_add(1, Ordering::SeqCst);
        // The definitions the serving engine was built from are the previous fingerprint's
        // only when that one loaded without errors.
        let catalog = match &previous.loaded {
            Some(loaded)
                if previous.errors.is_empty()
                    && previous_print.definitions == print.definitions =>
            {
                loaded.catalog
            }
            _ => version,
        };
        let snapshot = match load(
            &self.inner.root,
            (version, catalog),
            self.inner.limits.engine,
        ) {
            Ok(loaded) => {
                tracing::info!(version, "workspace reloaded");
                Snapshot {
                    loaded: Some(Arc::new(loaded)),
                    errors: Vec::new(),
                }
            }
            Err(errors) => {
                tracing::warn!(
                    errors = errors.len(),
                    "workspace has errors; serving the last good catalog"
                );
                Snapshot {
                    loaded: previous.loaded.clone(),
                    errors,
                }
            }
        };
        // A write through this server while loading: the files may have been looked at before
        // it, so the next request loads again (no fingerprint matches the empty one).
        let print = if version < self.inner.floor.load(Ordering::SeqCst) {
            Arc::default()
        } else {
            print
        };
        *self.inner.state.write().unwrap_or_else(|e| e.into_inner()) = (print, snapshot.clone());
        snapshot
    }

    /// After a write through this server (rows pushed, a manual value): the next request
    /// reloads the workspace, and no answer computed on a load started before now is served
    /// again, so whoever wrote reads what they wrote.
    pub fn invalidate(&self) {
        let next = self.inner.versions.load(Ordering::SeqCst);
        self.inner.floor.fetch_max(next, Ordering::SeqCst);
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        state.0 = Arc::default();
    }

    /// How many answers the cache holds (each computed once for a request).
    pub fn answers_kept(&self) -> usize {
        self.inner
            .cache
            .lock()
            .map(|cache| cache.entries.len())
            .unwrap_or_default()
    }

    /// Computes a request, or answers it from the cache; see [`AppState::computed`].
    pub async fn compute(
        &self,
        loaded: &Loaded,
        request: &Request,
    ) -> Result<Arc<Vec<KpiResult>>, ComputeError> {
        Ok(self.computed(loaded, request).await?.results)
    }

    /// A request's answer: the cached one when it was computed on this load of the workspace
    /// in this minute; the last one computed on the same definitions while a newer one is
    /// computed in the background, when the data changed or the clock moved into a new
    /// minute; otherwise computed now, once for all the clients asking at the same time.
    pub async fn computed(
        &self,
        loaded: &Loaded,
        request: &Request,
    ) -> Result<Computed, ComputeError> {
        let key = format!("{request:?}");
        if let Some(found) = self.cached(&key, loaded) {
            return Ok(found);
        }
        let turn = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let started = Instant::now();
        let Ok(_turn) = tokio::time::timeout(self.inner.limits.deadline, turn.lock()).await else {
            return Err(ComputeError::Busy);
        };
        let answer = match self.cached(&key, loaded) {
            Some(found) => Ok(found),
            None => {
                let budget = self.inner.limits.deadline.saturating_sub(started.elapsed());
                let computed = self
                    .compute_now(loaded.engine.clone(), request.clone(), budget)
                    .await;
                if let Ok(computed) = &computed {
                    let versions = (loaded.version, loaded.catalog);
                    self.store(key.clone(), request, versions, computed.clone());
                }
                computed
            }
        };
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        answer
    }

    /// The cached answer to a request if it may be served, starting its refresh in the
    /// background when it is stale.
    fn cached(&self, key: &CacheKey, loaded: &Loaded) -> Option<Computed> {
        let floor = self.inner.floor.load(Ordering::SeqCst);
        let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.entries.get_mut(key)?;
        let minute = minute_of(&entry.request);
        match entry.freshness((loaded.version, loaded.catalog), minute, floor) {
            Freshness::Unusable => None,
            Freshness::Fresh => {
                entry.last_used = Instant::now();
                Some(entry.computed.clone())
            }
            Freshness::Stale => {
                entry.last_used = Instant::now();
                if entry.attempted != Some((loaded.version, minute)) {
                    entry.attempted = Some((loaded.version, minute));
                    let state = self.clone();
                    let (key, request) = (key.clone(), entry.request.clone());
                    let target = Target::of(loaded);
                    tokio::spawn(async move { state.refresh(key, request, target).await });
                }
                Some(entry.computed.clone())
            }
        }
    }

    /// Computes a request again on `target` and stores the answer; a failure is logged and
    /// the previous answer keeps being served.
    async fn refresh(&self, key: CacheKey, request: Request, target: Target) {
        let deadline = self.inner.limits.deadline;
        match self
            .compute_now(target.engine.clone(), request.clone(), deadline)
            .await
        {
            Ok(computed) => self.store(key, &request, target.versions, computed),
            Err(err) => tracing::warn!(?err, "cannot refresh a cached answer"),
        }
    }

    /// Stores an answer unless a newer one is there already, or the load it was computed on
    /// predates a write through this server.
    fn store(
        &self,
        key: CacheKey,
        request: &Request,
        (version, catalog): (u64, u64),
        computed: Computed,
    ) {
        if version < self.inner.floor.load(Ordering::SeqCst) {
            return;
        }
        let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        let attempted = match cache.entries.get(&key) {
            Some(old) if old.version > version || old.computed.at > computed.at => return,
            Some(old) => old.attempted,
            None => None,
        };
        let size = key.len() + estimated_bytes(&computed.results);
        let minute = request
            .as_of
            .is_none()
            .then(|| computed.at.as_second().div_euclid(60));
        let entry = Entry {
            computed,
            request: request.clone(),
            version,
            catalog,
            minute,
            size,
            last_used: Instant::now(),
            attempted,
        };
        cache.insert(key, entry, self.inner.limits.cache_bytes);
    }

    /// Computes every answer asked for in the last [`RECENT`] that is stale or was computed
    /// on other definitions, one after the other; see [`AppState::keep_fresh`].
    pub async fn refresh_due(&self, loaded: &Loaded) {
        let floor = self.inner.floor.load(Ordering::SeqCst);
        let due: Vec<(CacheKey, Request)> = {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .entries
                .iter_mut()
                .filter_map(|(key, entry)| {
                    let minute = minute_of(&entry.request);
                    let due = entry.last_used.elapsed() < RECENT
                        && entry.freshness((loaded.version, loaded.catalog), minute, floor)
                            != Freshness::Fresh
                        && entry.attempted != Some((loaded.version, minute));
                    due.then(|| {
                        entry.attempted = Some((loaded.version, minute));
                        (key.clone(), entry.request.clone())
                    })
                })
                .collect()
        };
        for (key, request) in due {
            self.refresh(key, request, Target::of(loaded)).await;
        }
    }

    /// Keeps the answers clients asked for lately fresh without making them wait: every
    /// second, reloads the workspace when a file changed, and when the data changed or the
    /// clock crossed into a new minute, computes those answers again in the background
    /// ([`AppState::refresh_due`]). Runs until the task is aborted.
    pub async fn keep_fresh(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if let Some(loaded) = self.snapshot().await.loaded {
                self.refresh_due(&loaded).await;
            }
        }
    }

    /// Runs the engine on one request within `budget`, timing it.
    async fn compute_now(
        &self,
        engine: Arc<Engine>,
        request: Request,
        budget: Duration,
    ) -> Result<Computed, ComputeError> {
        let at = jiff::Timestamp::now();
        let (results, took) = self
            .run_within(budget, async move {
                let started = Instant::now();
                let results = engine.compute(&request).await?;
                Ok((results, started.elapsed()))
            })
            .await?;
        Ok(Computed {
            results: Arc::new(results),
            at,
            took,
        })
    }

    /// Runs engine work on the computation runtime, in turn and within the deadline; past
    /// the deadline the work is cancelled.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, tablero_engine::EngineError>> + Send + 'static,
    ) -> Result<T, ComputeError> {
        self.run_within(self.inner.limits.deadline, work).await
    }

    /// [`AppState::run`] within `deadline` instead of the server's.
    async fn run_within<T: Send + 'static>(
        &self,
        deadline: Duration,
        work: impl Future<Output = Result<T, tablero_engine::EngineError>> + Send + 'static,
    ) -> Result<T, ComputeError> {
        let started = Instant::now();
        let Ok(Ok(_turn)) = tokio::time::timeout(deadline, self.inner.computations.acquire()).await
        else {
            return Err(ComputeError::Busy);
        };
        let task = self.inner.pool.handle.spawn(work);
        let abort = task.abort_handle();
        match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => Err(ComputeError::Engine(tablero_engine::EngineError::Internal(
                format!("the computation stopped: {join}"),
            ))),
            Err(_) => {
                abort.abort();
                Err(ComputeError::Deadline(self.inner.limits.deadline))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_fresh_stale_or_not_at_all() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        // (what the answer was computed on: version, catalog, minute;
        //  now: version, catalog, minute, floor; expected)
        let cases = [
            ((4, 2, Some(100)), (4, 2, Some(100), 0), Freshness::Fresh),
            // A fixed as-of does not move with the clock.
            ((4, 2, None), (4, 2, None, 0), Freshness::Fresh),
            // The clock moved into a new minute.
            ((4, 2, Some(100)), (4, 2, Some(101), 0), Freshness::Stale),
            // New data, same definitions.
            ((4, 2, Some(100)), (5, 2, Some(100), 0), Freshness::Stale),
            // New definitions: never served.
            ((4, 2, Some(100)), (5, 5, Some(100), 0), Freshness::Unusable),
            // Computed on a load that started before a write through the server.
            ((4, 2, Some(100)), (4, 2, Some(100), 5), Freshness::Unusable),
            ((5, 2, Some(100)), (6, 2, Some(100), 5), Freshness::Stale),
        ];
        for ((version, catalog, minute), (v, c, m, floor), expected) in cases {
            let entry = Entry {
                computed: Computed {
                    results: Arc::new(Vec::new()),
                    at,
                    took: Duration::ZERO,
                },
                request: Request::default(),
                version,
                catalog,
                minute,
                size: 0,
                last_used: Instant::now(),
                attempted: None,
            };
            assert_eq!(
                entry.freshness((v, c), m, floor),
                expected,
                "computed on {version}/{catalog}/{minute:?}, now {v}/{c}/{m:?}, floor {floor}"
            );
        }
    }
}
