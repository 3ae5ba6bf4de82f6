//! `GET /ws/logs`: every new entry, one JSON object per text frame.

use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use super::AppState;
use crate::hub::Frame;

/// Frames queued for one client are written together and flushed once, up
/// to this many: one syscall for a burst instead of one per line.
const MAX_FRAMES_PER_FLUSH: usize = 1024;

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    // Subscribe before the handshake completes so nothing published after
    // the client's request is missed.
    let receiver = state.hub.subscribe();
    let shutdown = state.shutdown.clone();
    ws.on_upgrade(move |socket| serve(socket, receiver, shutdown))
}

async fn serve(
    socket: WebSocket,
    mut entries: tokio::sync::broadcast::Receiver<Arc<Frame>>,
    shutdown: CancellationToken,
) {
    let (mut sink, mut incoming) = socket.split();
    loop {
        tokio::select! {
            received = entries.recv() => match received {
                Ok(frame) => {
                    if send_burst(&mut sink, frame, &mut entries).await.is_err() {
                        break;
                    }
                }
                // This client fell behind and lost the oldest entries; the
                // others and the producers were not slowed down. Carry on
                // with what is still queued.
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a /ws/logs client fell behind");
                }
                Err(RecvError::Closed) => break,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                // Pings are answered by the WebSocket layer; other client
                // frames carry no meaning on this endpoint.
                Some(Ok(_)) => {}
            },
            _ = shutdown.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        }
    }
}

/// Sends `first` and whatever else is already queued, then flushes once.
async fn send_burst(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    first: Arc<Frame>,
    entries: &mut tokio::sync::broadcast::Receiver<Arc<Frame>>,
) -> Result<(), axum::Error> {
    feed(sink, &first).await?;
    for _ in 1..MAX_FRAMES_PER_FLUSH {
        match entries.try_recv() {
            Ok(frame) => feed(sink, &frame).await?,
            Err(TryRecvError::Lagged(missed)) => {
                tracing::debug!(missed, "a /ws/logs client fell behind");
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    sink.flush().await
}

async fn feed(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    frame: &Frame,
) -> Result<(), axum::Error> {
    // The bytes are serde_json output, so this check cannot fail; it is
    // the price of handing shared bytes to axum without copying them.
    match Utf8Bytes::try_from(frame.json.clone()) {
        Ok(text) => sink.feed(Message::Text(text)).await,
        Err(error) => {
            tracing::error!(seq = frame.entry.seq, %error, "skipping a frame that is not UTF-8");
            Ok(())
        }
    }
}
