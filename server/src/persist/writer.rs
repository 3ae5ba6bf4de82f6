//! The writer: a dedicated thread appending every published entry to the
//! log files in batches. It only consumes the hub's entries; what goes
//! wrong it reports on a channel of its own, which the server turns into
//! log entries.
//!
//! The thread runs at the lowest priority, so streaming comes first; when
//! that keeps it off the CPU for a while, what waits for it is moved out of
//! the hub's way (see `inbox`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use super::inbox::Inbox;
use super::{LogSink, WriterStats};
use crate::hub::{Frame, Subscription};

/// Entries written between two flushes, at most...
const BATCH: usize = 4096;
/// ...and their size (by `Frame::size`): a batch of long lines is written
/// sooner rather than held in memory.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// How often a waiting writer asks the sink for its own work.
const BACKGROUND_TICK: Duration = Duration::from_secs(1);
/// How often a writer's backlog is looked at (at 1,000,000 lines/s, the
/// hub's default lag window holds 16 ms).
const RESCUE_TICK: Duration = Duration::from_millis(4);
/// How long a batch waits for more entries before it is written.
const LINGER: Duration = Duration::from_millis(50);
/// Write errors are reported at most this often.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Reports waiting to be published; more are dropped (they are already
/// one per interval, so this only fills if nobody reads them).
const REPORT_QUEUE: usize = 16;

/// The running writer.
#[derive(Debug)]
pub struct WriterHandle {
    finish: CancellationToken,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<WriterStats>,
    /// Why entries could not be written, at most one message per
    /// interval, for the server to publish.
    pub reports: Option<mpsc::Receiver<String>>,
}

impl WriterHandle {
    /// Writes everything published so far, flushes, and stops.
    pub async fn finish(mut self) {
        self.finish.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Starts the writer on its own thread, appending every entry `entries`
/// receives (subscribe it before anything is published that must be
/// written) to `sink`; `describe` names the destination in reports. Up to
/// `overflow` entries may wait for a writer that falls behind besides the
/// hub's lag window: keep that, the window and a batch within what the hub
/// keeps in memory, so the entries the writer drops are already shared.
pub fn start_writer(
    entries: Subscription,
    overflow: usize,
    sink: Box<dyn LogSink>,
    describe: String,
) -> std::io::Result<WriterHandle> {
    let finish = CancellationToken::new();
    let stats = Arc::new(WriterStats::default());
    let runtime = tokio::runtime::Handle::current();
    let (report_tx, reports) = mpsc::channel(REPORT_QUEUE);
    let mut writer = Writer {
        sink,
        reports: report_tx,
        stats: stats.clone(),
        describe,
        last_report: None,
        unreported: 0,
    };
    let inbox = Arc::new(Mutex::new(Inbox::new(entries, overflow)));
    let token = finish.clone();
    let reading = inbox.clone();
    let thread = std::thread::Builder::new()
        .name("logdeck-writer".into())
        .spawn(move || {
            yield_to_the_live_path();
            runtime.block_on(writer.run(reading, token));
        })?;
    if overflow > 0 {
        tokio::spawn(rescue(inbox, finish.clone()));
    }
    Ok(WriterHandle {
        finish,
        thread: Some(thread),
        stats,
        reports: Some(reports),
    })
}

/// How much nicer than the server the writer runs: while the CPU is busy
/// the threads that stream to clients come first and the writer takes what
/// is left (it catches up from its overflow, or counts what it missed); with a
/// core to spare it runs as fast as ever.
pub const WRITER_NICENESS: i32 = 19;

/// The overflow a writer reading a hub that keeps `memory_entries` in
/// memory and lets subscribers lag `client_queue` may have (see
/// [`start_writer`]): with the lag window and a batch, half of what the
/// hub keeps, so the writer is never the last to hold an entry even while
/// it is written (freeing entries the threads that publish allocated costs
/// them more than the writer's whole share).
pub fn writer_overflow(memory_entries: usize, client_queue: usize) -> usize {
    (memory_entries / 2).saturating_sub(client_queue + BATCH)
}

/// Every tick, moves what waits for a writer that fell behind into its
/// overflow (unless the writer is taking entries itself right now).
async fn rescue(inbox: Arc<Mutex<Inbox>>, finish: CancellationToken) {
    let mut tick = tokio::time::interval(RESCUE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = finish.cancelled() => return,
        }
        if let Ok(mut inbox) = inbox.try_lock() {
            inbox.rescue();
        }
    }
}

/// Raises the calling thread's nice value by [`WRITER_NICENESS`] (up to
/// 19; Linux's nice values are per thread). If that is refused, the thread
/// keeps the server's priority.
#[allow(unsafe_code)]
fn yield_to_the_live_path() {
    use nix::errno::Errno;
    use nix::libc;
    // SAFETY: gettid has no preconditions; getpriority and setpriority
    // with PRIO_PROCESS and this thread's id read and change only this
    // thread's nice value.
    let outcome = unsafe {
        let tid = libc::gettid() as libc::id_t;
        // -1 is also a nice value: errno tells them apart.
        Errno::clear();
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        if current == -1 && Errno::last_raw() != 0 {
            Err(Errno::last())
        } else {
            let nicer = (current + WRITER_NICENESS).min(19);
            Errno::result(libc::setpriority(libc::PRIO_PROCESS, tid, nicer)).map(drop)
        }
    };
    if let Err(error) = outcome {
        tracing::debug!("the writer keeps the server's priority: {error}");
    }
}

/// Entries waiting to be written together.
#[derive(Default)]
struct Batch {
    frames: Vec<Arc<Frame>>,
    bytes: u64,
}

impl Batch {
    fn push(&mut self, frame: Arc<Frame>) {
        self.bytes += frame.size();
        self.frames.push(frame);
    }

    fn full(&self) -> bool {
        self.frames.len() >= BATCH || self.bytes >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }
}

struct Writer {
    sink: Box<dyn LogSink>,
    reports: mpsc::Sender<String>,
    stats: Arc<WriterStats>,
    /// Where entries go, for error messages.
    describe: String,
    last_report: Option<Instant>,
    /// Entries lost since the last report.
    unreported: u64,
}

impl Writer {
    async fn run(&mut self, inbox: Arc<Mutex<Inbox>>, finish: CancellationToken) {
        let mut batch = Batch::default();
        // The sink may have work left from before (an index behind).
        let mut background = true;
        loop {
            // The sink's own work, while no entry waits: entries come
            // first.
            while background && !finish.is_cancelled() && inbox.lock().await.is_empty() {
                background = self.sink.background();
            }
            // Entries are taken holding the inbox (nothing needs moving
            // while the writer takes them itself), and written without.
            let mut entries = inbox.lock().await;
            // Waiting, the sink is asked again now and then (work it put
            // off, such as an index trailing by a few entries).
            let first = tokio::select! {
                first = entries.next() => first,
                _ = finish.cancelled() => break,
                _ = tokio::time::sleep(BACKGROUND_TICK) => {
                    background = true;
                    continue;
                }
            };
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut open = match first {
                Ok(frame) => {
                    batch.push(frame);
                    true
                }
                Err(RecvError::Lagged(missed)) => {
                    self.lost(missed, "the writer fell behind");
                    true
                }
                Err(RecvError::Closed) => false,
            } && self.take_waiting(&mut entries, &mut batch);
            drop(entries);
            // More of the batch, for up to LINGER: a few large
            // transactions cost far less than many small ones. The writer
            // sleeps through it rather than waking for every entry, which
            // would cost the threads that publish a wake-up each.
            if open && !batch.full() {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = finish.cancelled() => {}
                }
                open = self.take_waiting(&mut *inbox.lock().await, &mut batch);
            }
            self.write(&mut batch);
            background = true;
            if !open {
                break;
            }
        }
        // Shutting down: everything published so far goes to disk.
        let mut entries = inbox.lock().await;
        while self.take_waiting(&mut entries, &mut batch) && batch.full() {
            self.write(&mut batch);
        }
        self.write(&mut batch);
    }

    /// Adds what waits to `batch` until it is full; false once the hub is
    /// gone.
    fn take_waiting(&mut self, entries: &mut Inbox, batch: &mut Batch) -> bool {
        while !batch.full() {
            match entries.try_next() {
                Ok(frame) => batch.push(frame),
                Err(TryRecvError::Lagged(missed)) => self.lost(missed, "the writer fell behind"),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Closed) => return false,
            }
        }
        true
    }

    fn write(&mut self, batch: &mut Batch) {
        if batch.frames.is_empty() {
            return;
        }
        let (mut written, mut failure) = self.sink.append_all(&batch.frames);
        if let Err(e) = self.sink.flush() {
            // What was buffered may be gone too; count the batch as lost.
            written = 0;
            failure = Some(e);
        }
        let total = batch.frames.len() as u64;
        batch.clear();
        self.stats.written.fetch_add(written, Ordering::Relaxed);
        if let Some(error) = failure {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            self.lost(total - written, &error.to_string());
        }
    }

    /// Counts lost entries and, at most once per interval, reports them.
    fn lost(&mut self, count: u64, why: &str) {
        self.stats.lost.fetch_add(count, Ordering::Relaxed);
        self.unreported += count;
        let due = self
            .last_report
            .is_none_or(|last| last.elapsed() >= REPORT_INTERVAL);
        if !due || self.unreported == 0 {
            return;
        }
        self.last_report = Some(Instant::now());
        let total = self.stats.lost.load(Ordering::Relaxed);
        // A full queue means nobody publishes the reports; the counts
        // stay in the stats either way.
        let _ = self.reports.try_send(format!(
            "cannot write {}: {why}; {} entries not written since the last report ({total} in all); streaming goes on",
            self.describe, self.unreported
        ));
        self.unreported = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{LogHub, NewEntry};
    use app::{Level, Stream};
    use std::io;
    use std::sync::Mutex;

    /// Fails every write while `failing` is set, as a full disk would.
    #[derive(Clone, Default)]
    struct FlakySink {
        failing: Arc<std::sync::atomic::AtomicBool>,
        lines: Arc<Mutex<Vec<String>>>,
    }

    impl LogSink for FlakySink {
        fn append(&mut self, frame: &Frame) -> io::Result<()> {
            let (process, line) = (&frame.entry.process_name, &frame.json);
            if self.failing.load(Ordering::SeqCst) {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            self.lines
                .lock()
                .expect("lock")
                .push(format!("{process}: {}", String::from_utf8_lossy(line)));
            Ok(())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn publish(hub: &LogHub, message: &str) {
        hub.publish(NewEntry {
            process_name: "web",
            stream: Stream::Stdout,
            pid: None,
            level: Level::Info,
            message: message.to_owned(),
            continued: false,
        });
    }

    /// This thread's nice value, as Linux reports it.
    fn own_niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        crate::supervisor::StatFields::parse(&stat)
            .and_then(|fields| fields.get(19))
            .expect("nice")
            .parse()
            .expect("a number")
    }

    #[test]
    fn the_writer_thread_yields_the_cpu_to_streaming() {
        let niceness = std::thread::spawn(|| {
            let before = own_niceness();
            yield_to_the_live_path();
            (before, own_niceness())
        })
        .join()
        .expect("thread");
        let (before, after) = niceness;
        assert_eq!(after, (before + WRITER_NICENESS).min(19));
        // Only that thread: this one keeps its priority.
        assert_eq!(own_niceness(), before);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_is_reported_once_and_streaming_goes_on() {
        let hub = Arc::new(crate::hub::test_hub(1000, 1000));
        let mut live = hub.subscribe();
        let sink = FlakySink::default();
        sink.failing.store(true, Ordering::SeqCst);
        let mut writer = start_writer(
            hub.subscribe(),
            0,
            Box::new(sink.clone()),
            "log files to /logs".into(),
        )
        .expect("writer");
        let mut reports = writer.reports.take().expect("reports");
        for i in 0..5 {
            publish(&hub, &format!("lost {i}"));
        }
        let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
            .await
            .expect("report in time")
            .expect("report");
        assert!(report.contains("No space left on device"), "{report}");
        assert!(report.contains("streaming goes on"), "{report}");
        assert!(report.contains("entries not written"), "{report}");
        // Streaming went on: every entry reached the live subscriber.
        for i in 0..5 {
            let frame = live.recv().await.expect("frame");
            assert_eq!(frame.entry.message, format!("lost {i}"));
        }

        sink.failing.store(false, Ordering::SeqCst);
        publish(&hub, "kept");
        writer.finish().await;
        let lines = sink.lines.lock().expect("lock").clone();
        assert!(lines.iter().any(|l| l.contains("\"kept\"")), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("lost 0")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finishing_writes_everything_published_before() {
        let hub = Arc::new(crate::hub::test_hub(10, 100_000));
        let sink = FlakySink::default();
        let writer = start_writer(
            hub.subscribe(),
            0,
            Box::new(sink.clone()),
            "log files to /logs".into(),
        )
        .expect("writer");
        for i in 0..20_000 {
            publish(&hub, &format!("line {i}"));
        }
        let stats = writer.stats.clone();
        writer.finish().await;
        assert_eq!(sink.lines.lock().expect("lock").len(), 20_000);
        assert_eq!(
            stats.snapshot(),
            app::protocol::LogFileStats {
                written: 20_000,
                lost: 0,
                errors: 0
            }
        );
    }

    /// Records the size of every batch it is given.
    #[derive(Clone, Default)]
    struct BatchSizes(Arc<Mutex<Vec<(usize, u64)>>>);

    impl LogSink for BatchSizes {
        fn append(&mut self, _: &Frame) -> io::Result<()> {
            Ok(())
        }

        fn append_all(&mut self, frames: &[Arc<Frame>]) -> (u64, Option<io::Error>) {
            let bytes = frames.iter().map(|f| f.size()).sum();
            self.0.lock().expect("lock").push((frames.len(), bytes));
            (frames.len() as u64, None)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn long_lines_are_written_in_batches_bounded_in_bytes() {
        let hub = Arc::new(crate::hub::test_hub(1, 1000));
        let sink = BatchSizes::default();
        let writer = start_writer(
            hub.subscribe(),
            0,
            Box::new(sink.clone()),
            "the store".into(),
        )
        .expect("writer");
        let line = "x".repeat(1024 * 1024);
        for _ in 0..40 {
            publish(&hub, &line);
        }
        writer.finish().await;
        let batches = sink.0.lock().expect("lock").clone();
        assert_eq!(batches.iter().map(|b| b.0).sum::<usize>(), 40);
        // About 2 MiB each (the line and its JSON): four make a batch.
        let largest = batches.iter().map(|b| b.1).max().expect("a batch");
        assert!(
            largest < BATCH_BYTES + 2 * 1024 * 1024 + 4096,
            "{batches:?}"
        );
        assert!(batches.iter().all(|b| b.0 <= 4), "{batches:?}");
    }
}
