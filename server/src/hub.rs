//! The log hub: every entry passes through here exactly once.
//!
//! The hub stamps each line with its sequence number and timestamp,
//! serialises it to JSON once, and broadcasts the shared bytes to every
//! subscriber. Publishing never waits for a subscriber: a subscriber that
//! falls more than the channel capacity behind loses the oldest entries
//! (and learns how many), while the readers and everyone else carry on.

use std::sync::{Arc, Mutex};

use app::{Level, LogEntry, Stream};
use bytes::Bytes;
use chrono::Utc;
use tokio::sync::broadcast;

/// One published entry and its JSON text, serialised once and shared.
#[derive(Debug)]
pub struct Frame {
    pub entry: LogEntry,
    /// `entry` as one JSON object: exactly what a `/ws/logs` frame carries.
    pub json: Bytes,
}

/// A line on its way into the hub.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub process_name: &'a str,
    pub stream: Stream,
    pub pid: Option<u32>,
    pub level: Level,
    pub message: String,
}

#[derive(Debug)]
pub struct LogHub {
    /// Guards the sequence counter. Numbering, timestamping and sending
    /// happen under it so subscribers see strictly increasing `seq` (and
    /// non-decreasing timestamps) even with many concurrent readers. A std
    /// mutex: it is held for a few microseconds and never across `.await`.
    next_seq: Mutex<u64>,
    sender: broadcast::Sender<Arc<Frame>>,
    server_name: String,
}

impl LogHub {
    /// `capacity` bounds how far a subscriber may fall behind before it
    /// starts losing entries.
    pub fn new(server_name: impl Into<String>, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            next_seq: Mutex::new(1),
            sender,
            server_name: server_name.into(),
        }
    }

    /// The `process_name` of Logdeck's own entries.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Receives every entry published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.sender.subscribe()
    }

    /// Stamps, serialises and broadcasts an entry; returns its `seq`.
    pub fn publish(&self, new: NewEntry<'_>) -> u64 {
        // A poisoned lock only means another publisher panicked mid-send;
        // the counter itself is always consistent.
        let mut next_seq = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
        let seq = *next_seq;
        *next_seq += 1;
        let entry = LogEntry {
            message: new.message,
            level: new.level,
            process_name: new.process_name.to_owned(),
            timestamp: Utc::now(),
            seq,
            stream: new.stream,
            pid: new.pid,
        };
        let json =
            Bytes::from(serde_json::to_vec(&entry).expect("a LogEntry always serialises to JSON"));
        // An error only means nobody is subscribed right now; that is fine.
        let _ = self.sender.send(Arc::new(Frame { entry, json }));
        seq
    }

    /// Publishes one of Logdeck's own messages (stream `system`).
    pub fn publish_system(&self, level: Level, message: String) -> u64 {
        self.publish(NewEntry {
            process_name: &self.server_name,
            stream: Stream::System,
            pid: None,
            level,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> NewEntry<'_> {
        NewEntry {
            process_name: "p",
            stream: Stream::Stdout,
            pid: Some(1),
            level: Level::Info,
            message: message.to_owned(),
        }
    }

    #[tokio::test]
    async fn subscribers_receive_serialised_entries_in_order() {
        let hub = LogHub::new("logdeck", 16);
        let mut rx = hub.subscribe();
        hub.publish(line("one"));
        hub.publish(line("two"));
        for (want_seq, want_message) in [(1, "one"), (2, "two")] {
            let frame = rx.recv().await.expect("frame");
            assert_eq!(frame.entry.seq, want_seq);
            let json: serde_json::Value = serde_json::from_slice(&frame.json).expect("json");
            assert_eq!(json["message"], want_message);
            assert_eq!(json["seq"], want_seq);
        }
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_fine() {
        let hub = LogHub::new("logdeck", 4);
        assert_eq!(hub.publish(line("nobody listens")), 1);
        assert_eq!(hub.publish(line("still fine")), 2);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_much_it_missed() {
        let hub = LogHub::new("logdeck", 2);
        let mut rx = hub.subscribe();
        for i in 0..5 {
            hub.publish(line(&i.to_string()));
        }
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 3),
            other => panic!("expected lag, got {other:?}"),
        }
        assert_eq!(rx.recv().await.expect("frame").entry.seq, 4);
    }

    #[test]
    fn seq_is_strictly_increasing_across_threads() {
        let hub = Arc::new(LogHub::new("logdeck", 100_000));
        let mut rx = hub.subscribe();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        hub.publish(line("x"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("publisher thread");
        }
        let mut last = 0;
        for _ in 0..4000 {
            let frame = rx.try_recv().expect("every frame is buffered");
            assert!(frame.entry.seq > last);
            assert!(frame.entry.seq == last + 1);
            last = frame.entry.seq;
        }
    }

    #[tokio::test]
    async fn system_entries_carry_the_server_name() {
        let hub = LogHub::new("deck", 4);
        let mut rx = hub.subscribe();
        hub.publish_system(Level::Error, "spawn failed".into());
        let frame = rx.recv().await.expect("frame");
        assert_eq!(frame.entry.process_name, "deck");
        assert_eq!(frame.entry.stream, Stream::System);
        assert_eq!(frame.entry.pid, None);
    }
}
