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
    services::routes().merge(logs::routes()).route(
        "/config/onboarding-status",
        axum::routing::get(onboarding_status),
    )
}

/// DMB's frontend asks before every page whether its set-up wizard must
/// run; Logdeck has none.
async fn onboarding_status() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "needs_onboarding": false }))
}

/// DMB's answer for a name it does not know.
fn unknown() -> Response {
    ApiError::detail(StatusCode::NOT_FOUND, "Service not enabled or found").into_response()
}

/// DMB's date in its log lines (`%(asctime)s`): `Apr  1, 2025 12:34:56`,
/// the server's local time, as JavaScript's `new Date()` reads it.
const DMB_TIME: &str = "%b %e, %Y %H:%M:%S";

/// `entry` as DMB's log lines: `<time> - <LEVEL> - <process> subprocess:
/// <line>` for a process's line, without the `subprocess:` part for
/// Logdeck's own (`server_name`) entries, as DMB's own lines are. An entry
/// of several lines is one such line per line, so each reads alone.
pub fn text_lines(entry: &app::LogEntry, server_name: &str) -> String {
    let time = entry
        .timestamp
        .with_timezone(&chrono::Local)
        .format(DMB_TIME)
        .to_string();
    let level = entry.level.as_str();
    let own = entry.process_name == server_name;
    let mut out = String::with_capacity(entry.message.len() + 64);
    for line in entry.message.split('\n') {
        if !out.is_empty() {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(&time);
        out.push_str(" - ");
        out.push_str(level);
        out.push_str(" - ");
        if !own {
            out.push_str(&entry.process_name);
            out.push_str(" subprocess: ");
        }
        out.push_str(line);
    }
    out
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
    fn entries_become_dmb_lines() {
        let entry = |process: &str, message: &str| app::LogEntry {
            message: message.into(),
            level: app::Level::Warning,
            process_name: process.into(),
            timestamp: chrono::Utc::now(),
            seq: 1,
            stream: app::Stream::Stdout,
            pid: None,
            continued: false,
            dropped: None,
            node: None,
        };
        let line = text_lines(&entry("api", "disk low"), "logdeck");
        let (time, rest) = line.split_once(" - ").expect("time");
        assert_eq!(rest, "WARNING - api subprocess: disk low");
        chrono::NaiveDateTime::parse_from_str(time, DMB_TIME).expect("DMB's date");
        let own = text_lines(&entry("logdeck", "api exited"), "logdeck");
        assert!(own.ends_with(" - WARNING - api exited"), "{own}");
        let several = text_lines(&entry("api", "Traceback:\r\n  File x\n"), "logdeck");
        let lines: Vec<&str> = several.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("api subprocess: Traceback:"));
        assert!(lines[1].ends_with("api subprocess:   File x"));
        assert!(lines[2].ends_with("api subprocess: "));
    }

    #[test]
    fn recognises_the_ping_forms_clients_send() {
        assert!(is_ping(r#"{"type":"ping"}"#));
        assert!(is_ping(r#"{ "type": "ping", "ts": 1 }"#));
        assert!(is_ping("ping"));
        assert!(!is_ping(r#"{"type":"hello"}"#));
        assert!(!is_ping("pingpong"));
    }
}
