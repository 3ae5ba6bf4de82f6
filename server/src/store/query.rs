//! Reading the store: pages of entries (newest first), runs of entries in
//! order (for exports), the lines around one entry, and the histogram.
//!
//! Every query narrows in SQL what it can (the `seq` and time range, the
//! process, level, stream and node, a text search through the trigram
//! index) and then checks each row with the query's own filter, so what
//! the store answers is exactly what the live stream would have shown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use app::protocol::{Histogram, HistogramBucket};
use app::LogEntry;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use super::schema::{level_number, level_of, stream_number, stream_of};
use super::search::{match_expression, rarest, trigrams};
use super::Store;
use crate::history::HistoryQuery;
use crate::hub::Frame;

/// Which way a query walks the entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// `GET /api/logs/histogram`'s question.
#[derive(Clone, Debug)]
pub struct HistogramQuery {
    /// The filters (and search) entries must pass; its `since`/`until` are
    /// the range (defaults: the oldest entry stored, and now).
    pub query: HistoryQuery,
    pub buckets: usize,
}

/// The histogram's resolution: counts are kept per second.
const SECOND_MS: i64 = 1000;

/// SQL for a query: the FROM clause, the conditions and their values.
struct Plan {
    from: &'static str,
    /// The `seq` column to order and bound by (the index's rowid when the
    /// search goes through it).
    seq: &'static str,
    conditions: Vec<String>,
    values: Vec<Value>,
}

/// Which entries a plan reads.
#[derive(Clone, Copy, Debug)]
enum Part {
    /// All of them, in order.
    All,
    /// Those the index holds (up to this `seq`), through it.
    Indexed(i64),
    /// Those after it, read in order.
    Unindexed(i64),
}

impl Plan {
    /// The plans that answer `query`, newest entries first: a text search
    /// the index can narrow reads what it has not reached yet in order,
    /// then the rest through it.
    fn all(conn: &Connection, query: &HistoryQuery, order: Order) -> rusqlite::Result<Vec<Plan>> {
        let Some(range) = seq_range(conn, query)? else {
            return Ok(Vec::new());
        };
        let mut plans = match index_query(conn, query.filter.filter())? {
            Some(pattern) => {
                let indexed = super::indexed_upto(conn)?;
                vec![
                    Plan::new(query, range, Part::Unindexed(indexed), None),
                    Plan::new(query, range, Part::Indexed(indexed), Some(pattern)),
                ]
            }
            None => vec![Plan::new(query, range, Part::All, None)],
        };
        if order == Order::OldestFirst {
            plans.reverse();
        }
        Ok(plans)
    }

    fn new(
        query: &HistoryQuery,
        (low, high): (Option<i64>, Option<i64>),
        part: Part,
        pattern: Option<String>,
    ) -> Plan {
        let filter = query.filter.filter();
        let mut plan = match (part, pattern) {
            (Part::Indexed(upto), Some(pattern)) => Plan {
                from: "entries_fts f CROSS JOIN entries e ON e.seq = f.rowid",
                seq: "f.rowid",
                conditions: vec!["f.entries_fts MATCH ?".into(), "f.rowid <= ?".into()],
                values: vec![Value::Text(pattern), Value::Integer(upto)],
            },
            (Part::Unindexed(upto), _) => Plan {
                from: "entries e",
                seq: "e.seq",
                conditions: vec!["e.seq > ?".into()],
                values: vec![Value::Integer(upto)],
            },
            _ => Plan {
                from: "entries e",
                seq: "e.seq",
                conditions: Vec::new(),
                values: Vec::new(),
            },
        };
        if let Some(low) = low {
            plan.condition(format!("{} >= ?", plan.seq), Value::Integer(low));
        }
        if let Some(high) = high {
            plan.condition(format!("{} <= ?", plan.seq), Value::Integer(high));
        }
        if let Some(since) = query.since {
            plan.condition("e.ts >= ?".into(), Value::Integer(since.timestamp_millis()));
        }
        if let Some(until) = query.until {
            plan.condition("e.ts <= ?".into(), Value::Integer(until.timestamp_millis()));
        }
        plan.fields(filter);
        plan
    }

    /// The level, stream, process and node conditions of `filter`, on
    /// the columns of `e` (the entries, or the counts).
    fn fields(&mut self, filter: &app::LogFilter) {
        if let Some(level) = filter.min_level {
            self.condition("e.level >= ?".into(), Value::Integer(level_number(level)));
        }
        if !filter.streams.is_empty() {
            let numbers = filter
                .streams
                .iter()
                .map(|s| Value::Integer(stream_number(*s)));
            self.one_of("e.stream", numbers.collect());
        }
        if !filter.processes.is_empty() {
            self.named("e.process", &filter.processes);
        }
        if !filter.nodes.is_empty() {
            self.named("e.node", &filter.nodes);
        }
    }

    fn condition(&mut self, sql: String, value: Value) {
        self.conditions.push(sql);
        self.values.push(value);
    }

    fn one_of(&mut self, column: &str, values: Vec<Value>) {
        let marks = vec!["?"; values.len()].join(", ");
        self.conditions.push(format!("{column} IN ({marks})"));
        self.values.extend(values);
    }

    fn named<'a>(&mut self, column: &str, names: impl IntoIterator<Item = &'a String>) {
        let values: Vec<Value> = names.into_iter().map(|n| Value::Text(n.clone())).collect();
        let marks = vec!["?"; values.len()].join(", ");
        self.conditions.push(format!(
            "{column} IN (SELECT id FROM names WHERE name IN ({marks}))"
        ));
        self.values.extend(values);
    }

    fn sql(&self, order: Order) -> String {
        let mut sql = format!(
            "SELECT e.seq, e.ts, e.process, e.node, e.stream, e.level, e.pid, e.continued, \
             e.dropped, e.message FROM {}",
            self.from
        );
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        sql.push_str(&format!(
            " ORDER BY {} {}",
            self.seq,
            match order {
                Order::NewestFirst => "DESC",
                Order::OldestFirst => "ASC",
            }
        ));
        sql
    }
}

/// The `seq` bounds of a query: its own, narrowed by its time range
/// through the timestamp index (entries are numbered in the order they
/// arrive, so the first entry at or after `since` starts the range).
/// `None` when nothing can match.
fn seq_range(
    conn: &Connection,
    query: &HistoryQuery,
) -> rusqlite::Result<Option<(Option<i64>, Option<i64>)>> {
    let as_i64 = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
    let mut low = query.after_seq.map(|s| as_i64(s).saturating_add(1));
    let mut high = query.before_seq.map(|s| as_i64(s).saturating_sub(1));
    if let Some(since) = query.since {
        let since = since.timestamp_millis();
        let Some(first) = first_where(conn, |ts| ts >= since)? else {
            return Ok(None);
        };
        low = Some(low.map_or(first, |l| l.max(first)));
    }
    if let Some(until) = query.until {
        let until = until.timestamp_millis();
        // The entry before the first one after `until`.
        let after = first_where(conn, |ts| ts > until)?;
        let last: Option<i64> = optional(conn.query_row(
            "SELECT seq FROM entries WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
            [after.unwrap_or(i64::MAX)],
            |row| row.get(0),
        ))?;
        let Some(last) = last else {
            return Ok(None);
        };
        high = Some(high.map_or(last, |h| h.min(last)));
    }
    if matches!((low, high), (Some(l), Some(h)) if l > h) {
        return Ok(None);
    }
    Ok(Some((low, high)))
}

/// The first entry (by `seq`) whose timestamp passes `after`, found by
/// halving the range of `seq`s: entries are numbered in the order they
/// arrive, so their timestamps grow with `seq`, and a few dozen lookups
/// by key replace an index of the timestamps (a tenth of the store's
/// size).
fn first_where(conn: &Connection, after: impl Fn(i64) -> bool) -> rusqlite::Result<Option<i64>> {
    let mut at =
        conn.prepare_cached("SELECT seq, ts FROM entries WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    let mut first_from = |seq: i64| -> rusqlite::Result<Option<(i64, i64)>> {
        optional(at.query_row([seq], |row| Ok((row.get(0)?, row.get(1)?))))
    };
    // Entries before `low` do not pass; from `high` on, none is left to
    // look at (the answer is the first entry at or after `low`).
    let Some((mut low, _)) = first_from(i64::MIN)? else {
        return Ok(None);
    };
    let mut high: i64 = conn.query_row("SELECT max(seq) + 1 FROM entries", [], |row| row.get(0))?;
    while low < high {
        let middle = low + (high - low) / 2;
        match first_from(middle)? {
            Some((seq, ts)) if seq < high => {
                if after(ts) {
                    high = seq;
                } else {
                    low = seq + 1;
                }
            }
            // No entry in `middle..high`.
            _ => high = middle,
        }
    }
    Ok(first_from(low)?
        .filter(|(_, ts)| after(*ts))
        .map(|(seq, _)| seq))
}

/// The index query for a search, when the index can narrow it: the
/// rarest of its trigrams in a sample of the messages, taken at even
/// steps through the whole store (the newest alone can mislead: a
/// trigram none of them has may be in half of the older ones), a few
/// neighbours at each place (neighbours share what changes slowly, a
/// counter's or a clock's leading digits, which a long run of them would
/// count as common).
fn index_query(conn: &Connection, filter: &app::LogFilter) -> rusqlite::Result<Option<String>> {
    /// Places the sample is read at, and messages read at each (a
    /// millisecond or two in all).
    const PLACES: i64 = 256;
    const EACH: i64 = 8;
    let all = trigrams(filter);
    if all.is_empty() {
        return Ok(None);
    }
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row(super::sink::FIRST_AND_LAST, [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let mut sample = Vec::new();
    if let (Some(first), Some(last)) = (first, last) {
        let mut statement = conn.prepare_cached(
            "SELECT coalesce(plain, message) FROM entries WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )?;
        for place in 0..PLACES {
            let from = first + (last - first) / PLACES * place;
            let rows = statement.query_map([from, EACH], |row| row.get::<_, String>(0))?;
            for text in rows {
                sample.push(text?);
            }
        }
    }
    Ok(Some(match_expression(&rarest(&all, &sample))))
}

fn optional<T>(result: rusqlite::Result<T>) -> rusqlite::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Process and node ids to names.
fn names(conn: &Connection) -> rusqlite::Result<HashMap<i64, String>> {
    let mut statement = conn.prepare_cached("SELECT id, name FROM names")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

fn entry(row: &rusqlite::Row<'_>, names: &HashMap<i64, String>) -> rusqlite::Result<LogEntry> {
    let ts: i64 = row.get(1)?;
    let process: i64 = row.get(2)?;
    let node: i64 = row.get(3)?;
    Ok(LogEntry {
        seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
        timestamp: DateTime::from_timestamp_millis(ts).unwrap_or_default(),
        process_name: names.get(&process).cloned().unwrap_or_default(),
        node: names.get(&node).cloned(),
        stream: stream_of(row.get(4)?),
        level: level_of(row.get(5)?),
        pid: row.get(6)?,
        continued: row.get(7)?,
        dropped: row
            .get::<_, Option<i64>>(8)?
            .and_then(|d| u64::try_from(d).ok()),
        message: row.get(9)?,
    })
}

impl Store {
    /// Walks the entries `query` matches in `order`, handing each to
    /// `take` until it returns true (enough).
    pub fn walk(
        &self,
        query: &HistoryQuery,
        order: Order,
        mut take: impl FnMut(Arc<Frame>) -> bool,
    ) -> rusqlite::Result<()> {
        self.read(query.deadline, |conn| {
            let names = names(conn)?;
            for plan in Plan::all(conn, query, order)? {
                let mut statement = conn.prepare(&plan.sql(order))?;
                let mut rows = statement.query(params_from_iter(plan.values.iter()))?;
                while let Some(row) = rows.next()? {
                    let entry = entry(row, &names)?;
                    if query.matches(&entry) && take(Arc::new(Frame::new(entry))) {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
    }

    /// Up to `before` entries before `seq`, the entry itself and up to
    /// `after` entries after it, oldest first, whatever their process.
    pub fn context(
        &self,
        seq: u64,
        before: usize,
        after: usize,
        deadline: Option<Instant>,
    ) -> rusqlite::Result<Vec<Arc<Frame>>> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.read(deadline, |conn| {
            let names = names(conn)?;
            let columns = "SELECT seq, ts, process, node, stream, level, pid, continued, dropped, \
                           message FROM entries";
            let read = |sql: String, limit: usize| -> rusqlite::Result<Vec<Arc<Frame>>> {
                let mut statement = conn.prepare(&sql)?;
                let rows = statement.query_map(
                    rusqlite::params![seq, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |row| entry(row, &names),
                )?;
                rows.map(|e| e.map(|e| Arc::new(Frame::new(e)))).collect()
            };
            let mut frames = read(
                format!("{columns} WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"),
                before,
            )?;
            frames.reverse();
            frames.extend(read(
                format!("{columns} WHERE seq >= ?1 ORDER BY seq LIMIT ?2"),
                after.saturating_add(1),
            )?);
            Ok(frames)
        })
    }

    /// Entries per time bucket and level over the query's range.
    pub fn histogram(&self, question: &HistogramQuery) -> rusqlite::Result<Histogram> {
        let query = &question.query;
        let (from, to) = self.read(query.deadline, |conn| {
            // The oldest second anything was counted in (the counts are
            // keyed by it first).
            let oldest: Option<i64> =
                conn.query_row("SELECT min(second) * 1000 FROM counts", [], |row| {
                    row.get(0)
                })?;
            let now = Utc::now();
            let from = query
                .since
                .or_else(|| oldest.and_then(DateTime::from_timestamp_millis))
                .unwrap_or(now);
            Ok((from, query.until.unwrap_or(now).max(from)))
        })?;
        let from_ms = from.timestamp_millis();
        let span = (to.timestamp_millis() - from_ms).max(1);
        let buckets = i64::try_from(question.buckets.max(1)).unwrap_or(1);
        // Whole seconds: the counts are kept per second.
        let width = ((span + buckets - 1) / buckets).max(1);
        let width = (width + SECOND_MS - 1) / SECOND_MS * SECOND_MS;
        let count = usize::try_from((span + width - 1) / width)
            .unwrap_or(1)
            .max(1);
        let mut levels = vec![[0u64; 5]; count];
        let mut add = |ts_ms: i64, level: i64, n: u64| {
            let Ok(bucket) = usize::try_from((ts_ms - from_ms).div_euclid(width)) else {
                return;
            };
            let Ok(level) = usize::try_from(level) else {
                return;
            };
            if let Some(slot) = levels.get_mut(bucket).and_then(|b| b.get_mut(level)) {
                *slot += n;
            }
        };
        if query.filter.search().is_some() {
            // A text search: count the matching entries themselves.
            let mut bounded = query.clone();
            bounded.since = Some(from);
            bounded.until = Some(to);
            self.walk(&bounded, Order::OldestFirst, |frame| {
                add(
                    frame.entry.timestamp.timestamp_millis(),
                    level_number(frame.entry.level),
                    1,
                );
                false
            })?;
        } else {
            self.read(query.deadline, |conn| {
                let mut plan = Plan {
                    from: "counts e",
                    seq: "e.second",
                    conditions: vec!["e.second >= ?".into(), "e.second <= ?".into()],
                    values: vec![
                        Value::Integer(from_ms.div_euclid(SECOND_MS)),
                        Value::Integer(to.timestamp_millis().div_euclid(SECOND_MS)),
                    ],
                };
                plan.fields(query.filter.filter());
                let sql = format!(
                    "SELECT e.second, e.level, sum(e.n) FROM counts e WHERE {} \
                     GROUP BY e.second, e.level",
                    plan.conditions.join(" AND ")
                );
                let mut statement = conn.prepare(&sql)?;
                let mut rows = statement.query(params_from_iter(plan.values.iter()))?;
                while let Some(row) = rows.next()? {
                    let second: i64 = row.get(0)?;
                    let n: i64 = row.get(2)?;
                    add(
                        (second * SECOND_MS).max(from_ms),
                        row.get(1)?,
                        u64::try_from(n).unwrap_or(0),
                    );
                }
                Ok(())
            })?;
        }
        let buckets = levels
            .into_iter()
            .enumerate()
            .map(|(i, levels)| HistogramBucket {
                start: DateTime::from_timestamp_millis(from_ms + width * i as i64)
                    .unwrap_or_default(),
                levels,
            })
            .collect();
        Ok(Histogram {
            from,
            to,
            bucket_ms: u64::try_from(width).unwrap_or(0),
            buckets,
        })
    }
}
