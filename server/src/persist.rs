//! Persistence, a consumer of the hub: every entry is appended to
//! per-process JSON Lines files by a writer on its own thread, so slow or
//! failing disks never hold up the pipeline; and the files are read back
//! (merged by `seq`, or one file's tail) for [`crate::history`].

pub mod files;
mod inbox;
mod writer;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::hub::Frame;

pub use files::LogFiles;
pub use writer::{start_writer, writer_overflow, WriterHandle};

/// Where the writer puts entries. The files in production; tests inject
/// failures through it.
pub trait LogSink: Send + 'static {
    /// Appends one entry (to be durable once `flush` succeeds).
    fn append(&mut self, frame: &Frame) -> io::Result<()>;
    /// Appends a batch: how many were appended, and the last error.
    fn append_all(&mut self, frames: &[Arc<Frame>]) -> (u64, Option<io::Error>) {
        let mut appended = 0;
        let mut failure = None;
        for frame in frames {
            match self.append(frame) {
                Ok(()) => appended += 1,
                Err(error) => failure = Some(error),
            }
        }
        (appended, failure)
    }
    fn flush(&mut self) -> io::Result<()>;
    /// A short step of the sink's own work (the store's index catching
    /// up), done while no entry waits; true while there is more.
    fn background(&mut self) -> bool {
        false
    }
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
    pub fn snapshot(&self) -> app::protocol::LogFileStats {
        app::protocol::LogFileStats {
            written: self.written.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
