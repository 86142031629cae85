//! The store's error type, split by who is at fault.

/// What went wrong reading input or using a store table.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input rows are at fault; the message names the file, row and column.
    #[error("{0}")]
    Input(String),
    /// The request is at fault: an unknown source, a source that is not a store source, a bad
    /// idempotency key.
    #[error("{0}")]
    Usage(String),
    /// The table on disk has other columns than the source now declares.
    #[error("{0}")]
    Mismatch(String),
    /// The table on disk cannot be used; the message says what is damaged.
    #[error("{0}")]
    Damaged(String),
    /// An idempotency key already committed with a different batch: nothing was stored.
    #[error("{0}")]
    Conflict(String),
    /// The disk refused a write or a flush (full, failing, read-only); the message says
    /// whether the batch was stored.
    #[error("{0}")]
    Disk(String),
    /// A bug or an unexpected failure inside Tablero or Delta Lake.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the user (their input, request or files) is at fault.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, StoreError::Internal(_) | StoreError::Disk(_))
    }
}

impl From<deltalake::DeltaTableError> for StoreError {
    fn from(err: deltalake::DeltaTableError) -> StoreError {
        StoreError::Internal(err.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> StoreError {
        StoreError::Internal(err.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
