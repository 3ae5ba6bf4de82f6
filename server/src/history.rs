//! History: entries read back from memory (the hub's ring) and, further
//! back, from the log files, filtered; newest first for paging, oldest
//! first for an export. It sits above the hub and the persistence layer
//! and merges the two, so neither knows of the other.

use std::io;
use std::sync::Arc;

use app::filter::EntryFilter;
use app::LogEntry;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::hub::{Frame, LogHub};
use crate::persist::files::{LogFiles, MergedLines};

/// Ring entries copied out of the hub per lock, when paging back.
const RING_CHUNK: usize = 4096;

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
}

impl HistoryQuery {
    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.before_seq.is_none_or(|b| entry.seq < b)
            && self.after_seq.is_none_or(|a| entry.seq > a)
            && self.since.is_none_or(|s| entry.timestamp >= s)
            && self.until.is_none_or(|u| entry.timestamp <= u)
            && self.filter.matches(entry)
    }
}

/// Reads history from memory and files.
#[derive(Clone, Debug)]
pub struct History {
    pub hub: Arc<LogHub>,
    pub files: Option<LogFiles>,
}

impl History {
    /// Matching entries, newest first, at most `query.limit`.
    pub fn page(&self, query: &HistoryQuery) -> io::Result<Vec<Arc<Frame>>> {
        let mut page = Vec::new();
        // Memory first, a chunk at a time, filtered outside the hub's lock;
        // `below` ends as the oldest `seq` memory had to offer.
        let mut below = query.before_seq;
        loop {
            let chunk = self.hub.recent_chunk(below, RING_CHUNK);
            let Some(oldest) = chunk.last() else {
                break;
            };
            below = Some(oldest.entry.seq);
            let full = chunk.len() == RING_CHUNK;
            for frame in chunk {
                if query.matches(&frame.entry) {
                    page.push(frame);
                    if page.len() >= query.limit {
                        return Ok(page);
                    }
                }
            }
            if !full {
                break;
            }
        }
        let Some(files) = &self.files else {
            return Ok(page);
        };
        // The files hold everything, memory only the newest: read them for
        // what lies before what memory gave.
        let below = below.unwrap_or_else(|| self.hub.next_seq());
        let lines = MergedLines::new(files, &self.processes(files, query), below, true)?;
        for line in lines {
            let (_, line) = line?;
            if let Some(frame) = parse(line).filter(|f| query.matches(&f.entry)) {
                page.push(frame);
                if page.len() >= query.limit {
                    break;
                }
            }
        }
        Ok(page)
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
        Ok(Export {
            query,
            files,
            ring: ring.into_iter(),
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
    files: Option<MergedLines>,
    ring: std::vec::IntoIter<Arc<Frame>>,
}

impl Iterator for Export {
    type Item = io::Result<Arc<Frame>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(files) = &mut self.files {
            for line in files.by_ref() {
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
        let query = &self.query;
        self.ring.find(|f| query.matches(&f.entry)).map(Ok)
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
            lag_capacity: 10_000,
            first_seq: 1,
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
            sink.append(&frame.entry.process_name, &frame.json)
                .expect("append");
        }
        sink.flush().expect("flush");
        History {
            hub,
            files: Some(files),
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
