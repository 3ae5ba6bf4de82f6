//! Everything that exists so DMB's clients keep working, in one place:
//! DMB's process routes with its paths and answer shapes, its `GET /logs`,
//! and the `ping` its frontend sends on `/ws/logs`.

pub mod logs;
pub mod services;

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    services::routes().merge(logs::routes())
}

/// DMB's answer for a name it does not know.
fn unknown() -> Response {
    ApiError::detail(StatusCode::NOT_FOUND, "Service not enabled or found").into_response()
}

/// DMB's frontend sends `{"type":"ping"}` on `/ws/logs`; DUMB's also plain
/// `ping`. Both get `pong`.
pub fn is_ping(text: &str) -> bool {
    let text = text.trim();
    if text == "ping" {
        return true;
    }
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
    }
    serde_json::from_str::<Typed<'_>>(text).is_ok_and(|t| t.kind == "ping")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_ping_forms_clients_send() {
        assert!(is_ping(r#"{"type":"ping"}"#));
        assert!(is_ping(r#"{ "type": "ping", "ts": 1 }"#));
        assert!(is_ping("ping"));
        assert!(!is_ping(r#"{"type":"hello"}"#));
        assert!(!is_ping("pingpong"));
    }
}
