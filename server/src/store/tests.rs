use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::filter::EntryFilter;
use app::{Level, LogEntry, LogFilter, Stream};
use chrono::{DateTime, Utc};

use super::query::Order;
use super::*;
use crate::history::HistoryQuery;
use crate::persist::LogSink;

/// 2026-01-01T00:00:00Z, in milliseconds.
const T0: i64 = 1_767_225_600_000;

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        path: dir.join(FILE_NAME),
        max_age: Duration::from_secs(10 * 365 * 24 * 3600),
        max_size: u64::MAX,
    }
}

fn entry(seq: u64, ts_ms: i64, process: &str, level: Level, message: &str) -> LogEntry {
    LogEntry {
        message: message.into(),
        level,
        process_name: process.into(),
        timestamp: DateTime::from_timestamp_millis(ts_ms).expect("time"),
        seq,
        stream: Stream::Stdout,
        pid: Some(42),
        continued: false,
        dropped: None,
        node: None,
    }
}

/// Stores `entries` in one batch and lets the index catch up.
fn store_all(sink: &mut StoreSink, entries: impl IntoIterator<Item = LogEntry>) {
    store_unindexed(sink, entries);
    while sink.index_step().expect("index") {}
}

fn store_unindexed(sink: &mut StoreSink, entries: impl IntoIterator<Item = LogEntry>) {
    for entry in entries {
        sink.append(&Frame::new(entry)).expect("append");
    }
    sink.flush().expect("flush");
}

fn query(filter: LogFilter) -> HistoryQuery {
    HistoryQuery {
        filter: EntryFilter::new(filter).expect("valid filter"),
        limit: usize::MAX,
        ..HistoryQuery::default()
    }
}

fn search(text: &str) -> HistoryQuery {
    query(LogFilter {
        text: text.into(),
        ..LogFilter::default()
    })
}

fn seqs(store: &Store, query: &HistoryQuery, order: Order) -> Vec<u64> {
    let mut seqs = Vec::new();
    store
        .walk(query, order, |frame| {
            seqs.push(frame.entry.seq);
            seqs.len() >= query.limit
        })
        .expect("walk");
    seqs
}

#[test]
fn entries_come_back_as_they_went_in() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    let mut notice = entry(2, T0 + 1, "logdeck", Level::Warning, "dropped 5 entries");
    notice.stream = Stream::System;
    notice.dropped = Some(5);
    notice.pid = None;
    notice.node = Some("node-a".into());
    let mut continued = entry(
        3,
        T0 + 2,
        "web",
        Level::Error,
        "\u{1b}[31mred\u{1b}[0m tail",
    );
    continued.continued = true;
    continued.stream = Stream::Stderr;
    let all = vec![
        entry(1, T0, "web", Level::Info, "hello \"world\" ✓"),
        notice,
        continued,
    ];
    store_all(&mut sink, all.clone());
    let mut read = Vec::new();
    store
        .walk(&query(LogFilter::default()), Order::OldestFirst, |f| {
            read.push(f.entry.clone());
            false
        })
        .expect("walk");
    assert_eq!(read, all);
    assert_eq!(store.last_seq().expect("last"), Some(3));
    let frame = Frame::new(all[0].clone());
    let mut first = None;
    store
        .walk(&query(LogFilter::default()), Order::OldestFirst, |f| {
            first = Some(f);
            true
        })
        .expect("walk");
    assert_eq!(first.expect("first").json, frame.json);
}

#[test]
fn an_entry_seen_again_is_stored_once() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    store_all(&mut sink, [entry(1, T0, "web", Level::Info, "once only")]);
    store_all(&mut sink, [entry(1, T0, "web", Level::Info, "once only")]);
    assert_eq!(seqs(&store, &search("once only"), Order::OldestFirst), [1]);
}

#[test]
fn a_search_goes_through_the_index_and_the_filter_decides() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    store_all(
        &mut sink,
        [
            entry(1, T0, "web", Level::Info, "request Timeout after 30s"),
            entry(2, T0, "web", Level::Info, "request timeout after 31s"),
            entry(3, T0, "db", Level::Error, "disk 100% full"),
            entry(4, T0, "db", Level::Error, "disk 1000 blocks"),
            entry(
                5,
                T0,
                "web",
                Level::Info,
                "\u{1b}[1mconn\u{1b}[0mection refused",
            ),
            entry(6, T0, "web", Level::Info, "Größe überschritten"),
            entry(7, T0, "web", Level::Info, "nothing to see"),
        ],
    );
    let newest_first = |q: &HistoryQuery| seqs(&store, q, Order::NewestFirst);
    assert_eq!(newest_first(&search("timeout")), [2, 1]);
    let mut case = search("Timeout");
    case.filter = EntryFilter::new(LogFilter {
        text: "Timeout".into(),
        case_sensitive: true,
        ..LogFilter::default()
    })
    .expect("filter");
    assert_eq!(newest_first(&case), [1]);
    // `%` is a character to the search, a wildcard to LIKE.
    assert_eq!(newest_first(&search("100%")), [3]);
    // Colours do not split a word.
    assert_eq!(newest_first(&search("connection")), [5]);
    // Beyond ASCII, ignoring case: no index, the same answer.
    assert_eq!(newest_first(&search("GRÖSSE")), Vec::<u64>::new());
    assert_eq!(newest_first(&search("größe")), [6]);
    assert_eq!(newest_first(&search("ÜBERSCHRITTEN")), [6]);
    let regex = query(LogFilter {
        text: r"timeout after 3\ds".into(),
        regex: true,
        ..LogFilter::default()
    });
    assert_eq!(newest_first(&regex), [2, 1]);
    // Fields and search together.
    let mut db_full = search("full");
    db_full.filter = EntryFilter::new(LogFilter {
        text: "full".into(),
        processes: ["db".to_owned()].into(),
        min_level: Some(Level::Error),
        ..LogFilter::default()
    })
    .expect("filter");
    assert_eq!(newest_first(&db_full), [3]);
    // Short texts cannot use the index and are still found.
    assert_eq!(newest_first(&search("30")), [1]);
}

#[test]
fn entries_the_index_has_not_reached_are_found_all_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    // 3 000 indexed, then 2 000 the index has not reached.
    store_all(
        &mut sink,
        (1..=3000).map(|i| {
            entry(
                i,
                T0 + i as i64,
                "web",
                Level::Info,
                &format!("request {i} done"),
            )
        }),
    );
    store_unindexed(
        &mut sink,
        (3001..=5000).map(|i| {
            entry(
                i,
                T0 + i as i64,
                "web",
                Level::Info,
                &format!("request {i} done"),
            )
        }),
    );
    let wanted = |q: &str, order| seqs(&store, &search(q), order);
    assert_eq!(wanted("request 2999 ", Order::NewestFirst), [2999]);
    assert_eq!(wanted("request 4999 ", Order::NewestFirst), [4999]);
    // Hits on both sides of the index's reach come in order, either way.
    let mut newest = wanted("request 299", Order::NewestFirst);
    newest.truncate(11);
    assert_eq!(
        newest,
        [2999, 2998, 2997, 2996, 2995, 2994, 2993, 2992, 2991, 2990, 299]
    );
    let mut found = wanted("request 30", Order::OldestFirst);
    found.truncate(3);
    assert_eq!(found, [30, 300, 301]);
    let tail = wanted("request 300", Order::OldestFirst);
    assert_eq!(
        tail,
        [300, 3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009]
    );
    // A step at a time the index catches up, and the answers stay.
    while sink.index_step().expect("index") {}
    assert_eq!(wanted("request 300", Order::OldestFirst), tail);
    assert_eq!(indexed_upto(sink.connection()).expect("meta"), 5000);
}

#[test]
fn time_ranges_and_seq_bounds_page_through() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    // One entry a second for 100 seconds, every third from db.
    store_all(
        &mut sink,
        (1..=100).map(|i| {
            let process = if i % 3 == 0 { "db" } else { "web" };
            entry(
                i,
                T0 + (i as i64) * 1000,
                process,
                Level::Info,
                &format!("line {i}"),
            )
        }),
    );
    let mut range = query(LogFilter::default());
    range.since = DateTime::from_timestamp_millis(T0 + 10_000);
    range.until = DateTime::from_timestamp_millis(T0 + 20_000);
    assert_eq!(
        seqs(&store, &range, Order::OldestFirst),
        (10..=20).collect::<Vec<_>>()
    );
    range.before_seq = Some(15);
    range.limit = 3;
    assert_eq!(seqs(&store, &range, Order::NewestFirst), [14, 13, 12]);
    let mut db = query(LogFilter {
        processes: ["db".to_owned()].into(),
        ..LogFilter::default()
    });
    db.after_seq = Some(90);
    assert_eq!(seqs(&store, &db, Order::OldestFirst), [93, 96, 99]);
    // A range with nothing in it.
    let mut empty = query(LogFilter::default());
    empty.since = DateTime::from_timestamp_millis(T0 + 500_000);
    assert!(seqs(&store, &empty, Order::NewestFirst).is_empty());
}

#[test]
fn a_time_range_finds_the_same_entries_as_reading_them_all() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    // Gaps in the numbering (entries not stored) and several entries in
    // the same millisecond.
    let all: Vec<(u64, i64)> = (0..60u64)
        .map(|i| (1 + i * 7 + i % 3, T0 + (i as i64 / 3) * 250))
        .collect();
    store_all(
        &mut sink,
        all.iter()
            .map(|&(seq, ts)| entry(seq, ts, "web", Level::Info, "line")),
    );
    let first = all[0].1;
    let last = all[all.len() - 1].1;
    for since in (first - 300..=last + 300).step_by(125) {
        for until in (since - 250..=last + 300).step_by(250) {
            let mut range = query(LogFilter::default());
            range.since = DateTime::from_timestamp_millis(since);
            range.until = DateTime::from_timestamp_millis(until);
            range.limit = 1000;
            let expected: Vec<u64> = all
                .iter()
                .filter(|&&(_, ts)| ts >= since && ts <= until)
                .map(|&(seq, _)| seq)
                .collect();
            assert_eq!(
                seqs(&store, &range, Order::OldestFirst),
                expected,
                "since {} until {}",
                since - T0,
                until - T0
            );
        }
    }
}

#[test]
fn the_histogram_counts_levels_per_bucket() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    // 60 seconds: an INFO every second, an ERROR every tenth from db.
    let mut all = Vec::new();
    for i in 0..60u64 {
        all.push(entry(
            2 * i + 1,
            T0 + i as i64 * 1000,
            "web",
            Level::Info,
            "ok",
        ));
        if i % 10 == 0 {
            all.push(entry(
                2 * i + 2,
                T0 + i as i64 * 1000 + 500,
                "db",
                Level::Error,
                "failed badly",
            ));
        }
    }
    store_all(&mut sink, all);
    let histogram = |filter: LogFilter| {
        let mut q = query(filter);
        q.since = DateTime::from_timestamp_millis(T0);
        q.until = DateTime::from_timestamp_millis(T0 + 60_000);
        store
            .histogram(&HistogramQuery {
                query: q,
                buckets: 6,
            })
            .expect("histogram")
    };
    let all = histogram(LogFilter::default());
    assert_eq!(all.bucket_ms, 10_000);
    assert_eq!(all.buckets.len(), 6);
    for bucket in &all.buckets {
        assert_eq!(bucket.levels, [0, 10, 0, 1, 0], "{bucket:?}");
    }
    let errors = histogram(LogFilter {
        min_level: Some(Level::Warning),
        ..LogFilter::default()
    });
    assert_eq!(errors.buckets.iter().map(|b| b.total()).sum::<u64>(), 6);
    // A search counts the matching entries themselves.
    let searched = histogram(LogFilter {
        text: "badly".into(),
        ..LogFilter::default()
    });
    assert_eq!(searched.buckets[0].levels, [0, 0, 0, 1, 0]);
    assert_eq!(searched.buckets.iter().map(|b| b.total()).sum::<u64>(), 6);
    // Without a range: from the oldest entry to now.
    let open = store
        .histogram(&HistogramQuery {
            query: query(LogFilter::default()),
            buckets: 10,
        })
        .expect("histogram");
    assert_eq!(open.from.timestamp_millis(), T0);
    assert_eq!(open.buckets.iter().map(|b| b.total()).sum::<u64>(), 66);
}

#[test]
fn the_context_of_an_entry_spans_processes() {
    let dir = tempfile::tempdir().expect("dir");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    store_all(
        &mut sink,
        (1..=50).map(|i| {
            let process = if i % 2 == 0 { "db" } else { "web" };
            entry(i, T0 + i as i64, process, Level::Info, &format!("line {i}"))
        }),
    );
    let around: Vec<u64> = store
        .context(25, 3, 2, None)
        .expect("context")
        .iter()
        .map(|f| f.entry.seq)
        .collect();
    assert_eq!(around, [22, 23, 24, 25, 26, 27]);
    let start: Vec<u64> = store
        .context(1, 3, 0, None)
        .expect("context")
        .iter()
        .map(|f| f.entry.seq)
        .collect();
    assert_eq!(start, [1]);
}

#[test]
fn retention_deletes_what_is_too_old_and_keeps_the_store_under_its_size() {
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = options(dir.path());
    opts.max_age = Duration::from_secs(3600);
    let (store, mut sink) = Store::open(opts).expect("open");
    let now = Utc::now().timestamp_millis();
    // 100 entries two hours old, then 100 of ten seconds ago.
    store_all(
        &mut sink,
        (1..=200).map(|i| {
            let ts = if i <= 100 {
                now - 7_200_000
            } else {
                now - 10_000
            };
            entry(
                i,
                ts + i as i64,
                "web",
                Level::Info,
                &format!("entry number {i}"),
            )
        }),
    );
    // `flush` ran a retention step already.
    assert_eq!(
        seqs(&store, &query(LogFilter::default()), Order::OldestFirst),
        (101..=200).collect::<Vec<_>>()
    );
    assert_eq!(store.stats().expired.load(Ordering::Relaxed), 100);
    assert!(seqs(&store, &search("entry number 5"), Order::OldestFirst)
        .iter()
        .all(|s| *s > 100));
    let histogram = store
        .histogram(&HistogramQuery {
            query: query(LogFilter::default()),
            buckets: 1,
        })
        .expect("histogram");
    assert_eq!(histogram.buckets[0].total(), 100);

    // By size: a store of 2 MiB takes 40 000 entries of 100 bytes in
    // batches, and stays near its limit (retention stepping after each
    // batch, as it does once it has begun deleting).
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = options(dir.path());
    opts.max_size = 2 << 20;
    let (store, mut sink) = Store::open(opts).expect("open");
    let pad = "x".repeat(80);
    for batch in 0..40u64 {
        store_all(
            &mut sink,
            (1..=1000).map(|i| {
                let seq = batch * 1000 + i;
                entry(
                    seq,
                    now + seq as i64,
                    "web",
                    Level::Info,
                    &format!("{seq} {pad}"),
                )
            }),
        );
        while sink.retention_step(now).expect("retention") > 0 {}
    }
    let size = store.stats().size();
    assert!(size <= 3 << 20, "{size} bytes");
    assert!(store.stats().expired.load(Ordering::Relaxed) > 0);
    // The newest are kept, the oldest went.
    let newest = seqs(
        &store,
        &HistoryQuery {
            limit: 1,
            ..query(LogFilter::default())
        },
        Order::NewestFirst,
    );
    assert_eq!(newest, [40_000]);
    let oldest = seqs(
        &store,
        &HistoryQuery {
            limit: 1,
            ..query(LogFilter::default())
        },
        Order::OldestFirst,
    );
    assert!(oldest[0] > 1);
}

#[test]
fn log_files_of_earlier_versions_are_imported_once() {
    use crate::persist::files::{LogFiles, RotatingFiles};
    let dir = tempfile::tempdir().expect("dir");
    let files = LogFiles {
        dir: dir.path().join("logs"),
        max_size: 4096,
        keep: 100,
    };
    let mut writer = RotatingFiles::new(files.clone());
    for i in 1..=300u64 {
        let process = if i % 2 == 0 { "db" } else { "web" };
        writer
            .append(&Frame::new(entry(
                i,
                T0 + i as i64,
                process,
                Level::Info,
                &format!("old {i}"),
            )))
            .expect("append");
    }
    writer.append_line("web", b"{\"cut short").expect("append");
    writer.flush().expect("flush");
    let (store, mut sink) = Store::open(options(dir.path())).expect("open");
    let imported = import_files(&mut sink, &files)
        .expect("import")
        .expect("imported");
    // The line a crash cut short is no entry, and not imported.
    assert_eq!(imported.entries, 300);
    assert_eq!(
        seqs(&store, &query(LogFilter::default()), Order::OldestFirst),
        (1..=300).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&store, &search("old 299"), Order::OldestFirst), [299]);
    drop(sink);
    let (_, mut again) = Store::open(options(dir.path())).expect("open");
    assert!(import_files(&mut again, &files).expect("import").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_counts_exactly_what_it_could_not_keep_and_goes_on() {
    use crate::hub::{HubOptions, LogHub, NewEntry};
    use crate::persist::start_writer;
    let dir = tempfile::tempdir().expect("dir");
    let (store, sink) = Store::open(options(dir.path())).expect("open");
    // The database may not grow past a few more pages: a full disk.
    sink.connection()
        .pragma_update(None, "max_page_count", 250)
        .expect("limit");
    let hub = Arc::new(LogHub::new(HubOptions {
        server_name: "logdeck".into(),
        memory_entries: 100,
        memory_bytes: u64::MAX,
        lag_capacity: 1_000_000,
        first_seq: 1,
        node: None,
    }));
    let mut live = hub.subscribe();
    let mut writer =
        start_writer(hub.subscribe(), 0, Box::new(sink), "the store".into()).expect("writer");
    let mut reports = writer.reports.take().expect("reports");
    let total = 20_000u64;
    for i in 0..total {
        hub.publish(NewEntry {
            process_name: "web",
            stream: Stream::Stdout,
            pid: None,
            level: Level::Info,
            message: format!("entry {i} with some text to fill the pages of the store quickly"),
            continued: false,
        });
    }
    let stats = writer.stats.clone();
    writer.finish().await;
    // Streaming went on: the live subscriber got everything.
    let mut received = 0;
    while live.try_recv().is_ok() {
        received += 1;
    }
    assert_eq!(received, total);
    let report = reports.try_recv().expect("a report");
    assert!(report.contains("the store"), "{report}");
    assert!(report.contains("full"), "{report}");
    let stats = stats.snapshot();
    assert!(stats.lost > 0 && stats.errors > 0, "{stats:?}");
    // Exact: what is stored and what was counted lost make up everything.
    let stored = seqs(&store, &query(LogFilter::default()), Order::OldestFirst);
    assert_eq!(stored.len() as u64, stats.written);
    assert_eq!(stats.written + stats.lost, total);
    assert!(stats.written > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_entries_and_then_silence_are_indexed_all_the_same() {
    use crate::hub::{HubOptions, LogHub, NewEntry};
    use crate::persist::start_writer;
    let dir = tempfile::tempdir().expect("dir");
    let (store, sink) = Store::open(options(dir.path())).expect("open");
    let hub = Arc::new(LogHub::new(HubOptions {
        server_name: "logdeck".into(),
        memory_entries: 100,
        memory_bytes: u64::MAX,
        lag_capacity: 1000,
        first_seq: 1,
        node: None,
    }));
    let writer =
        start_writer(hub.subscribe(), 0, Box::new(sink), "the store".into()).expect("writer");
    for i in 0..10 {
        hub.publish(NewEntry {
            process_name: "web",
            stream: Stream::Stdout,
            pid: None,
            level: Level::Info,
            message: format!("quiet line {i}"),
            continued: false,
        });
    }
    // Far fewer than a step's worth, and nothing after them: the index
    // takes them once they have waited a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.stats().indexed_upto.load(Ordering::Relaxed) < 10 {
        assert!(Instant::now() < deadline, "never indexed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.finish().await;
}
