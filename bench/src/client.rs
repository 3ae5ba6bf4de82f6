//! The clients: Rust WebSocket clients for Logdeck, the limit and the DMB
//! model, and the Node socket.io-client@2 one (`peers/frontail_client.js`)
//! for frontail. Both kinds count the same things the same way.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::clock::mono_ns;
use crate::histogram::Histogram;
use crate::line::stamps;
use crate::system::Tools;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What one client saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientResult {
    /// Lines received (a frame may carry several).
    pub received: u64,
    /// Lines received inside the measurement window.
    pub in_window: u64,
    pub frames: u64,
    /// Frames that carried no line but a drop notice.
    pub notices: u64,
    /// Lines skipped, seen as jumps in `seq`.
    pub gaps: u64,
    pub out_of_order: u64,
    pub latency: Histogram,
    pub error: Option<String>,
    /// It stopped reading on purpose.
    pub stalled: bool,
}

impl ClientResult {
    fn line(&mut self, seq: u64, latency_ns: u64, next_seq: &mut u64, in_window: bool) {
        self.received += 1;
        if in_window {
            self.in_window += 1;
        }
        self.latency.record(latency_ns);
        if seq < *next_seq {
            self.out_of_order += 1;
        } else {
            self.gaps += seq - *next_seq;
            *next_seq = seq + 1;
        }
    }
}

/// The measurement window and the running count every client adds to.
#[derive(Debug, Default)]
pub struct Shared {
    pub window_start: AtomicU64,
    pub window_end: AtomicU64,
    /// Lines received by all reading clients so far.
    pub received: AtomicU64,
}

/// A set of clients of one system, of either kind.
#[derive(Debug)]
pub enum Clients {
    Rust(RustClients),
    // Boxed: it is several times the size of the Rust variant.
    Node(Box<NodeClients>),
}

impl Clients {
    /// Connects `reading` clients that read everything and `stalled` that
    /// stop reading at once.
    pub async fn connect(
        url: &str,
        node: Option<&Tools>,
        reading: usize,
        stalled: usize,
    ) -> anyhow::Result<Clients> {
        Ok(match node {
            Some(tools) => Clients::Node(Box::new(
                NodeClients::start(tools, url, reading, stalled).await?,
            )),
            None => Clients::Rust(RustClients::connect(url, reading, stalled).await?),
        })
    }

    /// Opens the measurement window `[start, end)` (CLOCK_MONOTONIC ns).
    pub async fn window(&mut self, start: u64, end: u64) -> anyhow::Result<()> {
        match self {
            Clients::Rust(c) => {
                c.shared.window_start.store(start, Ordering::Relaxed);
                c.shared.window_end.store(end, Ordering::Relaxed);
                Ok(())
            }
            Clients::Node(c) => c.command(&format!("window {start} {end}")).await,
        }
    }

    /// Lines received by the reading clients so far.
    pub fn received(&self) -> u64 {
        match self {
            Clients::Rust(c) => c.shared.received.load(Ordering::Relaxed),
            Clients::Node(c) => c.received.load(Ordering::Relaxed),
        }
    }

    pub async fn finish(self) -> anyhow::Result<Vec<ClientResult>> {
        match self {
            Clients::Rust(c) => c.finish().await,
            Clients::Node(c) => (*c).finish().await,
        }
    }
}

#[derive(Debug)]
pub struct RustClients {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<ClientResult>>,
}

/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 64;

impl RustClients {
    pub async fn connect(url: &str, reading: usize, stalled: usize) -> anyhow::Result<RustClients> {
        let sockets: Vec<Ws> = futures::stream::iter(0..reading + stalled)
            .map(|_| async move {
                let (ws, _) = tokio_tungstenite::connect_async(url).await?;
                anyhow::Ok(ws)
            })
            .buffered(CONNECT_CONCURRENCY)
            .try_collect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        let tasks = sockets
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                if i < reading {
                    tokio::spawn(read(ws, shared.clone(), stopped.clone()))
                } else {
                    tokio::spawn(stall(ws, stopped.clone()))
                }
            })
            .collect();
        Ok(RustClients {
            shared,
            stop,
            tasks,
        })
    }

    async fn finish(self) -> anyhow::Result<Vec<ClientResult>> {
        let _ = self.stop.send(true);
        let mut results = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            results.push(task.await.context("client task")?);
        }
        Ok(results)
    }
}

async fn read(mut ws: Ws, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> ClientResult {
    let mut result = ClientResult::default();
    let mut next_seq = 1;
    loop {
        tokio::select! {
            biased;
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let now = mono_ns();
                    let in_window = now >= shared.window_start.load(Ordering::Relaxed)
                        && now < shared.window_end.load(Ordering::Relaxed);
                    result.frames += 1;
                    let before = result.received;
                    for stamp in stamps(&text) {
                        result.line(stamp.seq, now.saturating_sub(stamp.t_ns), &mut next_seq, in_window);
                    }
                    let lines = result.received - before;
                    if lines == 0 && text.contains("\"dropped\"") {
                        result.notices += 1;
                    }
                    shared.received.fetch_add(lines, Ordering::Relaxed);
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

/// Holds the connection without reading from it, so the server's writes
/// back up: the slow client of the isolation scenario.
async fn stall(ws: Ws, mut stop: watch::Receiver<bool>) -> ClientResult {
    let _ = stop.changed().await;
    drop(ws);
    ClientResult {
        stalled: true,
        ..ClientResult::default()
    }
}

/// The Node client process and what it reports.
#[derive(Debug)]
pub struct NodeClients {
    child: Child,
    stdin: ChildStdin,
    received: Arc<AtomicU64>,
    result: oneshot::Receiver<anyhow::Result<Vec<ClientResult>>>,
}

/// One client as `frontail_client.js` reports it.
#[derive(Debug, Deserialize)]
struct NodeClient {
    received: u64,
    in_window: u64,
    frames: u64,
    gaps: u64,
    out_of_order: u64,
    max_ns: u64,
    /// Sparse histogram: `[bucket, count]` pairs (see `histogram`).
    buckets: Vec<(usize, u64)>,
    error: Option<String>,
    stalled: bool,
}

const NODE_READY_DEADLINE: Duration = Duration::from_secs(120);

impl NodeClients {
    async fn start(
        tools: &Tools,
        url: &str,
        reading: usize,
        stalled: usize,
    ) -> anyhow::Result<NodeClients> {
        let mut child = Command::new(&tools.node)
            .arg(&tools.frontail_client)
            .arg("--url")
            .arg(url)
            .arg("--clients")
            .arg(reading.to_string())
            .arg("--stalled")
            .arg(stalled.to_string())
            .env("NODE_PATH", &tools.node_modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the Node client")?;
        let stdin = child.stdin.take().context("node stdin")?;
        let stdout = child.stdout.take().context("node stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(NODE_READY_DEADLINE, async {
            while let Some(line) = lines.next_line().await? {
                if line == "ready" {
                    return Ok(());
                }
                if let Some(error) = line.strip_prefix("error ") {
                    bail!("the Node client failed: {error}");
                }
            }
            bail!("the Node client exited before it was ready")
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => bail!("the Node client did not connect within {NODE_READY_DEADLINE:?}"),
        }
        let received = Arc::new(AtomicU64::new(0));
        let (send, result) = oneshot::channel();
        let progress = received.clone();
        tokio::spawn(async move {
            let outcome = async {
                while let Some(line) = lines.next_line().await? {
                    if let Some(n) = line.strip_prefix("progress ") {
                        progress.store(n.trim().parse().unwrap_or(0), Ordering::Relaxed);
                    } else if let Some(json) = line.strip_prefix("result ") {
                        let clients: Vec<NodeClient> = serde_json::from_str(json)?;
                        return Ok(clients.into_iter().map(NodeClient::into_result).collect());
                    }
                }
                bail!("the Node client exited without a result")
            }
            .await;
            let _ = send.send(outcome);
        });
        Ok(NodeClients {
            child,
            stdin,
            received,
            result,
        })
    }

    async fn command(&mut self, command: &str) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<Vec<ClientResult>> {
        self.command("stop").await?;
        let result = tokio::time::timeout(Duration::from_secs(60), self.result)
            .await
            .context("the Node client did not report within 60 s")?
            .context("the Node client's reader ended")?;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        result
    }
}

impl NodeClient {
    fn into_result(self) -> ClientResult {
        let mut latency = Histogram::default();
        for (bucket, n) in self.buckets {
            latency.record_n(bucket, n);
        }
        latency.max_ns = self.max_ns;
        ClientResult {
            received: self.received,
            in_window: self.in_window,
            frames: self.frames,
            notices: 0,
            gaps: self.gaps,
            out_of_order: self.out_of_order,
            latency,
            error: self.error,
            stalled: self.stalled,
        }
    }
}
