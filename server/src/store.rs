//! The store: every entry in one SQLite database (`logdeck.db` under
//! `log_dir`), a consumer of the hub like the log files. The writer thread
//! appends batches in transactions (WAL, so readers never wait for it);
//! queries read through a few connections of their own.
//!
//! # Layout
//! - `schema`: the tables, and how a level, stream or name is numbered.
//! - `sink`: the writer's side ([`StoreSink`]): inserts, per-second counts,
//!   retention a little at a time.
//! - `query`: pages of entries (newest first), exports (oldest first), the
//!   lines around one entry, and the histogram.
//! - `search`: what the trigram index can narrow a text search to.
//! - `import`: JSON Lines files of earlier versions, read in once.
//!
//! One can open the file with `sqlite3` too: `entries` has a row per entry
//! (process and node as ids into `names`; `entries_text` is the view with
//! names and levels spelled out) and `entries_fts` finds substrings
//! (`WHERE text LIKE '%needle%'`).

mod import;
pub mod query;
mod schema;
mod search;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::hub::Frame;
use crate::persist::LogSink;

pub use import::import_files;
pub use query::HistogramQuery;
pub use sink::StoreSink;

/// The database's file name under `log_dir`.
pub const FILE_NAME: &str = "logdeck.db";
/// Connections kept open for readers; more readers open their own.
const IDLE_READERS: usize = 4;

/// What the store keeps.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub path: PathBuf,
    /// Entries older than this are deleted.
    pub max_age: Duration,
    /// The oldest entries are deleted while the database holds more.
    pub max_size: u64,
}

/// The store's state the server reports (`/api/info`).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Bytes in use in the database (its pages less the free ones), as of
    /// the last retention pass.
    pub size: AtomicU64,
    /// Entries deleted by retention.
    pub expired: AtomicU64,
    /// The search index holds every entry up to this `seq`.
    pub indexed_upto: AtomicU64,
    /// The highest `seq` committed.
    pub stored_upto: AtomicU64,
}

/// The store's reading side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: StoreOptions,
    stats: Arc<StoreStats>,
    idle: Mutex<Vec<Connection>>,
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the store {path}: {source}")]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: rusqlite::Error,
}

impl Store {
    /// Opens (creating it and its directory if need be) the database at
    /// `options.path`, and the writer's connection.
    pub fn open(options: StoreOptions) -> Result<(Store, StoreSink), StoreError> {
        let error = |source| StoreError {
            path: options.path.clone(),
            source,
        };
        if let Some(dir) = options.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| error(io_error(e)))?;
        }
        let conn = Connection::open(&options.path).map_err(error)?;
        schema::create(&conn).map_err(error)?;
        let stats = Arc::new(StoreStats::default());
        let sink = StoreSink::new(conn, options.clone(), stats.clone()).map_err(error)?;
        let store = Store {
            inner: Arc::new(Inner {
                options,
                stats,
                idle: Mutex::new(Vec::new()),
            }),
        };
        Ok((store, sink))
    }

    pub fn path(&self) -> &Path {
        &self.inner.options.path
    }

    pub fn stats(&self) -> &StoreStats {
        &self.inner.stats
    }

    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// The highest `seq` stored, if any.
    pub fn last_seq(&self) -> rusqlite::Result<Option<u64>> {
        self.read(None, |conn| {
            conn.query_row("SELECT max(seq) FROM entries", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .map(|seq| seq.and_then(|s| u64::try_from(s).ok()))
        })
    }

    /// Runs `read` on a reader connection, interrupted once `deadline`
    /// passes (it then fails with `SQLITE_INTERRUPT`).
    pub(crate) fn read<T>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut conn = self.checkout()?;
        match deadline {
            Some(deadline) => {
                conn.progress_handler(READER_STEPS, Some(move || Instant::now() > deadline))?;
            }
            None => conn.progress_handler(READER_STEPS, None::<fn() -> bool>)?,
        }
        let result = read(&conn);
        if conn
            .progress_handler(READER_STEPS, None::<fn() -> bool>)
            .is_ok()
        {
            self.checkin(conn);
        }
        result
    }

    fn checkout(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = self.inner.idle.lock().expect("store readers").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.inner.options.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.inner.idle.lock().expect("store readers");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// How often a store that could not be opened is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(30);

/// The writer's side of a store that could not be opened at start (an
/// unwritable `log_dir`, say): every entry is counted as not stored, and
/// reported, while opening is tried again every [`REOPEN_EVERY`]; once it
/// opens, entries are stored from then on (history reads them after the
/// next start).
#[derive(Debug)]
pub struct Reopening {
    options: StoreOptions,
    error: String,
    last_try: Instant,
    sink: Option<StoreSink>,
}

impl Reopening {
    pub fn new(options: StoreOptions, error: &StoreError) -> Reopening {
        Reopening {
            options,
            error: error.source.to_string(),
            last_try: Instant::now(),
            sink: None,
        }
    }
}

impl Reopening {
    /// The store, opened again if it was not and it is time to try.
    fn sink(&mut self) -> Result<&mut StoreSink, std::io::Error> {
        if self.sink.is_none() && self.last_try.elapsed() >= REOPEN_EVERY {
            self.last_try = Instant::now();
            match Store::open(self.options.clone()) {
                Ok((_, sink)) => {
                    tracing::info!("the store {} opened", self.options.path.display());
                    self.sink = Some(sink);
                }
                Err(error) => self.error = error.source.to_string(),
            }
        }
        match &mut self.sink {
            Some(sink) => Ok(sink),
            None => Err(std::io::Error::other(self.error.clone())),
        }
    }
}

impl LogSink for Reopening {
    fn append(&mut self, frame: &Frame) -> std::io::Result<()> {
        self.sink()?.append(frame)
    }

    fn append_all(&mut self, frames: &[Arc<Frame>]) -> (u64, Option<std::io::Error>) {
        match self.sink() {
            Ok(sink) => sink.append_all(frames),
            Err(error) => (0, Some(error)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.as_mut().map_or(Ok(()), LogSink::flush)
    }

    fn background(&mut self) -> bool {
        self.sink.as_mut().is_some_and(LogSink::background)
    }
}

/// Virtual machine steps between two looks at a reader's deadline.
const READER_STEPS: i32 = 10_000;

fn io_error(error: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(error.to_string()),
    )
}

/// How far the search index is: it holds every entry up to this `seq`.
pub(crate) fn indexed_upto(conn: &Connection) -> rusqlite::Result<i64> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_upto'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Whether `error` is a reader's deadline passing.
pub fn is_interrupted(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::OperationInterrupted)
}

impl StoreStats {
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
