//! The log hub: every entry passes through here exactly once.
//!
//! The hub stamps each line with its sequence number and timestamp,
//! serialises it to JSON once, keeps it in a bounded ring of recent entries
//! and broadcasts the shared bytes to every subscriber. Publishing never
//! waits for a subscriber: one that falls more than its lag window behind
//! (a number of entries, of which the long ones take at most so many bytes)
//! loses the oldest entries (and learns how many), while the readers and
//! everyone else carry on.

mod subscription;

pub(crate) use subscription::without_waiting;
use subscription::Sent;
pub use subscription::Subscription;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use app::{Level, LogEntry, Stream};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

/// Bytes of an entry's JSON besides its message: the field names,
/// timestamp, level, process name and numbers (about 150 in practice).
const JSON_OVERHEAD: usize = 192;

/// One published entry and its JSON text, serialised once and shared.
#[derive(Debug)]
pub struct Frame {
    pub entry: LogEntry,
    /// `entry` as one JSON object: exactly what a `/ws/logs` frame carries.
    pub json: Bytes,
}

impl Frame {
    pub fn new(entry: LogEntry) -> Frame {
        let json = Bytes::from(entry_json(&entry));
        Frame { entry, json }
    }

    /// About what this frame takes in memory: its JSON, its message and
    /// process name, and the structures around them.
    pub fn size(&self) -> u64 {
        (self.json.len()
            + self.entry.message.len()
            + self.entry.process_name.len()
            + FRAME_OVERHEAD) as u64
    }
}

/// Bytes a kept frame takes besides its strings: the entry, the `Arc` and
/// the ring's slot.
const FRAME_OVERHEAD: usize = 160;

/// `entry` as JSON: byte for byte what `serde_json::to_vec(entry)` gives (a
/// test holds the two equal, and builds every field by name, so a field
/// added to `LogEntry` stops it compiling until it is written here too), written straight into one buffer sized for
/// it. This runs once per line, and serde's map machinery plus a
/// temporary `String` for the timestamp were a fifth of the hub's cost.
fn entry_json(entry: &LogEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry.message.len() + JSON_OVERHEAD);
    out.extend_from_slice(b"{\"message\":");
    json_value(&mut out, entry.message.as_str());
    out.extend_from_slice(b",\"level\":");
    json_value(&mut out, &entry.level);
    out.extend_from_slice(b",\"process_name\":");
    json_value(&mut out, entry.process_name.as_str());
    out.extend_from_slice(b",\"timestamp\":");
    json_timestamp(&mut out, &entry.timestamp);
    out.extend_from_slice(b",\"seq\":");
    json_value(&mut out, &entry.seq);
    out.extend_from_slice(b",\"stream\":");
    json_value(&mut out, entry.stream.as_str());
    if let Some(pid) = entry.pid {
        out.extend_from_slice(b",\"pid\":");
        json_value(&mut out, &pid);
    }
    if entry.continued {
        out.extend_from_slice(b",\"continued\":true");
    }
    if let Some(dropped) = entry.dropped {
        out.extend_from_slice(b",\"dropped\":");
        json_value(&mut out, &dropped);
    }
    if let Some(node) = &entry.node {
        out.extend_from_slice(b",\"node\":");
        json_value(&mut out, node.as_str());
    }
    out.push(b'}');
    out
}

/// One value with serde_json's own escaping and number formatting.
fn json_value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Strings, numbers and unit variants cannot fail to serialise into a
    // Vec.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `"2025-04-01T12:34:56.789Z"`, as `app::log_entry::format_timestamp`
/// writes it, without the `String` in between; the rare timestamps it
/// cannot write digit by digit (leap seconds, years past 9999) go the
/// long way.
fn json_timestamp(out: &mut Vec<u8>, timestamp: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = timestamp.year();
    let nanos = timestamp.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        json_value(out, app::log_entry::format_timestamp(timestamp).as_str());
        return;
    }
    let year = year.unsigned_abs();
    out.push(b'"');
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, timestamp.month(), 2);
    out.push(b'-');
    push_digits(out, timestamp.day(), 2);
    out.push(b'T');
    push_digits(out, timestamp.hour(), 2);
    out.push(b':');
    push_digits(out, timestamp.minute(), 2);
    out.push(b':');
    push_digits(out, timestamp.second(), 2);
    out.push(b'.');
    push_digits(out, nanos / 1_000_000, 3);
    out.extend_from_slice(b"Z\"");
}

/// `n` in decimal, zero-padded to `width` digits (`n` has no more).
fn push_digits(out: &mut Vec<u8>, n: u32, width: u32) {
    for place in (0..width).rev() {
        // One decimal digit: the cast cannot truncate.
        out.push(b'0' + (n / 10u32.pow(place) % 10) as u8);
    }
}

/// A line on its way into the hub.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub process_name: &'a str,
    pub stream: Stream,
    pub pid: Option<u32>,
    pub level: Level,
    pub message: String,
    pub continued: bool,
}

/// Where a replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// The last `n` entries kept.
    Tail(usize),
    /// Every kept entry after this `seq`.
    Since(u64),
}

/// A replay that could not be served in full: entries after `since` and
/// before the oldest kept one are no longer in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// How many entries are missing.
    pub missing: u64,
    /// The `seq` of the last missing entry.
    pub last_missing: u64,
}

/// What the hub keeps and how far subscribers may lag.
#[derive(Clone, Debug)]
pub struct HubOptions {
    /// The `process_name` of Logdeck's own entries.
    pub server_name: String,
    /// Recent entries kept in memory for replays and history...
    pub memory_entries: usize,
    /// ...and the bytes they may take, at most.
    pub memory_bytes: u64,
    /// How many entries a subscriber may fall behind before it loses some
    /// (and, of those longer than `memory_bytes / lag_capacity`, never more
    /// than `memory_bytes`).
    pub lag_capacity: usize,
    /// The first `seq` to hand out (continuing the numbering of earlier
    /// runs found in the log files).
    pub first_seq: u64,
    /// In a cluster, this node's name, stamped on every entry published.
    pub node: Option<String>,
}

#[derive(Debug)]
pub struct LogHub {
    /// Guards numbering, the ring and sending together, so subscribers see
    /// strictly increasing `seq` (and non-decreasing timestamps) even with
    /// many concurrent readers, and a replay can be taken with no gap
    /// between it and the live stream. A std mutex: it is held for a few
    /// microseconds and never across `.await`.
    state: Mutex<HubState>,
    sender: broadcast::Sender<Sent>,
    server_name: String,
    node: Option<String>,
    run_id: String,
    started_at: DateTime<Utc>,
}

#[derive(Debug)]
struct HubState {
    next_seq: u64,
    /// Recent entries, for replays and history.
    ring: Bounded,
    /// The long entries subscribers may still read: those among the
    /// newest `lag_capacity` sent while someone was subscribed, within the
    /// byte budget.
    window: Bounded,
    /// Entries larger than this go through the window (sent as weak
    /// references); smaller ones are sent as they are, so at most
    /// `lag_capacity` of them take at most the byte budget too.
    long: u64,
}

/// Frames, oldest first, within a count and a byte budget.
#[derive(Debug)]
struct Bounded {
    frames: VecDeque<Arc<Frame>>,
    max_count: usize,
    /// What the frames take, by [`Frame::size`].
    bytes: u64,
    max_bytes: u64,
}

impl HubState {
    /// Keeps `frame` and broadcasts it. A long one is held for the
    /// subscribers by the window, if there are any (one subscribing later
    /// never sees it, nor anything sent before).
    fn send(&mut self, sender: &broadcast::Sender<Sent>, frame: Arc<Frame>) {
        self.ring.keep(frame.clone());
        let listened = if frame.size() <= self.long {
            sender.send(Sent::Held(frame)).is_ok()
        } else {
            let listened = sender.send(Sent::Window(Arc::downgrade(&frame))).is_ok();
            if listened {
                self.window.keep(frame);
            }
            listened
        };
        if !listened {
            self.window.clear();
        }
    }
}

impl Bounded {
    fn new(max_count: usize, max_bytes: u64) -> Self {
        let max_count = max_count.max(1);
        Bounded {
            frames: VecDeque::with_capacity(max_count.min(4096)),
            max_count,
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds `frame`, dropping the oldest beyond the count and the byte
    /// budget (the newest frame is always kept, however large).
    fn keep(&mut self, frame: Arc<Frame>) {
        let size = frame.size();
        while !self.frames.is_empty()
            && (self.frames.len() >= self.max_count || self.bytes + size > self.max_bytes)
        {
            if let Some(oldest) = self.frames.pop_front() {
                self.bytes -= oldest.size();
            }
        }
        self.bytes += size;
        self.frames.push_back(frame);
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }
}

impl LogHub {
    pub fn new(options: HubOptions) -> Self {
        let (sender, _) = broadcast::channel(options.lag_capacity.max(1));
        Self {
            state: Mutex::new(HubState {
                next_seq: options.first_seq.max(1),
                ring: Bounded::new(options.memory_entries, options.memory_bytes),
                window: Bounded::new(options.lag_capacity, options.memory_bytes),
                long: options.memory_bytes / options.lag_capacity.max(1) as u64,
            }),
            sender,
            server_name: options.server_name,
            node: options.node,
            run_id: format!("{:016x}", fastrand::u64(..)),
            started_at: Utc::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A poisoned lock only means a publisher panicked mid-send; the
        // state itself is always consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `process_name` of Logdeck's own entries.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Identifies this server run: a client that sees it change knows the
    /// server restarted (rather than that it missed entries).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The `seq` the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// Receives every entry published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.sender.subscribe())
    }

    /// Kept entries per `from`, and a receiver for everything published
    /// after them: taken together, so nothing falls between the two and
    /// nothing is in both.
    pub fn replay(&self, from: Replay) -> (Vec<Arc<Frame>>, Subscription, Option<Gap>) {
        let state = self.lock();
        let receiver = self.subscribe();
        let oldest = state
            .ring
            .frames
            .front()
            .map_or(state.next_seq, |f| f.entry.seq);
        let (backlog, gap) = match from {
            Replay::Tail(n) => {
                let skip = state.ring.frames.len().saturating_sub(n);
                (state.ring.frames.iter().skip(skip).cloned().collect(), None)
            }
            Replay::Since(since) => {
                let start = state.ring.frames.partition_point(|f| f.entry.seq <= since);
                let gap = (since + 1 < oldest).then(|| Gap {
                    missing: oldest - since - 1,
                    last_missing: oldest - 1,
                });
                (state.ring.frames.iter().skip(start).cloned().collect(), gap)
            }
        };
        (backlog, receiver, gap)
    }

    /// Up to `n` kept entries with `seq` below `before` (all when `None`),
    /// newest first. Callers filter what they get outside the lock, a
    /// chunk at a time, so a slow filter never holds up publishing.
    pub fn recent_chunk(&self, before: Option<u64>, n: usize) -> Vec<Arc<Frame>> {
        let state = self.lock();
        let end = before.map_or(state.ring.frames.len(), |b| {
            state.ring.frames.partition_point(|f| f.entry.seq < b)
        });
        state
            .ring
            .frames
            .range(..end)
            .rev()
            .take(n)
            .cloned()
            .collect()
    }

    /// Every kept entry with `seq` above `after`, oldest first.
    pub fn kept_after(&self, after: u64) -> Vec<Arc<Frame>> {
        let state = self.lock();
        let start = state.ring.frames.partition_point(|f| f.entry.seq <= after);
        state.ring.frames.range(start..).cloned().collect()
    }

    /// The `seq` of the oldest entry still kept in memory.
    pub fn oldest_kept(&self) -> Option<u64> {
        self.lock().ring.frames.front().map(|f| f.entry.seq)
    }

    /// Stamps, serialises, keeps and broadcasts an entry; returns its `seq`.
    pub fn publish(&self, new: NewEntry<'_>) -> u64 {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        let frame = Arc::new(Frame::new(LogEntry {
            message: new.message,
            level: new.level,
            process_name: new.process_name.to_owned(),
            timestamp: Utc::now(),
            seq,
            stream: new.stream,
            pid: new.pid,
            continued: new.continued,
            dropped: None,
            node: self.node.clone(),
        }));
        state.send(&self.sender, frame);
        seq
    }

    /// Takes an entry numbered elsewhere (a cluster's stream, whose
    /// sequence is its `seq`): kept and broadcast like a published one.
    /// One not above the last `seq` is skipped (it was seen already);
    /// returns whether it was taken.
    pub fn import(&self, entry: LogEntry) -> bool {
        let mut state = self.lock();
        if entry.seq < state.next_seq {
            return false;
        }
        state.next_seq = entry.seq + 1;
        let frame = Arc::new(Frame::new(entry));
        state.send(&self.sender, frame);
        true
    }

    /// Publishes one of Logdeck's own messages (stream `system`).
    pub fn publish_system(&self, level: Level, message: String) -> u64 {
        self.publish(NewEntry {
            process_name: &self.server_name,
            stream: Stream::System,
            pid: None,
            level,
            message,
            continued: false,
        })
    }

    /// A notice, in the shape of an entry, that a subscriber missed
    /// `missed` entries up to `last_missed`. Not published: it is for one
    /// connection only.
    pub fn drop_notice(&self, missed: u64, last_missed: u64, why: &str) -> Frame {
        Frame::new(LogEntry {
            message: format!("{missed} log entries were dropped for this connection because {why}"),
            level: Level::Warning,
            process_name: self.server_name.clone(),
            timestamp: Utc::now(),
            seq: last_missed,
            stream: Stream::System,
            pid: None,
            continued: false,
            dropped: Some(missed),
            node: None,
        })
    }
}

/// A hub for tests: `memory_entries` kept, as many queued per subscriber.
#[cfg(test)]
pub fn test_hub(memory_entries: usize, lag_capacity: usize) -> LogHub {
    LogHub::new(HubOptions {
        server_name: "logdeck".into(),
        memory_entries,
        memory_bytes: u64::MAX,
        lag_capacity,
        first_seq: 1,
        node: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    fn hub(memory_entries: usize, lag_capacity: usize) -> LogHub {
        test_hub(memory_entries, lag_capacity)
    }

    fn line(message: &str) -> NewEntry<'_> {
        NewEntry {
            process_name: "p",
            stream: Stream::Stdout,
            pid: Some(1),
            level: Level::Info,
            message: message.to_owned(),
            continued: false,
        }
    }

    fn seqs(frames: &[Arc<Frame>]) -> Vec<u64> {
        frames.iter().map(|f| f.entry.seq).collect()
    }

    #[tokio::test]
    async fn subscribers_receive_serialised_entries_in_order() {
        let hub = hub(16, 16);
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
        let hub = hub(4, 4);
        assert_eq!(hub.publish(line("nobody listens")), 1);
        assert_eq!(hub.publish(line("still fine")), 2);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_much_it_missed() {
        let hub = hub(16, 2);
        let mut rx = hub.subscribe();
        for i in 0..5 {
            hub.publish(line(&i.to_string()));
        }
        match rx.recv().await {
            Err(RecvError::Lagged(n)) => assert_eq!(n, 3),
            other => panic!("expected lag, got {other:?}"),
        }
        assert_eq!(rx.recv().await.expect("frame").entry.seq, 4);
    }

    #[test]
    fn seq_is_strictly_increasing_across_threads() {
        let hub = Arc::new(hub(16, 100_000));
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
            assert_eq!(frame.entry.seq, last + 1);
            last = frame.entry.seq;
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_entries() {
        let hub = hub(3, 16);
        for i in 0..5 {
            hub.publish(line(&i.to_string()));
        }
        assert_eq!(hub.oldest_kept(), Some(3));
        let (tail, _, gap) = hub.replay(Replay::Tail(10));
        assert_eq!(seqs(&tail), vec![3, 4, 5]);
        assert_eq!(gap, None);
        let (tail, _, _) = hub.replay(Replay::Tail(2));
        assert_eq!(seqs(&tail), vec![4, 5]);
    }

    #[tokio::test]
    async fn a_replay_joins_the_live_stream_without_gap_or_duplicate() {
        let hub = hub(100, 100);
        for i in 0..5 {
            hub.publish(line(&i.to_string()));
        }
        let (backlog, mut live, gap) = hub.replay(Replay::Since(2));
        hub.publish(line("after"));
        assert_eq!(seqs(&backlog), vec![3, 4, 5]);
        assert_eq!(gap, None);
        assert_eq!(live.recv().await.expect("live").entry.seq, 6);
    }

    #[test]
    fn a_replay_from_before_the_ring_reports_the_gap() {
        let hub = hub(3, 16);
        for i in 0..10 {
            hub.publish(line(&i.to_string()));
        }
        let (backlog, _, gap) = hub.replay(Replay::Since(2));
        assert_eq!(seqs(&backlog), vec![8, 9, 10]);
        assert_eq!(
            gap,
            Some(Gap {
                missing: 5,
                last_missing: 7
            })
        );
        let (backlog, _, gap) = hub.replay(Replay::Since(10));
        assert!(backlog.is_empty());
        assert_eq!(gap, None);
    }

    #[test]
    fn recent_chunks_page_backwards() {
        let hub = hub(100, 16);
        for i in 0..10 {
            hub.publish(line(&i.to_string()));
        }
        assert_eq!(seqs(&hub.recent_chunk(None, 3)), vec![10, 9, 8]);
        assert_eq!(seqs(&hub.recent_chunk(Some(3), 5)), vec![2, 1]);
        assert!(hub.recent_chunk(Some(1), 5).is_empty());
    }

    #[test]
    fn numbering_continues_from_the_first_seq() {
        let hub = LogHub::new(HubOptions {
            server_name: "deck".into(),
            memory_entries: 4,
            memory_bytes: u64::MAX,
            lag_capacity: 4,
            first_seq: 500,
            node: None,
        });
        assert_eq!(hub.publish(line("x")), 500);
        assert_eq!(hub.next_seq(), 501);
        assert_eq!(hub.run_id().len(), 16);
    }

    #[tokio::test]
    async fn system_entries_carry_the_server_name() {
        let hub = LogHub::new(HubOptions {
            server_name: "deck".into(),
            memory_entries: 4,
            memory_bytes: u64::MAX,
            lag_capacity: 4,
            first_seq: 1,
            node: None,
        });
        let mut rx = hub.subscribe();
        hub.publish_system(Level::Error, "spawn failed".into());
        let frame = rx.recv().await.expect("frame");
        assert_eq!(frame.entry.process_name, "deck");
        assert_eq!(frame.entry.stream, Stream::System);
        assert_eq!(frame.entry.pid, None);
    }

    #[test]
    fn entries_serialise_exactly_as_serde_would() {
        use chrono::TimeZone;
        let times = [
            Utc::now(),
            Utc.timestamp_opt(0, 0).single().expect("epoch"),
            Utc.with_ymd_and_hms(2025, 4, 1, 12, 34, 56)
                .single()
                .expect("date")
                + chrono::Duration::nanoseconds(789_999_999),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .single()
                .expect("date"),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0)
                .single()
                .expect("date"),
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
                .single()
                .expect("date")
                .with_nanosecond(1_500_000_000)
                .expect("leap second"),
        ];
        let messages = [
            "",
            "plain",
            "INFO seq=1 t=2 gen payload=abc",
            "quotes \" and \\ backslash / slash",
            "\u{1b}[31mERROR\u{1b}[0m\ttab\r\nnew\u{0}nul\u{7f}",
            "é ü 😀 \u{2028} \u{fffd}",
        ];
        let mut checked = 0;
        for (i, timestamp) in times.into_iter().enumerate() {
            for (j, message) in messages.iter().enumerate() {
                let entry = LogEntry {
                    message: (*message).to_owned(),
                    level: [
                        Level::Debug,
                        Level::Info,
                        Level::Warning,
                        Level::Error,
                        Level::Critical,
                    ][(i + j) % 5],
                    process_name: if j % 2 == 0 {
                        "p".into()
                    } else {
                        "web.api-1_x".into()
                    },
                    timestamp,
                    seq: [0, 1, 42, u64::MAX][j % 4],
                    stream: [Stream::Stdout, Stream::Stderr, Stream::System][(i + j) % 3],
                    pid: [None, Some(0), Some(4242), Some(u32::MAX)][(i * j) % 4],
                    continued: (i + j) % 2 == 0,
                    dropped: [None, Some(3), Some(u64::MAX)][j % 3],
                    node: [None, Some("media-1".to_owned())][(i + j) % 2].clone(),
                };
                let want = serde_json::to_vec(&entry).expect("serde");
                assert_eq!(
                    String::from_utf8_lossy(&entry_json(&entry)),
                    String::from_utf8_lossy(&want)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 36);
    }

    #[test]
    fn the_ring_keeps_within_its_byte_budget() {
        let hub = LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 1000,
            memory_bytes: 64 * 1024,
            lag_capacity: 16,
            first_seq: 1,
            node: None,
        });
        let big = "x".repeat(10 * 1024);
        for _ in 0..20 {
            hub.publish(line(&big));
        }
        let (kept, _, _) = hub.replay(Replay::Tail(1000));
        let bytes: u64 = kept.iter().map(|f| f.size()).sum();
        assert!(bytes <= 64 * 1024, "{bytes}");
        assert_eq!(kept.len(), 3, "20 KiB each: three fit");
        assert_eq!(kept.last().map(|f| f.entry.seq), Some(20));
        // One entry larger than the whole budget is still kept, alone.
        hub.publish(line(&"y".repeat(100 * 1024)));
        assert_eq!(seqs(&hub.replay(Replay::Tail(10)).0), vec![21]);
    }

    /// A hub keeping one entry in memory and letting subscribers lag 1000
    /// entries but only 64 KiB of them, one subscriber, and `n` entries of
    /// about 20 KiB each published.
    fn lagging_by_bytes(n: usize) -> (LogHub, Subscription) {
        let hub = LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 1,
            memory_bytes: 64 * 1024,
            lag_capacity: 1000,
            first_seq: 1,
            node: None,
        });
        let rx = hub.subscribe();
        let big = "x".repeat(10 * 1024);
        for _ in 0..n {
            hub.publish(line(&big));
        }
        (hub, rx)
    }

    #[tokio::test]
    async fn a_subscriber_lagging_past_the_byte_budget_loses_the_oldest() {
        let (hub, mut rx) = lagging_by_bytes(20);
        // The newest three fit the budget and are held for it; the rest
        // is gone, and it is told how many.
        match rx.recv().await {
            Err(RecvError::Lagged(n)) => assert_eq!(n, 17),
            other => panic!("expected lag, got {other:?}"),
        }
        let rest: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|f| f.entry.seq)
            .collect();
        assert_eq!(rest, vec![18, 19, 20]);
        assert!(rx.is_empty());
        // It reads on normally after.
        hub.publish(line("small"));
        assert_eq!(rx.recv().await.expect("frame").entry.seq, 21);
    }

    #[test]
    fn a_lag_seen_without_waiting_is_reported_before_the_next_entry() {
        let (hub, mut rx) = lagging_by_bytes(10);
        match rx.try_recv() {
            Err(TryRecvError::Lagged(n)) => assert_eq!(n, 7),
            other => panic!("expected lag, got {other:?}"),
        }
        assert!(!rx.is_empty(), "the first live entry waits");
        assert_eq!(rx.try_recv().expect("frame").entry.seq, 8);
        assert_eq!(rx.try_recv().expect("frame").entry.seq, 9);
        assert_eq!(rx.try_recv().expect("frame").entry.seq, 10);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        drop(hub);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    }

    #[test]
    fn short_entries_wait_for_a_subscriber_however_many_bytes_long_ones_take() {
        // 16 may lag; entries over 1 MiB / 16 = 64 KiB count against the
        // 1 MiB budget.
        let hub = LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 1,
            memory_bytes: 1024 * 1024,
            lag_capacity: 16,
            first_seq: 1,
            node: None,
        });
        let mut rx = hub.subscribe();
        for i in 0..10 {
            hub.publish(line(&format!("short {i}")));
        }
        let long = "x".repeat(300 * 1024);
        for _ in 0..4 {
            hub.publish(line(&long));
        }
        let short: Vec<u64> = (0..10)
            .map(|_| rx.try_recv().expect("short entry").entry.seq)
            .collect();
        assert_eq!(short, (1..=10).collect::<Vec<_>>());
        // About 600 KiB each with their JSON: only the newest fits.
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Lagged(3))));
        assert_eq!(rx.try_recv().expect("long entry").entry.seq, 14);
    }

    #[test]
    fn entries_are_held_for_subscribers_only() {
        let (hub, rx) = lagging_by_bytes(1);
        let first = Arc::downgrade(&hub.recent_chunk(None, 1)[0]);
        hub.publish(line("second"));
        // Out of the ring, but the subscriber has yet to read it.
        assert!(first.upgrade().is_some());
        drop(rx);
        let second = Arc::downgrade(&hub.recent_chunk(None, 1)[0]);
        hub.publish(line("third"));
        // Sent to nobody: only the ring held it.
        assert!(second.upgrade().is_none());
    }

    #[test]
    fn imported_entries_keep_their_numbering_and_come_once() {
        let hub = hub(100, 100);
        let mut rx = hub.subscribe();
        let entry = |seq: u64| LogEntry {
            message: format!("from the stream {seq}"),
            level: Level::Info,
            process_name: "api".into(),
            timestamp: Utc::now(),
            seq,
            stream: Stream::Stdout,
            pid: Some(7),
            continued: false,
            dropped: None,
            node: Some("media-2".into()),
        };
        assert!(hub.import(entry(40)));
        assert!(hub.import(entry(42)));
        assert!(!hub.import(entry(42)), "seen already");
        assert!(!hub.import(entry(41)), "older than the last");
        assert_eq!(hub.next_seq(), 43);
        let first = rx.try_recv().expect("frame");
        assert_eq!(first.entry.seq, 40);
        let json: serde_json::Value = serde_json::from_slice(&first.json).expect("json");
        assert_eq!(json["node"], "media-2");
        assert_eq!(rx.try_recv().expect("frame").entry.seq, 42);
        assert!(rx.try_recv().is_err());
        assert_eq!(seqs(&hub.replay(Replay::Since(0)).0), vec![40, 42]);
    }

    #[test]
    fn a_nodes_hub_stamps_its_name_on_every_entry() {
        let hub = LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 4,
            memory_bytes: u64::MAX,
            lag_capacity: 4,
            first_seq: 1,
            node: Some("media-1".into()),
        });
        hub.publish(line("x"));
        let (kept, _, _) = hub.replay(Replay::Tail(1));
        assert_eq!(kept[0].entry.node.as_deref(), Some("media-1"));
        assert!(std::str::from_utf8(&kept[0].json)
            .expect("utf8")
            .ends_with(r#","node":"media-1"}"#));
    }

    #[test]
    fn drop_notices_look_like_entries() {
        let hub = hub(4, 4);
        let notice = hub.drop_notice(312, 900, "it could not keep up");
        let json: serde_json::Value = serde_json::from_slice(&notice.json).expect("json");
        assert_eq!(json["level"], "WARNING");
        assert_eq!(json["process_name"], "logdeck");
        assert_eq!(json["dropped"], 312);
        assert_eq!(json["seq"], 900);
        assert!(json["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("312 log entries were dropped for this connection")));
    }
}
