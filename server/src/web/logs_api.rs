//! Log history over HTTP: `GET /api/logs` (pages, newest first),
//! `GET /api/logs/download` (a streamed file), `GET /api/info`, and DMB's
//! `GET /logs`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use app::filter::LogFilter;
use app::log_entry::format_timestamp;
use app::LogEntry;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::api::ErrorBody;
use super::AppState;
use crate::config::parse_duration;
use crate::persist::files::file_id;
use crate::persist::history::{EntryFilter, HistoryQuery};

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 10_000;
/// DMB's `tail_bytes` default and bounds.
const DEFAULT_TAIL_BYTES: u64 = 128 * 1024;
const TAIL_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=8 * 1024 * 1024;
/// The plain `/logs` answer holds at most this much text (the newest).
const MAX_PLAIN_LOG: usize = 8 * 1024 * 1024;
/// Downloads are sent in pieces of about this size.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/info", get(info))
        .route("/api/logs", get(list_logs))
        .route("/api/logs/download", get(download_logs))
        .route("/logs", get(dmb_logs))
}

/// About this server run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    /// The `process_name` of Logdeck's own entries.
    pub name: String,
    pub version: &'static str,
    /// Changes whenever the server restarts.
    pub run_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: String,
    /// The `seq` the next entry will get.
    pub next_seq: u64,
    /// The oldest `seq` still in memory (what `since=` can resume from).
    pub oldest_kept_seq: Option<u64>,
    /// Where log files are written, if anywhere.
    pub log_dir: Option<String>,
    pub log_files: Option<LogFileStats>,
    /// WebSocket connections open now (logs and status).
    pub websocket_clients: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogFileStats {
    pub written: u64,
    /// Entries that could not be written (disk full, say).
    pub lost: u64,
    pub errors: u64,
}

/// The server run's identity and log counters.
#[utoipa::path(get, path = "/api/info", tag = "logs", responses((status = 200, body = Info)))]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    let hub = &state.hub;
    Json(Info {
        name: hub.server_name().to_owned(),
        version: env!("CARGO_PKG_VERSION"),
        run_id: hub.run_id().to_owned(),
        started_at: format_timestamp(&hub.started_at()),
        next_seq: hub.next_seq(),
        oldest_kept_seq: hub.oldest_kept(),
        log_dir: state
            .history
            .files
            .as_ref()
            .map(|f| f.dir.display().to_string()),
        log_files: state.writer_stats.as_ref().map(|stats| {
            let (written, lost, errors) = stats.snapshot();
            LogFileStats {
                written,
                lost,
                errors,
            }
        }),
        websocket_clients: state.clients.open(),
    })
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody { error: message })).into_response()
}

fn decode(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).collect()
}

/// A point in time: RFC 3339, or a duration meaning that long ago (`15m`).
fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    let ago = parse_duration(value).map_err(|_| {
        format!("invalid {key}={value:?}: expected an RFC 3339 time or a duration such as 15m")
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| format!("invalid {key}: {e}"))?;
    Ok(Utc::now() - ago)
}

/// The filters shared by `/api/logs` and its download, plus `limit` when
/// `limited`.
fn history_query(
    query: Option<&str>,
    limited: bool,
) -> Result<(HistoryQuery, Vec<(String, String)>), String> {
    let pairs = decode(query);
    let (filter, rest) =
        LogFilter::from_query_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .map_err(|e| e.to_string())?;
    let mut history = HistoryQuery {
        filter: EntryFilter::new(filter)?,
        limit: if limited { DEFAULT_LIMIT } else { usize::MAX },
        ..HistoryQuery::default()
    };
    let mut unused = Vec::new();
    for (key, value) in rest {
        match key {
            "since" => history.since = Some(parse_time(key, value)?),
            "until" => history.until = Some(parse_time(key, value)?),
            "before_seq" => {
                history.before_seq = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid before_seq={value:?}"))?,
                )
            }
            "after_seq" => {
                history.after_seq = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid after_seq={value:?}"))?,
                )
            }
            "limit" if limited => {
                let limit: usize = value
                    .parse()
                    .map_err(|_| format!("invalid limit={value:?}"))?;
                if !(1..=MAX_LIMIT).contains(&limit) {
                    return Err(format!("limit must be between 1 and {MAX_LIMIT}"));
                }
                history.limit = limit;
            }
            _ => unused.push((key.to_owned(), value.to_owned())),
        }
    }
    Ok((history, unused))
}

/// Entries matching the filters, newest first, from memory and then the
/// log files. Page backwards with `before_seq` = the last `seq` received.
#[utoipa::path(get, path = "/api/logs", tag = "logs",
    params(
        ("process" = Option<String>, Query, description = "Comma-separated process names"),
        ("level" = Option<String>, Query, description = "Minimum level"),
        ("stream" = Option<String>, Query, description = "stdout, stderr, system (comma-separated)"),
        ("q" = Option<String>, Query, description = "Text to search for (ANSI colours ignored)"),
        ("regex" = Option<bool>, Query, description = "q is a regular expression"),
        ("case" = Option<bool>, Query, description = "q is case-sensitive"),
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration ago such as 15m"),
        ("until" = Option<String>, Query, description = "RFC 3339 time, or a duration ago"),
        ("before_seq" = Option<u64>, Query, description = "Only entries with a lower seq"),
        ("limit" = Option<usize>, Query, description = "At most this many (default 200, at most 10000)"),
    ),
    responses(
        (status = 200, description = "A JSON array of entries, newest first"),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
    ))]
pub async fn list_logs(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let (history_query, unused) = match history_query(query.as_deref(), true) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(message),
    };
    if let Some((key, _)) = unused.first() {
        return bad_request(format!("unknown parameter `{key}`"));
    }
    let history = state.history.clone();
    let page = tokio::task::spawn_blocking(move || history.page(&history_query)).await;
    match page {
        Ok(Ok(frames)) => {
            let mut body =
                BytesMut::with_capacity(frames.iter().map(|f| f.json.len() + 1).sum::<usize>() + 2);
            body.put_u8(b'[');
            for (i, frame) in frames.iter().enumerate() {
                if i > 0 {
                    body.put_u8(b',');
                }
                body.put_slice(&frame.json);
            }
            body.put_u8(b']');
            ([(header::CONTENT_TYPE, "application/json")], body.freeze()).into_response()
        }
        Ok(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ErrorBody {
                error: format!("cannot read the log files: {error}"),
            }),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(ErrorBody {
                error: error.to_string(),
            }),
        )
            .into_response(),
    }
}

/// One line of the plain-text rendering: `timestamp - LEVEL - message`,
/// the shape of DMB's log files.
fn text_line(entry: &LogEntry, out: &mut BytesMut) {
    out.put_slice(format_timestamp(&entry.timestamp).as_bytes());
    out.put_slice(b" - ");
    out.put_slice(entry.level.as_str().as_bytes());
    out.put_slice(b" - ");
    if entry.process_name.is_empty() {
        out.put_slice(entry.message.as_bytes());
    } else {
        out.put_slice(entry.process_name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(entry.message.as_bytes());
    }
    out.put_u8(b'\n');
}

/// Every entry matching the filters, oldest first, as a file: `txt` (one
/// line per entry) or `jsonl` (one JSON entry per line). Streamed: the
/// server never holds the whole file.
#[utoipa::path(get, path = "/api/logs/download", tag = "logs",
    params(
        ("format" = Option<String>, Query, description = "txt (default) or jsonl"),
        ("process" = Option<String>, Query, description = "Comma-separated process names"),
        ("level" = Option<String>, Query, description = "Minimum level"),
        ("q" = Option<String>, Query, description = "Text to search for"),
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration ago"),
        ("until" = Option<String>, Query, description = "RFC 3339 time, or a duration ago"),
    ),
    responses(
        (status = 200, description = "An attachment"),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
    ))]
pub async fn download_logs(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let (history_query, unused) = match history_query(query.as_deref(), false) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(message),
    };
    let mut jsonl = false;
    for (key, value) in unused {
        match (key.as_str(), value.as_str()) {
            ("format", "txt" | "") => jsonl = false,
            ("format", "jsonl") => jsonl = true,
            ("format", other) => {
                return bad_request(format!("invalid format={other:?}: expected txt or jsonl"))
            }
            (key, _) => return bad_request(format!("unknown parameter `{key}`")),
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let history = state.history.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = BytesMut::with_capacity(DOWNLOAD_CHUNK);
        let result = history.export(&history_query, |entry, line| {
            if jsonl {
                chunk.put_slice(line);
                chunk.put_u8(b'\n');
            } else {
                text_line(entry, &mut chunk);
            }
            if chunk.len() >= DOWNLOAD_CHUNK {
                let full = std::mem::replace(&mut chunk, BytesMut::with_capacity(DOWNLOAD_CHUNK));
                // A closed channel means the client went away: stop.
                return sender.blocking_send(Ok(full.freeze())).is_ok();
            }
            true
        });
        let _ = match result {
            Ok(()) if !chunk.is_empty() => sender.blocking_send(Ok(chunk.freeze())),
            Ok(()) => Ok(()),
            Err(error) => sender.blocking_send(Err(error)),
        };
    });
    let body = Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let (content_type, extension) = if jsonl {
        ("application/x-ndjson", "jsonl")
    } else {
        ("text/plain; charset=utf-8", "txt")
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"logdeck-{stamp}.{extension}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// DMB's `GET /logs?process_name=X`: `{"process_name", "log"}` with the
/// process's entries since its last start as text. With `cursor`,
/// `tail_bytes` or `file_id`, DUMB's incremental form instead.
#[utoipa::path(get, path = "/logs", tag = "dmb-compatible",
    params(
        ("process_name" = String, Query, description = "The configured process name"),
        ("cursor" = Option<u64>, Query, description = "Byte offset already read (incremental form)"),
        ("tail_bytes" = Option<u64>, Query, description = "How much to return on a reset (1024 to 8388608, default 131072)"),
        ("file_id" = Option<String>, Query, description = "The file_id of the previous answer; a different file means a reset"),
    ),
    responses(
        (status = 200, description = "`{\"process_name\", \"log\"}`, or `{\"process_name\", \"size\", \"cursor\", \"chunk\", \"reset\", \"file_id\", \"log\"}`"),
        (status = 404, description = "No such process"),
        (status = 422, description = "An invalid parameter"),
    ))]
pub async fn dmb_logs(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs = decode(query.as_deref());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
    };
    let detail = |status: StatusCode, detail: String| {
        (status, Json(json!({ "detail": detail }))).into_response()
    };
    let Some(process) = get("process_name") else {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "process_name is required".into(),
        );
    };
    if state.supervisor.get(&process).is_none() && process != state.hub.server_name() {
        return detail(StatusCode::NOT_FOUND, "Service not enabled or found".into());
    }
    let cursor = match get("cursor").map(|c| c.parse::<u64>()) {
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(_)) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cursor must be a byte offset".into(),
            )
        }
        None => None,
    };
    let tail_bytes = match get("tail_bytes").map(|t| t.parse::<u64>()) {
        Some(Ok(t)) if TAIL_BYTES_RANGE.contains(&t) => Some(t),
        Some(_) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "tail_bytes must be between {} and {}",
                    TAIL_BYTES_RANGE.start(),
                    TAIL_BYTES_RANGE.end()
                ),
            )
        }
        None => None,
    };
    let file_id = get("file_id");
    let incremental = cursor.is_some() || tail_bytes.is_some() || file_id.is_some();
    let history = state.history.clone();
    let start_seq = state.supervisor.start_seq(&process);
    let answer = tokio::task::spawn_blocking(move || {
        if incremental {
            incremental_log(
                &history,
                &process,
                cursor,
                tail_bytes.unwrap_or(DEFAULT_TAIL_BYTES),
                file_id,
            )
        } else {
            plain_log(&history, &process, start_seq)
        }
    })
    .await;
    match answer {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(error)) => detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the log: {error}"),
        ),
        Err(error) => detail(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

fn process_query(process: &str, after_seq: Option<u64>) -> HistoryQuery {
    let filter = LogFilter {
        processes: [process.to_owned()].into(),
        ..LogFilter::default()
    };
    HistoryQuery {
        filter: EntryFilter::new(filter).unwrap_or_default(),
        after_seq,
        limit: usize::MAX,
        ..HistoryQuery::default()
    }
}

/// The entries since the process's last start, as text (the newest
/// 8 MiB at most, whole lines).
fn plain_log(
    history: &crate::persist::history::History,
    process: &str,
    start_seq: Option<u64>,
) -> std::io::Result<serde_json::Value> {
    let query = process_query(process, start_seq.map(|s| s.saturating_sub(1)));
    let mut text = BytesMut::new();
    let mut line = BytesMut::new();
    history.export(&query, |entry, _| {
        line.clear();
        text_line(entry, &mut line);
        text.put_slice(&line);
        true
    })?;
    let text = keep_last_lines(&text, MAX_PLAIN_LOG);
    Ok(json!({ "process_name": process, "log": String::from_utf8_lossy(text) }))
}

/// The end of `text`, at most `max` bytes, starting at a line start.
fn keep_last_lines(text: &[u8], max: usize) -> &[u8] {
    if text.len() <= max {
        return text;
    }
    let tail = &text[text.len() - max..];
    match tail.iter().position(|&b| b == b'\n') {
        Some(newline) => &tail[newline + 1..],
        None => &[],
    }
}

/// DUMB's incremental read of the process's current log file. `cursor` is
/// a byte offset in it; whole lines only are returned, so the cursor always
/// lands on a line start. A missing cursor, one past the end, or another
/// `file_id` (the file was rotated) is a reset: the last `tail_bytes`.
fn incremental_log(
    history: &crate::persist::history::History,
    process: &str,
    cursor: Option<u64>,
    tail_bytes: u64,
    client_file_id: Option<String>,
) -> std::io::Result<serde_json::Value> {
    let Some(files) = &history.files else {
        // Without log files there is no byte stream to follow: every
        // answer is a reset holding the newest entries kept in memory.
        let mut text = BytesMut::new();
        history.export(&process_query(process, None), |entry, _| {
            text_line(entry, &mut text);
            true
        })?;
        let chunk =
            String::from_utf8_lossy(keep_last_lines(&text, tail_bytes as usize)).into_owned();
        return Ok(json!({
            "process_name": process, "size": chunk.len(), "cursor": chunk.len(),
            "chunk": chunk, "reset": true, "file_id": "memory", "log": chunk,
        }));
    };
    let path = files.current(process);
    let (size, id) = match std::fs::metadata(&path) {
        Ok(meta) => (meta.len(), file_id(&path)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json!({
                "process_name": process, "size": 0, "cursor": 0, "chunk": "",
                "reset": true, "file_id": null, "log": "",
            }));
        }
        Err(e) => return Err(e),
    };
    let reset = match (cursor, &client_file_id) {
        (None, _) => true,
        (Some(c), _) if c > size => true,
        (_, Some(client)) if *client != id => true,
        _ => false,
    };
    let mut file = File::open(&path)?;
    let start = if reset {
        size.saturating_sub(tail_bytes)
    } else {
        cursor.unwrap_or(0)
    };
    file.seek(SeekFrom::Start(start))?;
    let mut raw = Vec::with_capacity((size - start) as usize);
    file.take(size - start).read_to_end(&mut raw)?;
    // A reset may start mid-line: skip to the next line start.
    let from = if reset && start > 0 {
        raw.iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1)
    } else {
        0
    };
    // Only whole lines: a line still being written is left for later.
    let to = raw
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(from, |i| (i + 1).max(from));
    let mut text = BytesMut::new();
    for line in raw[from..to]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        if let Ok(entry) = serde_json::from_slice::<LogEntry>(line) {
            text_line(&entry, &mut text);
        }
    }
    let chunk = String::from_utf8_lossy(&text).into_owned();
    let new_cursor = start + to as u64;
    Ok(json!({
        "process_name": process,
        "size": size,
        "cursor": new_cursor,
        "chunk": chunk,
        "reset": reset,
        "file_id": id,
        "log": if reset { Some(&chunk) } else { None },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let t = parse_time("since", "2025-04-01T12:34:56.789Z").expect("valid");
        assert_eq!(format_timestamp(&t), "2025-04-01T12:34:56.789Z");
        let ago = parse_time("since", "15m").expect("valid");
        let expected = Utc::now() - chrono::Duration::minutes(15);
        assert!((ago - expected).num_seconds().abs() <= 1);
        assert!(parse_time("since", "yesterday").is_err());
    }

    #[test]
    fn keeps_whole_lines_from_the_end() {
        assert_eq!(keep_last_lines(b"aa\nbb\ncc\n", 100), b"aa\nbb\ncc\n");
        assert_eq!(keep_last_lines(b"aa\nbb\ncc\n", 5), b"cc\n");
        assert_eq!(keep_last_lines(b"aaaaaaaa", 3), b"");
    }

    #[test]
    fn history_parameters_are_validated() {
        assert!(history_query(Some("limit=0"), true).is_err());
        assert!(history_query(Some("limit=20000"), true).is_err());
        assert!(history_query(Some("before_seq=x"), true).is_err());
        assert!(history_query(Some("level=LOUD"), true).is_err());
        let (query, unused) =
            history_query(Some("process=a&limit=5&before_seq=9&format=txt"), true).expect("valid");
        assert_eq!((query.limit, query.before_seq), (5, Some(9)));
        assert_eq!(unused, vec![("format".to_owned(), "txt".to_owned())]);
    }
}
