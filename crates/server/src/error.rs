//! One error type for every handler: 4xx carry their message, 5xx are logged and answered
//! generically. JSON clients get `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tablero_engine::EngineError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
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
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> AppError {
        AppError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_parameter",
            message: format!("{name}: {message}"),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> AppError {
        AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "workspace_invalid",
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> AppError {
        tracing::error!(%message, "internal error");
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; see the server log".into(),
        }
    }

    /// An engine error for a request whose parameters are named in the message.
    pub fn from_engine(err: EngineError) -> AppError {
        match err {
            EngineError::User(message) => {
                let status = if message.starts_with("unknown KPI") {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                let code = if status == StatusCode::NOT_FOUND {
                    "not_found"
                } else {
                    "bad_parameter"
                };
                AppError {
                    status,
                    code,
                    message: message.replace("--", ""),
                }
            }
            EngineError::Definitions(d) => AppError::unavailable(
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            EngineError::Internal(message) => AppError::internal(message),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
