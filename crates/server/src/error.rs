//! One error type for every handler: 4xx carry their message, 5xx are logged and answered
//! generically. JSON clients get `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tablero_connections::ConnectionError;
use tablero_engine::{EngineError, RequestError, RequestErrorKind};
use tablero_state::StateError;
use tablero_store::StoreError;

/// Why a computation did not give an answer.
#[derive(Debug)]
pub enum ComputeError {
    Engine(tablero_engine::EngineError),
    /// Every computation slot stayed busy until the deadline.
    Busy,
    /// The computation ran past the deadline and was cancelled.
    Deadline(std::time::Duration),
}

impl From<tablero_engine::EngineError> for ComputeError {
    fn from(err: tablero_engine::EngineError) -> ComputeError {
        ComputeError::Engine(err)
    }
}

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
}

/// A stable, machine-readable error code (`error.code` in the JSON body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Exists,
    UriTooLong,
    UnprocessableEntity,
    MethodNotAllowed,
    HeaderFieldsTooLarge,
    BadParameter,
    BadRequest,
    BadRows,
    Busy,
    ConnectionFailed,
    ConnectionSettings,
    CrossOrigin,
    Csrf,
    DataError,
    DeadlineExceeded,
    Forbidden,
    IdempotencyConflict,
    Internal,
    MisdirectedRequest,
    NoAccounts,
    NotFound,
    NotStored,
    OverLimit,
    PayloadTooLarge,
    RequestTimeout,
    StateUnavailable,
    StorageFailure,
    StoreDamaged,
    TableMismatch,
    Unauthorized,
    UnsupportedMediaType,
    WorkspaceInvalid,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Exists => "exists",
            Code::UriTooLong => "uri_too_long",
            Code::UnprocessableEntity => "unprocessable_entity",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::HeaderFieldsTooLarge => "header_fields_too_large",
            Code::BadParameter => "bad_parameter",
            Code::BadRequest => "bad_request",
            Code::BadRows => "bad_rows",
            Code::Busy => "busy",
            Code::ConnectionFailed => "connection_failed",
            Code::ConnectionSettings => "connection_settings",
            Code::CrossOrigin => "cross_origin",
            Code::Csrf => "csrf",
            Code::DataError => "data_error",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::Forbidden => "forbidden",
            Code::IdempotencyConflict => "idempotency_conflict",
            Code::Internal => "internal",
            Code::MisdirectedRequest => "misdirected_request",
            Code::NoAccounts => "no_accounts",
            Code::NotFound => "not_found",
            Code::NotStored => "not_stored",
            Code::OverLimit => "over_limit",
            Code::PayloadTooLarge => "payload_too_large",
            Code::RequestTimeout => "request_timeout",
            Code::StateUnavailable => "state_unavailable",
            Code::StorageFailure => "storage_failure",
            Code::StoreDamaged => "store_damaged",
            Code::TableMismatch => "table_mismatch",
            Code::Unauthorized => "unauthorized",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::WorkspaceInvalid => "workspace_invalid",
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found` or `bad_parameter`.
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::NOT_FOUND,
            code: Code::NotFound,
            message: message.into(),
        }
    }

    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> AppError {
        AppError {
            status: StatusCode::BAD_REQUEST,
            code: Code::BadParameter,
            message: format!("{name}: {message}"),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: Code::WorkspaceInvalid,
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> AppError {
        tracing::error!(%message, "internal error");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: Code::Internal,
            message: "internal error; see the server log".into(),
        }
    }

    /// An engine error, by kind: an unknown KPI is 404, a bad or excessive parameter 400
    /// (the message names the query parameter), definitions that do not check 503.
    pub fn from_engine(err: EngineError) -> AppError {
        match err {
            EngineError::Request(RequestError {
                kind,
                param,
                message,
            }) => match kind {
                RequestErrorKind::UnknownKpi => AppError::not_found(message),
                RequestErrorKind::BadParameter => AppError::bad_parameter(param, message),
                RequestErrorKind::OverLimit => AppError {
                    status: StatusCode::BAD_REQUEST,
                    code: Code::OverLimit,
                    message: format!("{param}: {message}"),
                },
            },
            // The workspace's own files are at fault, not the request: nothing the client can
            // change makes it work until they are fixed.
            EngineError::Data(message) => AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: Code::DataError,
                message,
            },
            EngineError::Store(err) => match err {
                StoreError::Internal(message) => AppError::internal(message),
                StoreError::Disk(message) => AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: Code::StorageFailure,
                    message,
                },
                StoreError::Damaged(message) | StoreError::Mismatch(message) => AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: Code::StoreDamaged,
                    message,
                },
                other => AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: Code::DataError,
                    message: other.to_string(),
                },
            },
            EngineError::Connection(err) => match err {
                ConnectionError::TooManyRows { .. } => AppError {
                    status: StatusCode::BAD_REQUEST,
                    code: Code::OverLimit,
                    message: err.to_string(),
                },
                // The database's own words stay in the log: they may name hosts and users.
                ConnectionError::Database { ref connection, .. } => {
                    tracing::error!(%err, "a connection's database failed");
                    AppError {
                        status: StatusCode::BAD_GATEWAY,
                        code: Code::ConnectionFailed,
                        message: format!(
                            "connection `{connection}`: the database failed to answer; see the server log"
                        ),
                    }
                }
                ConnectionError::Settings { .. } | ConnectionError::NoTable { .. } => AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: Code::ConnectionSettings,
                    message: err.to_string(),
                },
            },
            EngineError::Definitions(d) => AppError::unavailable(
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            EngineError::ResourcesExhausted(why) => AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: Code::OverLimit,
                message: EngineError::ResourcesExhausted(why).to_string(),
            },
            EngineError::Internal(message) => AppError::internal(message),
        }
    }

    /// A state database error, by kind: a row that is not there is 404, one that exists
    /// already 409, a value it cannot read 500, and a database that does not answer (or
    /// cannot be opened or upgraded) 503 — the same on every route.
    pub fn from_state(err: StateError) -> AppError {
        match err {
            StateError::NotFound(message) => AppError::not_found(message),
            StateError::Exists(message) => AppError {
                status: StatusCode::CONFLICT,
                code: Code::Exists,
                message,
            },
            StateError::Corrupt(_) => AppError::internal(err),
            StateError::Location { .. }
            | StateError::Open { .. }
            | StateError::Migrate { .. }
            | StateError::Query(_) => {
                tracing::error!(%err, "state database");
                AppError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: Code::StateUnavailable,
                    message: "the state database does not answer; try again shortly".into(),
                }
            }
        }
    }

    /// A computation that failed, found no turn, or ran out of time.
    pub fn from_compute(err: ComputeError) -> AppError {
        match err {
            ComputeError::Engine(err) => AppError::from_engine(err),
            ComputeError::Busy => AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: Code::Busy,
                message: "the server is busy with other computations; try again shortly".into(),
            },
            ComputeError::Deadline(deadline) => AppError {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: Code::DeadlineExceeded,
                message: format!(
                    "the computation took longer than {} s and was stopped; ask for fewer periods or KPIs",
                    deadline.as_secs()
                ),
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.message,
            },
        };
        // Worth trying again: the server was busy, or short of memory for this computation.
        let retry = self.code == Code::Busy
            || (self.code == Code::OverLimit && self.status.is_server_error());
        let mut response = (self.status, Json(body)).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
