//! The writer's side of the store: the persistence thread appends a batch
//! of entries in one transaction and commits it at `flush`; after each
//! commit a little retention, so no transaction is ever long.
//!
//! The search index trails the entries: indexing a line costs several
//! times what storing it does, so the thread indexes in steps of its own
//! (`background`) while no entries wait. Entries are never held back or
//! lost for the index; a burst leaves it behind, and it catches up when
//! the burst is over. Searches read the entries it has not reached yet
//! directly (`meta.indexed_upto` says how far it is).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use app::ansi::strip_ansi;
use rusqlite::{params, Connection, Statement};

use super::schema::{level_number, stream_number};
use super::{StoreOptions, StoreStats};
use crate::hub::Frame;
use crate::persist::LogSink;

/// Entries deleted by one retention step, at most: a step is a short
/// transaction of its own after a batch.
const RETENTION_STEP: i64 = 8192;
/// Size retention deletes down to this share of `max_size`, so it does
/// not run after every batch once the store is full.
const SIZE_LOW_WATER: f64 = 0.9;
/// How often retention looks whether anything is to be deleted.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Entries the index may trail by, for this long, before a step runs: it
/// indexes a few thousand at once far more cheaply than a few.
const INDEX_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// Entries indexed by one step (some 40 ms here): larger steps index
/// faster (fewer segments to merge), and entries wait meanwhile.
const INDEX_STEP: i64 = 4096;

/// The oldest and the newest `seq`. Two subqueries: SQLite looks up
/// `min()` or `max()` alone in the key, but both in one `SELECT` scan the
/// whole table (a third of a second per million entries, every second).
pub(super) const FIRST_AND_LAST: &str =
    "SELECT (SELECT min(seq) FROM entries), (SELECT max(seq) FROM entries)";

const INSERT: &str = "INSERT OR IGNORE INTO entries
    (seq, ts, process, node, stream, level, pid, continued, dropped, message, plain)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// (second, process, node, stream, level) → entries.
type CountKey = (i64, i64, i64, i64, i64);

/// Appends entries to the store (see [`LogSink`]).
#[derive(Debug)]
pub struct StoreSink {
    conn: Connection,
    options: StoreOptions,
    stats: Arc<StoreStats>,
    /// Name → id, as committed (cleared when a transaction is rolled back).
    names: HashMap<String, i64>,
    /// Entries of the open transaction per second and kind.
    counts: HashMap<CountKey, i64>,
    in_transaction: bool,
    /// Why the open transaction is lost: SQLite rolled it back when a
    /// statement failed (a full disk, say), so nothing more is added to
    /// it and `flush` reports the whole batch as not stored.
    doomed: Option<String>,
    /// Size retention deletes until this many entries are left.
    size_target: Option<i64>,
    /// The index holds every entry up to this `seq`.
    indexed_upto: i64,
    last_retention: Option<std::time::Instant>,
    /// The last retention step deleted something: there may be more.
    retention_busy: bool,
    /// The highest `seq` stored, and since when the index trails it.
    stored_upto: i64,
    trailing_since: Option<std::time::Instant>,
}

impl StoreSink {
    pub(super) fn new(
        conn: Connection,
        options: StoreOptions,
        stats: Arc<StoreStats>,
    ) -> rusqlite::Result<StoreSink> {
        let indexed_upto = super::indexed_upto(&conn)?;
        stats
            .indexed_upto
            .store(u64::try_from(indexed_upto).unwrap_or(0), Ordering::Relaxed);
        let sink = StoreSink {
            conn,
            options,
            stats,
            names: HashMap::new(),
            counts: HashMap::new(),
            in_transaction: false,
            doomed: None,
            size_target: None,
            indexed_upto,
            last_retention: None,
            retention_busy: false,
            stored_upto: 0,
            trailing_since: None,
        };
        sink.stats.size.store(sink.used_bytes()?, Ordering::Relaxed);
        Ok(sink)
    }

    /// Adds `frames` to the open transaction with one prepared statement:
    /// how many went in, and the last error. After an error that rolled
    /// the transaction back, the rest are not tried.
    fn insert_all<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a Frame>,
    ) -> (u64, Option<rusqlite::Error>) {
        if !self.in_transaction {
            if let Err(error) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                return (0, Some(error));
            }
            self.in_transaction = true;
        }
        let mut statement = match self.conn.prepare_cached(INSERT) {
            Ok(statement) => statement,
            Err(error) => return (0, Some(error)),
        };
        let mut batch = Batch {
            conn: &self.conn,
            names: &mut self.names,
            counts: &mut self.counts,
            stored_upto: &mut self.stored_upto,
        };
        let (mut inserted, mut failure) = (0, None);
        for frame in frames {
            match batch.insert(&mut statement, frame) {
                Ok(()) => inserted += 1,
                Err(error) => {
                    failure = Some(error);
                    if self.conn.is_autocommit() {
                        break;
                    }
                }
            }
        }
        (inserted, failure)
    }

    fn commit(&mut self) -> rusqlite::Result<()> {
        {
            let mut upsert = self.conn.prepare_cached(
                "INSERT INTO counts (second, process, node, stream, level, n)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO UPDATE SET n = n + excluded.n",
            )?;
            for ((second, process, node, stream, level), n) in &self.counts {
                upsert.execute(params![second, process, node, stream, level, n])?;
            }
        }
        self.conn.execute_batch("COMMIT")?;
        self.in_transaction = false;
        self.counts.clear();
        self.stats.stored_upto.fetch_max(
            u64::try_from(self.stored_upto).unwrap_or(0),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Forgets the open transaction (SQLite may have rolled it back
    /// already) and whatever was cached from it.
    fn abandon(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.in_transaction = false;
        self.doomed = None;
        self.counts.clear();
        self.names.clear();
    }

    /// Bytes of the database in use: its pages less the free ones.
    fn used_bytes(&self) -> rusqlite::Result<u64> {
        let pragma = |name: &str| -> rusqlite::Result<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
        };
        let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
        Ok(u64::try_from(used).unwrap_or(0))
    }

    /// One step of retention: deletes up to [`RETENTION_STEP`] of the
    /// oldest entries that are past `max_age`, or while the store is
    /// larger than `max_size`. Returns how many it deleted.
    pub fn retention_step(&mut self, now_ms: i64) -> rusqlite::Result<u64> {
        let used = self.used_bytes()?;
        self.stats.size.store(used, Ordering::Relaxed);
        let max_age_ms = i64::try_from(self.options.max_age.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(max_age_ms);
        let (first, last): (Option<i64>, Option<i64>) =
            self.conn
                .query_row(FIRST_AND_LAST, [], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(0);
        };
        let stored = last - first + 1;
        if used > self.options.max_size && self.size_target.is_none() {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let keep = (stored as f64 * SIZE_LOW_WATER * self.options.max_size as f64 / used as f64)
                as i64;
            self.size_target = Some(keep.max(1));
        }
        // The newest entry this step deletes, by size and by age.
        let mut upto = None;
        if let Some(target) = self.size_target {
            if stored > target {
                upto = Some(first + (stored - target).min(RETENTION_STEP) - 1);
            } else {
                self.size_target = None;
            }
        }
        // Only when the oldest entry is too old: a look at one row.
        let oldest: i64 =
            self.conn
                .query_row("SELECT ts FROM entries WHERE seq = ?1", [first], |row| {
                    row.get(0)
                })?;
        let by_age: Option<i64> = if oldest < cutoff {
            self.conn.query_row(
                "SELECT max(seq) FROM (SELECT seq, ts FROM entries ORDER BY seq LIMIT ?1)
                 WHERE ts < ?2",
                params![RETENTION_STEP, cutoff],
                |row| row.get(0),
            )?
        } else {
            None
        };
        upto = upto.max(by_age);
        let Some(upto) = upto else {
            return Ok(0);
        };
        let tx = self.conn.transaction()?;
        // Out of the index only what is in it.
        tx.execute(
            "INSERT INTO entries_fts (entries_fts, rowid, text)
             SELECT 'delete', seq, coalesce(plain, message) FROM entries WHERE seq <= ?1",
            [upto.min(self.indexed_upto)],
        )?;
        let deleted = tx.execute("DELETE FROM entries WHERE seq <= ?1", [upto])?;
        // Counts of seconds no entry is left of.
        tx.execute(
            "DELETE FROM counts WHERE second <
             (SELECT coalesce(min(ts), ?1) FROM
               (SELECT ts FROM entries ORDER BY seq LIMIT 1)) / 1000",
            [i64::MAX],
        )?;
        tx.commit()?;
        self.stats
            .expired
            .fetch_add(deleted as u64, Ordering::Relaxed);
        Ok(deleted as u64)
    }
}

/// The parts of a [`StoreSink`] one insert changes, borrowed for a batch
/// (its statement borrows the connection).
struct Batch<'s> {
    conn: &'s Connection,
    names: &'s mut HashMap<String, i64>,
    counts: &'s mut HashMap<CountKey, i64>,
    stored_upto: &'s mut i64,
}

impl Batch<'_> {
    fn insert(&mut self, statement: &mut Statement<'_>, frame: &Frame) -> rusqlite::Result<()> {
        let entry = &frame.entry;
        let process = self.name_id(&entry.process_name)?;
        let node = match &entry.node {
            Some(node) => self.name_id(node)?,
            None => 0,
        };
        let ts = entry.timestamp.timestamp_millis();
        let plain = strip_ansi(&entry.message);
        let plain = (plain != entry.message).then_some(plain);
        let (stream, level) = (stream_number(entry.stream), level_number(entry.level));
        let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
        let inserted = statement.execute(params![
            seq,
            ts,
            process,
            node,
            stream,
            level,
            entry.pid,
            entry.continued,
            entry.dropped.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
            entry.message,
            plain,
        ])?;
        if inserted == 0 {
            // Seen before (an entry a cluster's stream delivered again).
            return Ok(());
        }
        *self.stored_upto = (*self.stored_upto).max(seq);
        *self
            .counts
            .entry((ts.div_euclid(1000), process, node, stream, level))
            .or_default() += 1;
        Ok(())
    }

    fn name_id(&mut self, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO names (name) VALUES (?1)")?
            .execute([name])?;
        let id = self
            .conn
            .prepare_cached("SELECT id FROM names WHERE name = ?1")?
            .query_row([name], |row| row.get(0))?;
        self.names.insert(name.to_owned(), id);
        Ok(id)
    }
}

fn to_io(error: rusqlite::Error) -> io::Error {
    let kind = match &error {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull => {
            io::ErrorKind::StorageFull
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error.to_string())
}

impl LogSink for StoreSink {
    fn append(&mut self, frame: &Frame) -> io::Result<()> {
        match self.append_frames(std::iter::once(frame)) {
            (_, Some(error)) => Err(error),
            (_, None) => Ok(()),
        }
    }

    fn append_all(&mut self, frames: &[Arc<Frame>]) -> (u64, Option<io::Error>) {
        self.append_frames(frames.iter().map(|frame| &**frame))
    }

    fn background(&mut self) -> bool {
        if self.in_transaction {
            return false;
        }
        // A step indexes a full step's worth, or what has waited long
        // enough (or, at start, whatever an earlier run left).
        let trailing = self.stored_upto - self.indexed_upto;
        if self.stored_upto > 0 && trailing < INDEX_STEP {
            if trailing <= 0 {
                self.trailing_since = None;
                return false;
            }
            let since = *self
                .trailing_since
                .get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < INDEX_DELAY {
                return false;
            }
        }
        self.trailing_since = None;
        match self.index_step() {
            Ok(more) => more,
            Err(error) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                tracing::warn!("store index: {error}");
                false
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(why) = self.doomed.clone() {
            self.abandon();
            return Err(io::Error::other(why));
        }
        if !self.in_transaction {
            return Ok(());
        }
        if let Err(error) = self.commit() {
            self.abandon();
            return Err(to_io(error));
        }
        // Retention failing loses nothing; it is tried again later. While
        // it deletes, a step after every batch; otherwise a look every
        // RETENTION_EVERY.
        let due = self.retention_busy
            || self
                .last_retention
                .is_none_or(|at| at.elapsed() >= RETENTION_EVERY);
        if !due {
            return Ok(());
        }
        self.last_retention = Some(std::time::Instant::now());
        let step = self.retention_step(chrono::Utc::now().timestamp_millis());
        self.retention_busy = step.as_ref().is_ok_and(|deleted| *deleted > 0);
        if let Err(error) = step {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            tracing::warn!("store retention: {error}");
        }
        Ok(())
    }
}

impl StoreSink {
    fn append_frames<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a Frame>,
    ) -> (u64, Option<io::Error>) {
        if let Some(why) = &self.doomed {
            return (0, Some(io::Error::other(why.clone())));
        }
        let (inserted, failure) = self.insert_all(frames);
        let failure = failure.map(|error| {
            if self.in_transaction && self.conn.is_autocommit() {
                // SQLite rolled the batch back: everything in it is lost.
                self.doomed = Some(error.to_string());
            }
            to_io(error)
        });
        (inserted, failure)
    }

    /// Indexes up to [`INDEX_STEP`] entries the index has not reached, in
    /// a transaction of its own; true when there may be more.
    pub fn index_step(&mut self) -> rusqlite::Result<bool> {
        let tx = self.conn.transaction()?;
        let (count, last): (i64, Option<i64>) = tx.query_row(
            "SELECT count(*), max(seq) FROM
               (SELECT seq FROM entries WHERE seq > ?1 ORDER BY seq LIMIT ?2)",
            params![self.indexed_upto, INDEX_STEP],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let Some(last) = last else {
            return Ok(false);
        };
        tx.execute(
            "INSERT INTO entries_fts (rowid, text)
             SELECT seq, coalesce(plain, message) FROM entries
             WHERE seq > ?1 AND seq <= ?2",
            params![self.indexed_upto, last],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_upto', ?1)",
            [last],
        )?;
        tx.commit()?;
        self.indexed_upto = last;
        self.stats
            .indexed_upto
            .store(u64::try_from(last).unwrap_or(0), Ordering::Relaxed);
        // The index is a third of the store: its growth is the size's too,
        // also once nothing more is written.
        self.stats.size.store(self.used_bytes()?, Ordering::Relaxed);
        Ok(count == INDEX_STEP)
    }

    /// The writer's connection (for the import).
    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite will do for `sql`, one step a line.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        statement
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("plan rows")
    }

    #[test]
    fn the_query_run_every_second_looks_up_both_ends_without_a_scan() {
        let conn = Connection::open_in_memory().expect("open");
        super::super::schema::create(&conn).expect("create");
        let steps = plan(&conn, FIRST_AND_LAST);
        assert!(
            steps
                .iter()
                .filter(|s| s.starts_with("SEARCH entries"))
                .count()
                == 2
                && !steps.iter().any(|s| s.starts_with("SCAN entries")),
            "{steps:?}"
        );
    }
}
