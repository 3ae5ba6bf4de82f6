//! Reading the stream: once, in order, into the hub this node's viewers
//! read (so an entry's `seq` is its stream sequence, the same on every
//! node), and on demand, for history older than that hub keeps.

use std::sync::Arc;
use std::time::Duration;

use app::LogEntry;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{Link, Ready};
use crate::hub::LogHub;

/// How many of the newest entries a node that just started reads into its
/// view first, so viewers have history at once.
pub const PREFILL: u64 = 10_000;

/// Reads the stream.
#[derive(Clone, Debug)]
pub struct StreamReader {
    link: Link,
    ready: watch::Receiver<Option<Ready>>,
    stream: String,
}

impl StreamReader {
    pub fn new(link: Link, ready: watch::Receiver<Option<Ready>>, stream: String) -> Self {
        StreamReader {
            link,
            ready,
            stream,
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Whether the stream can be read now.
    pub fn available(&self) -> bool {
        self.ready.borrow().is_some() && *self.link.status.borrow() == super::LinkStatus::Connected
    }

    /// The stream's first and last sequence (`(first, 0)`: empty).
    pub async fn bounds(&self) -> Result<(u64, u64), String> {
        let mut stream = self
            .link
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| e.to_string())?;
        let state = &stream.info().await.map_err(|e| e.to_string())?.state;
        Ok((state.first_sequence, state.last_sequence))
    }

    /// An ordered reader of the stream from sequence `from`.
    async fn open(&self, from: u64) -> Result<Ordered, String> {
        let stream = self
            .link
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| e.to_string())?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        consumer.messages().await.map_err(|e| e.to_string())
    }

    /// The entries numbered `from..=to`, in order, each handed to `each`
    /// (which returns false to stop); done by `deadline`, or an error.
    pub async fn read(
        &self,
        from: u64,
        to: u64,
        deadline: Instant,
        mut each: impl FnMut(LogEntry) -> bool,
    ) -> Result<(), String> {
        if from > to {
            return Ok(());
        }
        let mut messages = tokio::time::timeout_at(deadline, self.open(from))
            .await
            .map_err(|_| too_slow())??;
        loop {
            let next = tokio::time::timeout_at(deadline, messages.next())
                .await
                .map_err(|_| too_slow())?;
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => return Err(error.to_string()),
                None => return Ok(()),
            };
            let Some((entry, pending)) = entry_of(&message) else {
                continue;
            };
            // A consumer recreated before its first message starts from
            // the beginning: skip what comes before `from`.
            if entry.seq < from {
                continue;
            }
            let seq = entry.seq;
            if seq > to || !each(entry) || seq == to || pending == 0 {
                return Ok(());
            }
        }
    }

    /// Entries below `before` that `keep` wants, newest first, at most
    /// `limit`: read in windows going back from `before`.
    pub async fn older(
        &self,
        before: u64,
        limit: usize,
        deadline: Instant,
        keep: impl Fn(&LogEntry) -> bool,
    ) -> Result<Vec<LogEntry>, String> {
        let (first, last) = self.bounds().await?;
        let mut end = before.min(last.saturating_add(1));
        let mut found = Vec::new();
        let mut window = 1_000u64;
        while end > first.max(1) && found.len() < limit {
            let start = end.saturating_sub(window).max(first.max(1));
            let mut chunk = Vec::new();
            self.read(start, end - 1, deadline, |entry| {
                if keep(&entry) {
                    chunk.push(entry);
                }
                true
            })
            .await?;
            found.extend(chunk.into_iter().rev().take(limit - found.len()));
            end = start;
            window = (window * 4).min(100_000);
        }
        Ok(found)
    }
}

fn too_slow() -> String {
    "reading the cluster's stream took too long; narrow the query".to_owned()
}

/// The entry a stream message holds, numbered by its stream sequence, and
/// how many messages follow it now.
fn entry_of(message: &async_nats::jetstream::Message) -> Option<(LogEntry, u64)> {
    let info = message.info().ok()?;
    let mut entry: LogEntry = serde_json::from_slice(&message.payload).ok()?;
    entry.seq = info.stream_sequence;
    Some((entry, info.pending))
}

/// Feeds the stream, in order, into `view`, for as long as the server runs:
/// from the newest [`PREFILL`] entries at first, then, after any
/// interruption, from just after the last entry taken (no gap, no
/// duplicate).
pub async fn follow(reader: StreamReader, view: Arc<LogHub>, stop: CancellationToken) {
    let mut last: Option<u64> = None;
    let mut failures = 0u32;
    loop {
        let mut ready = reader.ready.clone();
        if !reader.link.connected(&stop).await {
            return;
        }
        tokio::select! {
            ready = ready.wait_for(Option::is_some) => if ready.is_err() { return },
            () = stop.cancelled() => return,
        }
        let start = match last {
            Some(last) => last + 1,
            None => match reader.bounds().await {
                Ok((first, newest)) => newest.saturating_sub(PREFILL - 1).max(first).max(1),
                Err(error) => {
                    tracing::warn!("cluster: cannot read the stream ({error})");
                    failures += 1;
                    pause(failures, &stop).await;
                    continue;
                }
            },
        };
        match reader.open(start).await {
            Ok(mut messages) => {
                failures = 0;
                loop {
                    let next = tokio::select! {
                        next = messages.next() => next,
                        () = stop.cancelled() => return,
                    };
                    match next {
                        Some(Ok(message)) => {
                            let Some((entry, _)) = entry_of(&message) else {
                                continue;
                            };
                            if entry.seq < start {
                                continue;
                            }
                            let seq = entry.seq;
                            if view.import(entry) {
                                last = Some(seq);
                            }
                        }
                        Some(Err(error)) => {
                            tracing::warn!(
                                "cluster: reading the stream stopped ({error}); resuming"
                            );
                            break;
                        }
                        None => break,
                    }
                }
            }
            Err(error) => {
                tracing::warn!("cluster: cannot read the stream ({error}); retrying");
                failures += 1;
            }
        }
        pause(failures.max(1), &stop).await;
    }
}

/// Waits before trying again: longer after each failure, up to 5 s.
async fn pause(failures: u32, stop: &CancellationToken) {
    let wait = Duration::from_millis((200u64 << failures.min(5)).min(5_000));
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = stop.cancelled() => {}
    }
}
