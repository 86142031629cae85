//! The server's shared state: the workspace as last loaded, reloaded when a file under it
//! changes, an in-memory cache of computed results, and the limits that keep one client from
//! starving the others.
//!
//! Every request compares a fingerprint of the workspace files (paths, sizes, modification
//! times) with the one the engine was built from. When a file changed, the workspace is loaded
//! and checked again (on a blocking thread, not on an async worker): if it is good, the engine
//! and the cache are replaced; if not, the last good engine keeps serving and the errors are
//! shown on the dashboard.
//!
//! Computations run on their own runtime ([`ComputePool`]), so a long one never holds the
//! threads that answer pages; at most [`Limits::computations`] run at once, each within
//! [`Limits::deadline`] (waiting for a turn included), inside DataFusion's memory pool. The
//! result cache holds at most [`Limits::cache_bytes`], dropping the oldest entries first.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tablero_engine::{Engine, KpiResult, Request};
use tablero_model::Diagnostic;
use tokio::sync::Semaphore;

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

/// Why a computation did not give an answer.
#[derive(Debug)]
pub enum ComputeError {
    Engine(tablero_engine::EngineError),
    /// Every computation slot stayed busy until the deadline.
    Busy,
    /// The computation ran past the deadline and was cancelled.
    Deadline(Duration),
}

impl From<tablero_engine::EngineError> for ComputeError {
    fn from(err: tablero_engine::EngineError) -> ComputeError {
        ComputeError::Engine(err)
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
    /// Increases with every successful reload; part of every cache key.
    pub version: u64,
}

/// What the dashboard shows of the workspace right now.
#[derive(Clone)]
pub struct Snapshot {
    pub loaded: Option<Arc<Loaded>>,
    /// Errors of the files as they are on disk, when they do not check.
    pub errors: Vec<Diagnostic>,
}

type CacheKey = (u64, String);

/// Computed results by request, bounded by an estimate of their size in bytes.
#[derive(Default)]
struct ResultCache {
    entries: HashMap<CacheKey, (Arc<Vec<KpiResult>>, usize)>,
    /// Keys in insertion order, oldest first: the order of eviction.
    order: VecDeque<CacheKey>,
    bytes: usize,
}

impl ResultCache {
    fn get(&self, key: &CacheKey) -> Option<Arc<Vec<KpiResult>>> {
        self.entries.get(key).map(|(results, _)| results.clone())
    }

    fn insert(&mut self, key: CacheKey, results: Arc<Vec<KpiResult>>, budget: usize) {
        let size = key.1.len() + estimated_bytes(&results);
        if size > budget || self.entries.contains_key(&key) {
            return;
        }
        while self.bytes + size > budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, freed)) = self.entries.remove(&oldest) {
                self.bytes -= freed;
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.entries.insert(key, (results, size));
    }

    fn clear(&mut self) {
        *self = ResultCache::default();
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
    state: RwLock<(Fingerprint, Snapshot)>,
    cache: Mutex<ResultCache>,
    /// Serializes reloads so concurrent requests do not load the workspace twice.
    reload: Mutex<()>,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

fn fingerprint(root: &Path) -> Fingerprint {
    let mut entries = Vec::new();
    let mut add = |path: &Path| {
        if let Ok(meta) = std::fs::metadata(path) {
            entries.push((path.to_path_buf(), meta.len(), meta.modified().ok()));
        }
    };
    add(&root.join("tablero.toml"));
    for folder in ["sources", "kpis", "dashboards", "data"] {
        if let Ok(dir) = std::fs::read_dir(root.join(folder)) {
            let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                add(&path);
            }
        }
    }
    // A commit to a store table adds a file to its log folder, changing the folder.
    if let Ok(dir) = std::fs::read_dir(root.join("data").join("store")) {
        let mut logs: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path().join("_delta_log")))
            .collect();
        logs.sort();
        for log in logs {
            add(&log);
        }
    }
    Fingerprint(entries)
}

fn load(
    root: &Path,
    version: u64,
    limits: tablero_engine::Limits,
) -> Result<Loaded, Vec<Diagnostic>> {
    match tablero_engine::open_with_limits(root, limits) {
        Ok((engine, warnings)) => Ok(Loaded {
            engine: Arc::new(engine),
            warnings,
            version,
        }),
        Err(tablero_engine::EngineError::Definitions(errors)) => Err(errors),
        Err(other) => Err(vec![Diagnostic::error(None, other.to_string())]),
    }
}

impl AppState {
    /// Loads the workspace at `root` with the default [`Limits`]; a workspace with errors
    /// still opens, showing them.
    pub fn open(root: &Path) -> AppState {
        AppState::open_with(root, Limits::default()).expect("a runtime for computations")
    }

    /// Loads the workspace at `root`, held to `limits`. Fails only when the computation
    /// runtime cannot start (no threads left).
    pub fn open_with(root: &Path, limits: Limits) -> std::io::Result<AppState> {
        let print = fingerprint(root);
        let snapshot = match load(root, 1, limits.engine) {
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
                state: RwLock::new((print, snapshot)),
                cache: Mutex::new(ResultCache::default()),
                reload: Mutex::new(()),
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
        let state = self.clone();
        match tokio::task::spawn_blocking(move || state.snapshot_blocking()).await {
            Ok(snapshot) => snapshot,
            Err(_) => self.current(),
        }
    }

    /// The snapshot in memory, without looking at the files.
    fn current(&self) -> Snapshot {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        state.1.clone()
    }

    fn snapshot_blocking(&self) -> Snapshot {
        let print = fingerprint(&self.inner.root);
        {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            if state.0 == print {
                return state.1.clone();
            }
        }
        let _guard = self.inner.reload.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        if state.0 == print {
            return state.1.clone();
        }
        let version = state.1.loaded.as_ref().map(|l| l.version + 1).unwrap_or(1);
        let snapshot = match load(&self.inner.root, version, self.inner.limits.engine) {
            Ok(loaded) => {
                tracing::info!(version, "workspace reloaded");
                self.inner
                    .cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
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
                    loaded: state.1.loaded.clone(),
                    errors,
                }
            }
        };
        *state = (print, snapshot.clone());
        snapshot
    }

    /// Drops every cached result and makes the next request reload the workspace (after new
    /// rows were committed, for example).
    pub fn invalidate(&self) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        state.0 = Fingerprint::default();
    }

    /// Computes a request, from the cache when the same request was computed on this version.
    pub async fn compute(
        &self,
        loaded: &Loaded,
        request: &Request,
    ) -> Result<Arc<Vec<KpiResult>>, ComputeError> {
        // Without --as-of the answer depends on the clock: cache it per minute.
        let minute = jiff::Timestamp::now().as_second() / 60;
        let key = (loaded.version, format!("{request:?}@{minute}"));
        if let Some(hit) = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(hit);
        }
        let engine = loaded.engine.clone();
        let request = request.clone();
        let results = Arc::new(
            self.run(async move { engine.compute(&request).await })
                .await?,
        );
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, results.clone(), self.inner.limits.cache_bytes);
        Ok(results)
    }

    /// Runs engine work on the computation runtime, in turn and within the deadline; past
    /// the deadline the work is cancelled.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, tablero_engine::EngineError>> + Send + 'static,
    ) -> Result<T, ComputeError> {
        let deadline = self.inner.limits.deadline;
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
                Err(ComputeError::Deadline(deadline))
            }
        }
    }
}
