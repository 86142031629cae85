//! One error type for every handler: 4xx carry their message, 5xx are logged and answered
//! generically. JSON clients get `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tablero_engine::{EngineError, RequestError, RequestErrorKind};

use crate::state::ComputeError;

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
                    code: "over_limit",
                    message: format!("{param}: {message}"),
                },
            },
            EngineError::User(message) => AppError {
                status: StatusCode::BAD_REQUEST,
                code: "bad_request",
                message,
            },
            EngineError::Definitions(d) => AppError::unavailable(
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            EngineError::ResourcesExhausted(why) => AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "over_limit",
                message: EngineError::ResourcesExhausted(why).to_string(),
            },
            EngineError::Internal(message) => AppError::internal(message),
        }
    }

    /// A computation that failed, found no turn, or ran out of time.
    pub fn from_compute(err: ComputeError) -> AppError {
        match err {
            ComputeError::Engine(err) => AppError::from_engine(err),
            ComputeError::Busy => AppError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "busy",
                message: "the server is busy with other computations; try again shortly".into(),
            },
            ComputeError::Deadline(deadline) => AppError {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: "deadline_exceeded",
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
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let retry = matches!(self.code, "busy" | "over_limit") && self.status.is_server_error();
        let mut response = (self.status, Json(body)).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
