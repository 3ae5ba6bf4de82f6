//! "The limit": the least a server can do to fan child output out over
//! WebSockets, to measure Logdeck against.
//!
//! tokio + tokio-tungstenite; one reader task per child pipe; each line
//! wrapped once in the four-field JSON (`message`, `level`,
//! `process_name`, `timestamp`) and the same bytes broadcast to every client
//! through `tokio::sync::broadcast`; each client task drains what is queued
//! (up to 1000 frames) with `feed`, then `flush`es once. A client that falls
//! more than `--capacity` frames behind skips ahead. `GET /health` answers
//! 200 so start-up can be timed the same way as Logdeck's.
//!
//! `bench-limit --addr 127.0.0.1:0 --command "/path/gen --rate 10"` (repeat
//! `--command` for more processes; arguments are split on whitespace).

use std::process::Stdio;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// A process to run (program and arguments, split on whitespace).
    #[arg(long)]
    command: Vec<String>,
    /// Frames a client may fall behind before it skips.
    #[arg(long, default_value_t = 16_384)]
    capacity: usize,
}

const MAX_FRAMES_PER_FLUSH: usize = 1000;
const READ_BUFFER: usize = 4096;

#[derive(Serialize)]
struct Entry<'a> {
    message: &'a str,
    level: &'a str,
    process_name: &'a str,
    timestamp: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.addr).await.context("binding")?;
    let (frames, _) = broadcast::channel::<Bytes>(args.capacity.max(1));
    let mut children: Vec<Child> = Vec::new();
    for (i, command) in args.command.iter().enumerate() {
        let mut parts = command.split_whitespace();
        let program = parts.next().context("empty --command")?;
        let mut child = Command::new(program)
            .args(parts)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {program}"))?;
        let name: std::sync::Arc<str> = format!("gen{i}").into();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_pipe(out, name.clone(), frames.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_pipe(err, name, frames.clone()));
        }
        children.push(child);
    }
    let address = listener.local_addr()?;
    // The same announcement as Logdeck's, so the runner treats both alike.
    #[allow(clippy::print_stderr)] // a binary's one start-up line
    {
        eprintln!("bench-limit listening on http://{address}");
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream, frames.subscribe()));
                }
            }
            _ = terminate.recv() => break,
        }
    }
    for child in &mut children {
        let _ = child.kill().await;
    }
    Ok(())
}

async fn read_pipe(
    pipe: impl AsyncRead + Unpin,
    name: std::sync::Arc<str>,
    frames: broadcast::Sender<Bytes>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let message = String::from_utf8_lossy(&line);
        let entry = Entry {
            level: level_of(&message),
            message: &message,
            process_name: &name,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        if let Ok(json) = serde_json::to_vec(&entry) {
            // No subscribers is fine.
            let _ = frames.send(Bytes::from(json));
        }
    }
}

/// The level word at the start of the line, as Logdeck would name it.
fn level_of(message: &str) -> &'static str {
    match message.split(' ').next().unwrap_or_default() {
        "DEBUG" | "TRACE" => "DEBUG",
        "WARN" | "WARNING" => "WARNING",
        "ERROR" => "ERROR",
        "CRITICAL" | "FATAL" => "CRITICAL",
        _ => "INFO",
    }
}

async fn serve(stream: TcpStream, frames: broadcast::Receiver<Bytes>) {
    let mut head = [0u8; 16];
    let peeked = stream.peek(&mut head).await.unwrap_or(0);
    if head[..peeked].starts_with(b"GET /health") {
        let _ = health(stream).await;
        return;
    }
    // Clients send nothing but pongs and closes: a small read buffer (the
    // default is 128 KiB, zero-filled on the first read) keeps an idle
    // connection cheap.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut incoming) = ws.split();
    // Read (and answer pings) only to notice the client leaving.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = incoming.next().await {} });
    let mut frames = frames;
    'client: loop {
        let first = match frames.recv().await {
            Ok(frame) => frame,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => break,
        };
        if feed(&mut sink, first).await.is_err() {
            break;
        }
        for _ in 1..MAX_FRAMES_PER_FLUSH {
            match frames.try_recv() {
                Ok(frame) => {
                    if feed(&mut sink, frame).await.is_err() {
                        break 'client;
                    }
                }
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if sink.flush().await.is_err() || reader.is_finished() {
            break;
        }
    }
    reader.abort();
}

async fn feed<S>(sink: &mut S, json: Bytes) -> Result<(), S::Error>
where
    S: futures::Sink<Message> + Unpin,
{
    match Utf8Bytes::try_from(json) {
        Ok(text) => sink.feed(Message::Text(text)).await,
        Err(_) => Ok(()),
    }
}

async fn health(mut stream: TcpStream) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    // Read the request head before answering so the client sees no reset.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = r#"{"status":"healthy"}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
