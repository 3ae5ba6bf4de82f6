//! Persistence: every entry is appended to per-process JSON Lines files by
//! a writer on its own thread, so slow or failing disks never hold up the
//! pipeline; and history is read back from memory and those files.

pub mod files;
pub mod history;
mod writer;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

pub use files::LogFiles;
pub use writer::{start_writer, WriterHandle};

/// Where the writer puts entries. The files in production; tests inject
/// failures through it.
pub trait LogSink: Send + 'static {
    /// Appends one JSON line (without its newline) to `process`'s log.
    fn append(&mut self, process: &str, line: &[u8]) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// What the writer has done so far.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    /// Entries that did not reach the files (write errors, or the writer
    /// fell behind).
    pub lost: AtomicU64,
    pub errors: AtomicU64,
}

impl WriterStats {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}
