//! Tablero's state database (SPEC §14): what Tablero itself writes — accounts, tokens and
//! sessions today; reviews, annotations and alert firings as later migrations.
//!
//! SQLite at `data/tablero.db` by default, PostgreSQL when `tablero.toml` says
//! `state = "postgres://…"`. Both go through sqlx's `Any` driver with one set of queries
//! written in the SQL the two share, and the schema is created and upgraded by the versioned
//! migrations under `migrations/`, applied when the database is opened.
//!
//! **Invariant:** this crate is the only one that writes SQL for the state database; it keeps
//! no KPI data and knows nothing of HTTP, passwords or how a token is made — it stores the
//! hashes it is given.

mod accounts;
mod alerts;
mod reports;
mod reviews;
mod sessions;
mod shares;
mod tokens;

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Pool, SqlSafeStr};

/// A pool of state-database connections, SQLite or PostgreSQL.
type AnyPool = Pool<Any>;
use sqlx::migrate::{Migration, MigrationType, Migrator};

pub use accounts::{Account, NewAccount, Role};
pub use alerts::{Delivery, Firing, NewFiring};
pub use reports::ReportSend;
pub use reviews::{Action, After, Annotation, AnnotationFilter, OverdueAction, Review};
pub use sessions::StoredSession;
pub use shares::{NewShare, Share};
pub use tokens::{NewToken, TokenInfo};

/// The migrations, in order. A new table is a new file here, never an edit of an old one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts, tokens and sessions",
        include_str!("../migrations/0001_accounts.sql"),
    ),
    (
        2,
        "alert firings and deliveries",
        include_str!("../migrations/0002_alerts.sql"),
    ),
    (
        3,
        "reviews, their actions, and annotations",
        include_str!("../migrations/0003_reviews.sql"),
    ),
    (
        4,
        "share links",
        include_str!("../migrations/0004_shares.sql"),
    ),
    (
        5,
        "scheduled reports' sends",
        include_str!("../migrations/0005_reports.sql"),
    ),
];

/// Which server holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the state database is: a URL for sqlx, and how to name it to people (without a
/// password).
#[derive(Clone)]
pub struct Location {
    url: String,
    shown: String,
    backend: Backend,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Location {
    /// The workspace's state database: `setting` is `tablero.toml`'s `state` (a
    /// `postgres://`, `postgresql://` or `sqlite:` URL), and without it `data/tablero.db`.
    pub fn for_workspace(root: &Path, setting: Option<&str>) -> Result<Location, StateError> {
        match setting {
            None => Location::sqlite_file(&root.join("data").join("tablero.db")),
            Some(url) => Location::parse(url),
        }
    }

    /// A SQLite file, created when missing.
    pub fn sqlite_file(path: &Path) -> Result<Location, StateError> {
        let absolute = std::path::absolute(path).map_err(|err| StateError::Location {
            location: path.display().to_string(),
            message: err.to_string(),
        })?;
        let file_url = url::Url::from_file_path(&absolute).map_err(|()| StateError::Location {
            location: path.display().to_string(),
            message: "not a file path".into(),
        })?;
        Ok(Location {
            url: format!("sqlite://{}?mode=rwc", file_url.path()),
            shown: absolute.display().to_string(),
            backend: Backend::Sqlite,
        })
    }

    /// A URL as written in `tablero.toml`.
    pub fn parse(text: &str) -> Result<Location, StateError> {
        let bad = |message: &str| StateError::Location {
            location: redact(text),
            message: message.into(),
        };
        let parsed = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let backend = match parsed.scheme() {
            "postgres" | "postgresql" => Backend::Postgres,
            "sqlite" => Backend::Sqlite,
            other => {
                return Err(bad(&format!(
                    "`{other}:` is not a state database; expected postgres://… or sqlite:…"
                )));
            }
        };
        Ok(Location {
            url: text.to_string(),
            shown: redact(text),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// A URL with its password replaced by `***`, for messages and logs.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => text.to_string(),
        Err(_) => "(an unparsable URL)".to_string(),
    }
}

/// What went wrong with the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `state` in `tablero.toml` is not a usable URL.
    #[error("state database {location}: {message}")]
    Location { location: String, message: String },
    /// The database cannot be reached or opened.
    #[error("cannot open the state database {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    /// Its schema cannot be brought to this version (e.g. it was written by a newer Tablero).
    #[error("cannot upgrade the state database {location}: {source}")]
    Migrate {
        location: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed (the server went away, the disk is full…).
    #[error("state database: {0}")]
    Query(#[from] sqlx::Error),
    /// The row to create exists already (an account's e-mail, a token's name).
    #[error("{0}")]
    Exists(String),
    /// The row to change does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A stored value this version cannot read (a role it does not know).
    #[error("state database holds an unreadable value: {0}")]
    Corrupt(String),
}

impl StateError {
    /// Whether the user (their request or settings) is at fault, rather than the database.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StateError::Location { .. } | StateError::Exists(_) | StateError::NotFound(_)
        )
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// An open state database, its schema up to date. Cheap to clone (a connection pool).
#[derive(Clone, Debug)]
pub struct StateDb {
    pool: AnyPool,
    location: Location,
}

impl StateDb {
    /// The state database of the workspace at `root` (SPEC §14) — the `state` setting of its
    /// `tablero.toml`, or `data/tablero.db` —, opened and migrated.
    pub async fn open_workspace(root: &std::path::Path) -> Result<StateDb> {
        let setting =
            tablero_model::load::state_setting(root).map_err(|d| StateError::Location {
                location: "tablero.toml".into(),
                message: d.to_string(),
            })?;
        StateDb::open(&Location::for_workspace(root, setting.as_deref())?).await
    }

    /// Connects (creating a SQLite file and its folder when missing) and applies the
    /// migrations this version has and the database lacks.
    pub async fn open(location: &Location) -> Result<StateDb> {
        sqlx::any::install_default_drivers();
        if location.backend == Backend::Sqlite
            && let Some(folder) = Path::new(&location.shown).parent()
        {
            std::fs::create_dir_all(folder).map_err(|err| StateError::Location {
                location: location.shown.clone(),
                message: format!("cannot create {}: {err}", folder.display()),
            })?;
        }
        let options = AnyPoolOptions::new()
            .max_connections(match location.backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(10));
        let pool = options
            .connect(&location.url)
            .await
            .map_err(|source| StateError::Open {
                location: location.shown.clone(),
                source,
            })?;
        migrator()
            .run(&pool)
            .await
            .map_err(|source| StateError::Migrate {
                location: location.shown.clone(),
                source,
            })?;
        Ok(StateDb {
            pool,
            location: location.clone(),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The schema version: the newest migration applied.
    pub async fn schema_version(&self) -> Result<i64> {
        use sqlx::Row;
        let row = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
