//! Log history over HTTP: `GET /api/logs` (pages, newest first) and
//! `GET /api/logs/download` (every matching entry as a file, streamed).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use app::filter::{EntryFilter, LogFilter};
use app::log_entry::format_timestamp;
use app::LogEntry;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{BufMut, BytesMut};
use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::query::{decode, parse_time};
use super::{ApiError, AppState};
use crate::history::{Export, History, HistoryQuery, MAX_PAGE_BYTES};
use crate::hub::Frame;

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 10_000;
/// Downloads are produced in pieces of about this size, each only when the
/// client is ready for it.
const DOWNLOAD_CHUNK: usize = 64 * 1024;
/// History reads (a page, DMB's `/logs`) running at once; each may hold a
/// file per process open while it runs.
pub const HISTORY_READERS: usize = 4;
/// How long such a read waits for a place before 503.
const READER_WAIT: Duration = Duration::from_secs(10);
/// Downloads open at once. A download holds its place (and a file per
/// process) until it ends, or until its client stops reading for the
/// connection's write stall limit.
pub const DOWNLOADS: usize = 16;
/// How long a query may read (a page; each piece of a download).
pub const QUERY_TIME_LIMIT: Duration = Duration::from_secs(10);

/// A place among the [`HISTORY_READERS`], held while reading.
pub async fn reader_place(readers: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, ApiError> {
    tokio::time::timeout(READER_WAIT, readers.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many history requests at once; try again shortly",
            )
        })
}

/// What a failed history read answers.
pub fn read_error(error: io::Error) -> ApiError {
    if error.kind() == io::ErrorKind::TimedOut {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    } else {
        ApiError::internal(format!("cannot read the log files: {error}"))
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/logs", get(list_logs))
        .route("/api/logs/download", get(download_logs))
}

/// The filters shared by `/api/logs` and its download, plus `limit` when
/// `limited`; the parameters it does not know are returned.
pub(super) fn history_query(
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
            "since" | "from" => history.since = Some(parse_time(key, value)?),
            "until" | "to" => history.until = Some(parse_time(key, value)?),
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
/// store (substring searches go through its index). Page backwards with
/// `before_seq` = the last `seq` received.
#[utoipa::path(get, path = "/api/logs", tag = "logs",
    params(
        ("process" = Option<String>, Query, description = "Comma-separated process names"),
        ("level" = Option<String>, Query, description = "Minimum level"),
        ("stream" = Option<String>, Query, description = "stdout, stderr, system (comma-separated)"),
        ("q" = Option<String>, Query, description = "Text to search for (ANSI colours ignored)"),
        ("regex" = Option<bool>, Query, description = "q is a regular expression"),
        ("case" = Option<bool>, Query, description = "q is case-sensitive"),
        ("node" = Option<String>, Query, description = "In a cluster: comma-separated node names"),
        ("from" = Option<String>, Query, description = "Entries at or after: RFC 3339, or a duration ago such as -15m (also `since`)"),
        ("to" = Option<String>, Query, description = "Entries at or before: RFC 3339, `now`, or a duration ago (also `until`)"),
        ("before_seq" = Option<u64>, Query, description = "Only entries with a lower seq"),
        ("after_seq" = Option<u64>, Query, description = "Only entries with a higher seq"),
        ("limit" = Option<usize>, Query, description = "At most this many (default 200, at most 10000)"),
    ),
    responses(
        (status = 200, description = "A JSON array of entries, newest first"),
        (status = 400, description = "An invalid parameter", body = app::protocol::ErrorBody),
    ))]
pub async fn list_logs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (history_query, unused) =
        history_query(query.as_deref(), true).map_err(ApiError::bad_request)?;
    if let Some((key, _)) = unused.first() {
        return Err(ApiError::bad_request(format!("unknown parameter `{key}`")));
    }
    let place = reader_place(&state.history_readers).await?;
    let history = state.history.clone();
    let query = history_query.within(QUERY_TIME_LIMIT);
    let (frames, query) = tokio::task::spawn_blocking(move || {
        let page = history.page(&query);
        (page, query)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut frames = frames.map_err(read_error)?;
    if let Some(cluster) = &state.cluster {
        // In a cluster, what memory no longer holds is in the stream.
        older_from_stream(&state, cluster, &query, &mut frames).await?;
    }
    drop(place);
    Ok(json_array(&frames))
}

/// Entries as one JSON array (each exactly as `/ws/logs` sends it).
pub fn json_array(frames: &[Arc<Frame>]) -> Response {
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

/// Adds to a page of the view's memory the older entries the cluster's
/// stream still holds, up to the page's limits.
async fn older_from_stream(
    state: &AppState,
    cluster: &crate::cluster::ClusterHandle,
    query: &HistoryQuery,
    frames: &mut Vec<Arc<Frame>>,
) -> Result<(), ApiError> {
    let bytes: usize = frames.iter().map(|f| f.json.len() + 1).sum();
    if frames.len() >= query.limit || bytes >= MAX_PAGE_BYTES || !cluster.reader.available() {
        return Ok(());
    }
    // Below what memory and the store gave.
    let oldest_read = frames.last().map(|f| f.entry.seq).unwrap_or_else(|| {
        state
            .hub
            .oldest_kept()
            .unwrap_or_else(|| state.hub.next_seq())
    });
    let below = query.before_seq.map_or(oldest_read, |b| b.min(oldest_read));
    let deadline = query
        .deadline
        .map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
    let older = cluster
        .reader
        .older(below, query.limit - frames.len(), deadline, |e| {
            query.matches(e)
        })
        .await
        .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))?;
    let mut bytes = bytes;
    for entry in older {
        let frame = Arc::new(Frame::new(entry));
        bytes += frame.json.len() + 1;
        frames.push(frame);
        if bytes >= MAX_PAGE_BYTES {
            break;
        }
    }
    Ok(())
}

/// One line of the plain-text download: [`text_line`] without terminal
/// escapes or control characters, so `cat` shows it and does nothing else.
fn printable_line(frame: &Frame, out: &mut BytesMut) {
    let printable = app::ansi::printable(&frame.entry.message);
    if let std::borrow::Cow::Owned(message) = printable {
        let entry = LogEntry {
            message,
            ..frame.entry.clone()
        };
        text_line(&entry, out);
    } else {
        text_line(&frame.entry, out);
    }
}

/// One line of the plain-text rendering: `timestamp - LEVEL - process:
/// message`, the shape of DMB's log files.
pub fn text_line(entry: &LogEntry, out: &mut BytesMut) {
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

/// One entry as a JSON Lines line.
fn json_line(frame: &Frame, out: &mut BytesMut) {
    out.put_slice(&frame.json);
    out.put_u8(b'\n');
}

/// Every matching entry, oldest first, as a file: `txt` (one line per
/// entry) or `jsonl` (one JSON entry per line).
#[utoipa::path(get, path = "/api/logs/download", tag = "logs",
    params(
        ("format" = Option<String>, Query, description = "txt (default) or jsonl"),
        ("raw" = Option<bool>, Query, description = "txt only: keep terminal escapes and control characters (removed by default)"),
        ("process" = Option<String>, Query, description = "Comma-separated process names"),
        ("level" = Option<String>, Query, description = "Minimum level"),
        ("q" = Option<String>, Query, description = "Text to search for"),
        ("since" = Option<String>, Query, description = "RFC 3339 time, or a duration ago"),
        ("until" = Option<String>, Query, description = "RFC 3339 time, or a duration ago"),
    ),
    responses(
        (status = 200, description = "An attachment"),
        (status = 400, description = "An invalid parameter", body = app::protocol::ErrorBody),
    ))]
pub async fn download_logs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (history_query, unused) =
        history_query(query.as_deref(), false).map_err(ApiError::bad_request)?;
    let mut jsonl = false;
    let mut raw = false;
    for (key, value) in unused {
        match (key.as_str(), value.as_str()) {
            ("format", "txt" | "") => jsonl = false,
            ("format", "jsonl") => jsonl = true,
            ("raw", "1" | "true") => raw = true,
            ("raw", "0" | "false" | "") => raw = false,
            ("raw", other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid raw={other:?}: expected 1 or 0"
                )))
            }
            ("format", other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid format={other:?}: expected txt or jsonl"
                )))
            }
            (key, _) => return Err(ApiError::bad_request(format!("unknown parameter `{key}`"))),
        }
    }
    let place = state.downloads.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{DOWNLOADS} downloads are under way already; try again when one ends"),
        )
    })?;
    // In a cluster, entries older than memory come first, from the stream.
    let older = match &state.cluster {
        Some(cluster) => Some(StreamPart {
            reader: cluster.reader.clone(),
            query: history_query.clone(),
            next: history_query.after_seq.map_or(1, |a| a + 1),
            end: state
                .hub
                .oldest_kept()
                .unwrap_or_else(|| state.hub.next_seq()),
        }),
        None => None,
    };
    let export = start_export(&state.history, history_query).await?;
    let render: fn(&Frame, &mut BytesMut) = match (jsonl, raw) {
        (true, _) => json_line,
        (false, true) => |frame, out| text_line(&frame.entry, out),
        (false, false) => printable_line,
    };
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let (content_type, extension) = if jsonl {
        ("application/x-ndjson", "jsonl")
    } else {
        ("text/plain; charset=utf-8", "txt")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"logdeck-{stamp}.{extension}\""),
            ),
        ],
        export_body(older, export, place, render),
    )
        .into_response())
}

/// Opens an export (reading files) off the async threads.
async fn start_export(history: &History, query: HistoryQuery) -> Result<Export, ApiError> {
    let history = history.clone();
    tokio::task::spawn_blocking(move || history.export(query))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(read_error)
}

/// A response body that reads the next piece of `export` only when the
/// client has taken the last one: a client that stops reading holds no
/// thread and causes no reading (and is cut off by the connection's write
/// stall limit). The download's `place` is held until the body ends.
fn export_body(
    older: Option<StreamPart>,
    export: Export,
    place: OwnedSemaphorePermit,
    render: fn(&Frame, &mut BytesMut),
) -> Body {
    let older = futures::stream::unfold(older, move |part| async move {
        let mut part = part?;
        match part.piece(render).await {
            Ok(Some(piece)) => Some((Ok(piece), Some(part))),
            Ok(None) => None,
            Err(error) => Some((Err(error), None)),
        }
    });
    let pieces = futures::stream::unfold(Some((export, place)), move |reading| async move {
        let (mut export, place) = reading?;
        let read = tokio::task::spawn_blocking(move || {
            export.allow(QUERY_TIME_LIMIT);
            let mut piece = BytesMut::with_capacity(DOWNLOAD_CHUNK + 1024);
            while piece.len() < DOWNLOAD_CHUNK {
                match export.next() {
                    Some(Ok(frame)) => render(&frame, &mut piece),
                    Some(Err(error)) => return (Err(error), None),
                    None => return (Ok(piece), None),
                }
            }
            (Ok(piece), Some(export))
        })
        .await;
        match read {
            Ok((Ok(piece), None)) if piece.is_empty() => None,
            Ok((Ok(piece), rest)) => Some((Ok(piece.freeze()), rest.map(|e| (e, place)))),
            Ok((Err(error), _)) => Some((Err(error), None)),
            Err(error) => Some((Err(io::Error::other(error)), None)),
        }
    });
    Body::from_stream(futures::StreamExt::chain(older, pieces))
}

/// The part of a download in a cluster that only the stream holds: its
/// entries from `next` up to (not including) `end`, where memory starts.
struct StreamPart {
    reader: crate::cluster::StreamReader,
    query: HistoryQuery,
    next: u64,
    end: u64,
}

impl StreamPart {
    /// Entries in the stream read per piece.
    const WINDOW: u64 = 2_000;

    /// The next non-empty piece, or `None` when the part is done.
    async fn piece(
        &mut self,
        render: fn(&Frame, &mut BytesMut),
    ) -> io::Result<Option<bytes::Bytes>> {
        if self.next == 1 {
            // Start where the stream does.
            if let Ok((first, _)) = self.reader.bounds().await {
                self.next = first.max(1);
            }
        }
        while self.next < self.end {
            let to = (self.next + Self::WINDOW - 1).min(self.end - 1);
            let deadline = tokio::time::Instant::now() + QUERY_TIME_LIMIT;
            let mut piece = BytesMut::new();
            let query = &self.query;
            self.reader
                .read(self.next, to, deadline, |entry| {
                    if query.matches(&entry) {
                        render(&Frame::new(entry), &mut piece);
                    }
                    true
                })
                .await
                .map_err(|why| io::Error::new(io::ErrorKind::TimedOut, why))?;
            self.next = to + 1;
            if !piece.is_empty() {
                return Ok(Some(piece.freeze()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
