//! Capture: turns the bytes a child writes into log entries.
//!
//! One task per pipe reads lines and publishes them to the hub. Publishing
//! never blocks, so a reader drains its pipe at the child's pace whether or
//! not anyone is watching, and a child is never stalled by a full pipe.

pub mod level;
pub mod line_reader;

use std::sync::Arc;

use app::ansi::strip_ansi;
use app::{Level, Stream};
use regex::Regex;
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::hub::{LogHub, NewEntry};
use line_reader::LineReader;

/// Longest line published as one entry; longer lines are split.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Which process and stream a pipe belongs to.
#[derive(Clone, Debug)]
pub struct Source {
    pub process_name: Arc<str>,
    pub stream: Stream,
    pub pid: Option<u32>,
}

/// Fires once when a line matches: the `log_line` readiness probe.
#[derive(Clone, Debug)]
pub struct LineTrigger {
    pub regex: Regex,
    pub fired: mpsc::Sender<()>,
}

/// Reads `pipe` to its end, publishing one entry per line.
pub async fn capture<R: AsyncRead + Unpin>(
    pipe: R,
    source: Source,
    hub: Arc<LogHub>,
    mut trigger: Option<LineTrigger>,
) {
    let mut lines = LineReader::new(BufReader::with_capacity(64 * 1024, pipe), MAX_LINE_BYTES);
    // The pieces of a split line keep the level of its first piece.
    let mut level = Level::Info;
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if !line.continuation {
                    level = level::detect_level(&line.text).unwrap_or(Level::Info);
                }
                if let Some(t) = &trigger {
                    if t.regex.is_match(&strip_ansi(&line.text)) {
                        let _ = t.fired.try_send(());
                        trigger = None;
                    }
                }
                hub.publish(NewEntry {
                    process_name: &source.process_name,
                    stream: source.stream,
                    pid: source.pid,
                    level,
                    message: line.text,
                });
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_each_line_with_its_detected_level() {
        let hub = Arc::new(LogHub::new("logdeck", 16));
        let mut rx = hub.subscribe();
        let source = Source {
            process_name: "api".into(),
            stream: Stream::Stderr,
            pid: Some(7),
        };
        let input: &[u8] = b"[WARN] careful\nplain line\n";
        capture(input, source, hub.clone(), None).await;

        let first = rx.recv().await.expect("first entry");
        assert_eq!(first.entry.message, "[WARN] careful");
        assert_eq!(first.entry.level, Level::Warning);
        assert_eq!(first.entry.process_name, "api");
        assert_eq!(first.entry.stream, Stream::Stderr);
        assert_eq!(first.entry.pid, Some(7));

        let second = rx.recv().await.expect("second entry");
        assert_eq!(second.entry.level, Level::Info);
    }

    #[tokio::test]
    async fn the_trigger_fires_on_the_first_matching_line_only() {
        let hub = Arc::new(LogHub::new("logdeck", 16));
        let (fired, mut fires) = mpsc::channel(4);
        let trigger = LineTrigger {
            regex: Regex::new("listening on port \\d+").expect("regex"),
            fired,
        };
        let source = Source {
            process_name: "api".into(),
            stream: Stream::Stdout,
            pid: None,
        };
        let input: &[u8] = b"booting\n\x1b[32mlistening on port 80\x1b[0m\nlistening on port 81\n";
        capture(input, source, hub, Some(trigger)).await;
        assert_eq!(fires.try_recv(), Ok(()));
        assert!(fires.try_recv().is_err(), "fired more than once");
    }

    #[tokio::test]
    async fn pieces_of_a_split_line_keep_its_level() {
        let hub = Arc::new(LogHub::new("logdeck", 64));
        let mut rx = hub.subscribe();
        let source = Source {
            process_name: "api".into(),
            stream: Stream::Stdout,
            pid: None,
        };
        let long = format!("ERROR: {}\n", "x".repeat(MAX_LINE_BYTES * 2));
        capture(long.as_bytes(), source, hub.clone(), None).await;
        let mut pieces = 0;
        while let Ok(frame) = rx.try_recv() {
            assert_eq!(frame.entry.level, Level::Error);
            assert!(frame.entry.message.len() <= MAX_LINE_BYTES);
            pieces += 1;
        }
        assert_eq!(pieces, 3);
    }
}
