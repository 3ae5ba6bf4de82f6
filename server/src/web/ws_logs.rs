//! `GET /ws/logs`: every new entry, one JSON object per text frame.
//!
//! With no query string this is exactly the original contract: broadcast to
//! all, nothing replayed. Options, all off by default:
//! `tail=N` (first the last N kept entries), `since=SEQ` (resume: every kept
//! entry after SEQ, then live, no gap and no duplicate), `process=a,b`,
//! `level=WARNING` (minimum), `stream=stderr`, `q=` (substring; `regex=1`
//! makes it a regex, `case=1` case-sensitive) and `batch=1` (frames become
//! JSON arrays of entries) and `format=json|text` (text: DMB's log lines,
//! the default with `dmb.text_frames = true`; see docs/dmb.md). An invalid
//! option closes the socket with code 1008 and the reason.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use app::filter::{EntryFilter, LogFilter};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::connection::ClientAddr;
use super::dmb::is_ping;
use super::AppState;
use crate::hub::{Frame, Gap, LogHub, Replay, Subscription};

/// Frames queued for one client are written together and flushed once, up
/// to this many: one syscall for a burst instead of one per line.
const MAX_FRAMES_PER_FLUSH: usize = 1000;
/// With `batch=1`, an array is sent when it holds this many entries...
const BATCH_MAX: usize = 1000;
/// ...or when its first entry has waited this long.
const BATCH_WAIT: Duration = Duration::from_millis(50);
/// The server pings this often; a client that answers none of two pings in
/// a row is closed.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Client frames larger than this close the connection.
pub const MAX_CLIENT_FRAME: usize = 4096;
/// How long a resume may read the cluster's stream for what memory lacks.
const RESUME_READ_LIMIT: Duration = Duration::from_secs(10);

/// Close code for a policy violation (RFC 6455), used for invalid options.
const POLICY_VIOLATION: u16 = 1008;
/// Close code for a client that stopped answering pings.
const GOING_AWAY: u16 = 1001;

/// The parsed query string.
#[derive(Debug, Default)]
pub struct Options {
    filter: EntryFilter,
    replay: Option<Replay>,
    batch: bool,
    /// `format=json` or `format=text` (DMB's text lines); without it,
    /// `dmb.text_frames` decides.
    format: Option<Format>,
}

/// What each frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per entry (the contract).
    Json,
    /// DMB's log lines (`<time> - <LEVEL> - <process> subprocess: <line>`).
    Text,
}

/// Reads the query string of a `/ws/logs` request; an error is the reason
/// the connection will be closed with.
pub fn parse_options(query: Option<&str>) -> Result<Options, String> {
    let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).collect();
    let (filter, rest) =
        LogFilter::from_query_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .map_err(|e| e.to_string())?;
    let mut options = Options {
        filter: EntryFilter::new(filter)?,
        ..Options::default()
    };
    for (key, value) in rest {
        match key {
            "tail" => {
                let n = value
                    .parse()
                    .map_err(|_| format!("invalid tail={value:?}: expected a count"))?;
                set_replay(&mut options, Replay::Tail(n))?;
            }
            "since" => {
                let seq = value
                    .parse()
                    .map_err(|_| format!("invalid since={value:?}: expected a seq"))?;
                set_replay(&mut options, Replay::Since(seq))?;
            }
            "batch" => {
                options.batch = match value {
                    "1" | "true" => true,
                    "0" | "false" | "" => false,
                    _ => return Err(format!("invalid batch={value:?}: expected 1 or 0")),
                }
            }
            "format" => {
                options.format = Some(match value {
                    "json" => Format::Json,
                    "text" => Format::Text,
                    _ => return Err(format!("invalid format={value:?}: expected json or text")),
                })
            }
            // Read by authentication, not by this endpoint.
            "token" => {}
            _ => return Err(format!("unknown option `{key}`")),
        }
    }
    Ok(options)
}

fn set_replay(options: &mut Options, replay: Replay) -> Result<(), String> {
    if options.replay.is_some() {
        return Err("use either tail or since, not both".into());
    }
    options.replay = Some(replay);
    Ok(())
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    RawQuery(query): RawQuery,
) -> Response {
    let slot = match state.clients.enter(client.ip()) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    // Clients send only pings, pongs and closes: a read buffer the size of
    // the largest frame allowed, instead of tungstenite's 128 KiB (which it
    // zero-fills on the first read, so every idle client would keep it).
    let ws = ws
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .read_buffer_size(MAX_CLIENT_FRAME);
    let options = match parse_options(query.as_deref()) {
        Ok(options) => options,
        Err(reason) => {
            return ws.on_upgrade(move |mut socket| async move {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: POLICY_VIOLATION,
                        reason: Utf8Bytes::from(reason),
                    })))
                    .await;
            });
        }
    };
    // Subscribe (and take the replay) before the handshake completes, so
    // nothing published after the client's request is missed.
    let (mut backlog, entries, mut gap) = match options.replay {
        Some(replay) => state.hub.replay(replay),
        None => (Vec::new(), state.hub.subscribe(), None),
    };
    // In a cluster, what this node's memory lacks of a resume may still be
    // in the stream: a client moved to this node by a load balancer gets
    // everything it missed.
    if let (Some(missing), Some(cluster)) = (gap, &state.cluster) {
        let (older, rest) = from_stream(cluster, missing).await;
        gap = rest;
        backlog.splice(0..0, older);
    }
    let hub = state.hub.clone();
    // DMB's text lines: asked for, or the default with `dmb.text_frames`.
    // They are one entry per frame (`batch` is for JSON).
    let text = match options.format {
        Some(format) => format == Format::Text,
        None => state.dmb_text_frames,
    };
    let batch = options.batch && !text;
    // A child token per connection: waiting on it touches only this
    // connection's own lock, not one shared by every client on every entry.
    let shutdown = state.shutdown.child_token();
    ws.on_upgrade(move |socket| async move {
        let (sink, incoming) = socket.split();
        let connection = Connection {
            out: Outbox::new(sink, batch),
            options,
            text,
            hub,
            gauge: state.clients.clone(),
            last_seq: 0,
            pending_drop: 0,
        };
        connection
            .run(backlog, gap, entries, incoming, shutdown)
            .await;
        drop(slot);
    })
}

/// The entries of `gap` the cluster's stream still holds, and what remains
/// missing (those it no longer holds, or could not read in time).
async fn from_stream(
    cluster: &crate::cluster::ClusterHandle,
    gap: Gap,
) -> (Vec<Arc<Frame>>, Option<Gap>) {
    let first = gap.last_missing + 1 - gap.missing;
    let deadline = Instant::now() + RESUME_READ_LIMIT;
    let mut found = Vec::new();
    let read = cluster
        .reader
        .read(first, gap.last_missing, deadline, |entry| {
            found.push(Arc::new(Frame::new(entry)));
            true
        })
        .await;
    let complete = read.is_ok()
        && found.first().map(|f| f.entry.seq) == Some(first)
        && found.last().map(|f| f.entry.seq) == Some(gap.last_missing);
    if complete {
        return (found, None);
    }
    // Keep only a contiguous run ending where memory starts.
    let mut end = gap.last_missing;
    let mut kept = Vec::new();
    for frame in found.into_iter().rev() {
        if frame.entry.seq != end {
            break;
        }
        end -= 1;
        kept.push(frame);
    }
    kept.reverse();
    let still_missing = end + 1 - first;
    let rest = (still_missing > 0).then_some(Gap {
        missing: still_missing,
        last_missing: end,
    });
    (kept, rest)
}

struct Connection {
    out: Outbox,
    options: Options,
    /// DMB's text lines instead of JSON.
    text: bool,
    hub: Arc<LogHub>,
    /// Counts what slow clients miss.
    gauge: Arc<super::ClientGauge>,
    /// The last `seq` this client was sent or skipped past.
    last_seq: u64,
    /// Entries lost to lag since the last notice.
    pending_drop: u64,
}

impl Connection {
    async fn run(
        mut self,
        backlog: Vec<Arc<Frame>>,
        gap: Option<Gap>,
        mut entries: Subscription,
        mut incoming: SplitStream<WebSocket>,
        shutdown: CancellationToken,
    ) {
        if let Some(gap) = gap {
            let notice = self.hub.drop_notice(
                gap.missing,
                gap.last_missing,
                "they are no longer kept in memory (GET /api/logs has them if log files are on)",
            );
            let notice = self.encode(&notice);
            self.out.push(notice);
        }
        for frame in &backlog {
            self.offer(frame);
        }
        if self.out.flush().await.is_err() {
            return;
        }

        let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        let mut unanswered_pings = 0u32;
        // One waiter for the whole connection rather than one registered and
        // dropped again around every entry.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            let deadline = self.out.deadline();
            tokio::select! {
                received = entries.recv() => {
                    match received {
                        Ok(frame) => self.offer(&frame),
                        Err(RecvError::Lagged(missed)) => self.pending_drop += missed,
                        Err(RecvError::Closed) => break,
                    }
                    // Take whatever else is queued now, in one go.
                    for _ in 1..MAX_FRAMES_PER_FLUSH {
                        match entries.try_recv() {
                            Ok(frame) => self.offer(&frame),
                            Err(TryRecvError::Lagged(missed)) => self.pending_drop += missed,
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    if self.out.due() && self.out.flush().await.is_err() {
                        break;
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    if self.out.flush().await.is_err() {
                        break;
                    }
                }
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(text))) if is_ping(&text) => {
                        if self.out.send_now(Message::Text(Utf8Bytes::from_static("pong"))).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(Message::Pong(_))) => unanswered_pings = 0,
                    // Other client frames carry no meaning on this endpoint.
                    Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_))) => {}
                    // Closed, broken, or a frame over the size limit.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                },
                _ = ping.tick() => {
                    if unanswered_pings >= 2 {
                        let _ = self.out.close(GOING_AWAY, "no answer to two pings").await;
                        break;
                    }
                    unanswered_pings += 1;
                    if self.out.send_now(Message::Ping(Bytes::new())).await.is_err() {
                        break;
                    }
                }
                () = &mut cancelled => {
                    let _ = self.out.flush().await;
                    let _ = self.out.close(GOING_AWAY, "server shutting down").await;
                    break;
                }
            }
        }
    }

    /// Queues `frame` if it passes the filters; first a notice of what was
    /// lost to lag, if anything.
    fn offer(&mut self, frame: &Frame) {
        let seq = frame.entry.seq;
        if seq <= self.last_seq {
            return;
        }
        if self.pending_drop > 0 {
            let notice = self
                .hub
                .drop_notice(self.pending_drop, seq - 1, "it could not keep up");
            self.gauge.count_dropped(self.pending_drop);
            let notice = self.encode(&notice);
            self.out.push(notice);
            self.pending_drop = 0;
        }
        self.last_seq = seq;
        if self.options.filter.matches(&frame.entry) {
            let bytes = self.encode(frame);
            self.out.push(bytes);
        }
    }

    /// The frame's bytes: its JSON (shared, no copy), or DMB's text.
    fn encode(&self, frame: &Frame) -> Bytes {
        if self.text {
            Bytes::from(super::dmb::text_lines(&frame.entry, self.hub.server_name()))
        } else {
            frame.json.clone()
        }
    }
}

/// What is waiting to be sent to one client.
struct Outbox {
    sink: SplitSink<WebSocket, Message>,
    batch: bool,
    queued: Vec<Bytes>,
    /// With `batch=1`: when the oldest queued entry must be sent.
    deadline: Option<Instant>,
}

impl Outbox {
    fn new(sink: SplitSink<WebSocket, Message>, batch: bool) -> Self {
        Self {
            sink,
            batch,
            queued: Vec::new(),
            deadline: None,
        }
    }

    fn push(&mut self, json: Bytes) {
        if self.batch && self.queued.is_empty() {
            self.deadline = Some(Instant::now() + BATCH_WAIT);
        }
        self.queued.push(json);
    }

    fn deadline(&self) -> Option<Instant> {
        if self.batch {
            self.deadline
        } else {
            None
        }
    }

    /// Whether queued entries should go out now (without `batch`: always).
    fn due(&self) -> bool {
        !self.batch || self.queued.len() >= BATCH_MAX
    }

    async fn flush(&mut self) -> Result<(), axum::Error> {
        if self.queued.is_empty() {
            return Ok(());
        }
        self.deadline = None;
        if self.batch {
            for chunk in self.queued.chunks(BATCH_MAX) {
                let size = chunk.iter().map(|j| j.len() + 1).sum::<usize>() + 1;
                let mut array = BytesMut::with_capacity(size);
                array.put_u8(b'[');
                for (i, json) in chunk.iter().enumerate() {
                    if i > 0 {
                        array.put_u8(b',');
                    }
                    array.put_slice(json);
                }
                array.put_u8(b']');
                feed(&mut self.sink, array.freeze()).await?;
            }
        } else {
            for json in &self.queued {
                feed(&mut self.sink, json.clone()).await?;
            }
        }
        self.queued.clear();
        self.sink.flush().await
    }

    async fn send_now(&mut self, message: Message) -> Result<(), axum::Error> {
        self.sink.send(message).await
    }

    async fn close(&mut self, code: u16, reason: &'static str) -> Result<(), axum::Error> {
        self.sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await
    }
}

async fn feed(sink: &mut SplitSink<WebSocket, Message>, json: Bytes) -> Result<(), axum::Error> {
    // The bytes are serde_json output, so this check cannot fail; it is the
    // price of handing shared bytes to axum without copying them.
    match Utf8Bytes::try_from(json) {
        Ok(text) => sink.feed(Message::Text(text)).await,
        Err(error) => {
            tracing::error!(%error, "skipping a frame that is not UTF-8");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::Level;

    #[test]
    fn no_query_means_the_original_contract() {
        let options = parse_options(None).expect("valid");
        assert!(options.filter.filter().is_empty());
        assert!(options.replay.is_none() && !options.batch);
        assert!(parse_options(Some("")).is_ok());
    }

    #[test]
    fn parses_every_option() {
        let options = parse_options(Some(
            "tail=50&process=web,db&level=warning&stream=stderr&q=time%20out&batch=1&token=abc",
        ))
        .expect("valid");
        assert_eq!(options.replay, Some(Replay::Tail(50)));
        let filter = options.filter.filter();
        assert_eq!(filter.processes.len(), 2);
        assert_eq!(filter.min_level, Some(Level::Warning));
        assert_eq!(filter.text, "time out");
        assert!(options.batch);
        let options = parse_options(Some("since=1234&q=%5Eerr%5Cd%2B&regex=1")).expect("valid");
        assert_eq!(options.replay, Some(Replay::Since(1234)));
        assert!(
            options.filter.matches(&entry("ERR42")),
            "case-insensitive unless case=1"
        );
        assert!(!options.filter.matches(&entry("no ERR42")));
    }

    fn entry(message: &str) -> app::LogEntry {
        app::LogEntry {
            message: message.into(),
            level: Level::Info,
            process_name: "p".into(),
            timestamp: chrono::Utc::now(),
            seq: 1,
            stream: app::Stream::Stdout,
            pid: None,
            continued: false,
            dropped: None,
            node: None,
        }
    }

    #[test]
    fn rejects_invalid_options_with_a_reason() {
        for (query, reason) in [
            ("tail=lots", "invalid tail"),
            ("since=-1", "invalid since"),
            ("tail=1&since=2", "either tail or since"),
            ("level=LOUD", "invalid level"),
            ("q=(&regex=1", "invalid q regex"),
            ("batch=maybe", "invalid batch"),
            ("colour=red", "unknown option `colour`"),
        ] {
            let error = parse_options(Some(query)).expect_err(query);
            assert!(error.contains(reason), "{query}: {error}");
        }
    }
}
