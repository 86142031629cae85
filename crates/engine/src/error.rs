//! The engine's error type, split by who is at fault, with request errors typed by kind so
//! the CLI and the server choose exit codes and HTTP statuses without reading messages.

use tablero_model::Diagnostic;

/// What went wrong computing KPIs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The user's definitions or data are at fault; the message says where and why.
    #[error("{0}")]
    User(String),
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
        !matches!(self, EngineError::Internal(_))
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
