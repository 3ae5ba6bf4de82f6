//! The layout of log files: `<log_dir>/<process>.jsonl`, rotated to
//! `<process>.jsonl.1` (newest) ... `<process>.jsonl.<log_count>` (oldest),
//! one JSON entry per line; writing them with rotation, and reading them
//! back: merged across processes by `seq`, or one process's tail by byte
//! offset.

use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use app::process::check_name;

use super::LogSink;
use crate::hub::Frame;

/// Where a deployment's log files live and how they rotate.
#[derive(Clone, Debug)]
pub struct LogFiles {
    pub dir: PathBuf,
    /// Rotate before a file would grow past this.
    pub max_size: u64,
    /// Rotated files kept beside the current one.
    pub keep: usize,
}

impl LogFiles {
    pub fn current(&self, process: &str) -> PathBuf {
        self.dir.join(format!("{process}.jsonl"))
    }

    fn rotated(&self, process: &str, n: usize) -> PathBuf {
        self.dir.join(format!("{process}.jsonl.{n}"))
    }

    /// The process's files that exist, oldest first.
    pub fn oldest_first(&self, process: &str) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = (1..=self.keep)
            .rev()
            .map(|n| self.rotated(process, n))
            .chain([self.current(process)])
            .filter(|p| p.is_file())
            .collect();
        paths.dedup();
        paths
    }

    /// Every process with a current log file.
    pub fn processes(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".jsonl"))
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }

    /// The highest `seq` written by an earlier run, so numbering can go on
    /// from there.
    pub fn last_seq(&self) -> Option<u64> {
        self.processes()
            .iter()
            .filter_map(|process| {
                self.oldest_first(process)
                    .iter()
                    .rev()
                    .find_map(|path| last_line(path).ok().flatten())
                    .and_then(|line| seq_of(&line))
            })
            .max()
    }
}

/// Lines of several processes' files merged by `seq`, newest first (paging
/// back) or oldest first (an export), skipping lines at or above a bound
/// and lines that are not entries. Each process's files are opened one at a
/// time, as the merge reaches them.
pub struct MergedLines {
    /// The next line of each reader, ordered so the heap's top comes next.
    heads: BinaryHeap<(u64, usize, Vec<u8>)>,
    readers: Vec<Box<dyn Iterator<Item = io::Result<Vec<u8>>> + Send>>,
    below: u64,
    newest_first: bool,
}

impl std::fmt::Debug for MergedLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergedLines")
            .field("readers", &self.readers.len())
            .field("below", &self.below)
            .field("newest_first", &self.newest_first)
            .finish()
    }
}

impl MergedLines {
    /// The lines with a `seq` below `below` of `processes`' files.
    pub fn new(
        files: &LogFiles,
        processes: &[String],
        below: u64,
        newest_first: bool,
    ) -> io::Result<MergedLines> {
        let mut merged = MergedLines {
            heads: BinaryHeap::new(),
            readers: Vec::with_capacity(processes.len()),
            below,
            newest_first,
        };
        // Names are checked where they enter (config, queries); a name that
        // could be a path never reaches the file system here either.
        for process in processes.iter().filter(|p| check_name(p).is_ok()) {
            let mut paths = files.oldest_first(process);
            let reader: Box<dyn Iterator<Item = io::Result<Vec<u8>>> + Send> = if newest_first {
                paths.reverse();
                Box::new(lazily(paths, |p| BackwardLines::open(&p)))
            } else {
                Box::new(lazily(paths, ForwardLines::open))
            };
            merged.readers.push(reader);
            merged.refill(merged.readers.len() - 1)?;
        }
        Ok(merged)
    }

    /// Reads reader `index`'s next entry line into the heap.
    fn refill(&mut self, index: usize) -> io::Result<()> {
        for line in self.readers[index].by_ref() {
            let line = line?;
            if let Some(seq) = seq_of(&line) {
                if seq < self.below {
                    let key = if self.newest_first {
                        seq
                    } else {
                        u64::MAX - seq
                    };
                    self.heads.push((key, index, line));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl Iterator for MergedLines {
    /// The entry's `seq` and its JSON line.
    type Item = io::Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (key, index, line) = self.heads.pop()?;
        let seq = if self.newest_first {
            key
        } else {
            u64::MAX - key
        };
        Some(self.refill(index).map(|()| (seq, line)))
    }
}

/// The lines of `paths` in turn, each file opened only once the one before
/// it is read (a file that vanished in between, rotated away, is skipped).
fn lazily<L>(
    paths: Vec<PathBuf>,
    open: fn(PathBuf) -> io::Result<L>,
) -> impl Iterator<Item = io::Result<Vec<u8>>> + Send
where
    L: Iterator<Item = io::Result<Vec<u8>>> + Send,
{
    paths
        .into_iter()
        .flat_map(move |path| open(path).into_iter().flatten())
}

/// Lines of a file from first to last.
#[derive(Debug)]
pub struct ForwardLines {
    reader: io::BufReader<File>,
}

impl ForwardLines {
    pub fn open(path: PathBuf) -> io::Result<Self> {
        Ok(Self {
            reader: io::BufReader::with_capacity(64 * 1024, File::open(path)?),
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

/// The end of one process's current log file from a byte offset: what a
/// client following the file (`tail -f` over HTTP) reads next.
#[derive(Debug, PartialEq, Eq)]
pub struct Tail {
    /// The file's size when read.
    pub size: u64,
    /// Identifies the file (see [`file_id`]); `None` when there is none.
    pub file_id: Option<String>,
    /// The offset the returned lines start at.
    pub start: u64,
    /// Whole lines only, each without its newline.
    pub lines: Vec<Vec<u8>>,
    /// Where the next read continues (just past the last whole line).
    pub cursor: u64,
    /// The read started over (no cursor, a cursor past the end, or another
    /// file than the client had): `lines` are the file's last `bytes`.
    pub reset: bool,
}

impl LogFiles {
    /// `process`'s current file from `cursor` (when it still applies to
    /// the file `client_file_id` names), else its last `bytes`, starting at
    /// a whole line.
    pub fn tail(
        &self,
        process: &str,
        cursor: Option<u64>,
        bytes: u64,
        client_file_id: Option<&str>,
    ) -> io::Result<Tail> {
        let path = self.current(process);
        let found = match check_name(process) {
            Ok(()) => fs::metadata(&path),
            Err(why) => Err(io::Error::new(io::ErrorKind::NotFound, why)),
        };
        let (size, id) = match found {
            Ok(meta) => (meta.len(), file_id(&path)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Tail {
                    size: 0,
                    file_id: None,
                    start: 0,
                    lines: Vec::new(),
                    cursor: 0,
                    reset: true,
                });
            }
            Err(e) => return Err(e),
        };
        let reset = match (cursor, client_file_id) {
            (None, _) => true,
            (Some(c), _) if c > size => true,
            (_, Some(client)) if client != id => true,
            _ => false,
        };
        let start = if reset {
            size.saturating_sub(bytes)
        } else {
            cursor.unwrap_or(0)
        };
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(start))?;
        let mut raw = Vec::with_capacity((size - start) as usize);
        file.take(size - start).read_to_end(&mut raw)?;
        // A reset may start mid-line: skip to the next line start.
        let from = if reset && start > 0 {
            raw.iter()
                .position(|&b| b == b'\n')
                .map_or(raw.len(), |i| i + 1)
        } else {
            0
        };
        // Only whole lines: a line still being written is left for later.
        let to = raw
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(from, |i| (i + 1).max(from));
        let lines = raw[from..to]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        Ok(Tail {
            size,
            file_id: Some(id),
            start: start + from as u64,
            lines,
            cursor: start + to as u64,
            reset,
        })
    }
}

/// Identifies a file across rotations: device, inode and the `seq` of its
/// first entry (an inode freed by rotation may be reused by the next file).
pub fn file_id(path: &Path) -> io::Result<String> {
    let meta = fs::metadata(path)?;
    let mut first = Vec::new();
    io::BufReader::new(File::open(path)?).read_until(b'\n', &mut first)?;
    let first_seq =
        seq_of(first.trim_ascii_end()).map_or_else(|| "empty".to_owned(), |s| s.to_string());
    Ok(format!("{:x}-{:x}-{first_seq}", meta.dev(), meta.ino()))
}

/// The `seq` field of a JSON entry line.
pub fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

/// The last complete line of a file, read from its end.
fn last_line(path: &Path) -> io::Result<Option<Vec<u8>>> {
    BackwardLines::open(path)?.next().transpose()
}

/// Lines of a file from the last to the first, reading fixed-size blocks
/// from the end: memory stays bounded by the longest line.
#[derive(Debug)]
pub struct BackwardLines {
    file: File,
    /// Bytes not yet read, from the start of the file.
    unread: u64,
    /// Read but not yet returned: the start of a line whose beginning is
    /// still unread.
    carry: Vec<u8>,
    ready: Vec<Vec<u8>>,
}

const BLOCK: u64 = 64 * 1024;

impl BackwardLines {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let unread = file.metadata()?.len();
        Ok(Self {
            file,
            unread,
            carry: Vec::new(),
            ready: Vec::new(),
        })
    }

    fn read_block(&mut self) -> io::Result<()> {
        let size = BLOCK.min(self.unread);
        self.unread -= size;
        self.file.seek(SeekFrom::Start(self.unread))?;
        let mut block = vec![0u8; size as usize];
        self.file.read_exact(&mut block)?;
        block.extend_from_slice(&self.carry);
        let mut parts: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
        // The first part may continue in the block before this one.
        self.carry = if self.unread > 0 {
            parts.remove(0).to_vec()
        } else {
            Vec::new()
        };
        self.ready = parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        Ok(())
    }
}

impl Iterator for BackwardLines {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(line) = self.ready.pop() {
                return Some(Ok(line));
            }
            if self.unread == 0 {
                if self.carry.is_empty() {
                    return None;
                }
                return Some(Ok(std::mem::take(&mut self.carry)));
            }
            if let Err(e) = self.read_block() {
                self.unread = 0;
                self.carry.clear();
                return Some(Err(e));
            }
        }
    }
}

/// Writes entries to per-process files, rotating by size.
#[derive(Debug)]
pub struct RotatingFiles {
    files: LogFiles,
    open: HashMap<String, OpenFile>,
}

#[derive(Debug)]
struct OpenFile {
    writer: BufWriter<File>,
    size: u64,
}

impl RotatingFiles {
    pub fn new(files: LogFiles) -> Self {
        Self {
            files,
            open: HashMap::new(),
        }
    }

    fn open(&self, process: &str) -> io::Result<OpenFile> {
        fs::create_dir_all(&self.files.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.files.current(process))?;
        let size = file.metadata()?.len();
        Ok(OpenFile {
            writer: BufWriter::with_capacity(64 * 1024, file),
            size,
        })
    }

    /// current → .1 → .2 ... → .keep (dropped).
    fn rotate(&mut self, process: &str) -> io::Result<()> {
        if let Some(mut old) = self.open.remove(process) {
            old.writer.flush()?;
        }
        let files = &self.files;
        if files.keep == 0 {
            return remove_if_exists(&files.current(process));
        }
        remove_if_exists(&files.rotated(process, files.keep))?;
        for n in (1..files.keep).rev() {
            rename_if_exists(&files.rotated(process, n), &files.rotated(process, n + 1))?;
        }
        rename_if_exists(&files.current(process), &files.rotated(process, 1))
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl LogSink for RotatingFiles {
    fn append(&mut self, frame: &Frame) -> io::Result<()> {
        self.append_line(&frame.entry.process_name, &frame.json)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for file in self.open.values_mut() {
            if let Err(e) = file.writer.flush() {
                result = Err(e);
            }
        }
        result
    }
}

impl RotatingFiles {
    /// Appends one JSON line (without its newline) to `process`'s file.
    pub fn append_line(&mut self, process: &str, line: &[u8]) -> io::Result<()> {
        let needed = line.len() as u64 + 1;
        let full = self
            .open
            .get(process)
            .is_some_and(|f| f.size > 0 && f.size + needed > self.files.max_size);
        if full {
            self.rotate(process)?;
        }
        if !self.open.contains_key(process) {
            let file = self.open(process)?;
            self.open.insert(process.to_owned(), file);
            // A file left over from an earlier run may be full already.
            if self
                .open
                .get(process)
                .is_some_and(|f| f.size > 0 && f.size + needed > self.files.max_size)
            {
                self.rotate(process)?;
                let file = self.open(process)?;
                self.open.insert(process.to_owned(), file);
            }
        }
        let file = self.open.get_mut(process).expect("opened above");
        file.writer.write_all(line)?;
        file.writer.write_all(b"\n")?;
        file.size += needed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, max_size: u64, keep: usize) -> LogFiles {
        LogFiles {
            dir: dir.to_path_buf(),
            max_size,
            keep,
        }
    }

    fn line(seq: u64) -> Vec<u8> {
        format!(r#"{{"seq":{seq},"message":"entry number {seq:04}"}}"#).into_bytes()
    }

    #[test]
    fn rotates_by_size_and_keeps_the_configured_count() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = files(dir.path(), 200, 2);
        let mut sink = RotatingFiles::new(layout.clone());
        for seq in 1..=20 {
            sink.append_line("web", &line(seq)).expect("append");
        }
        sink.flush().expect("flush");
        let paths = layout.oldest_first("web");
        assert_eq!(paths.len(), 3, "{paths:?}");
        for path in &paths {
            assert!(fs::metadata(path).expect("meta").len() <= 200);
        }
        // Oldest to newest across the files, ending with the newest entry.
        let seqs: Vec<u64> = paths
            .iter()
            .flat_map(|p| {
                fs::read(p)
                    .expect("read")
                    .split(|&b| b == b'\n')
                    .filter_map(seq_of)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "{seqs:?}");
        assert_eq!(seqs.last(), Some(&20));
        assert_eq!(layout.last_seq(), Some(20));
        assert_eq!(layout.processes(), vec!["web".to_owned()]);
    }

    #[test]
    fn reads_lines_backwards_across_blocks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        let lines: Vec<String> = (0..20_000)
            .map(|i| format!("line {i} {}", "y".repeat(i % 17)))
            .collect();
        fs::write(&path, lines.join("\n") + "\n").expect("write");
        let back: Vec<String> = BackwardLines::open(&path)
            .expect("open")
            .map(|l| String::from_utf8(l.expect("line")).expect("utf8"))
            .collect();
        let mut expected = lines.clone();
        expected.reverse();
        assert_eq!(back, expected);
    }

    #[test]
    fn a_file_without_a_final_newline_still_yields_its_last_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.jsonl");
        fs::write(&path, "a\nb").expect("write");
        let back: Vec<Vec<u8>> = BackwardLines::open(&path)
            .expect("open")
            .map(|l| l.expect("line"))
            .collect();
        assert_eq!(back, vec![b"b".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn merged_lines_interleave_processes_by_seq_both_ways() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = files(dir.path(), 150, 10);
        let mut sink = RotatingFiles::new(layout.clone());
        for seq in 1..=30 {
            sink.append_line(if seq % 3 == 0 { "db" } else { "web" }, &line(seq))
                .expect("append");
        }
        sink.flush().expect("flush");
        let both = ["db".to_owned(), "web".to_owned()];
        let seqs =
            |merged: MergedLines| -> Vec<u64> { merged.map(|l| l.expect("line").0).collect() };
        let back = seqs(MergedLines::new(&layout, &both, 25, true).expect("open"));
        assert_eq!(back, (1..25).rev().collect::<Vec<_>>());
        let forward = seqs(MergedLines::new(&layout, &both, 31, false).expect("open"));
        assert_eq!(forward, (1..=30).collect::<Vec<_>>());
        let db = seqs(MergedLines::new(&layout, &both[..1], 31, false).expect("open"));
        assert_eq!(db, (3..=30).step_by(3).collect::<Vec<_>>());
    }

    #[test]
    fn a_tail_resumes_at_its_cursor_and_resets_on_another_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = files(dir.path(), 1 << 20, 1);
        let mut sink = RotatingFiles::new(layout.clone());
        for seq in 1..=3 {
            sink.append_line("a", &line(seq)).expect("append");
        }
        sink.flush().expect("flush");
        let first = layout.tail("a", None, 1 << 20, None).expect("tail");
        assert!(first.reset);
        assert_eq!(first.lines.len(), 3);
        assert_eq!(first.cursor, first.size);
        sink.append_line("a", &line(4)).expect("append");
        sink.flush().expect("flush");
        let id = first.file_id.as_deref();
        let next = layout
            .tail("a", Some(first.cursor), 1 << 20, id)
            .expect("tail");
        assert!(!next.reset);
        assert_eq!(next.lines, vec![line(4)]);
        let other = layout
            .tail("a", Some(first.cursor), 1 << 20, Some("x"))
            .expect("tail");
        assert!(other.reset);
        // The last bytes only, from a whole line.
        let short = layout.tail("a", None, 60, None).expect("tail");
        assert_eq!(short.lines, vec![line(4)]);
        let none = layout.tail("nobody", Some(5), 100, None).expect("tail");
        assert!(none.reset && none.lines.is_empty() && none.file_id.is_none());
    }

    #[test]
    fn file_ids_change_on_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = files(dir.path(), 100, 1);
        let mut sink = RotatingFiles::new(layout.clone());
        sink.append_line("a", &line(1)).expect("append");
        sink.flush().expect("flush");
        let before = file_id(&layout.current("a")).expect("id");
        for seq in 2..6 {
            sink.append_line("a", &line(seq)).expect("append");
        }
        sink.flush().expect("flush");
        assert_ne!(file_id(&layout.current("a")).expect("id"), before);
    }
}
