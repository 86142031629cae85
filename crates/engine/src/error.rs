//! The engine's error type, split by who is at fault.

use tablero_model::Diagnostic;

/// What went wrong computing KPIs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The user's definitions, data or request are at fault; the message says where and why.
    #[error("{0}")]
    User(String),
    /// Problems found by the checker in the workspace definitions.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Definitions(Vec<Diagnostic>),
    /// A bug or an environment failure inside Tablero or DataFusion.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn is_user_error(&self) -> bool {
        !matches!(self, EngineError::Internal(_))
    }
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(err: datafusion::error::DataFusionError) -> EngineError {
        EngineError::Internal(err.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(err: datafusion::arrow::error::ArrowError) -> EngineError {
        EngineError::Internal(err.to_string())
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
