//! The live `/ws/logs` stream as reactive state.
//!
//! On the server this only creates the (empty) state the page renders with;
//! after hydration the browser connects with `batch=1`, appends entries once
//! per animation frame, and on a dropped connection reconnects with backoff
//! and resumes with `since=<last seq>`, so nothing is lost or shown twice.

use std::sync::Arc;

use leptos::prelude::*;

use crate::filter::EntryFilter;
use crate::hooks::startup::{use_startup, Startup};
use crate::log_entry::LogEntry;
use crate::log_store::LogStore;

/// Where the browser's connection to `/ws/logs` stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// The first connection attempt is under way (also what the server
    /// renders, before the page is hydrated).
    Connecting,
    Live,
    /// The connection was lost or refused; `attempt` counts the retries.
    Reconnecting {
        attempt: u32,
    },
    /// The browser says it has no network.
    Offline,
}

impl ConnectionStatus {
    pub fn label(self) -> String {
        match self {
            ConnectionStatus::Connecting => "connecting".into(),
            ConnectionStatus::Live => "live".into(),
            ConnectionStatus::Reconnecting { attempt } => format!("reconnecting ({attempt})"),
            ConnectionStatus::Offline => "offline".into(),
        }
    }

    pub const fn css_class(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Live => "live",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Offline => "offline",
        }
    }
}

/// Whether the viewer shows `entry` under `filter`: notices of dropped
/// entries always, everything else as the filter says.
fn shows(filter: &EntryFilter, entry: &LogEntry) -> bool {
    entry.dropped.is_some() || filter.matches(entry)
}

/// [`shows`] of each of a store's `entries` (numbered from `serial_base`),
/// the search run over them all at once.
fn shows_each(filter: &EntryFilter, entries: &[&LogEntry], serial_base: u64) -> Vec<bool> {
    let mut shows = filter.matches_each(entries, Some(serial_base));
    for (shows, entry) in shows.iter_mut().zip(entries) {
        *shows |= entry.dropped.is_some();
    }
    shows
}

/// How the visible rows changed last, for keeping the view still.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub appended: usize,
    /// Rows that left the top (evicted from the buffer).
    pub removed_front: usize,
    /// Older rows added at the top ("load older").
    pub prepended: usize,
    /// Bumped on every change, so equal changes still notify.
    pub serial: u64,
}

/// What [`use_log_stream`] needs to know.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Entries kept in the browser.
    pub capacity: usize,
    /// Only this process (the per-process page): filtered by the server,
    /// and history since its last start loaded first.
    pub process: Option<String>,
    /// Entries to replay from the server's memory on the first connect.
    pub tail: usize,
    /// The page's filters when it opened (as query parameters): if any,
    /// the matching history is loaded first, so a shared link shows its
    /// lines even when they are older than the replayed tail.
    pub initial_query: String,
}

/// Outside "live", what the rows show instead of the stream: stored
/// entries from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistorySource {
    /// `GET /api/logs`'s filters and time range (`process=a&from=-1h`).
    pub query: String,
    /// A linked entry: the lines around it, it in view.
    pub seq: Option<u64>,
}

/// Entries on either side of a linked entry.
pub const CONTEXT_LINES: usize = 500;

/// The entries received so far and the connection state.
#[derive(Clone, Copy, Debug)]
pub struct LogStream {
    pub store: RwSignal<LogStore>,
    pub status: RwSignal<ConnectionStatus>,
    /// While paused, new entries are held back (not dropped) and shown on
    /// resume.
    pub paused: RwSignal<bool>,
    /// How many entries are held back.
    pub held: RwSignal<usize>,
    /// Entries that came faster than the page could show them and were
    /// skipped (each run of them also leaves a notice among the rows).
    pub skipped: RwSignal<u64>,
    held_entries: StoredValue<Vec<LogEntry>>,
    pub last_change: RwSignal<Change>,
    keep: RwSignal<Arc<EntryFilter>>,
    /// "Load older" is running / failed.
    pub loading_older: RwSignal<bool>,
    pub history_error: RwSignal<Option<String>>,
    /// No older entries exist on the server.
    pub history_exhausted: RwSignal<bool>,
    /// Outside "live": the stored entries shown; live entries are not
    /// shown meanwhile.
    pub history: RwSignal<Option<HistorySource>>,
    /// An entry to bring into view and select once it is loaded.
    pub focus: RwSignal<Option<u64>>,
    /// The view's filters as query parameters, for the way back to live.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    live_filters: StoredValue<String>,
    // Read by the browser's connection loop only.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    options: StoredValue<StreamOptions>,
    /// Told when the first rows are shown (see [`crate::hooks::startup`]).
    startup: Startup,
}

impl LogStream {
    fn new(options: StreamOptions) -> Self {
        Self {
            store: RwSignal::new(LogStore::new(options.capacity)),
            status: RwSignal::new(ConnectionStatus::Connecting),
            paused: RwSignal::new(false),
            held: RwSignal::new(0),
            skipped: RwSignal::new(0),
            held_entries: StoredValue::new(Vec::new()),
            last_change: RwSignal::new(Change::default()),
            keep: RwSignal::new(Arc::new(EntryFilter::default())),
            loading_older: RwSignal::new(false),
            history_error: RwSignal::new(None),
            history_exhausted: RwSignal::new(false),
            history: RwSignal::new(None),
            focus: RwSignal::new(None),
            live_filters: StoredValue::new(String::new()),
            options: StoredValue::new(options),
            startup: use_startup(),
        }
    }

    fn changed(&self, change: Change) {
        let serial = self.last_change.get_untracked().serial + 1;
        self.last_change.set(Change { serial, ..change });
    }

    /// Takes a batch of new entries (oldest first): shown at once, or held
    /// while paused.
    pub fn receive(&self, batch: Vec<LogEntry>) {
        // Looking at stored entries: the live ones are fetched again on
        // the way back.
        if batch.is_empty() || self.history.with_untracked(Option::is_some) {
            return;
        }
        if self.paused.get_untracked() {
            let capacity = self.store.with_untracked(LogStore::capacity);
            let held = self.held_entries.try_update_value(|held| {
                held.extend(batch);
                // The buffer could not keep more than this anyway.
                if held.len() > capacity {
                    held.drain(..held.len() - capacity);
                }
                held.len()
            });
            self.held.set(held.unwrap_or(0));
            return;
        }
        let keep = self.keep.get_untracked();
        // The text a regex search keeps for the next one (which copies
        // only the rows it has not seen) is let go of when rows come and
        // no regex search is on: until then the next search may use it.
        if !keep.has_regex() {
            crate::search::forget_rows();
        }
        let mut appended = Default::default();
        self.store
            .update(|store| appended = store.append(batch, &|e| shows(&keep, e)));
        self.changed(Change {
            appended: appended.shown,
            removed_front: appended.evicted_visible,
            ..Change::default()
        });
        self.startup.rows_shown();
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
        if !paused {
            let held = self
                .held_entries
                .try_update_value(std::mem::take)
                .unwrap_or_default();
            self.held.set(0);
            self.receive(held);
        }
    }

    /// Applies a new filter to everything kept.
    pub fn set_keep(&self, keep: EntryFilter) {
        let keep = Arc::new(keep);
        self.keep.set(keep.clone());
        self.store
            .update(|store| store.refilter(|kept, base| shows_each(&keep, kept, base)));
        self.changed(Change::default());
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        crate::search::forget_rows();
        self.store.update(LogStore::clear);
        self.skipped.set(0);
        self.changed(Change::default());
    }

    /// Shows `source` (stored entries), or with `None` the live stream
    /// again, starting from the newest entries that pass `live_filters`
    /// (query parameters); the rows are replaced either way.
    pub fn show(&self, source: Option<HistorySource>, live_filters: String) {
        self.live_filters.set_value(live_filters);
        if self.history.with_untracked(|h| *h == source) {
            return;
        }
        self.history.set(source.clone());
        // Other entries entirely: none of the old ones' numbers may make
        // a new one look seen already.
        self.store.update(|store| {
            store.clear();
            store.reset_sequence();
        });
        self.changed(Change::default());
        self.history_exhausted.set(false);
        self.history_error.set(None);
        #[cfg(feature = "hydrate")]
        browser::load_source(*self, source);
    }

    /// Pages back through the server's history before the oldest entry
    /// kept, and adds what it finds at the top.
    pub fn load_older(&self) {
        #[cfg(feature = "hydrate")]
        browser::load_older(*self);
    }

    /// Adds a page of the server's history (newest first, as
    /// `GET /api/logs` answers): older entries at the top, newer ones at
    /// the bottom, none twice.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn merge_history(&self, newest_first: Vec<LogEntry>) {
        let keep = self.keep.get_untracked();
        let mut merged = Default::default();
        self.store
            .update(|store| merged = store.merge_history(newest_first, &|e| shows(&keep, e)));
        self.changed(Change {
            appended: merged.appended.shown,
            removed_front: merged.appended.evicted_visible,
            prepended: merged.prepended,
            ..Change::default()
        });
        self.startup.rows_shown();
    }
}

/// The `/ws/logs` path the viewer opens: `start` is `tail=N` or
/// `since=SEQ`, `process` the page's `&process=…` (or nothing).
pub(crate) fn socket_path(start: &str, process: &str) -> String {
    format!("/ws/logs?format=json&batch=1&{start}{process}")
}

/// Keeps up to `options.capacity` of the newest entries from `/ws/logs`.
pub fn use_log_stream(options: StreamOptions) -> LogStream {
    let stream = LogStream::new(options);
    #[cfg(feature = "hydrate")]
    browser::connect(stream);
    stream
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::rc::Rc;

    use chrono::Utc;
    use futures::{Sink, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, State};
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use super::{ConnectionStatus, LogStream};
    use super::{HistorySource, CONTEXT_LINES};
    use crate::api::{fetch_context, fetch_history, fetch_info, fetch_process};
    use crate::hooks::early_socket;
    use crate::hooks::reconnect::{run_while_mounted, socket_url, Retry};
    use crate::hooks::startup::use_startup;
    use crate::level::Level;
    use crate::log_entry::{entries_in_frame, LogEntry, Stream};
    use crate::log_store::Backlog;
    use crate::page::query_value;

    /// Entries fetched per "load older".
    const HISTORY_PAGE: usize = 1000;

    /// Starts the connection once the page is live in the browser; unmounting
    /// the component closes the socket and ends the loop.
    pub(super) fn connect(stream: LogStream) {
        // The first connection asks for the server's info once the first
        // rows are shown: the rows come first on the single thread.
        let (started_tx, started) = futures::channel::oneshot::channel::<()>();
        use_startup().then(move || {
            let _ = started_tx.send(());
        });
        run_while_mounted(move || follow(stream, started));
    }

    /// On the per-process page: its process (and, in a cluster, its node).
    fn process_param(stream: &LogStream) -> String {
        stream.options.with_value(|o| {
            let Some(process) = &o.process else {
                return String::new();
            };
            let node = query_value(&o.initial_query, "node")
                .map(|node| format!("&node={}", encode(&node)))
                .unwrap_or_default();
            format!("&process={}{node}", encode(process))
        })
    }

    async fn follow(stream: LogStream, started: futures::channel::oneshot::Receiver<()>) {
        let mut started = Some(started);
        let mut retry = Retry::default();
        // What numbers the entries: the server's run, or in a cluster the
        // stream, whichever node of it the page reaches.
        let mut run_id: Option<String> = None;
        loop {
            let mut connected = false;
            // The first time, with no history to load before the stream,
            // the socket opens while the server's info is on its way.
            // The page's own script may have opened that socket already.
            let early = (run_id.is_none() && !wants_initial_history(&stream)).then(|| {
                let path = live_path(&stream);
                match early_socket::take(&path) {
                    Some(socket) => Ok(LiveSocket::Early(socket)),
                    None => WebSocket::open(&socket_url(&path)).map(LiveSocket::Gloo),
                }
            });
            if run_id.is_none() && early.is_none() {
                // Not the socket this page wants first: closed.
                drop(early_socket::take(""));
            }
            // That first socket is read at once: the server's info only
            // numbers the next connection (a later one from a new run of
            // the server starts afresh), so it is asked for once the page
            // has started, while the socket is read.
            if let Some(Ok(socket)) = early {
                let started = started.take();
                let info = async move {
                    if let Some(started) = started {
                        // Dropped unsent (the page going away) ends the
                        // wait too.
                        let _ = started.await;
                    }
                    fetch_info().await
                };
                let (info, was_open) = futures::join!(info, run_session(socket, stream));
                connected = was_open;
                match info {
                    Ok(info) => run_id = Some(numbering(info)),
                    Err(error) => leptos::logging::warn!("cannot reach the server: {error}"),
                }
            } else {
                match fetch_info().await {
                    Ok(info) => {
                        let numbering = numbering(info);
                        if run_id.as_ref().is_some_and(|old| *old != numbering) {
                            // A new server run numbers its entries afresh.
                            stream.store.update(|s| s.reset_sequence());
                            stream.receive(vec![local_notice("the server restarted; entries it printed while this page was disconnected and not kept in memory may be missing", 0)]);
                        }
                        if run_id.is_none() && stream.history.with_untracked(Option::is_none) {
                            load_initial_history(&stream).await;
                        }
                        run_id = Some(numbering);
                        if let Ok(socket) =
                            WebSocket::open(&socket_url(&live_path(&stream))).map(LiveSocket::Gloo)
                        {
                            connected = run_session(socket, stream).await;
                        }
                    }
                    Err(error) => leptos::logging::warn!("cannot reach the server: {error}"),
                }
            }
            let attempt = retry.next(connected);
            stream.status.set(reconnecting(attempt));
            retry.wait().await;
        }
    }

    /// What numbers the entries the server sends: its run, or in a cluster
    /// the stream.
    fn numbering(info: crate::protocol::Info) -> String {
        match &info.cluster {
            Some(cluster) => format!("stream {}", cluster.stream),
            None => info.run_id,
        }
    }

    /// The status between two connections.
    fn reconnecting(attempt: u32) -> ConnectionStatus {
        if window().navigator().on_line() {
            ConnectionStatus::Reconnecting { attempt }
        } else {
            ConnectionStatus::Offline
        }
    }

    /// `/ws/logs` from where the kept entries end, or with the tail.
    fn live_path(stream: &LogStream) -> String {
        let start = match stream.store.with_untracked(|s| s.last_seq()) {
            Some(seq) => format!("since={seq}"),
            None => format!("tail={}", stream.options.with_value(|o| o.tail)),
        };
        super::socket_path(&start, &process_param(stream))
    }

    /// The stream's socket: opened here, or by the page's script.
    enum LiveSocket {
        Gloo(WebSocket),
        Early(early_socket::Socket),
    }

    impl LiveSocket {
        /// Waits until the socket is open; false if it failed instead.
        async fn opened(&mut self) -> bool {
            match self {
                // gloo-net's sink becomes ready when the socket opens or
                // fails.
                LiveSocket::Gloo(socket) => {
                    let _ = poll_fn(|cx| Pin::new(&mut *socket).poll_ready(cx)).await;
                    matches!(socket.state(), State::Open)
                }
                LiveSocket::Early(socket) => socket.opened().await,
            }
        }

        /// The next frame (`Some(None)`: not text); `None` once closed.
        async fn next_frame(&mut self) -> Option<Option<String>> {
            match self {
                LiveSocket::Gloo(socket) => match socket.next().await? {
                    Ok(Message::Text(text)) => Some(Some(text)),
                    Ok(Message::Bytes(_)) => Some(None),
                    Err(_) => None,
                },
                LiveSocket::Early(socket) => socket.next_text().await.map(Some),
            }
        }
    }

    /// Whether the page loads history before it follows the stream (see
    /// [`load_initial_history`]).
    fn wants_initial_history(stream: &LogStream) -> bool {
        stream.history.with_untracked(Option::is_none)
            && stream
                .options
                .with_value(|o| o.process.is_some() || !o.initial_query.is_empty())
    }

    /// On the per-process page: everything since the process last started;
    /// on a page opened with filters: the newest matching history.
    async fn load_initial_history(stream: &LogStream) {
        let (process, initial) = stream
            .options
            .with_value(|o| (o.process.clone(), o.initial_query.clone()));
        let query = match process {
            Some(process) => {
                // In a cluster the page names the process's node.
                let node = query_value(&initial, "node");
                let info = fetch_process(&process, node.as_deref()).await.ok();
                // Since its last start: by `seq` on one host; in a cluster
                // (where `seq` numbers the stream) by the time it started.
                let since = match info.as_ref().map(|p| (p.start_seq, p.started_at)) {
                    Some((Some(seq), _)) => format!("&after_seq={}", seq.saturating_sub(1)),
                    Some((None, Some(at))) => format!(
                        "&since={}",
                        encode(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    ),
                    _ => String::new(),
                };
                let node = node
                    .map(|node| format!("&node={}", encode(&node)))
                    .unwrap_or_default();
                format!("process={}&limit=10000{node}{since}", encode(&process))
            }
            None if !initial.is_empty() => format!("{initial}&limit={}", HISTORY_PAGE * 2),
            None => return,
        };
        let answer = fetch_history(&query).await;
        // The page may have moved to stored entries meanwhile.
        if stream.history.with_untracked(Option::is_some) {
            return;
        }
        match answer {
            Ok(newest_first) => stream.merge_history(newest_first),
            Err(error) => stream.history_error.set(Some(error)),
        }
    }

    /// Loads what `source` shows (or, back to live, the newest entries
    /// the server keeps); a source changed meanwhile wins.
    pub(super) fn load_source(stream: LogStream, source: Option<HistorySource>) {
        spawn_local(async move {
            let still = || stream.history.with_untracked(|h| *h == source);
            let loaded = match &source {
                Some(HistorySource { seq: Some(seq), .. }) => fetch_context(&format!(
                    "seq={seq}&before={CONTEXT_LINES}&after={CONTEXT_LINES}"
                ))
                .await
                .map(|mut oldest_first| {
                    oldest_first.reverse();
                    oldest_first
                }),
                Some(HistorySource { query, .. }) => {
                    fetch_history(&format!("{query}&limit={HISTORY_PAGE}")).await
                }
                None => {
                    let tail = stream.options.with_value(|o| o.tail);
                    let filters = stream.live_filters.get_value();
                    fetch_history(&format!("{filters}&limit={tail}{}", process_param(&stream)))
                        .await
                }
            };
            if !still() {
                return;
            }
            match loaded {
                Ok(newest_first) => {
                    stream.merge_history(newest_first);
                    if let Some(HistorySource { seq: Some(seq), .. }) = source {
                        stream.focus.set(Some(seq));
                    }
                }
                Err(error) => stream.history_error.set(Some(error)),
            }
        });
    }

    pub(super) fn load_older(stream: LogStream) {
        if stream.loading_older.get_untracked() {
            return;
        }
        stream.loading_older.set(true);
        stream.history_error.set(None);
        spawn_local(async move {
            let before = stream.store.with_untracked(|s| s.oldest_seq());
            let before = before
                .map(|s| format!("&before_seq={s}"))
                .unwrap_or_default();
            // Outside "live", older entries of what is shown.
            let filters = stream
                .history
                .with_untracked(|h| h.as_ref().map(|h| format!("&{}", h.query)))
                .unwrap_or_else(|| process_param(&stream));
            let query = format!("limit={HISTORY_PAGE}{before}{filters}");
            let source = stream.history.get_untracked();
            let answer = fetch_history(&query).await;
            // What is shown changed meanwhile: this page is not of it.
            if stream.history.with_untracked(|h| *h != source) {
                stream.loading_older.set(false);
                return;
            }
            match answer {
                Ok(newest_first) => {
                    if newest_first.is_empty() {
                        stream.history_exhausted.set(true);
                    }
                    stream.merge_history(newest_first);
                }
                Err(error) => stream.history_error.set(Some(error)),
            }
            stream.loading_older.set(false);
        });
    }

    /// A notice shown only in this page, in the shape of an entry; it
    /// stands for `dropped` entries.
    fn local_notice(message: &str, dropped: u64) -> LogEntry {
        LogEntry {
            message: message.to_owned(),
            level: Level::Warning,
            process_name: "logdeck".into(),
            timestamp: Utc::now(),
            seq: 0,
            stream: Stream::System,
            pid: None,
            continued: false,
            dropped: Some(dropped),
            node: None,
        }
    }

    /// Reads one connection until it closes; true if it was ever open.
    async fn run_session(mut socket: LiveSocket, stream: LogStream) -> bool {
        if !socket.opened().await {
            return false;
        }
        stream.status.set(ConnectionStatus::Live);
        let batcher = FrameBatcher::new(stream);
        while let Some(frame) = socket.next_frame().await {
            match frame {
                Some(text) if batcher.behind() => {
                    batcher.skip(entries_in_frame(&text));
                }
                Some(text) => {
                    let parsed = if text.starts_with('[') {
                        serde_json::from_str::<Vec<LogEntry>>(&text)
                    } else {
                        serde_json::from_str::<LogEntry>(&text).map(|e| vec![e])
                    };
                    match parsed {
                        Ok(entries) => batcher.push(entries),
                        Err(error) => {
                            leptos::logging::warn!(
                                "ignoring a frame that is not a log entry: {error}"
                            )
                        }
                    }
                }
                None => {}
            }
        }
        true
    }

    /// Entries waiting for the next frame at which a page in view is
    /// behind: its frames stall while the stream comes faster than it can
    /// show it. It then counts the frames that arrive instead of reading
    /// them, until a frame has been shown, and says how many it skipped,
    /// rather than freezing on a backlog that only grows.
    const BEHIND_AT: usize = 20_000;

    /// Collects entries between animation frames and hands them to the
    /// stream once per frame, so a burst of thousands of lines costs one
    /// re-render instead of thousands.
    struct FrameBatcher {
        pending: Rc<RefCell<Backlog>>,
        scheduled: Rc<Cell<bool>>,
        stream: LogStream,
    }

    impl FrameBatcher {
        fn new(stream: LogStream) -> Self {
            Self {
                pending: Rc::default(),
                scheduled: Rc::default(),
                stream,
            }
        }

        /// Whether the page is in view and further entries would only add
        /// to a backlog it cannot show (a hidden page gets no frames at
        /// all, and keeps the newest entries instead, below).
        fn behind(&self) -> bool {
            self.pending.borrow().at_least(BEHIND_AT) && !document().hidden()
        }

        /// Counts `entries` not read; the frame that is due says so.
        fn skip(&self, entries: u64) {
            self.pending.borrow_mut().skip(entries);
        }

        fn push(&self, entries: Vec<LogEntry>) {
            // Hidden tabs get no animation frames; keep only what the
            // buffer could hold anyway so memory stays bounded.
            let capacity = self.stream.store.with_untracked(|s| s.capacity());
            self.pending.borrow_mut().push(entries, capacity);
            if self.scheduled.replace(true) {
                return;
            }
            let (pending, scheduled, stream) =
                (self.pending.clone(), self.scheduled.clone(), self.stream);
            request_animation_frame(move || {
                scheduled.set(false);
                // Everything skipped came after what was waiting.
                let (mut batch, skipped) = pending.borrow_mut().take();
                if skipped > 0 {
                    batch.push(local_notice(
                        &format!("{skipped} lines skipped: they came faster than this page could show them"),
                        skipped,
                    ));
                    stream.skipped.update(|n| *n += skipped);
                }
                stream.receive(batch);
            });
        }
    }

    fn encode(value: &str) -> String {
        form_urlencoded::byte_serialize(value.as_bytes()).collect()
    }
}
