//! JSON Lines files of earlier versions, read into the store once: the
//! first start with a store over a `log_dir` that has files imports them
//! (oldest first, merged by `seq`) and notes it, so later starts do not.

use std::io;

use rusqlite::OptionalExtension;

use super::StoreSink;
use crate::hub::Frame;
use crate::persist::files::{LogFiles, MergedLines};
use crate::persist::LogSink;

/// Entries per transaction while importing.
const IMPORT_BATCH: usize = 4096;
/// The `meta` key noting that the files were imported.
const IMPORTED: &str = "imported_files";

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Entries added to the store.
    pub entries: u64,
    /// Lines with a `seq` that were not entries all the same (lines
    /// without one, cut short by a crash say, are passed over unread).
    pub skipped: u64,
}

/// Imports `files` into the store unless that was done before; `None`
/// when it was.
pub fn import_files(sink: &mut StoreSink, files: &LogFiles) -> io::Result<Option<Imported>> {
    let done: Option<String> = sink
        .connection()
        .query_row("SELECT value FROM meta WHERE key = ?1", [IMPORTED], |row| {
            row.get(0)
        })
        .optional()
        .map_err(io::Error::other)?;
    if done.is_some() {
        return Ok(None);
    }
    let mut imported = Imported::default();
    let lines = MergedLines::new(files, &files.processes(), u64::MAX, false)?;
    let mut pending = 0;
    for line in lines {
        let (_, line) = line?;
        match serde_json::from_slice(&line) {
            Ok(entry) => {
                sink.append(&Frame::new(entry))?;
                imported.entries += 1;
                pending += 1;
                if pending == IMPORT_BATCH {
                    sink.flush()?;
                    pending = 0;
                }
            }
            Err(_) => imported.skipped += 1,
        }
    }
    sink.flush()?;
    sink.connection()
        .execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            rusqlite::params![IMPORTED, chrono::Utc::now().to_rfc3339()],
        )
        .map_err(io::Error::other)?;
    Ok(Some(imported))
}
