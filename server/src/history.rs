//! History: entries read back from memory (the hub's ring) and, further
//! back, from the store (or, without one, the log files), filtered; newest
//! first for paging, oldest first for an export. It sits above the hub and
//! the persistence layers and merges them, so none knows of the others.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::filter::EntryFilter;
use app::LogEntry;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::hub::{Frame, LogHub};
use crate::persist::files::{LogFiles, MergedLines};
use crate::store::query::Order;
use crate::store::{is_interrupted, Store};

/// Ring entries copied out of the hub per lock, when paging back.
const RING_CHUNK: usize = 4096;
/// A page holds at most this many bytes of entries (and at least one
/// entry): 10 000 entries of 64 KiB would otherwise be 650 MB in memory.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Entries looked at between two looks at the clock.
const CLOCK_EVERY: u32 = 1024;

/// Which entries to return.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub filter: EntryFilter,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only entries with a lower `seq` (paging backwards).
    pub before_seq: Option<u64>,
    /// Only entries with a higher `seq`.
    pub after_seq: Option<u64>,
    pub limit: usize,
    /// Give up (with `TimedOut`) when reading takes past this.
    pub deadline: Option<Instant>,
}

impl HistoryQuery {
    /// The error a query gets when it runs out of time.
    fn too_slow(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the query took too long; narrow it (process, level, since, until)",
        )
    }

    /// Counts one more entry looked at; every [`CLOCK_EVERY`], whether
    /// the deadline has passed.
    fn tick(&self, looked_at: &mut u32) -> io::Result<()> {
        *looked_at += 1;
        if looked_at.is_multiple_of(CLOCK_EVERY)
            && self.deadline.is_some_and(|d| Instant::now() > d)
        {
            return Err(self.too_slow());
        }
        Ok(())
    }

    /// This query with `limit` to run for from now.
    pub fn within(mut self, limit: Duration) -> HistoryQuery {
        self.deadline = Some(Instant::now() + limit);
        self
    }

    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.before_seq.is_none_or(|b| entry.seq < b)
            && self.after_seq.is_none_or(|a| entry.seq > a)
            && self.since.is_none_or(|s| entry.timestamp >= s)
            && self.until.is_none_or(|u| entry.timestamp <= u)
            && self.filter.matches(entry)
    }
}

/// Entries an export reads from the store per query.
const STORE_CHUNK: usize = 1024;

/// Reads history from memory and the store or the files.
#[derive(Clone, Debug)]
pub struct History {
    pub hub: Arc<LogHub>,
    /// Read when there is no store.
    pub files: Option<LogFiles>,
    pub store: Option<Store>,
}

impl HistoryQuery {
    /// A store error as what a history read returns.
    fn store_error(&self, error: rusqlite::Error) -> io::Error {
        if is_interrupted(&error) {
            self.too_slow()
        } else {
            io::Error::other(format!("cannot read the store: {error}"))
        }
    }
}

impl History {
    /// Matching entries, newest first, at most `query.limit` of them and
    /// about [`MAX_PAGE_BYTES`].
    pub fn page(&self, query: &HistoryQuery) -> io::Result<Vec<Arc<Frame>>> {
        let mut page = Page {
            frames: Vec::new(),
            bytes: 0,
            limit: query.limit,
        };
        let mut looked_at = 0;
        // With a store, memory gives only what it has not committed yet
        // (the store answers the rest, a search through its index rather
        // than by reading 100 000 entries in memory).
        let committed = self.store.as_ref().map(|store| {
            store
                .stats()
                .stored_upto
                .load(std::sync::atomic::Ordering::Relaxed)
        });
        // Memory first, a chunk at a time, filtered outside the hub's lock;
        // `below` ends as the oldest `seq` memory had to offer.
        let mut below = query.before_seq;
        'memory: loop {
            let chunk = self.hub.recent_chunk(below, RING_CHUNK);
            let Some(oldest) = chunk.last() else {
                break;
            };
            let oldest = oldest.entry.seq;
            let full = chunk.len() == RING_CHUNK;
            for frame in chunk {
                if committed.is_some_and(|committed| frame.entry.seq <= committed) {
                    below = Some(frame.entry.seq + 1);
                    break 'memory;
                }
                query.tick(&mut looked_at)?;
                if query.matches(&frame.entry) && page.add(frame) {
                    return Ok(page.frames);
                }
            }
            below = Some(oldest);
            if !full {
                break;
            }
        }
        // The store and the files hold everything, memory only the newest:
        // read them for what lies before what memory gave.
        let below = below.unwrap_or_else(|| self.hub.next_seq());
        if let Some(store) = &self.store {
            let mut older = query.clone();
            older.before_seq = Some(older.before_seq.map_or(below, |b| b.min(below)));
            store
                .walk(&older, Order::NewestFirst, |frame| page.add(frame))
                .map_err(|e| query.store_error(e))?;
            return Ok(page.frames);
        }
        let Some(files) = &self.files else {
            return Ok(page.frames);
        };
        let lines = MergedLines::new(files, &self.processes(files, query), below, true)?;
        for line in lines {
            query.tick(&mut looked_at)?;
            let (_, line) = line?;
            if let Some(frame) = parse(line).filter(|f| query.matches(&f.entry)) {
                if page.add(frame) {
                    break;
                }
            }
        }
        Ok(page.frames)
    }

    /// Every matching entry, oldest first: the files up to where memory
    /// starts, then memory as it was when the export began.
    pub fn export(&self, query: HistoryQuery) -> io::Result<Export> {
        let ring = self.hub.kept_after(query.after_seq.unwrap_or(0));
        let ring_start = ring.first().map_or(self.hub.next_seq(), |f| f.entry.seq);
        let files = match &self.files {
            Some(files) => Some(MergedLines::new(
                files,
                &self.processes(files, &query),
                ring_start,
                false,
            )?),
            None => None,
        };
        let stored = self.store.clone().map(|store| StoreChunks {
            store,
            after: query.after_seq,
            below: ring_start,
            chunk: std::collections::VecDeque::new(),
            done: false,
        });
        Ok(Export {
            files: if stored.is_some() { None } else { files },
            stored,
            query,
            ring: ring.into_iter(),
            looked_at: 0,
        })
    }

    /// The processes whose files a query reads.
    fn processes(&self, files: &LogFiles, query: &HistoryQuery) -> Vec<String> {
        let wanted = &query.filter.filter().processes;
        if wanted.is_empty() {
            files.processes()
        } else {
            wanted.iter().cloned().collect()
        }
    }
}

/// The entries of an export, oldest first, produced as they are read: an
/// export of any size holds one line per process in memory, and nothing is
/// read that the consumer does not ask for.
#[derive(Debug)]
pub struct Export {
    query: HistoryQuery,
    stored: Option<StoreChunks>,
    files: Option<MergedLines>,
    ring: std::vec::IntoIter<Arc<Frame>>,
    looked_at: u32,
}

impl Export {
    /// Gives the entries still to come `limit` to be found, from now.
    pub fn allow(&mut self, limit: Duration) {
        self.query.deadline = Some(Instant::now() + limit);
    }
}

impl Iterator for Export {
    type Item = io::Result<Arc<Frame>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(stored) = &mut self.stored {
            match stored.next(&self.query) {
                Some(item) => return Some(item),
                None => self.stored = None,
            }
        }
        if let Some(files) = &mut self.files {
            for line in files.by_ref() {
                if let Err(error) = self.query.tick(&mut self.looked_at) {
                    return Some(Err(error));
                }
                match line {
                    Ok((_, line)) => {
                        if let Some(frame) = parse(line).filter(|f| self.query.matches(&f.entry)) {
                            return Some(Ok(frame));
                        }
                    }
                    Err(error) => return Some(Err(error)),
                }
            }
            self.files = None;
        }
        for frame in self.ring.by_ref() {
            if let Err(error) = self.query.tick(&mut self.looked_at) {
                return Some(Err(error));
            }
            if self.query.matches(&frame.entry) {
                return Some(Ok(frame));
            }
        }
        None
    }
}

/// The store's part of an export: what lies before memory, read a chunk
/// at a time.
#[derive(Debug)]
struct StoreChunks {
    store: Store,
    /// The last `seq` handed out (or the query's own lower bound).
    after: Option<u64>,
    /// Where memory starts.
    below: u64,
    chunk: std::collections::VecDeque<Arc<Frame>>,
    done: bool,
}

impl StoreChunks {
    fn next(&mut self, query: &HistoryQuery) -> Option<io::Result<Arc<Frame>>> {
        if self.chunk.is_empty() && !self.done {
            let mut part = query.clone();
            part.after_seq = self.after;
            part.before_seq = Some(query.before_seq.map_or(self.below, |b| b.min(self.below)));
            let chunk = &mut self.chunk;
            if let Err(error) = self.store.walk(&part, Order::OldestFirst, |frame| {
                chunk.push_back(frame);
                chunk.len() >= STORE_CHUNK
            }) {
                self.done = true;
                return Some(Err(query.store_error(error)));
            }
            self.done = self.chunk.len() < STORE_CHUNK;
        }
        let frame = self.chunk.pop_front()?;
        self.after = Some(frame.entry.seq);
        Some(Ok(frame))
    }
}

/// A page being filled, newest first.
struct Page {
    frames: Vec<Arc<Frame>>,
    bytes: usize,
    limit: usize,
}

impl Page {
    /// Adds `frame`; true once the page is full (by count or by bytes).
    fn add(&mut self, frame: Arc<Frame>) -> bool {
        self.bytes += frame.json.len() + 1;
        self.frames.push(frame);
        self.frames.len() >= self.limit || self.bytes >= MAX_PAGE_BYTES
    }
}

/// A JSON line from a log file as a frame (the line is its JSON).
fn parse(line: Vec<u8>) -> Option<Arc<Frame>> {
    let entry = serde_json::from_slice(&line).ok()?;
    Some(Arc::new(Frame {
        entry,
        json: Bytes::from(line),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{HubOptions, NewEntry};
    use crate::persist::files::RotatingFiles;
    use crate::persist::LogSink;
    use app::{Level, LogFilter, Stream};

    /// A hub whose ring keeps only the newest `memory` entries, and files
    /// holding all of them.
    fn setup(dir: &std::path::Path, memory: usize, total: u64) -> History {
        let hub = Arc::new(LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: memory,
            memory_bytes: u64::MAX,
            lag_capacity: 10_000,
            first_seq: 1,
            node: None,
        }));
        let files = LogFiles {
            dir: dir.to_path_buf(),
            max_size: 2000,
            keep: 100,
        };
        let mut sink = RotatingFiles::new(files.clone());
        let mut rx = hub.subscribe();
        for i in 1..=total {
            let (process, level) = if i % 3 == 0 {
                ("db", Level::Error)
            } else {
                ("web", Level::Info)
            };
            hub.publish(NewEntry {
                process_name: process,
                stream: Stream::Stdout,
                pid: Some(1),
                level,
                message: format!("message {i}"),
                continued: false,
            });
            let frame = rx.try_recv().expect("frame");
            sink.append(&frame).expect("append");
        }
        sink.flush().expect("flush");
        History {
            hub,
            files: Some(files),
            store: None,
        }
    }

    fn seqs(frames: &[Arc<Frame>]) -> Vec<u64> {
        frames.iter().map(|f| f.entry.seq).collect()
    }

    fn filter(filter: LogFilter) -> EntryFilter {
        EntryFilter::new(filter).expect("valid")
    }

    #[test]
    fn pages_continue_from_memory_into_the_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = setup(dir.path(), 10, 100);
        let query = |before| HistoryQuery {
            before_seq: before,
            limit: 15,
            ..HistoryQuery::default()
        };
        let first = history.page(&query(None)).expect("page");
        assert_eq!(seqs(&first), (86..=100).rev().collect::<Vec<_>>());
        let second = history.page(&query(Some(86))).expect("page");
        assert_eq!(seqs(&second), (71..=85).rev().collect::<Vec<_>>());
        let last = history.page(&query(Some(6))).expect("page");
        assert_eq!(seqs(&last), vec![5, 4, 3, 2, 1]);
    }

    #[test]
    fn pages_cross_several_chunks_of_memory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let total = RING_CHUNK as u64 * 2 + 10;
        let history = setup(dir.path(), total as usize, total);
        let query = HistoryQuery {
            filter: filter(LogFilter {
                processes: ["db".to_owned()].into(),
                ..LogFilter::default()
            }),
            limit: usize::MAX,
            ..HistoryQuery::default()
        };
        let page = history.page(&query).expect("page");
        assert_eq!(page.len() as u64, total / 3);
        assert!(seqs(&page).windows(2).all(|w| w[0] == w[1] + 3));
    }

    #[test]
    fn filters_apply_to_both_sources() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = setup(dir.path(), 5, 60);
        let query = HistoryQuery {
            filter: filter(LogFilter {
                processes: ["db".to_owned()].into(),
                min_level: Some(Level::Error),
                text: "message 1".into(),
                ..LogFilter::default()
            }),
            limit: 100,
            ..HistoryQuery::default()
        };
        let page = history.page(&query).expect("page");
        assert_eq!(seqs(&page), vec![18, 15, 12]);

        let query = HistoryQuery {
            filter: filter(LogFilter {
                text: r"^MESSAGE 5\d$".into(),
                regex: true,
                ..LogFilter::default()
            }),
            limit: 3,
            ..HistoryQuery::default()
        };
        assert_eq!(seqs(&history.page(&query).expect("page")), vec![59, 58, 57]);
        assert!(EntryFilter::new(LogFilter {
            text: "(".into(),
            regex: true,
            ..LogFilter::default()
        })
        .is_err());
    }

    #[test]
    fn export_is_oldest_first_without_gaps_or_duplicates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = setup(dir.path(), 7, 50);
        let mut seen = Vec::new();
        for frame in history.export(HistoryQuery::default()).expect("export") {
            let frame = frame.expect("frame");
            let json: serde_json::Value = serde_json::from_slice(&frame.json).expect("json line");
            assert_eq!(json["seq"], frame.entry.seq);
            seen.push(frame.entry.seq);
        }
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
        let after = history
            .export(HistoryQuery {
                after_seq: Some(45),
                ..HistoryQuery::default()
            })
            .expect("export")
            .map(|f| f.expect("frame").entry.seq)
            .collect::<Vec<_>>();
        assert_eq!(after, (46..=50).collect::<Vec<_>>());
    }

    #[test]
    fn a_page_stops_at_its_byte_budget() {
        let hub = Arc::new(LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 1000,
            memory_bytes: u64::MAX,
            lag_capacity: 16,
            first_seq: 1,
            node: None,
        }));
        for _ in 0..600 {
            hub.publish(NewEntry {
                process_name: "big",
                stream: Stream::Stdout,
                pid: None,
                level: Level::Info,
                message: "x".repeat(64 * 1024),
                continued: false,
            });
        }
        let history = History {
            hub,
            files: None,
            store: None,
        };
        let page = history
            .page(&HistoryQuery {
                limit: 10_000,
                ..HistoryQuery::default()
            })
            .expect("page");
        let bytes: usize = page.iter().map(|f| f.json.len()).sum();
        assert!(page.len() < 600, "{} entries", page.len());
        assert!(
            (MAX_PAGE_BYTES..MAX_PAGE_BYTES + 70 * 1024).contains(&bytes),
            "{bytes}"
        );
    }

    #[test]
    fn a_query_past_its_deadline_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = setup(dir.path(), 10, 5000);
        let late = HistoryQuery {
            filter: filter(LogFilter {
                text: "no such text".into(),
                ..LogFilter::default()
            }),
            limit: 10,
            deadline: Some(Instant::now() - Duration::from_secs(1)),
            ..HistoryQuery::default()
        };
        let error = history.page(&late).expect_err("too late");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let mut export = history.export(late).expect("export");
        assert_eq!(
            export.next().map(|r| r.map(|_| ()).map_err(|e| e.kind())),
            Some(Err(io::ErrorKind::TimedOut))
        );
        export.allow(Duration::from_secs(600));
        assert!(export.next().is_none(), "nothing matches, in time");
    }

    #[test]
    fn with_a_store_memory_gives_only_what_it_has_not_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut history = setup(dir.path(), 50, 100);
        history.files = None;
        let (store, mut sink) = Store::open(crate::store::StoreOptions {
            path: dir.path().join("store.db"),
            max_age: Duration::from_secs(3600),
            max_size: u64::MAX,
        })
        .expect("open store");
        // The store has committed entries 1 to 80, which it tells apart.
        for frame in history.hub.kept_after(0) {
            if frame.entry.seq <= 80 {
                let mut entry = frame.entry.clone();
                entry.message = format!("stored {}", entry.seq);
                sink.append(&Frame::new(entry)).expect("append");
            }
        }
        for seq in 1..=50 {
            let mut entry = history.hub.kept_after(50)[0].entry.clone();
            entry.seq = seq;
            entry.message = format!("stored {seq}");
            sink.append(&Frame::new(entry)).expect("append");
        }
        sink.flush().expect("commit");
        history.store = Some(store);
        let page = history
            .page(&HistoryQuery {
                filter: filter(LogFilter {
                    text: "0".into(),
                    ..LogFilter::default()
                }),
                limit: 5,
                ..HistoryQuery::default()
            })
            .expect("page");
        let messages: Vec<&str> = page.iter().map(|f| f.entry.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "message 100",
                "message 90",
                "stored 80",
                "stored 70",
                "stored 60"
            ]
        );
    }

    #[test]
    fn without_files_history_is_what_memory_holds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut history = setup(dir.path(), 10, 30);
        history.files = None;
        let page = history
            .page(&HistoryQuery {
                limit: 100,
                ..HistoryQuery::default()
            })
            .expect("page");
        assert_eq!(seqs(&page), (21..=30).rev().collect::<Vec<_>>());
    }
}
