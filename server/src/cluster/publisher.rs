//! Publishing this node's entries to the stream.
//!
//! An intake task moves every entry the local hub publishes into a buffer
//! bounded in bytes (`cluster.buffer`): capture never waits for NATS. A
//! sender publishes from the front of the buffer, a batch at a time,
//! pipelined (every publish of a batch is sent before the first
//! acknowledgement is awaited), and removes entries only once the stream
//! acknowledged them. After a lost connection the unacknowledged ones are
//! sent again with the same message id, which the stream stores once. What
//! does not fit in the buffer while NATS is away is counted, and announced
//! by one WARNING entry with `dropped` before the rest is sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::{Level, LogEntry, Stream};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use chrono::Utc;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{Link, LinkStatus, Ready};
use crate::config::ClusterConfig;
use crate::hub::{Frame, LogHub, Subscription};

/// Publishes sent before their acknowledgements are awaited.
const BATCH: usize = 512;
/// How long an entry may wait for others to share its batch: a batch
/// costs a few wake-ups and system calls whatever its size.
const LINGER: Duration = Duration::from_millis(2);
/// The longest wait before a failed batch is tried again.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What the publisher has done, for `/api/info` and metrics.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Entries the stream acknowledged.
    pub published: AtomicU64,
    /// Bytes waiting to be published...
    pub buffered_bytes: AtomicU64,
    /// ...and the entries they are.
    pub buffered_entries: AtomicU64,
    /// Entries lost: the buffer was full (or the intake fell behind);
    /// counted as they go, announced once the stream is back.
    pub dropped: AtomicU64,
}

/// One entry on its way.
#[derive(Clone, Debug)]
struct Pending {
    /// Its place in the order of arrival.
    index: u64,
    subject: String,
    /// The stream's message id: stored once however often it is sent.
    id: String,
    payload: Bytes,
    /// When it arrived.
    at: Instant,
}

/// Entries not yet acknowledged, oldest first.
#[derive(Debug, Default)]
struct Buffer {
    entries: VecDeque<Pending>,
    bytes: usize,
    next_index: u64,
    /// Entries lost so far.
    lost: u64,
    /// The last index of the batch being sent, while one is.
    sending: Option<u64>,
    /// Entries of that batch pushed out of the buffer meanwhile: lost only
    /// if the stream does not acknowledge them.
    evicted_in_flight: Vec<u64>,
}

impl Buffer {
    fn push(&mut self, subject: String, id: String, payload: Bytes, limit: usize) {
        self.bytes += payload.len();
        self.entries.push_back(Pending {
            index: self.next_index,
            subject,
            id,
            payload,
            at: Instant::now(),
        });
        self.next_index += 1;
        // The oldest go: the newest say most about now.
        while self.bytes > limit && self.entries.len() > 1 {
            if let Some(oldest) = self.entries.pop_front() {
                self.bytes -= oldest.payload.len();
                if self.sending.is_some_and(|last| oldest.index <= last) {
                    self.evicted_in_flight.push(oldest.index);
                } else {
                    self.lost += 1;
                }
            }
        }
    }

    /// How long to wait before sending so that a batch is not sent with
    /// a few entries when more are arriving: until the oldest has waited
    /// [`LINGER`], unless a whole batch is there.
    fn linger(&self) -> Duration {
        match self.entries.front() {
            Some(oldest) if self.entries.len() < BATCH => {
                (oldest.at + LINGER).saturating_duration_since(Instant::now())
            }
            _ => Duration::ZERO,
        }
    }

    /// The next batch to send (the oldest entries), and the losses so far;
    /// until [`Buffer::sent`], what is evicted of it is not yet lost.
    fn take_batch(&mut self) -> (Vec<Pending>, u64) {
        let batch: Vec<Pending> = self.entries.iter().take(BATCH).cloned().collect();
        self.sending = batch.last().map(|p| p.index);
        (batch, self.lost)
    }

    /// The batch went out: the stream acknowledged it up to and including
    /// `confirmed`. The rest stays to be sent again, but what of it was
    /// evicted meanwhile is lost.
    fn sent(&mut self, confirmed: Option<u64>) {
        if let Some(index) = confirmed {
            self.acknowledged(index);
        }
        let unconfirmed = self
            .evicted_in_flight
            .drain(..)
            .filter(|i| confirmed.is_none_or(|c| *i > c))
            .count();
        self.lost += unconfirmed as u64;
        self.sending = None;
    }

    /// Forgets the entries up to and including `index`.
    fn acknowledged(&mut self, index: u64) {
        while self.entries.front().is_some_and(|p| p.index <= index) {
            if let Some(done) = self.entries.pop_front() {
                self.bytes -= done.payload.len();
            }
        }
    }
}

/// The publisher's two tasks and what they share.
#[derive(Debug)]
pub struct Publisher {
    node: String,
    /// The process name of Logdeck's own entries (the loss notice).
    server_name: String,
    run_id: String,
    subject_prefix: String,
    limit: usize,
    entries: Subscription,
    link: Link,
    ready: watch::Receiver<Option<Ready>>,
    stats: Arc<PublisherStats>,
    buffer: Arc<Mutex<Buffer>>,
    arrived: Arc<Notify>,
}

impl Publisher {
    pub fn new(
        config: &ClusterConfig,
        node: String,
        local: &LogHub,
        link: Link,
        ready: watch::Receiver<Option<Ready>>,
        stats: Arc<PublisherStats>,
    ) -> Publisher {
        Publisher {
            subject_prefix: format!("logdeck.logs.{node}."),
            node,
            server_name: local.server_name().to_owned(),
            run_id: local.run_id().to_owned(),
            limit: usize::try_from(config.buffer).unwrap_or(usize::MAX),
            entries: local.subscribe(),
            link,
            ready,
            stats,
            buffer: Arc::default(),
            arrived: Arc::new(Notify::new()),
        }
    }

    /// Runs until `stop`; then publishes what is left, for as long as the
    /// caller lets it.
    pub async fn run(self, stop: CancellationToken) {
        let Publisher {
            node,
            server_name,
            run_id,
            subject_prefix,
            limit,
            mut entries,
            link,
            ready,
            stats,
            buffer,
            arrived,
        } = self;
        let intake_stop = CancellationToken::new();
        let intake = {
            let (buffer, arrived, stats, intake_stop) = (
                buffer.clone(),
                arrived.clone(),
                stats.clone(),
                intake_stop.clone(),
            );
            let run_id = run_id.clone();
            tokio::spawn(async move {
                let take = |frame: Arc<Frame>, buffer: &mut Buffer| {
                    let subject = format!("{subject_prefix}{}", frame.entry.process_name);
                    let id = format!("{}:{}", run_id, frame.entry.seq);
                    buffer.push(subject, id, frame.json.clone(), limit);
                };
                loop {
                    let first = tokio::select! {
                        received = entries.recv() => received,
                        () = intake_stop.cancelled() => break,
                    };
                    let mut buffer = buffer.lock().unwrap_or_else(|e| e.into_inner());
                    match first {
                        Ok(frame) => take(frame, &mut buffer),
                        Err(RecvError::Lagged(missed)) => buffer.lost += missed,
                        Err(RecvError::Closed) => break,
                    }
                    loop {
                        match entries.try_recv() {
                            Ok(frame) => take(frame, &mut buffer),
                            Err(TryRecvError::Lagged(missed)) => buffer.lost += missed,
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    stats
                        .buffered_bytes
                        .store(buffer.bytes as u64, Ordering::Relaxed);
                    stats
                        .buffered_entries
                        .store(buffer.entries.len() as u64, Ordering::Relaxed);
                    stats.dropped.store(buffer.lost, Ordering::Relaxed);
                    drop(buffer);
                    arrived.notify_one();
                }
                // Shutting down: what was published before is still taken.
                let mut buffer = buffer.lock().unwrap_or_else(|e| e.into_inner());
                while let Ok(frame) = entries.try_recv() {
                    take(frame, &mut buffer);
                }
                drop(buffer);
                arrived.notify_one();
            })
        };
        let mut sender = Sender {
            node,
            server_name,
            run_id,
            link,
            ready,
            stats,
            buffer,
            announced: 0,
        };
        tokio::select! {
            () = sender.run(&arrived, false) => {}
            () = stop.cancelled() => {}
        }
        intake_stop.cancel();
        let _ = intake.await;
        // Whatever is left goes out now, while the caller waits; what an
        // interrupted batch sent goes again, and is stored once.
        sender.run(&arrived, true).await;
    }
}

/// The sending half.
#[derive(Debug)]
struct Sender {
    node: String,
    server_name: String,
    run_id: String,
    link: Link,
    ready: watch::Receiver<Option<Ready>>,
    stats: Arc<PublisherStats>,
    buffer: Arc<Mutex<Buffer>>,
    /// Losses announced so far.
    announced: u64,
}

impl Sender {
    /// Sends batches as long as there is something to send (and, unless
    /// `until_empty`, waits for more).
    async fn run(&mut self, arrived: &Notify, until_empty: bool) {
        let mut failures = 0u32;
        loop {
            let idle = {
                let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
                buffer.entries.is_empty() && buffer.lost == self.announced
            };
            if idle {
                if until_empty {
                    return;
                }
                arrived.notified().await;
                continue;
            }
            if !self.usable().await {
                if until_empty {
                    return;
                }
                continue;
            }
            let linger = self
                .buffer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .linger();
            if !linger.is_zero() && !until_empty {
                tokio::time::sleep(linger).await;
            }
            // Taken now, after any wait: what the buffer holds at this moment.
            let (batch, lost) = self
                .buffer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take_batch();
            let sent = match self.announce_losses(lost).await {
                Ok(()) => self.send(&batch).await,
                Err(error) => {
                    self.buffer
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .sent(None);
                    Err(error)
                }
            };
            match sent {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!("cluster: publishing failed ({error}); will retry");
                    }
                    let wait = Duration::from_millis(100u64 << failures.min(6)).min(MAX_RETRY_WAIT);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Waits for a connection and the stream; false if it did not come
    /// within a moment (so a shutdown does not wait for it).
    async fn usable(&mut self) -> bool {
        let mut status = self.link.status.clone();
        let connected = status.wait_for(|s| *s == LinkStatus::Connected);
        let ready = self.ready.wait_for(Option::is_some);
        let both = async { connected.await.is_ok() && ready.await.is_ok() };
        tokio::time::timeout(Duration::from_secs(1), both)
            .await
            .unwrap_or(false)
    }

    /// Publishes `batch` in order, pipelined, and forgets what the stream
    /// acknowledged; stops at the first failure.
    async fn send(&self, batch: &[Pending]) -> Result<(), String> {
        let mut acks = Vec::with_capacity(batch.len());
        let mut failure = None;
        for pending in batch {
            let message = PublishMessage::build()
                .payload(pending.payload.clone())
                .message_id(&pending.id);
            match self
                .link
                .js
                .send_publish(pending.subject.clone(), message)
                .await
            {
                Ok(ack) => acks.push((pending.index, ack)),
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            }
        }
        let mut confirmed = None;
        for (index, ack) in acks {
            match ack.await {
                Ok(_) => confirmed = Some(index),
                Err(error) => {
                    failure.get_or_insert(error.to_string());
                    break;
                }
            }
        }
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buffer.sent(confirmed);
        if let Some(index) = confirmed {
            let done = batch.iter().take_while(|p| p.index <= index).count();
            self.stats
                .published
                .fetch_add(done as u64, Ordering::Relaxed);
        }
        self.stats
            .buffered_bytes
            .store(buffer.bytes as u64, Ordering::Relaxed);
        self.stats
            .buffered_entries
            .store(buffer.entries.len() as u64, Ordering::Relaxed);
        self.stats.dropped.store(buffer.lost, Ordering::Relaxed);
        failure.map_or(Ok(()), Err)
    }

    /// Publishes one WARNING entry for the entries lost since the last one.
    async fn announce_losses(&mut self, lost: u64) -> Result<(), String> {
        let missing = lost - self.announced;
        if missing == 0 {
            return Ok(());
        }
        let entry = LogEntry {
            message: format!(
                "{missing} log entries of node {} were not published: the cluster could not be reached and cluster.buffer was full",
                self.node
            ),
            level: Level::Warning,
            process_name: self.server_name.clone(),
            timestamp: Utc::now(),
            seq: 0,
            stream: Stream::System,
            pid: None,
            continued: false,
            dropped: Some(missing),
            node: Some(self.node.clone()),
        };
        let payload = Bytes::from(serde_json::to_vec(&entry).map_err(|e| e.to_string())?);
        let id = format!("{}:lost:{}", self.run_id, lost);
        let ack = self
            .link
            .js
            .send_publish(
                format!("logdeck.logs.{}.{}", self.node, self.server_name),
                PublishMessage::build().payload(payload).message_id(id),
            )
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map_err(|e| e.to_string())?;
        self.announced = lost;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_keeps_the_newest_within_its_bytes_and_counts_the_rest() {
        let mut buffer = Buffer::default();
        for i in 0..10u8 {
            buffer.push("s".into(), format!("id{i}"), Bytes::from(vec![i; 100]), 350);
        }
        let kept: Vec<u64> = buffer.entries.iter().map(|p| p.index).collect();
        assert_eq!(kept, vec![7, 8, 9]);
        assert_eq!((buffer.bytes, buffer.lost), (300, 7));
        buffer.acknowledged(8);
        assert_eq!(buffer.entries.len(), 1);
        assert_eq!(buffer.bytes, 100);
        // Acknowledging what overflow already removed is harmless.
        buffer.acknowledged(2);
        assert_eq!(buffer.entries.len(), 1);
    }

    #[test]
    fn entries_evicted_while_being_sent_are_lost_only_if_not_acknowledged() {
        let mut buffer = Buffer::default();
        for i in 0..3u8 {
            buffer.push("s".into(), format!("id{i}"), Bytes::from(vec![i; 100]), 350);
        }
        let (batch, lost) = buffer.take_batch();
        assert_eq!((batch.len(), lost), (3, 0));
        // Two more arrive while the batch is out: 0 and 1 leave the buffer.
        for i in 3..5u8 {
            buffer.push("s".into(), format!("id{i}"), Bytes::from(vec![i; 100]), 350);
        }
        assert_eq!(buffer.lost, 0, "in flight, not lost yet");
        // The stream took 0 but not 1 or 2: 1 is gone for good, 2 is sent again.
        buffer.sent(Some(0));
        assert_eq!(buffer.lost, 1);
        let kept: Vec<u64> = buffer.entries.iter().map(|p| p.index).collect();
        assert_eq!(kept, vec![2, 3, 4]);

        // A batch that failed entirely: what was evicted of it is lost.
        let (batch, _) = buffer.take_batch();
        assert_eq!(batch.len(), 3);
        buffer.push("s".into(), "id5".into(), Bytes::from(vec![5; 100]), 350);
        buffer.sent(None);
        assert_eq!(buffer.lost, 2);
        assert!(buffer.sending.is_none() && buffer.evicted_in_flight.is_empty());
    }
}
