//! The tables. Levels and streams are stored as their place in
//! [`Level::ALL`] and [`Stream::ALL`] (so `level >= 2` is "WARNING and
//! above"); process and node names as ids into `names`. Timestamps are
//! milliseconds since the Unix epoch.

use app::{Level, Stream};
use rusqlite::Connection;

/// Bumped when the tables change shape; a database of another version is
/// refused rather than misread.
pub const VERSION: i64 = 1;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value ANY
) STRICT;
CREATE TABLE IF NOT EXISTS names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    process INTEGER NOT NULL,
    node INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    level INTEGER NOT NULL,
    pid INTEGER,
    continued INTEGER NOT NULL,
    dropped INTEGER,
    message TEXT NOT NULL,
    plain TEXT
) STRICT;
-- Stores before this one kept an index of the timestamps; a time range
-- is now found by halving the range of seq numbers.
DROP INDEX IF EXISTS entries_ts;
CREATE VIEW IF NOT EXISTS searchable (seq, text) AS
    SELECT seq, coalesce(plain, message) FROM entries;
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5 (
    text,
    content = 'searchable',
    content_rowid = 'seq',
    tokenize = 'trigram',
    detail = 'none',
    columnsize = 0
);
CREATE TABLE IF NOT EXISTS counts (
    second INTEGER NOT NULL,
    process INTEGER NOT NULL,
    node INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    level INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (second, process, node, stream, level)
) STRICT, WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS entries_text AS
    SELECT e.seq,
           strftime('%Y-%m-%dT%H:%M:%fZ', e.ts / 1000.0, 'unixepoch') AS timestamp,
           p.name AS process,
           n.name AS node,
           CASE e.stream WHEN 0 THEN 'stdout' WHEN 1 THEN 'stderr' ELSE 'system' END AS stream,
           CASE e.level WHEN 0 THEN 'DEBUG' WHEN 1 THEN 'INFO' WHEN 2 THEN 'WARNING'
                        WHEN 3 THEN 'ERROR' ELSE 'CRITICAL' END AS level,
           e.pid,
           e.message
    FROM entries e
    JOIN names p ON p.id = e.process
    LEFT JOIN names n ON n.id = e.node;
";

/// Creates what is missing and sets the writer's connection up: WAL (so
/// readers and the writer never wait for each other), `synchronous =
/// NORMAL` (a crash loses at most the transactions since the last
/// checkpoint of the WAL's pages to disk, never the database's integrity).
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(TABLES)?;
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'version'", [], |row| {
            row.get(0)
        })
        .ok();
    match version {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('version', ?1)",
                [VERSION],
            )?;
            // Merge the index's segments 16 at a time rather than 4: it
            // indexes twice as fast (measured), and a search reads a few
            // more segments.
            conn.execute(
                "INSERT INTO entries_fts (entries_fts, rank) VALUES ('automerge', 16)",
                [],
            )?;
        }
        Some(VERSION) => {}
        Some(other) => {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                Some(format!(
                    "the database is of version {other}, this Logdeck reads version {VERSION}"
                )),
            ))
        }
    }
    Ok(())
}

/// A level as stored.
pub fn level_number(level: Level) -> i64 {
    level.index() as i64
}

pub fn level_of(number: i64) -> Level {
    usize::try_from(number)
        .ok()
        .and_then(|n| Level::ALL.get(n).copied())
        .unwrap_or(Level::Info)
}

/// A stream as stored.
pub fn stream_number(stream: Stream) -> i64 {
    stream.index() as i64
}

pub fn stream_of(number: i64) -> Stream {
    usize::try_from(number)
        .ok()
        .and_then(|n| Stream::ALL.get(n).copied())
        .unwrap_or(Stream::Stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_the_order_and_read_back() {
        for (i, level) in Level::ALL.iter().enumerate() {
            assert_eq!(level_number(*level), i as i64);
            assert_eq!(level_of(i as i64), *level);
        }
        for stream in Stream::ALL {
            assert_eq!(stream_of(stream_number(stream)), stream);
        }
        assert!(level_number(Level::Error) > level_number(Level::Warning));
    }

    #[test]
    fn a_database_of_another_version_is_refused() {
        let conn = Connection::open_in_memory().expect("open");
        create(&conn).expect("create");
        create(&conn).expect("create again");
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'version'", [])
            .expect("update");
        let error = create(&conn).expect_err("refused").to_string();
        assert!(error.contains("version 99"), "{error}");
    }
}
