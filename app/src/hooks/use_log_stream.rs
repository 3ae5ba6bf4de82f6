//! The live `/ws/logs` stream as reactive state.
//!
//! On the server this only creates the (empty) state the page renders with;
//! after hydration the browser connects, appends entries once per animation
//! frame, and reconnects with backoff when the connection drops.

use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;

use crate::log_entry::LogEntry;
use crate::ring_buffer::RingBuffer;

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
}

impl ConnectionStatus {
    pub fn label(self) -> String {
        match self {
            ConnectionStatus::Connecting => "connecting".into(),
            ConnectionStatus::Live => "live".into(),
            ConnectionStatus::Reconnecting { attempt } => format!("reconnecting ({attempt})"),
        }
    }

    pub const fn css_class(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Live => "live",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
        }
    }
}

/// The entries received so far and the connection state.
#[derive(Clone, Copy, Debug)]
pub struct LogStream {
    /// The newest entries, bounded by the capacity given to
    /// [`use_log_stream`]. Shared pointers, so rendering a filtered view
    /// copies pointers rather than messages.
    pub entries: RwSignal<RingBuffer<Arc<LogEntry>>>,
    /// How many kept entries each process has, for the process filter.
    pub process_counts: RwSignal<BTreeMap<String, usize>>,
    pub status: RwSignal<ConnectionStatus>,
}

impl LogStream {
    fn new(capacity: usize) -> Self {
        Self {
            entries: RwSignal::new(RingBuffer::new(capacity)),
            process_counts: RwSignal::new(BTreeMap::new()),
            status: RwSignal::new(ConnectionStatus::Connecting),
        }
    }

    /// Appends a batch of entries (oldest first), keeping the per-process
    /// counts in step with what the ring evicts.
    pub fn append(&self, batch: Vec<LogEntry>) {
        if batch.is_empty() {
            return;
        }
        self.process_counts.update(|counts| {
            for entry in &batch {
                match counts.get_mut(&entry.process_name) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(entry.process_name.clone(), 1);
                    }
                }
            }
        });
        let mut evicted = Vec::new();
        self.entries.update(|ring| {
            evicted.extend(
                batch
                    .into_iter()
                    .filter_map(|entry| ring.push(Arc::new(entry))),
            );
        });
        if !evicted.is_empty() {
            self.process_counts.update(|counts| {
                for entry in &evicted {
                    if let Some(count) = counts.get_mut(&entry.process_name) {
                        *count = count.saturating_sub(1);
                    }
                }
            });
        }
    }

    /// Forgets every entry received so far.
    pub fn clear(&self) {
        self.entries.update(RingBuffer::clear);
        self.process_counts.update(BTreeMap::clear);
    }
}

/// Keeps up to `capacity` of the newest entries from `/ws/logs`.
pub fn use_log_stream(capacity: usize) -> LogStream {
    let stream = LogStream::new(capacity);
    #[cfg(feature = "hydrate")]
    browser::connect(stream, capacity);
    stream
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::time::Duration;

    use futures::channel::oneshot;
    use futures::{future, Sink, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, State};
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use super::{ConnectionStatus, LogStream};
    use crate::backoff::Backoff;
    use crate::log_entry::LogEntry;

    const RECONNECT: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(10),
        multiplier: 2.0,
    };

    /// Starts the connection once the page is live in the browser; unmounting
    /// the component closes the socket and ends the loop.
    pub(super) fn connect(stream: LogStream, capacity: usize) {
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        on_cleanup(move || drop(cancel_tx));
        let mut cancel_rx = Some(cancel_rx);
        Effect::new(move |_| {
            if let Some(cancel_rx) = cancel_rx.take() {
                spawn_local(async move {
                    let connection = Box::pin(reconnect_forever(stream, capacity));
                    future::select(connection, cancel_rx).await;
                });
            }
        });
    }

    async fn reconnect_forever(stream: LogStream, capacity: usize) {
        let url = logs_url();
        let mut attempt = 0;
        loop {
            match WebSocket::open(&url) {
                Ok(socket) => {
                    if run_session(socket, stream, capacity).await {
                        attempt = 0;
                    }
                }
                Err(error) => leptos::logging::warn!("cannot open {url}: {error}"),
            }
            attempt += 1;
            stream
                .status
                .set(ConnectionStatus::Reconnecting { attempt });
            sleep(RECONNECT.delay(attempt, js_sys::Math::random())).await;
        }
    }

    /// Reads one connection until it closes; true if it was ever open.
    async fn run_session(mut socket: WebSocket, stream: LogStream, capacity: usize) -> bool {
        // gloo-net's sink becomes ready when the socket opens or fails.
        let _ = poll_fn(|cx| Pin::new(&mut socket).poll_ready(cx)).await;
        if !matches!(socket.state(), State::Open) {
            return false;
        }
        stream.status.set(ConnectionStatus::Live);
        let batcher = FrameBatcher::new(stream, capacity);
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(text)) => match serde_json::from_str::<LogEntry>(&text) {
                    Ok(entry) => batcher.push(entry),
                    Err(error) => {
                        leptos::logging::warn!("ignoring a frame that is not a log entry: {error}")
                    }
                },
                Ok(Message::Bytes(_)) => {}
                Err(_) => break,
            }
        }
        true
    }

    /// Collects entries between animation frames and hands them to the
    /// stream once per frame, so a burst of thousands of lines costs one
    /// re-render instead of thousands.
    struct FrameBatcher {
        pending: Rc<RefCell<Vec<LogEntry>>>,
        scheduled: Rc<Cell<bool>>,
        stream: LogStream,
        capacity: usize,
    }

    impl FrameBatcher {
        fn new(stream: LogStream, capacity: usize) -> Self {
            Self {
                pending: Rc::default(),
                scheduled: Rc::default(),
                stream,
                capacity,
            }
        }

        fn push(&self, entry: LogEntry) {
            {
                let mut pending = self.pending.borrow_mut();
                // Hidden tabs get no animation frames; keep only what the
                // ring could hold anyway so memory stays bounded.
                if pending.len() >= self.capacity {
                    let excess = pending.len() + 1 - self.capacity;
                    pending.drain(..excess);
                }
                pending.push(entry);
            }
            if self.scheduled.replace(true) {
                return;
            }
            let (pending, scheduled, stream) =
                (self.pending.clone(), self.scheduled.clone(), self.stream);
            request_animation_frame(move || {
                scheduled.set(false);
                let batch = std::mem::take(&mut *pending.borrow_mut());
                stream.append(batch);
            });
        }
    }

    /// `/ws/logs` on the page's own origin, `wss` when the page is https.
    fn logs_url() -> String {
        let location = window().location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        let host = location.host().unwrap_or_default();
        format!("{scheme}://{host}/ws/logs")
    }

    async fn sleep(duration: Duration) {
        let (done_tx, done_rx) = oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = done_tx.send(());
            },
            duration,
        );
        let _ = done_rx.await;
    }
}
