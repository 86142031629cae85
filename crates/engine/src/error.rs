//! The engine's error type, split by fault — the request, the workspace's data, a store table,
//! a company database, a limit, a bug — with the store's and connections' own errors kept as
//! their kinds, so the CLI and the server choose exit codes and HTTP statuses without reading
//! messages.

use tablero_model::Diagnostic;

/// What went wrong computing KPIs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workspace's definitions or data files are at fault; the message names the file,
    /// row or column.
    #[error("{0}")]
    Data(String),
    /// A store table cannot be read (damaged, unreadable rows, a failing disk), its kind kept.
    #[error(transparent)]
    Store(tablero_store::StoreError),
    /// A company database the workspace reads failed or refused, its kind kept.
    #[error(transparent)]
    Connection(tablero_connections::ConnectionError),
    /// A request parameter is at fault (an unknown KPI, a bad label, a range over the limit).
    #[error("{0}")]
    Request(RequestError),
    /// Problems found by the checker in the workspace definitions.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Definitions(Vec<Diagnostic>),
    /// A computation needed more memory than the engine's pool grants.
    #[error(
        "the computation needs more memory than the engine may use ({0}); ask for fewer periods or KPIs"
    )]
    ResourcesExhausted(String),
    /// A bug or an environment failure inside Tablero or DataFusion.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestErrorKind {
    /// No KPI has the id asked for.
    UnknownKpi,
    /// A parameter does not parse or does not fit the KPI.
    BadParameter,
    /// A parameter asks for more work than the engine allows (too many periods, say).
    OverLimit,
}

/// A refused request: its kind, the parameter at fault (`from`, `to`, `by`, `where`, `kpi`…)
/// and a message that names neither the CLI flag nor the query parameter, so each edge can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub kind: RequestErrorKind,
    pub param: &'static str,
    pub message: String,
}

impl std::fmt::Display for RequestError {
    /// The command line's spelling: `--from 2026-13: …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            RequestErrorKind::UnknownKpi => write!(f, "{}", self.message),
            _ => write!(f, "--{} {}", self.param.replace('_', "-"), self.message),
        }
    }
}

impl EngineError {
    pub fn request(
        kind: RequestErrorKind,
        param: &'static str,
        message: impl Into<String>,
    ) -> Self {
        EngineError::Request(RequestError {
            kind,
            param,
            message: message.into(),
        })
    }

    pub fn bad_parameter(param: &'static str, message: impl Into<String>) -> Self {
        EngineError::request(RequestErrorKind::BadParameter, param, message)
    }

    pub fn is_user_error(&self) -> bool {
        match self {
            EngineError::Internal(_) => false,
            EngineError::Store(err) => err.is_user_error(),
            EngineError::Connection(err) => err.is_user_error(),
            _ => true,
        }
    }
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(err: datafusion::error::DataFusionError) -> EngineError {
        match err.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(why) => {
                EngineError::ResourcesExhausted(why.clone())
            }
            _ => EngineError::Internal(err.to_string()),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(err: datafusion::arrow::error::ArrowError) -> EngineError {
        EngineError::Internal(err.to_string())
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
