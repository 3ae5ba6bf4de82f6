//! DMB's `GET /logs?process_name=X`: a process's log as text, whole
//! (`{"process_name", "log"}`), or DUMB's incremental form that follows the
//! current log file by byte offset.

use std::collections::VecDeque;

use app::filter::{EntryFilter, LogFilter};
use app::LogEntry;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::BytesMut;
use serde_json::json;

use super::unknown;
use crate::history::{History, HistoryQuery};
use crate::web::history_api::{reader_place, text_line, QUERY_TIME_LIMIT};
use crate::web::query::decode;
use crate::web::{ApiError, AppState};

/// DMB's `tail_bytes` default and bounds.
const DEFAULT_TAIL_BYTES: u64 = 128 * 1024;
const TAIL_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=8 * 1024 * 1024;
/// The plain `/logs` answer holds at most this much text (the newest).
const MAX_PLAIN_LOG: usize = 8 * 1024 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/logs", get(dmb_logs))
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::detail(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// DMB's `GET /logs?process_name=X`: `{"process_name", "log"}` with the
/// process's output since its last start, line by line as printed (an
/// empty log for a name Logdeck has none for). With `cursor`,
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
pub async fn dmb_logs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = decode(query.as_deref());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
    };
    let Some(process) = get("process_name") else {
        return Err(unprocessable("process_name is required"));
    };
    let known = state.supervisor.get(&process).is_some() || process == state.hub.server_name();
    let cursor = match get("cursor").map(|c| c.parse::<u64>()) {
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(_)) => return Err(unprocessable("cursor must be a byte offset")),
        None => None,
    };
    let tail_bytes = match get("tail_bytes").map(|t| t.parse::<u64>()) {
        Some(Ok(t)) if TAIL_BYTES_RANGE.contains(&t) => Some(t),
        Some(_) => {
            return Err(unprocessable(format!(
                "tail_bytes must be between {} and {}",
                TAIL_BYTES_RANGE.start(),
                TAIL_BYTES_RANGE.end()
            )))
        }
        None => None,
    };
    let file_id = get("file_id");
    let incremental = cursor.is_some() || tail_bytes.is_some() || file_id.is_some();
    if !known {
        // DMB answers a name it has no log for (its frontend asks for
        // `DMB` at start) with an empty log; DUMB's reads get 404.
        if incremental {
            return Ok(unknown());
        }
        return Ok(Json(json!({ "process_name": process, "log": "" })).into_response());
    }
    let place = reader_place(&state.history_readers).await?;
    let history = state.history.clone();
    // In a cluster the history is numbered by the stream, not by this
    // node's supervisor.
    let start_seq = state
        .cluster
        .is_none()
        .then(|| state.supervisor.start_seq(&process))
        .flatten();
    let answer = tokio::task::spawn_blocking(move || {
        let _place = place;
        if incremental {
            incremental_log(
                &history,
                &process,
                cursor,
                tail_bytes.unwrap_or(DEFAULT_TAIL_BYTES),
                file_id.as_deref(),
            )
        } else {
            plain_log(&history, &process, start_seq)
        }
    })
    .await
    .map_err(|e| ApiError::detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| {
        ApiError::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the log: {e}"),
        )
    })?;
    Ok(Json(answer).into_response())
}

/// Every entry of `process` after `after_seq`.
fn process_query(process: &str, after_seq: Option<u64>) -> HistoryQuery {
    HistoryQuery {
        filter: EntryFilter::fields_only(LogFilter {
            processes: [process.to_owned()].into(),
            ..LogFilter::default()
        }),
        after_seq,
        limit: usize::MAX,
        ..HistoryQuery::default()
    }
    .within(QUERY_TIME_LIMIT)
}

/// The newest whole lines of text, at most `max` bytes of them.
#[derive(Debug, Default)]
struct NewestLines {
    lines: VecDeque<BytesMut>,
    bytes: usize,
}

impl NewestLines {
    fn push(&mut self, line: BytesMut, max: usize) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > max {
            match self.lines.pop_front() {
                Some(oldest) => self.bytes -= oldest.len(),
                None => break,
            }
        }
    }

    fn text(&self) -> String {
        let mut text = Vec::with_capacity(self.bytes);
        for line in &self.lines {
            text.extend_from_slice(line);
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// `process`'s output after `after_seq` as it printed it, line by line
/// (the pieces of a line split at `max_line_bytes` joined again), the
/// newest `max` bytes of it.
fn newest_text(
    history: &History,
    process: &str,
    after_seq: Option<u64>,
    max: usize,
) -> std::io::Result<String> {
    let mut newest = NewestLines::default();
    for frame in history.export(process_query(process, after_seq))? {
        let entry = &frame?.entry;
        if entry.continued {
            if let Some(last) = newest.lines.back_mut() {
                if last.last() == Some(&b'\n') {
                    last.truncate(last.len() - 1);
                    newest.bytes -= 1;
                }
            }
        }
        let mut line = BytesMut::with_capacity(entry.message.len() + 1);
        line.extend_from_slice(entry.message.as_bytes());
        line.extend_from_slice(b"\n");
        newest.push(line, max);
    }
    Ok(newest.text())
}

/// The process's output since its last start, as it printed it (the
/// newest 8 MiB at most, whole lines): DMB served the service's own log
/// file, and its frontend parses each service's native format.
fn plain_log(
    history: &History,
    process: &str,
    start_seq: Option<u64>,
) -> std::io::Result<serde_json::Value> {
    let log = newest_text(
        history,
        process,
        start_seq.map(|s| s.saturating_sub(1)),
        MAX_PLAIN_LOG,
    )?;
    Ok(json!({ "process_name": process, "log": log }))
}

/// DUMB's incremental read of the process's current log file. `cursor` is
/// a byte offset in it; whole lines only are returned, so the cursor always
/// lands on a line start. A missing cursor, one past the end, or another
/// `file_id` (the file was rotated) is a reset: the last `tail_bytes`.
fn incremental_log(
    history: &History,
    process: &str,
    cursor: Option<u64>,
    tail_bytes: u64,
    client_file_id: Option<&str>,
) -> std::io::Result<serde_json::Value> {
    let Some(files) = &history.files else {
        return incremental_by_seq(history, process, cursor, tail_bytes, client_file_id);
    };
    let tail = files.tail(process, cursor, tail_bytes, client_file_id)?;
    let mut text = BytesMut::new();
    for line in &tail.lines {
        if let Ok(entry) = serde_json::from_slice::<LogEntry>(line) {
            text_line(&entry, &mut text);
        }
    }
    let chunk = String::from_utf8_lossy(&text).into_owned();
    Ok(incremental_answer(
        process,
        (tail.size, tail.cursor),
        &chunk,
        tail.reset,
        tail.file_id.as_deref(),
    ))
}

/// DUMB's incremental answer; `log` repeats the chunk on a reset.
fn incremental_answer(
    process: &str,
    (size, cursor): (u64, u64),
    chunk: &str,
    reset: bool,
    file_id: Option<&str>,
) -> serde_json::Value {
    json!({
        "process_name": process,
        "size": size,
        "cursor": cursor,
        "chunk": chunk,
        "reset": reset,
        "file_id": file_id,
        "log": if reset { Some(chunk) } else { None },
    })
}

/// DUMB's incremental form without log files: the process's entries in
/// the store (or memory), followed by `seq`. The cursor is the last `seq`
/// read and `size` the last `seq` there is; `file_id` names the numbering
/// (a server without a store numbers afresh at each start), so a client of
/// an earlier numbering gets a reset.
fn incremental_by_seq(
    history: &History,
    process: &str,
    cursor: Option<u64>,
    tail_bytes: u64,
    client_file_id: Option<&str>,
) -> std::io::Result<serde_json::Value> {
    let file_id = if history.store.is_some() {
        "store".to_owned()
    } else {
        format!("memory-{}", history.hub.run_id())
    };
    let size = history.hub.next_seq().saturating_sub(1);
    let follow = cursor.filter(|c| *c <= size && client_file_id == Some(file_id.as_str()));
    let (chunk, cursor, reset) = match follow {
        Some(cursor) => {
            let mut text = BytesMut::new();
            let mut last = cursor;
            for frame in history.export(process_query(process, Some(cursor)))? {
                let frame = frame?;
                last = last.max(frame.entry.seq);
                text_line(&frame.entry, &mut text);
            }
            (String::from_utf8_lossy(&text).into_owned(), last, false)
        }
        None => (
            newest_text_paged(history, process, tail_bytes as usize)?,
            size,
            true,
        ),
    };
    Ok(incremental_answer(
        process,
        (size, cursor),
        &chunk,
        reset,
        Some(&file_id),
    ))
}

/// The newest whole lines of `process`, at most `max` bytes, read newest
/// first a page at a time (however much the store holds).
fn newest_text_paged(history: &History, process: &str, max: usize) -> std::io::Result<String> {
    let mut lines: Vec<BytesMut> = Vec::new();
    let mut bytes = 0;
    let mut before = None;
    'pages: loop {
        let mut query = process_query(process, None);
        query.before_seq = before;
        query.limit = 1000;
        let page = history.page(&query)?;
        let Some(last) = page.last() else {
            break;
        };
        before = Some(last.entry.seq);
        for frame in &page {
            let mut line = BytesMut::new();
            text_line(&frame.entry, &mut line);
            if bytes + line.len() > max {
                break 'pages;
            }
            bytes += line.len();
            lines.push(line);
        }
    }
    let mut text = Vec::with_capacity(bytes);
    for line in lines.iter().rev() {
        text.extend_from_slice(line);
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> BytesMut {
        BytesMut::from(text.as_bytes())
    }

    #[test]
    fn keeps_the_newest_whole_lines() {
        let mut newest = NewestLines::default();
        for text in ["aa\n", "bb\n", "cc\n"] {
            newest.push(line(text), 100);
        }
        assert_eq!(newest.text(), "aa\nbb\ncc\n");
        let mut newest = NewestLines::default();
        for text in ["aa\n", "bb\n", "cc\n"] {
            newest.push(line(text), 5);
        }
        assert_eq!(newest.text(), "cc\n");
        let mut newest = NewestLines::default();
        newest.push(line("aaaaaaaa"), 3);
        assert_eq!(newest.text(), "");
    }
}
