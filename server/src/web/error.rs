//! Every error answer of the HTTP API, in one type: Logdeck's own
//! `{"error": ...}` (with the process, for a conflict) and DMB's FastAPI
//! shape `{"detail": ...}` on its compatible routes.

use app::protocol::{ConflictBody, ErrorBody};
use app::ProcessInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer: a status and a body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Error(String),
    Conflict(String, Box<ProcessInfo>),
    Detail(String),
}

impl ApiError {
    /// `{"error": message}` with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Body::Error(message.into()),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 409: the request does not fit the process's state, shown as it is.
    pub fn conflict(message: impl Into<String>, process: ProcessInfo) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            body: Body::Conflict(message.into(), Box::new(process)),
        }
    }

    /// DMB's `{"detail": message}` with `status`.
    pub fn detail(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Body::Detail(message.into()),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.body {
            Body::Error(error) => (self.status, Json(ErrorBody { error })).into_response(),
            Body::Conflict(error, process) => (
                self.status,
                Json(ConflictBody {
                    error,
                    process: *process,
                }),
            )
                .into_response(),
            Body::Detail(detail) => {
                (self.status, Json(serde_json::json!({ "detail": detail }))).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn each_shape_has_its_status_and_body() {
        assert_eq!(
            body(ApiError::bad_request("invalid limit")).await,
            (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": "invalid limit" })
            )
        );
        assert_eq!(
            body(ApiError::detail(
                StatusCode::NOT_FOUND,
                "Service not enabled or found"
            ))
            .await,
            (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "detail": "Service not enabled or found" })
            )
        );
    }
}
