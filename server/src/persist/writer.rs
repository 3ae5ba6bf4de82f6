//! The writer: a dedicated thread appending every published entry to the
//! log files in batches. It only consumes the hub's entries; what goes
//! wrong it reports on a channel of its own, which the server turns into
//! log entries.
//!
//! The thread runs at the lowest priority, so streaming comes first; a task
//! at the server's priority takes the entries from the hub as they come and
//! queues them for it (bounded in bytes), so a writer kept off the CPU for a
//! while catches up later instead of missing what the hub moved past.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{LogSink, WriterStats};
use crate::hub::{Frame, Subscription};

/// Entries written between two flushes, at most (give or take one chunk
/// from the queue)...
const BATCH: usize = 4096;
/// ...and their size (by `Frame::size`): a batch of long lines is written
/// sooner rather than held in memory.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// How often a waiting writer asks the sink for its own work.
const BACKGROUND_TICK: Duration = Duration::from_secs(1);
/// How long a batch waits for more entries before it is written.
const LINGER: Duration = Duration::from_millis(50);
/// Write errors are reported at most this often.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Reports waiting to be published; more are dropped (they are already
/// one per interval, so this only fills if nobody reads them).
const REPORT_QUEUE: usize = 16;
/// What may wait for the writer (by `Frame::size`); beyond it entries are
/// counted as lost rather than held. About a second of the store's full
/// rate in lines of ordinary length.
const QUEUE_BYTES: u64 = 64 * 1024 * 1024;
/// Entries the forwarding task queues in one go, at most...
const CHUNK: usize = 256;
/// ...and their size, unless one entry is larger.
const CHUNK_BYTES: u64 = 1024 * 1024;

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
/// written) to `sink`; `describe` names the destination in reports.
pub fn start_writer(
    entries: Subscription,
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
    let (queue, queued) = mpsc::unbounded_channel();
    let queued_bytes = Arc::new(AtomicU64::new(0));
    let token = finish.clone();
    let bytes = queued_bytes.clone();
    let thread = std::thread::Builder::new()
        .name("logdeck-writer".into())
        .spawn(move || {
            yield_to_the_live_path();
            runtime.block_on(writer.run(queued, bytes, token));
        })?;
    tokio::spawn(forward(
        entries,
        queue,
        queued_bytes,
        stats.clone(),
        finish.clone(),
    ));
    Ok(WriterHandle {
        finish,
        thread: Some(thread),
        stats,
        reports: Some(reports),
    })
}

/// How much nicer than the server the writer runs: while the CPU is busy
/// the threads that stream to clients come first and the writer takes what
/// is left (it catches up from its queue, or counts what it missed); with a
/// core to spare it runs as fast as ever.
pub const WRITER_NICENESS: i32 = 19;

/// What the writer's queue carries, in publishing order.
enum Queued {
    Frames(Vec<Arc<Frame>>),
    /// Entries that were not queued (the hub moved past them, or the queue
    /// was full), already counted in the stats: for the writer to report.
    Lost(u64),
}

/// Takes the hub's entries for the writer as they come, at the server's
/// priority, until `finish`; then queues what was published before and
/// stops, which closes the queue.
async fn forward(
    mut entries: Subscription,
    queue: mpsc::UnboundedSender<Queued>,
    queued_bytes: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
    finish: CancellationToken,
) {
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut chunk_bytes = 0;
    let mut lost = 0;
    let mut finishing = false;
    loop {
        let received = if finishing {
            match entries.try_recv() {
                Ok(frame) => Ok(frame),
                Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => Err(RecvError::Closed),
            }
        } else {
            tokio::select! {
                received = entries.recv() => received,
                _ = finish.cancelled() => {
                    finishing = true;
                    continue;
                }
            }
        };
        let closed = match received {
            Ok(frame) => {
                let size = frame.size();
                // What the writer has yet to take, and this chunk.
                if queued_bytes.load(Ordering::Relaxed) + chunk_bytes + size > QUEUE_BYTES {
                    lost += 1;
                } else {
                    chunk_bytes += size;
                    chunk.push(frame);
                }
                false
            }
            Err(RecvError::Lagged(missed)) => {
                lost += missed;
                false
            }
            Err(RecvError::Closed) => true,
        };
        if closed
            || chunk.len() == CHUNK
            || chunk_bytes >= CHUNK_BYTES
            || (!finishing && entries.is_empty())
        {
            if lost > 0 {
                stats.lost.fetch_add(lost, Ordering::Relaxed);
                if queue.send(Queued::Lost(std::mem::take(&mut lost))).is_err() {
                    return;
                }
            }
            if !chunk.is_empty() {
                queued_bytes.fetch_add(chunk_bytes, Ordering::Relaxed);
                chunk_bytes = 0;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if queue.send(Queued::Frames(full)).is_err() {
                    return;
                }
            }
        }
        if closed {
            return;
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
    /// Adds `frames`; returns their size.
    fn extend(&mut self, frames: Vec<Arc<Frame>>) -> u64 {
        let bytes: u64 = frames.iter().map(|f| f.size()).sum();
        self.bytes += bytes;
        self.frames.extend(frames);
        bytes
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
    async fn run(
        &mut self,
        mut queue: mpsc::UnboundedReceiver<Queued>,
        queued_bytes: Arc<AtomicU64>,
        finish: CancellationToken,
    ) {
        let mut batch = Batch::default();
        let take = |writer: &mut Writer, batch: &mut Batch, queued: Queued| match queued {
            Queued::Frames(frames) => {
                let bytes = batch.extend(frames);
                queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            }
            Queued::Lost(missed) => writer.report(missed, "the writer fell behind"),
        };
        // The sink may have work left from before (an index behind).
        let mut background = true;
        loop {
            // The sink's own work, while no entry waits: entries come
            // first.
            while background && !finish.is_cancelled() && queue.is_empty() {
                background = self.sink.background();
            }
            // Waiting, the sink is asked again now and then (work it put
            // off, such as an index trailing by a few entries). The queue
            // closes once everything published before `finish` is in it.
            let first = tokio::select! {
                first = queue.recv() => first,
                _ = tokio::time::sleep(BACKGROUND_TICK) => {
                    background = true;
                    continue;
                }
            };
            let Some(first) = first else { break };
            take(self, &mut batch, first);
            // More of the batch, for up to LINGER: a few large
            // transactions cost far less than many small ones.
            let deadline = tokio::time::Instant::now() + LINGER;
            while !batch.full() {
                let next = match queue.try_recv() {
                    Ok(next) => next,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(deadline, queue.recv()).await {
                            Ok(Some(next)) => next,
                            Ok(None) | Err(_) => break,
                        }
                    }
                };
                take(self, &mut batch, next);
            }
            self.write(&mut batch);
            background = true;
        }
        self.write(&mut batch);
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
        self.report(count, why);
    }

    /// Reports lost entries (already counted), at most once per interval.
    fn report(&mut self, count: u64, why: &str) {
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
    use crate::hub::{HubOptions, LogHub, NewEntry};
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
        let hub = Arc::new(LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 10,
            memory_bytes: u64::MAX,
            lag_capacity: 100_000,
            first_seq: 1,
            node: None,
        }));
        let sink = FlakySink::default();
        let writer = start_writer(
            hub.subscribe(),
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
        let hub = Arc::new(LogHub::new(HubOptions {
            server_name: "logdeck".into(),
            memory_entries: 1,
            memory_bytes: u64::MAX,
            lag_capacity: 1000,
            first_seq: 1,
            node: None,
        }));
        let sink = BatchSizes::default();
        let writer = start_writer(hub.subscribe(), Box::new(sink.clone()), "the store".into())
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

    /// Holds every batch until `open` is set.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<std::sync::atomic::AtomicBool>,
        written: Arc<AtomicU64>,
    }

    impl LogSink for Gate {
        fn append(&mut self, _: &Frame) -> io::Result<()> {
            while !self.open.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.written.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_kept_waiting_queues_a_bounded_amount_and_counts_the_rest() {
        let hub = Arc::new(crate::hub::test_hub(1, 10_000));
        let sink = Gate::default();
        let writer = start_writer(hub.subscribe(), Box::new(sink.clone()), "the store".into())
            .expect("writer");
        let line = "x".repeat(1024 * 1024);
        for _ in 0..100 {
            publish(&hub, &line);
        }
        // About 2 MiB each: what the queue, a batch and a chunk hold, and
        // one entry over each, is all that can wait for the writer.
        let size = hub.recent_chunk(None, 1)[0].size();
        let most_kept = (QUEUE_BYTES + BATCH_BYTES + CHUNK_BYTES) / size + 3;
        let stats = writer.stats.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        while stats.lost.load(Ordering::SeqCst) < 100 - most_kept {
            assert!(Instant::now() < deadline, "{:?}", stats.snapshot());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sink.open.store(true, Ordering::SeqCst);
        writer.finish().await;
        let done = stats.snapshot();
        assert_eq!(done.written + done.lost, 100, "{done:?}");
        assert_eq!(done.written, sink.written.load(Ordering::SeqCst));
        assert!(done.written <= most_kept, "{done:?}");
    }
}
