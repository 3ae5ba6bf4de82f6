//! History: entries from memory (the hub's ring) and, further back, from
//! the log files, filtered, newest first for paging or oldest first for
//! export.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;

use app::filter::{LogFilter, Substring, TextSearch};
use app::LogEntry;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use regex::Regex;

use super::files::{BackwardLines, LogFiles};
use crate::hub::{Frame, LogHub, Replay};

/// A [`LogFilter`] with its search compiled, ready for many entries: the
/// same filter serves `/ws/logs` connections and history queries.
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    pub filter: LogFilter,
    search: Option<AnySearch>,
}

/// The server's text search: a substring or a regex.
#[derive(Clone, Debug)]
enum AnySearch {
    Substring(Substring),
    Regex(Regex),
}

impl TextSearch for AnySearch {
    fn is_match(&self, text: &str) -> bool {
        match self {
            AnySearch::Substring(s) => s.is_match(text),
            AnySearch::Regex(r) => r.is_match(text),
        }
    }
}

impl EntryFilter {
    /// Compiles the filter's search; an invalid regex is an error message.
    pub fn new(filter: LogFilter) -> Result<Self, String> {
        let search = if filter.text.is_empty() {
            None
        } else if filter.regex {
            let pattern = if filter.case_sensitive {
                filter.text.clone()
            } else {
                format!("(?i){}", filter.text)
            };
            Some(AnySearch::Regex(
                Regex::new(&pattern).map_err(|e| format!("invalid q regex: {e}"))?,
            ))
        } else {
            Some(AnySearch::Substring(Substring::new(
                &filter.text,
                filter.case_sensitive,
            )))
        };
        Ok(Self { filter, search })
    }

    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.filter.matches_with(entry, self.search.as_ref())
    }
}

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
        let mut page = self
            .hub
            .recent(query.before_seq, query.limit, |e| query.matches(e));
        if page.len() >= query.limit {
            return Ok(page);
        }
        let Some(files) = &self.files else {
            return Ok(page);
        };
        // The files hold everything, the ring only the newest: read them
        // for what lies before the ring.
        let boundary = self
            .hub
            .oldest_kept()
            .unwrap_or_else(|| self.hub.next_seq())
            .min(query.before_seq.unwrap_or(u64::MAX));
        let mut heads: BinaryHeap<(u64, usize, Vec<u8>)> = BinaryHeap::new();
        let mut readers: Vec<Box<dyn Iterator<Item = io::Result<Vec<u8>>>>> = Vec::new();
        for process in self.processes(files, &query.filter) {
            let paths = files.oldest_first(&process);
            let lines = paths
                .into_iter()
                .rev()
                .filter_map(|p| BackwardLines::open(&p).ok())
                .flatten();
            readers.push(Box::new(lines));
        }
        for (index, reader) in readers.iter_mut().enumerate() {
            if let Some((seq, line)) = next_below(reader.as_mut(), boundary)? {
                heads.push((seq, index, line));
            }
        }
        while let Some((_, index, line)) = heads.pop() {
            if let Some(entry) = parse(&line) {
                if query.matches(&entry) {
                    page.push(Arc::new(Frame {
                        entry,
                        json: Bytes::from(line),
                    }));
                    if page.len() >= query.limit {
                        break;
                    }
                }
            }
            if let Some((seq, line)) = next_below(readers[index].as_mut(), boundary)? {
                heads.push((seq, index, line));
            }
        }
        Ok(page)
    }

    /// Every matching entry, oldest first, handed to `emit` with its JSON
    /// line; `emit` returns false to stop.
    pub fn export(
        &self,
        query: &HistoryQuery,
        mut emit: impl FnMut(&LogEntry, &[u8]) -> bool,
    ) -> io::Result<()> {
        let (ring, _, _) = self.hub.replay(Replay::Since(query.after_seq.unwrap_or(0)));
        let ring_start = ring.first().map_or(self.hub.next_seq(), |f| f.entry.seq);
        if let Some(files) = &self.files {
            let mut readers: Vec<std::iter::Flatten<std::vec::IntoIter<ForwardLines>>> = self
                .processes(files, &query.filter)
                .iter()
                .map(|process| {
                    files
                        .oldest_first(process)
                        .into_iter()
                        .filter_map(|p| ForwardLines::open(p).ok())
                        .collect::<Vec<_>>()
                        .into_iter()
                        .flatten()
                })
                .collect();
            let mut heads = BinaryHeap::new();
            for (index, reader) in readers.iter_mut().enumerate() {
                if let Some((seq, line)) = next_below(reader, ring_start)? {
                    heads.push(Reverse((seq, index, line)));
                }
            }
            while let Some(Reverse((_, index, line))) = heads.pop() {
                if let Some(entry) = parse(&line) {
                    if query.matches(&entry) && !emit(&entry, &line) {
                        return Ok(());
                    }
                }
                if let Some((seq, line)) = next_below(&mut readers[index], ring_start)? {
                    heads.push(Reverse((seq, index, line)));
                }
            }
        }
        for frame in ring {
            if query.matches(&frame.entry) && !emit(&frame.entry, &frame.json) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn processes(&self, files: &LogFiles, filter: &EntryFilter) -> Vec<String> {
        let filter = &filter.filter;
        if filter.processes.is_empty() {
            files.processes()
        } else {
            filter.processes.iter().cloned().collect()
        }
    }
}

/// The next line with a `seq` below `boundary` (lines at or above it are
/// skipped; unparseable lines too).
fn next_below(
    lines: &mut dyn Iterator<Item = io::Result<Vec<u8>>>,
    boundary: u64,
) -> io::Result<Option<(u64, Vec<u8>)>> {
    for line in lines {
        let line = line?;
        if let Some(seq) = super::files::seq_of(&line) {
            if seq < boundary {
                return Ok(Some((seq, line)));
            }
        }
    }
    Ok(None)
}

fn parse(line: &[u8]) -> Option<LogEntry> {
    serde_json::from_slice(line).ok()
}

/// Lines of a file from first to last.
struct ForwardLines {
    reader: BufReader<File>,
}

impl ForwardLines {
    fn open(path: PathBuf) -> io::Result<Self> {
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, File::open(path)?),
        })
    }
}

impl Iterator for ForwardLines {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                Some(Ok(line))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{HubOptions, NewEntry};
    use crate::persist::files::RotatingFiles;
    use crate::persist::LogSink;
    use app::{Level, Stream};

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
    fn filters_apply_to_both_sources() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = setup(dir.path(), 5, 60);
        let query = HistoryQuery {
            filter: EntryFilter::new(LogFilter {
                processes: ["db".to_owned()].into(),
                min_level: Some(Level::Error),
                text: "message 1".into(),
                ..LogFilter::default()
            })
            .expect("valid"),
            limit: 100,
            ..HistoryQuery::default()
        };
        let page = history.page(&query).expect("page");
        assert_eq!(seqs(&page), vec![18, 15, 12]);

        let query = HistoryQuery {
            filter: EntryFilter::new(LogFilter {
                text: r"^MESSAGE 5\d$".into(),
                regex: true,
                ..LogFilter::default()
            })
            .expect("valid"),
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
        history
            .export(&HistoryQuery::default(), |entry, line| {
                let json: serde_json::Value = serde_json::from_slice(line).expect("json line");
                assert_eq!(json["seq"], entry.seq);
                seen.push(entry.seq);
                true
            })
            .expect("export");
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
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
