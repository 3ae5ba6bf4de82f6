//! Capture: turns the bytes a child writes into log entries.
//!
//! One task per pipe reads lines, decides their level (the process's own
//! `level_pattern`, else detection, else the stream's default), joins
//! multi-line entries where configured, and publishes to the hub.
//! Publishing never blocks, so a reader drains its pipe at the child's pace
//! whether or not anyone is watching, and a child is never stalled by a
//! full pipe.

pub mod level;
pub mod line_reader;
mod multiline;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use app::ansi::strip_ansi;
use app::{Level, Stream};
use regex::Regex;
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::config::CaptureRules;
use crate::hub::{LogHub, NewEntry};
use crate::redact::{RedactState, Redactor};
use line_reader::LineReader;
use multiline::{Joined, Joiner};

/// Which process and stream a pipe belongs to, and how to read it.
#[derive(Clone, Debug)]
pub struct Source {
    pub process_name: Arc<str>,
    pub stream: Stream,
    pub pid: Option<u32>,
    pub rules: Arc<CaptureRules>,
    /// Longest entry; longer lines are split into continued entries.
    pub max_line_bytes: usize,
    /// Masks secrets before the line goes anywhere.
    pub redactor: Arc<Redactor>,
    /// The process's lines and bytes, for `/metrics` (none when it is off).
    pub counters: Option<Arc<LineCounters>>,
}

/// Entries and message bytes captured, per stream and level. Capture
/// adds to them from its own [`Tally`], without a lock.
#[derive(Debug, Default)]
pub struct LineCounters {
    lines: [[AtomicU64; Level::ALL.len()]; Stream::ALL.len()],
    bytes: [[AtomicU64; Level::ALL.len()]; Stream::ALL.len()],
}

/// One capture task's counts not yet added to its [`LineCounters`]: a
/// task adds them when it has read everything the pipe holds (before it
/// waits for more) and every [`Tally::EVERY`] entries, so a flood costs
/// the shared counters a few atomic additions per read, not two per line,
/// and a scrape is never behind a quiet process.
#[derive(Debug)]
struct Tally {
    stream: Stream,
    lines: [u64; Level::ALL.len()],
    bytes: [u64; Level::ALL.len()],
    pending: usize,
}

impl Tally {
    const EVERY: usize = 1024;

    fn new(stream: Stream) -> Self {
        Self {
            stream,
            lines: [0; Level::ALL.len()],
            bytes: [0; Level::ALL.len()],
            pending: 0,
        }
    }

    /// Counts an entry; true when it is time to [`Tally::add_to`].
    fn count(&mut self, level: Level, bytes: usize) -> bool {
        self.lines[level.index()] += 1;
        self.bytes[level.index()] += bytes as u64;
        self.pending += 1;
        self.pending >= Self::EVERY
    }

    fn add_to(&mut self, counters: &LineCounters) {
        if self.pending == 0 {
            return;
        }
        let s = self.stream.index();
        for l in 0..Level::ALL.len() {
            if self.lines[l] > 0 {
                counters.lines[s][l].fetch_add(self.lines[l], Ordering::Relaxed);
                counters.bytes[s][l].fetch_add(self.bytes[l], Ordering::Relaxed);
            }
        }
        *self = Self::new(self.stream);
    }
}

impl LineCounters {
    /// (stream, level, entries, bytes) for every pair seen at least once.
    pub fn snapshot(&self) -> Vec<(Stream, Level, u64, u64)> {
        let mut out = Vec::new();
        for stream in Stream::ALL {
            for level in Level::ALL {
                let (s, l) = (stream.index(), level.index());
                let lines = self.lines[s][l].load(Ordering::Relaxed);
                if lines > 0 {
                    out.push((
                        stream,
                        level,
                        lines,
                        self.bytes[s][l].load(Ordering::Relaxed),
                    ));
                }
            }
        }
        out
    }
}

/// Fires once when a line matches: the `log_line` readiness probe.
#[derive(Clone, Debug)]
pub struct LineTrigger {
    pub regex: Regex,
    pub fired: mpsc::Sender<()>,
}

/// Reads `pipe` to its end, publishing one entry per line (or per joined
/// group of lines).
pub async fn capture<R: AsyncRead + Unpin>(
    pipe: R,
    source: Source,
    hub: Arc<LogHub>,
    mut trigger: Option<LineTrigger>,
) {
    let mut lines = LineReader::new(
        BufReader::with_capacity(64 * 1024, pipe),
        source.max_line_bytes,
    );
    let mut publisher = Publisher {
        tally: Tally::new(source.stream),
        source: &source,
        hub: &hub,
    };
    let mut joiner = Joiner::new(source.rules.multiline.clone(), source.max_line_bytes);
    // A private key printed over several lines is masked from its BEGIN
    // line to its END line.
    let mut redaction = RedactState::default();
    // Pieces of a split line keep the level of the line's first piece.
    let mut level = Level::Info;
    loop {
        let next = waiting_first(lines.next_line(), || publisher.add_counts());
        let next = match joiner.idle_timeout() {
            Some(idle) => match tokio::time::timeout(idle, next).await {
                Ok(next) => next,
                Err(_) => {
                    // Nothing more arrived: the pending entry is complete.
                    if let Some(entry) = joiner.flush() {
                        publisher.publish(entry);
                    }
                    continue;
                }
            },
            None => next.await,
        };
        match next {
            Ok(Some(line)) => {
                let stripped = strip_ansi(&line.text);
                if let Some(t) = &trigger {
                    if t.regex.is_match(&stripped) {
                        let _ = t.fired.try_send(());
                        trigger = None;
                    }
                }
                let rewritten = if line.continuation {
                    None
                } else {
                    let (detected, rewritten) = classify(&source.rules, source.stream, &stripped);
                    level = detected;
                    rewritten
                };
                drop(stripped);
                // The line's own text moves on: no copy per line (unless
                // it holds a secret to mask).
                let message = rewritten.unwrap_or(line.text);
                let message = match source.redactor.redact_line(&message, &mut redaction) {
                    Cow::Borrowed(_) => message,
                    Cow::Owned(masked) => masked,
                };
                for entry in joiner.push(message, level, line.continuation) {
                    publisher.publish(entry);
                }
                // A child printing flat out keeps the pipe readable, and one
                // 64 KiB read holds hundreds of lines: without counting each
                // line against the task's budget, this loop could hold a
                // worker thread for a long time while HTTP requests wait.
                tokio::task::consume_budget().await;
            }
            Ok(None) => break,
            Err(error) => {
                hub.publish_system(
                    Level::Warning,
                    format!(
                        "stopped reading {} of {}: {error}",
                        source.stream.as_str(),
                        source.process_name
                    ),
                );
                break;
            }
        }
    }
    if let Some(entry) = joiner.flush() {
        publisher.publish(entry);
    }
    publisher.add_counts();
}

/// Publishes one pipe's entries to the hub, counting them.
struct Publisher<'a> {
    tally: Tally,
    source: &'a Source,
    hub: &'a LogHub,
}

impl Publisher<'_> {
    fn publish(&mut self, entry: Joined) {
        if self.source.counters.is_some() && self.tally.count(entry.level, entry.message.len()) {
            self.add_counts();
        }
        self.hub.publish(NewEntry {
            process_name: &self.source.process_name,
            stream: self.source.stream,
            pid: self.source.pid,
            level: entry.level,
            message: entry.message,
            continued: entry.continued,
        });
    }

    /// Adds what was counted to the process's counters (with metrics on;
    /// off, nothing is counted).
    fn add_counts(&mut self) {
        if let Some(counters) = &self.source.counters {
            self.tally.add_to(counters);
        }
    }
}

/// Awaits `next`, calling `waiting` first if it cannot finish at once.
async fn waiting_first<F: std::future::Future>(next: F, waiting: impl FnOnce()) -> F::Output {
    let mut next = std::pin::pin!(next);
    let mut waiting = Some(waiting);
    std::future::poll_fn(|cx| {
        let poll = next.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some(waiting) = waiting.take() {
                waiting();
            }
        }
        poll
    })
    .await
}

/// The level of a line, and its message when the process's
/// `level_pattern` has a `message` group.
fn classify(rules: &CaptureRules, stream: Stream, text: &str) -> (Level, Option<String>) {
    if let Some(pattern) = &rules.level_pattern {
        if let Some(captures) = pattern.captures(text) {
            if let Some(level) = captures
                .name("level")
                .and_then(|m| Level::from_name(m.as_str()))
            {
                let message = captures.name("message").map(|m| m.as_str().to_owned());
                return (level, message);
            }
        }
    }
    let default = match stream {
        Stream::Stderr => rules.stderr_level,
        _ => rules.stdout_level,
    };
    (level::detect_level(text).unwrap_or(default), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Multiline, MultilineRule};
    use std::time::Duration;

    fn hub() -> Arc<LogHub> {
        Arc::new(crate::hub::test_hub(1000, 1000))
    }

    fn source(stream: Stream, rules: CaptureRules, max_line_bytes: usize) -> Source {
        Source {
            process_name: "api".into(),
            stream,
            pid: Some(7),
            rules: Arc::new(rules),
            max_line_bytes,
            redactor: Arc::new(Redactor::new(true, &[])),
            counters: Some(Arc::default()),
        }
    }

    #[tokio::test]
    async fn lines_and_bytes_are_counted_per_stream_and_level() {
        let source = source(Stream::Stderr, CaptureRules::default(), 1024);
        let counters = source.counters.clone().expect("counting");
        let got = entries(b"ERROR one\nERROR two\nplain\n", source).await;
        assert_eq!(got.len(), 3);
        let snapshot = counters.snapshot();
        let errors = snapshot
            .iter()
            .find(|(stream, level, _, _)| *stream == Stream::Stderr && *level == Level::Error)
            .expect("errors counted");
        assert_eq!((errors.2, errors.3), (2, got[0].message.len() as u64 * 2));
        let total: u64 = snapshot.iter().map(|c| c.2).sum();
        assert_eq!(total, 3);
    }

    #[tokio::test]
    async fn counts_are_added_when_the_pipe_has_nothing_more() {
        let source = source(Stream::Stdout, CaptureRules::default(), 1024);
        let counters = source.counters.clone().expect("counting");
        let (mut child, pipe) = tokio::io::duplex(1024);
        let task = tokio::spawn(capture(pipe, source, hub(), None));
        // The pipe stays open: the task waits for more, having added
        // what it counted.
        tokio::io::AsyncWriteExt::write_all(&mut child, b"ERROR one\nplain\n")
            .await
            .expect("write");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while counters.snapshot().iter().map(|c| c.2).sum::<u64>() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "never counted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(child);
        task.await.expect("capture ends");
        assert_eq!(counters.snapshot().iter().map(|c| c.2).sum::<u64>(), 2);
    }

    #[test]
    fn a_tally_is_added_every_so_many_entries_and_starts_again() {
        let counters = LineCounters::default();
        let mut tally = Tally::new(Stream::Stderr);
        for _ in 0..Tally::EVERY - 1 {
            assert!(!tally.count(Level::Info, 10));
        }
        assert!(tally.count(Level::Error, 3));
        tally.add_to(&counters);
        tally.add_to(&counters);
        assert_eq!(
            counters.snapshot(),
            vec![
                (
                    Stream::Stderr,
                    Level::Info,
                    Tally::EVERY as u64 - 1,
                    (Tally::EVERY as u64 - 1) * 10
                ),
                (Stream::Stderr, Level::Error, 1, 3),
            ]
        );
        assert!(!tally.count(Level::Info, 1));
    }

    #[tokio::test]
    async fn waiting_first_runs_only_before_a_wait() {
        let mut called = false;
        assert_eq!(waiting_first(async { 1 }, || called = true).await, 1);
        assert!(!called);
        let mut calls = 0;
        let later = async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            2
        };
        assert_eq!(waiting_first(later, || calls += 1).await, 2);
        assert_eq!(calls, 1);
    }

    async fn entries(input: &[u8], source: Source) -> Vec<app::LogEntry> {
        let hub = hub();
        let mut rx = hub.subscribe();
        capture(input, source, hub.clone(), None).await;
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            out.push(frame.entry.clone());
        }
        out
    }

    #[tokio::test]
    async fn publishes_each_line_with_its_detected_level() {
        let got = entries(
            b"[WARN] careful\nplain line\n",
            source(Stream::Stderr, CaptureRules::default(), 1024),
        )
        .await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].message, "[WARN] careful");
        assert_eq!(got[0].level, Level::Warning);
        assert_eq!(got[0].process_name, "api");
        assert_eq!(got[0].stream, Stream::Stderr);
        assert_eq!(got[0].pid, Some(7));
        assert_eq!(got[1].level, Level::Info);
    }

    #[tokio::test]
    async fn secrets_are_masked_before_publishing() {
        let got = entries(
            b"[ERROR] login failed: password=hunter22 for ada\n",
            source(Stream::Stdout, CaptureRules::default(), 1024),
        )
        .await;
        assert_eq!(got[0].message, "[ERROR] login failed: password=*** for ada");
        assert_eq!(got[0].level, Level::Error);
    }

    #[tokio::test]
    async fn a_private_key_printed_over_several_lines_is_masked() {
        let got = entries(
            b"loading key\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4ypbFv2xl4kX0i\n-----END PRIVATE KEY-----\nkey loaded\n",
            source(Stream::Stdout, CaptureRules::default(), 1024),
        )
        .await;
        let messages: Vec<&str> = got.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "loading key",
                "-----BEGIN PRIVATE KEY-----",
                "***",
                "***",
                "-----END PRIVATE KEY-----",
                "key loaded"
            ]
        );
    }

    #[tokio::test]
    async fn ansi_colours_are_kept_in_the_message() {
        let got = entries(
            b"\x1b[31mERROR\x1b[0m failed\n",
            source(Stream::Stdout, CaptureRules::default(), 1024),
        )
        .await;
        assert_eq!(got[0].message, "\u{1b}[31mERROR\u{1b}[0m failed");
        assert_eq!(got[0].level, Level::Error);
    }

    #[tokio::test]
    async fn stream_defaults_apply_to_lines_without_a_level() {
        let rules = CaptureRules {
            stderr_level: Level::Error,
            ..CaptureRules::default()
        };
        let got = entries(
            b"something broke\n[INFO] fine\n",
            source(Stream::Stderr, rules, 1024),
        )
        .await;
        assert_eq!(got[0].level, Level::Error);
        assert_eq!(got[1].level, Level::Info);
    }

    #[tokio::test]
    async fn a_level_pattern_overrides_detection_and_may_rewrite_the_message() {
        let rules = CaptureRules {
            level_pattern: Some(Regex::new(r"^<(?P<level>\w+)> (?P<message>.*)$").expect("regex")),
            ..CaptureRules::default()
        };
        let got = entries(
            b"<crit> disk on fire\n[ERROR] not my format\n<bogus> unknown level\n",
            source(Stream::Stdout, rules, 1024),
        )
        .await;
        assert_eq!(
            (got[0].level, got[0].message.as_str()),
            (Level::Critical, "disk on fire")
        );
        assert_eq!(
            (got[1].level, got[1].message.as_str()),
            (Level::Error, "[ERROR] not my format")
        );
        assert_eq!(
            (got[2].level, got[2].message.as_str()),
            (Level::Info, "<bogus> unknown level")
        );
    }

    #[tokio::test]
    async fn the_trigger_fires_on_the_first_matching_line_only() {
        let hub = hub();
        let (fired, mut fires) = mpsc::channel(4);
        let trigger = LineTrigger {
            regex: Regex::new("listening on port \\d+").expect("regex"),
            fired,
        };
        let input: &[u8] = b"booting\n\x1b[32mlistening on port 80\x1b[0m\nlistening on port 81\n";
        capture(
            input,
            source(Stream::Stdout, CaptureRules::default(), 1024),
            hub,
            Some(trigger),
        )
        .await;
        assert_eq!(fires.try_recv(), Ok(()));
        assert!(fires.try_recv().is_err(), "fired more than once");
    }

    #[tokio::test]
    async fn pieces_of_a_split_line_keep_its_level_and_are_marked() {
        let long = format!("ERROR: {}\n", "x".repeat(2500));
        let got = entries(
            long.as_bytes(),
            source(Stream::Stdout, CaptureRules::default(), 1024),
        )
        .await;
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|e| e.level == Level::Error));
        assert!(got.iter().all(|e| e.message.len() <= 1024));
        assert_eq!(
            got.iter().map(|e| e.continued).collect::<Vec<_>>(),
            [false, true, true]
        );
    }

    #[tokio::test]
    async fn a_python_traceback_becomes_one_entry() {
        let rules = CaptureRules {
            multiline: Some(Multiline {
                rule: MultilineRule::Start(Regex::new(r"^\d{4}-\d\d-\d\d ").expect("regex")),
                timeout: Duration::from_millis(50),
            }),
            ..CaptureRules::default()
        };
        let input = b"2024-01-01 12:00:00 ERROR request failed\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad\n2024-01-01 12:00:01 INFO next\n";
        let got = entries(input, source(Stream::Stderr, rules, 4096)).await;
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0].level, Level::Error);
        assert_eq!(
            got[0].message,
            "2024-01-01 12:00:00 ERROR request failed\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad"
        );
        assert_eq!(got[1].message, "2024-01-01 12:00:01 INFO next");
    }

    #[tokio::test]
    async fn a_pending_multiline_entry_is_published_after_a_quiet_spell() {
        let rules = CaptureRules {
            multiline: Some(Multiline {
                rule: MultilineRule::Continuation(Regex::new(r"^\s").expect("regex")),
                timeout: Duration::from_millis(30),
            }),
            ..CaptureRules::default()
        };
        let (mut writer, reader) = tokio::io::duplex(1024);
        let hub = hub();
        let mut rx = hub.subscribe();
        let task = tokio::spawn(capture(
            reader,
            source(Stream::Stdout, rules, 4096),
            hub.clone(),
            None,
        ));
        use tokio::io::AsyncWriteExt;
        writer.write_all(b"first\n  detail\n").await.expect("write");
        // No more output, pipe still open: the idle timeout completes it.
        let frame = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("published after the idle timeout")
            .expect("frame");
        assert_eq!(frame.entry.message, "first\n  detail");
        drop(writer);
        task.await.expect("capture ends with the pipe");
    }
}
