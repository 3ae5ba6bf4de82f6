//! The soak's clients: fast ones that read every frame and hold both
//! numberings to "exactly one more than the last", and slow ones that read
//! a few frames a second and check that every entry they miss is announced.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::clock::mono_ns;
use crate::histogram::Histogram;
use crate::line::stamps;

/// The fields of a `/ws/logs` frame the checks need. The message is
/// borrowed when it has no escapes (the generator's lines have none).
#[derive(Debug, Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(default)]
    dropped: Option<u64>,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// A numbering that must go up by exactly one each time.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct SeqCheck {
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// Times it jumped ahead, and the numbers jumped over.
    pub gaps: u64,
    pub missing: u64,
    /// Times it did not go up at all (a duplicate, or out of order).
    pub repeats: u64,
}

impl SeqCheck {
    /// One that must start at `first` (the generator numbers from 1, and
    /// every client connects before it prints).
    pub fn starting_at(first: u64) -> SeqCheck {
        SeqCheck {
            last: first.checked_sub(1),
            ..SeqCheck::default()
        }
    }

    fn see(&mut self, seq: u64) {
        self.first.get_or_insert(seq);
        match self.last {
            Some(last) if seq <= last => self.repeats += 1,
            Some(last) if seq > last + 1 => {
                self.gaps += 1;
                self.missing += seq - last - 1;
                self.last = Some(seq);
            }
            _ => self.last = Some(seq),
        }
    }

    pub fn clean(&self) -> bool {
        self.gaps == 0 && self.repeats == 0
    }
}

/// What one fast client saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FastResult {
    pub frames: u64,
    /// Logdeck's numbering, over every entry (the generator's lines and
    /// Logdeck's own).
    pub entry_seq: SeqCheck,
    /// The generator's own counter (`seq=N` in each line).
    pub line_seq: SeqCheck,
    /// Generator lines received.
    pub lines: u64,
    /// Drop notices: a fast client must get none.
    pub notices: u64,
    /// Frames that were not a JSON entry.
    pub unreadable: u64,
    #[serde(skip)]
    pub latency: Histogram,
    pub error: Option<String>,
}

impl FastResult {
    /// Why this client fails the soak, if it does.
    pub fn problems(&self, lines_printed: Option<u64>) -> Vec<String> {
        let mut problems = Vec::new();
        let check = |what: &str, s: &SeqCheck, problems: &mut Vec<String>| {
            if s.gaps > 0 {
                problems.push(format!("{what}: {} gaps ({} missing)", s.gaps, s.missing));
            }
            if s.repeats > 0 {
                problems.push(format!("{what}: {} duplicates or reorders", s.repeats));
            }
        };
        check("Logdeck seq", &self.entry_seq, &mut problems);
        check("generator seq", &self.line_seq, &mut problems);
        if self.notices > 0 {
            problems.push(format!("{} drop notices", self.notices));
        }
        if self.unreadable > 0 {
            problems.push(format!("{} frames that were not entries", self.unreadable));
        }
        if let Some(printed) = lines_printed {
            if self.lines != printed {
                problems.push(format!(
                    "received {} of the {printed} lines printed",
                    self.lines
                ));
            }
        }
        if let Some(error) = &self.error {
            problems.push(format!("connection: {error}"));
        }
        problems
    }
}

/// Counts every fast client adds to, for progress lines and the drain.
#[derive(Debug, Default)]
pub struct Progress {
    pub lines: AtomicU64,
    /// Gaps, repeats and notices seen by fast clients so far.
    pub anomalies: AtomicU64,
    pub slow_notices: AtomicU64,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect_fast(url: &str) -> anyhow::Result<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    Ok(ws)
}

/// Reads everything until stopped.
pub async fn fast(
    mut ws: Ws,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> FastResult {
    let mut result = FastResult {
        line_seq: SeqCheck::starting_at(1),
        ..FastResult::default()
    };
    loop {
        tokio::select! {
            biased;
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let now = mono_ns();
                    result.frames += 1;
                    let Ok(head) = serde_json::from_str::<Head<'_>>(text.as_str()) else {
                        result.unreadable += 1;
                        progress.anomalies.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let before = (result.entry_seq, result.line_seq);
                    if head.dropped.is_some() {
                        result.notices += 1;
                        progress.anomalies.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    result.entry_seq.see(head.seq);
                    let mut lines = 0;
                    for stamp in stamps(&head.message) {
                        lines += 1;
                        result.line_seq.see(stamp.seq);
                        result.latency.record(now.saturating_sub(stamp.t_ns));
                    }
                    result.lines += lines;
                    progress.lines.fetch_add(lines, Ordering::Relaxed);
                    let bad = |s: &SeqCheck| s.gaps + s.repeats;
                    let new_anomalies = bad(&result.entry_seq) + bad(&result.line_seq)
                        - bad(&before.0)
                        - bad(&before.1);
                    if new_anomalies > 0 {
                        progress.anomalies.fetch_add(new_anomalies, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    result.error = Some(error.to_string());
                    break;
                }
                None => {
                    result.error = Some("the server closed the connection".into());
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    result
}

/// What the slow client saw, over all its connections.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SlowResult {
    pub frames: u64,
    pub entries: u64,
    pub notices: u64,
    /// Entries the notices said were skipped.
    pub dropped: u64,
    /// Jumps in `seq` that no notice announced, and the entries in them.
    pub unannounced_gaps: u64,
    pub unannounced_missing: u64,
    /// Notices whose count disagrees with the jump in `seq` they explain.
    pub notice_mismatches: u64,
    pub repeats: u64,
    /// Seconds from the start of the stream to the first notice read.
    pub first_notice_s: Option<f64>,
    /// 1 + times it had to reconnect.
    pub connections: u64,
    /// Why its connections ended (other than being stopped), distinct.
    pub closes: Vec<String>,
    pub error: Option<String>,
}

/// How the slow client reads.
#[derive(Clone, Copy, Debug)]
pub struct SlowPace {
    /// Bursts per second.
    pub frames_per_s: f64,
    /// Frames read in each burst: enough that the client gets through the
    /// kernel's buffers (megabytes on loopback) within the run and meets
    /// the server's notice, few enough that it reads far slower than the
    /// stream.
    pub burst: usize,
    /// Its socket's receive buffer (SO_RCVBUF), so the backlog sits in the
    /// server and the notices come within the run rather than after
    /// megabytes of kernel buffer.
    pub recv_buffer: usize,
}

type SlowWs = WebSocketStream<TcpStream>;

async fn connect_slow(port: u16, pace: SlowPace) -> anyhow::Result<SlowWs> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(u32::try_from(pace.recv_buffer).unwrap_or(u32::MAX))?;
    let stream = socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await?;
    let config = WebSocketConfig::default().read_buffer_size(pace.recv_buffer.max(4096));
    let url = format!("ws://127.0.0.1:{port}/ws/logs");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Reads a burst of frames per tick of `pace` until stopped; reconnects when the
/// server closes it. `go_at` is when the stream began (for
/// `first_notice_s`), set once the go file exists.
pub async fn slow(
    port: u16,
    pace: SlowPace,
    go_at: Arc<OnceLock<Instant>>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> SlowResult {
    let mut result = SlowResult::default();
    let period = Duration::from_secs_f64(1.0 / pace.frames_per_s.max(0.001));
    'connections: loop {
        let mut ws = match connect_slow(port, pace).await {
            Ok(ws) => ws,
            Err(error) => {
                result.error = Some(format!("connecting: {error:#}"));
                break;
            }
        };
        result.connections += 1;
        // Each connection numbers from wherever the stream is.
        let mut last: Option<u64> = None;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    break 'connections;
                }
                _ = tick.tick() => {}
            }
            for _ in 0..pace.burst.max(1) {
                let message = tokio::select! {
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        break 'connections;
                    }
                    message = ws.next() => message,
                };
                let ended = match message {
                    Some(Ok(Message::Text(text))) => {
                        result.frames += 1;
                        if let Ok(head) = serde_json::from_str::<Head<'_>>(text.as_str()) {
                            slow_entry(&mut result, &mut last, &head, go_at.get(), &progress);
                        }
                        None
                    }
                    Some(Ok(Message::Close(frame))) => Some(match frame {
                        Some(f) => {
                            format!("closed by the server: {} {}", u16::from(f.code), f.reason)
                        }
                        None => "closed by the server".to_owned(),
                    }),
                    Some(Ok(_)) => None,
                    Some(Err(error)) => Some(error.to_string()),
                    None => Some("the connection ended".to_owned()),
                };
                if let Some(why) = ended {
                    if !result.closes.contains(&why) {
                        result.closes.push(why);
                    }
                    // Give a dying server a moment rather than spinning.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'connections;
                }
            }
        }
    }
    result
}

fn slow_entry(
    result: &mut SlowResult,
    last: &mut Option<u64>,
    head: &Head<'_>,
    go_at: Option<&Instant>,
    progress: &Progress,
) {
    if let Some(dropped) = head.dropped {
        result.notices += 1;
        result.dropped += dropped;
        progress.slow_notices.fetch_add(1, Ordering::Relaxed);
        if result.first_notice_s.is_none() {
            result.first_notice_s = go_at.map(|t| t.elapsed().as_secs_f64());
        }
        // The notice carries the seq of the last entry it skipped.
        if let Some(prev) = *last {
            if head.seq.saturating_sub(prev) != dropped {
                result.notice_mismatches += 1;
            }
        }
        *last = Some(head.seq);
        return;
    }
    result.entries += 1;
    match *last {
        Some(prev) if head.seq <= prev => result.repeats += 1,
        Some(prev) if head.seq > prev + 1 => {
            result.unannounced_gaps += 1;
            result.unannounced_missing += head.seq - prev - 1;
            *last = Some(head.seq);
        }
        _ => *last = Some(head.seq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_checks_count_gaps_and_repeats() {
        let mut s = SeqCheck::starting_at(1);
        for seq in [1, 2, 3, 5, 5, 4, 6] {
            s.see(seq);
        }
        assert_eq!((s.gaps, s.missing, s.repeats), (1, 1, 2));
        assert_eq!((s.first, s.last), (Some(1), Some(6)));
        let mut late = SeqCheck::starting_at(1);
        late.see(3);
        assert_eq!((late.gaps, late.missing), (1, 2));
        let mut any = SeqCheck::default();
        any.see(40);
        any.see(41);
        assert!(any.clean());
    }

    #[test]
    fn slow_client_tells_announced_from_unannounced_gaps() {
        let progress = Progress::default();
        let started = Instant::now();
        let mut result = SlowResult::default();
        let mut last = None;
        let frames = [
            r#"{"message":"a","seq":10}"#,
            r#"{"message":"b","seq":11}"#,
            r#"{"message":"3 dropped","seq":14,"dropped":3}"#,
            r#"{"message":"c","seq":15}"#,
            r#"{"message":"d","seq":18}"#,
            r#"{"message":"2 dropped","seq":25,"dropped":2}"#,
        ];
        for frame in frames {
            let head: Head<'_> = serde_json::from_str(frame).expect("valid frame");
            slow_entry(&mut result, &mut last, &head, Some(&started), &progress);
        }
        assert_eq!(result.entries, 4);
        assert_eq!((result.notices, result.dropped), (2, 5));
        assert_eq!(
            (result.unannounced_gaps, result.unannounced_missing),
            (1, 2)
        );
        assert_eq!(result.notice_mismatches, 1);
        assert!(result.first_notice_s.is_some());
    }
}
