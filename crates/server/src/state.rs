//! The server's shared state: the workspace as last loaded, reloaded when a file under it
//! changes, and an in-memory cache of computed results.
//!
//! Every request compares a fingerprint of the workspace files (paths, sizes, modification
//! times) with the one the engine was built from. When a file changed, the workspace is loaded
//! and checked again: if it is good, the engine and the cache are replaced; if not, the last
//! good engine keeps serving and the errors are shown on the dashboard.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tablero_engine::{Engine, KpiResult, Request};
use tablero_model::Diagnostic;

use crate::metrics::HttpMetrics;

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

struct Inner {
    root: PathBuf,
    state: RwLock<(Fingerprint, Snapshot)>,
    cache: Mutex<HashMap<CacheKey, Arc<Vec<KpiResult>>>>,
    /// Serializes reloads so concurrent requests do not load the workspace twice.
    reload: Mutex<()>,
}

/// Shared state: cheap to clone, one per server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    pub metrics: Arc<HttpMetrics>,
    /// Request body limit in bytes.
    pub body_limit: usize,
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

fn load(root: &Path, version: u64) -> Result<Loaded, Vec<Diagnostic>> {
    match tablero_engine::open(root) {
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
    /// Loads the workspace at `root`; a workspace with errors still opens, showing them.
    pub fn open(root: &Path) -> AppState {
        let print = fingerprint(root);
        let snapshot = match load(root, 1) {
            Ok(loaded) => Snapshot {
                loaded: Some(Arc::new(loaded)),
                errors: Vec::new(),
            },
            Err(errors) => Snapshot {
                loaded: None,
                errors,
            },
        };
        AppState {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                state: RwLock::new((print, snapshot)),
                cache: Mutex::new(HashMap::new()),
                reload: Mutex::new(()),
            }),
            metrics: Arc::new(HttpMetrics::default()),
            body_limit: 1 << 20,
        }
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The workspace as it is now, reloaded first if a file changed.
    pub fn snapshot(&self) -> Snapshot {
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
        let snapshot = match load(&self.inner.root, version) {
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
    ) -> Result<Arc<Vec<KpiResult>>, tablero_engine::EngineError> {
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
            return Ok(hit.clone());
        }
        let results = Arc::new(loaded.engine.compute(request).await?);
        let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 512 {
            cache.clear();
        }
        cache.insert(key, results.clone());
        Ok(results)
    }
}
