//! What the viewer holds: the kept entries, the subset the filters let
//! through, per-process counts and rates. Updated incrementally, so a burst
//! of new lines costs work proportional to the burst, not to the buffer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::log_entry::LogEntry;
use crate::ring_buffer::RingBuffer;

/// Seconds of history behind each process's rate sparkline.
pub const RATE_WINDOW: usize = 60;

#[derive(Clone, Debug)]
pub struct LogStore {
    entries: RingBuffer<Arc<LogEntry>>,
    visible: VecDeque<Arc<LogEntry>>,
    counts: BTreeMap<String, usize>,
    rates: RateTracker,
    /// The highest `seq` of a real entry received (resume point).
    last_seq: Option<u64>,
    /// The serial number of the oldest kept entry (see
    /// [`serial_base`](Self::serial_base)).
    serial_base: u64,
}

/// Serial numbers for a store that starts afresh: the middle of a block of
/// 2^40 no store has had, so entries can be numbered both ways (appended
/// ones up, older ones put before them down) without meeting another
/// store's.
fn fresh_serials() -> u64 {
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
    (NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) << 40) + (1 << 39)
}

impl LogStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RingBuffer::new(capacity),
            visible: VecDeque::new(),
            counts: BTreeMap::new(),
            rates: RateTracker::default(),
            last_seq: None,
            serial_base: fresh_serials(),
        }
    }

    /// The serial number of the oldest kept entry; the `i`th kept entry's
    /// is this plus `i`. Each entry keeps its number while it is kept, and
    /// no other entry of any store is given it (a clone's entries aside,
    /// which are the same): equal numbers mean the same entry, so a
    /// search can tell which rows it has seen before.
    pub fn serial_base(&self) -> u64 {
        self.serial_base
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Every kept entry, oldest first.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries the filters let through, oldest first.
    pub fn visible(&self) -> &VecDeque<Arc<LogEntry>> {
        &self.visible
    }

    /// Kept entries per process.
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }

    pub fn rates(&self) -> &RateTracker {
        &self.rates
    }

    /// The `seq` to resume after.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The `seq` of the oldest kept entry (to page further back).
    pub fn oldest_seq(&self) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.dropped.is_none())
            .map(|e| e.seq)
    }

    /// Appends new entries (oldest first); `keep` is the current filter.
    /// Entries already received (by `seq`) are skipped, so a resumed stream
    /// never shows a line twice.
    pub fn append(&mut self, batch: Vec<LogEntry>, keep: &dyn Fn(&LogEntry) -> bool) -> Appended {
        let mut appended = Appended::default();
        for entry in batch {
            if entry.dropped.is_none() {
                if self.last_seq.is_some_and(|last| entry.seq <= last) {
                    continue;
                }
                self.last_seq = Some(entry.seq);
                self.rates.record(&entry);
            }
            let entry = Arc::new(entry);
            *self.counts.entry(entry.process_name.clone()).or_default() += 1;
            if let Some(evicted) = self.entries.push(entry.clone()) {
                self.serial_base += 1;
                if self.forget(&evicted) {
                    appended.evicted_visible += 1;
                }
            }
            if keep(&entry) {
                self.visible.push_back(entry);
                appended.shown += 1;
            }
        }
        appended
    }

    /// Inserts older entries (oldest first, all older than what is kept)
    /// before the kept ones, as far as there is room. Returns how many
    /// became visible.
    pub fn prepend(&mut self, older: Vec<LogEntry>, keep: &dyn Fn(&LogEntry) -> bool) -> usize {
        let oldest = self.oldest_seq();
        let mut shown = 0;
        for entry in older.into_iter().rev() {
            if oldest.is_some_and(|o| entry.seq >= o) {
                continue;
            }
            let entry = Arc::new(entry);
            if !self.entries.push_front(entry.clone()) {
                break;
            }
            self.serial_base -= 1;
            *self.counts.entry(entry.process_name.clone()).or_default() += 1;
            if keep(&entry) {
                self.visible.push_front(entry);
                shown += 1;
            }
            if self.last_seq.is_none() {
                self.last_seq = Some(self.entries.newest().map_or(0, |e| e.seq));
            }
        }
        shown
    }

    /// Merges a page of history (as the server answers it, newest first):
    /// entries older than everything kept go before it, as far as there is
    /// room; newer ones are appended as if they had just arrived; those
    /// already kept are skipped.
    pub fn merge_history(
        &mut self,
        mut newest_first: Vec<LogEntry>,
        keep: &dyn Fn(&LogEntry) -> bool,
    ) -> Merged {
        newest_first.reverse();
        let oldest_first = newest_first;
        let boundary = self.oldest_seq();
        let split = boundary.map_or(0, |oldest| oldest_first.partition_point(|e| e.seq < oldest));
        let mut newer = oldest_first;
        let older = newer.drain(..split).collect();
        let prepended = self.prepend(older, keep);
        Merged {
            prepended,
            appended: self.append(newer, keep),
        }
    }

    /// Applies a new filter to everything kept: `select` says of every
    /// kept entry (oldest first) whether it shows, all in one call, so a
    /// search can scan them together.
    /// `select` also gets the [`serial_base`](Self::serial_base).
    pub fn refilter(&mut self, select: impl FnOnce(&[&LogEntry], u64) -> Vec<bool>) {
        let kept: Vec<&LogEntry> = self.entries.iter().map(|e| &**e).collect();
        let shows = select(&kept, self.serial_base);
        self.visible = self
            .entries
            .iter()
            .zip(shows)
            .filter(|(_, shows)| *shows)
            .map(|(entry, _)| entry.clone())
            .collect();
    }

    /// Forgets every entry (the resume point too, so nothing is skipped).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.visible.clear();
        self.counts.clear();
        self.serial_base = fresh_serials();
    }

    /// Forgets the resume point: the server restarted and numbers afresh.
    pub fn reset_sequence(&mut self) {
        self.last_seq = None;
    }

    /// Forgets an evicted entry; true if it was visible.
    fn forget(&mut self, evicted: &Arc<LogEntry>) -> bool {
        if let Some(count) = self.counts.get_mut(&evicted.process_name) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&evicted.process_name);
            }
        }
        if self
            .visible
            .front()
            .is_some_and(|front| Arc::ptr_eq(front, evicted))
        {
            self.visible.pop_front();
            return true;
        }
        false
    }
}

/// Entries received and waiting for the next frame, and a count of those
/// skipped because too many were waiting already.
#[derive(Debug, Default)]
pub struct Backlog {
    waiting: Vec<LogEntry>,
    skipped: u64,
}

impl Backlog {
    /// Whether `limit` entries or more are waiting.
    pub fn at_least(&self, limit: usize) -> bool {
        self.waiting.len() >= limit
    }

    /// Adds received entries; of all waiting, only the newest `keep` stay
    /// (a page that gets no frames, being hidden, could not show more).
    pub fn push(&mut self, entries: Vec<LogEntry>, keep: usize) {
        self.waiting.extend(entries);
        if self.waiting.len() > keep {
            let excess = self.waiting.len() - keep;
            self.waiting.drain(..excess);
        }
    }

    /// Counts `entries` received and not read.
    pub fn skip(&mut self, entries: u64) {
        self.skipped += entries;
    }

    /// Everything waiting, oldest first, and how many were skipped after
    /// it; the backlog is empty again.
    pub fn take(&mut self) -> (Vec<LogEntry>, u64) {
        (
            std::mem::take(&mut self.waiting),
            std::mem::take(&mut self.skipped),
        )
    }
}

/// What an append changed in the visible rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Rows added at the end.
    pub shown: usize,
    /// Rows removed from the start (evicted from the buffer).
    pub evicted_visible: usize,
}

/// What a history merge changed in the visible rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Rows added at the start.
    pub prepended: usize,
    pub appended: Appended,
}

/// Lines per second per process over the last [`RATE_WINDOW`] seconds,
/// by the entries' own timestamps.
#[derive(Clone, Debug, Default)]
pub struct RateTracker {
    buckets: HashMap<String, VecDeque<(i64, u32)>>,
    newest_second: i64,
}

impl RateTracker {
    fn record(&mut self, entry: &LogEntry) {
        let second = entry.timestamp.timestamp();
        self.newest_second = self.newest_second.max(second);
        let buckets = self.buckets.entry(entry.process_name.clone()).or_default();
        match buckets.back_mut() {
            Some((s, count)) if *s == second => *count += 1,
            _ => buckets.push_back((second, 1)),
        }
        let horizon = self.newest_second - RATE_WINDOW as i64;
        while buckets.front().is_some_and(|(s, _)| *s <= horizon) {
            buckets.pop_front();
        }
    }

    /// Lines per second for each of the last [`RATE_WINDOW`] seconds,
    /// oldest first.
    pub fn series(&self, process: &str) -> Vec<u32> {
        let mut series = vec![0; RATE_WINDOW];
        if let Some(buckets) = self.buckets.get(process) {
            for &(second, count) in buckets {
                let age = self.newest_second - second;
                if (0..RATE_WINDOW as i64).contains(&age) {
                    series[RATE_WINDOW - 1 - age as usize] = count;
                }
            }
        }
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;
    use crate::log_entry::Stream;
    use chrono::{TimeZone, Utc};

    fn entry(seq: u64, process: &str, level: Level) -> LogEntry {
        LogEntry {
            message: format!("m{seq}"),
            level,
            process_name: process.into(),
            timestamp: Utc
                .timestamp_opt(1_700_000_000 + seq as i64 / 10, 0)
                .single()
                .expect("time"),
            seq,
            stream: Stream::Stdout,
            pid: None,
            continued: false,
            dropped: None,
            node: None,
        }
    }

    fn errors_only(e: &LogEntry) -> bool {
        e.level >= Level::Error
    }

    fn seqs(store: &LogStore) -> Vec<u64> {
        store.visible().iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_backlog_keeps_the_newest_and_counts_what_was_skipped() {
        let mut backlog = Backlog::default();
        backlog.push((1..=3).map(|s| entry(s, "a", Level::Info)).collect(), 4);
        assert!(backlog.at_least(3));
        assert!(!backlog.at_least(4));
        backlog.push((4..=6).map(|s| entry(s, "a", Level::Info)).collect(), 4);
        backlog.skip(10);
        backlog.skip(5);
        let (waiting, skipped) = backlog.take();
        assert_eq!(
            waiting.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        assert_eq!(skipped, 15);
        assert_eq!(backlog.take().1, 0);
        assert!(!backlog.at_least(1));
    }

    #[test]
    fn appends_filter_incrementally_and_evict_in_step() {
        let mut store = LogStore::new(4);
        let batch = (1..=6)
            .map(|seq| {
                entry(
                    seq,
                    "a",
                    if seq % 2 == 0 {
                        Level::Error
                    } else {
                        Level::Info
                    },
                )
            })
            .collect();
        assert_eq!(
            store.append(batch, &errors_only),
            Appended {
                shown: 3,
                evicted_visible: 1
            }
        );
        // Kept: 3..=6; visible errors among them: 4, 6.
        assert_eq!(seqs(&store), vec![4, 6]);
        assert_eq!(store.len(), 4);
        assert_eq!(store.counts().get("a"), Some(&4));
        assert_eq!(store.last_seq(), Some(6));
        assert_eq!(store.oldest_seq(), Some(3));
    }

    #[test]
    fn duplicates_from_a_resume_are_skipped() {
        let mut store = LogStore::new(10);
        store.append(
            (1..=3).map(|s| entry(s, "a", Level::Info)).collect(),
            &|_| true,
        );
        store.append(
            (2..=5).map(|s| entry(s, "a", Level::Info)).collect(),
            &|_| true,
        );
        assert_eq!(seqs(&store), vec![1, 2, 3, 4, 5]);
        store.reset_sequence();
        store.append(vec![entry(1, "a", Level::Info)], &|_| true);
        assert_eq!(
            store.len(),
            6,
            "after a server restart numbering starts over"
        );
    }

    #[test]
    fn drop_notices_are_kept_without_moving_the_resume_point() {
        let mut store = LogStore::new(10);
        store.append(vec![entry(1, "a", Level::Info)], &|_| true);
        let mut notice = entry(9, "logdeck", Level::Warning);
        notice.dropped = Some(8);
        store.append(vec![notice, entry(10, "a", Level::Info)], &|_| true);
        assert_eq!(seqs(&store), vec![1, 9, 10]);
        assert_eq!(store.last_seq(), Some(10));
    }

    #[test]
    fn each_kept_entry_keeps_its_serial_number() {
        /// Each kept entry's serial number, with its seq.
        fn numbered(store: &mut LogStore) -> Vec<(u64, u64)> {
            let mut numbered = Vec::new();
            store.refilter(|kept, base| {
                numbered = kept
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.seq, base + i as u64))
                    .collect();
                vec![true; kept.len()]
            });
            numbered
        }
        let mut store = LogStore::new(3);
        let other = LogStore::new(3);
        let entries = |seqs: &[u64]| seqs.iter().map(|&s| entry(s, "a", Level::Info)).collect();
        store.append(entries(&[2, 3]), &|_| true);
        let first = numbered(&mut store);
        store.append(entries(&[3]), &|_| true);
        assert_eq!(numbered(&mut store), first, "a duplicate adds nothing");
        store.append(entries(&[4, 5]), &|_| true);
        let after = numbered(&mut store);
        assert_eq!(after[0], first[1], "entry 3 kept its number, entry 2 left");
        assert_eq!(after.iter().map(|n| n.0).collect::<Vec<_>>(), [3, 4, 5]);
        assert!(after.windows(2).all(|w| w[1].1 == w[0].1 + 1));
        store.clear();
        store.prepend(entries(&[6]), &|_| true);
        store.append(entries(&[7, 8]), &|_| true);
        let fresh = numbered(&mut store);
        assert_eq!(fresh.len(), 3);
        for (seq, serial) in &fresh {
            assert!(
                !after.iter().chain(&first).any(|(_, s)| s == serial),
                "entry {seq} after a clear has a number no earlier entry had"
            );
        }
        store.clear();
        store.append(entries(&[10]), &|_| true);
        store.prepend(entries(&[9]), &|_| true);
        let prepended = numbered(&mut store);
        assert_eq!(prepended.iter().map(|n| n.0).collect::<Vec<_>>(), [9, 10]);
        assert_eq!(
            prepended[1].1,
            prepended[0].1 + 1,
            "an older entry goes before"
        );
        assert_ne!(store.serial_base(), other.serial_base());
        assert!(other.serial_base().abs_diff(store.serial_base()) >= 1 << 39);
    }

    #[test]
    fn refilter_applies_to_everything_kept() {
        let mut store = LogStore::new(100);
        store.append(
            (1..=10)
                .map(|s| entry(s, if s < 5 { "a" } else { "b" }, Level::Info))
                .collect(),
            &|_| true,
        );
        store.refilter(|kept, _| kept.iter().map(|e| e.process_name == "a").collect());
        assert_eq!(seqs(&store), vec![1, 2, 3, 4]);
        store.refilter(|kept, _| vec![true; kept.len()]);
        assert_eq!(store.visible().len(), 10);
    }

    #[test]
    fn older_entries_are_prepended_while_there_is_room() {
        let mut store = LogStore::new(5);
        store.append(
            (10..=12).map(|s| entry(s, "a", Level::Info)).collect(),
            &|_| true,
        );
        let shown = store.prepend(
            (5..=11).map(|s| entry(s, "a", Level::Info)).collect(),
            &|_| true,
        );
        assert_eq!(shown, 2, "room for two; 10 and 11 are already kept");
        assert_eq!(seqs(&store), vec![8, 9, 10, 11, 12]);
        assert_eq!(store.oldest_seq(), Some(8));
        assert_eq!(store.counts().get("a"), Some(&5));
    }

    #[test]
    fn history_merges_before_and_after_what_is_kept() {
        let mut store = LogStore::new(10);
        let page = |seqs: std::ops::RangeInclusive<u64>| {
            seqs.rev()
                .map(|s| entry(s, "a", Level::Info))
                .collect::<Vec<_>>()
        };
        // Into an empty store: all of it, in order.
        let merged = store.merge_history(page(5..=7), &|_| true);
        assert_eq!(merged.appended.shown, 3);
        assert_eq!(seqs(&store), vec![5, 6, 7]);
        // Older and newer at once; 6 and 7 are already kept.
        let merged = store.merge_history(page(3..=9), &|_| true);
        assert_eq!((merged.prepended, merged.appended.shown), (2, 2));
        assert_eq!(seqs(&store), vec![3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(store.last_seq(), Some(9));
    }

    #[test]
    fn rates_count_lines_per_second() {
        let mut store = LogStore::new(100);
        // Timestamps: seq/10 seconds after the base, so ten per second.
        store.append(
            (0..30).map(|s| entry(s, "a", Level::Info)).collect(),
            &|_| true,
        );
        let series = store.rates().series("a");
        assert_eq!(series.len(), RATE_WINDOW);
        assert_eq!(&series[RATE_WINDOW - 3..], &[10, 10, 10]);
        assert!(store.rates().series("nobody").iter().all(|&n| n == 0));
    }
}
