//! `GET /ws/status`: the full process table on connect, then one JSON
//! message per change, and fresh CPU and memory figures once a second
//! while the client stays connected. In a cluster, every node's processes
//! (the others' as their nodes report them).

use app::StatusMessage;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::connection::ClientAddr;
use super::AppState;
use crate::cluster::ProcessEvents;
use crate::supervisor::StatusEvents;

/// Process changes: this node's, or every node's in a cluster.
enum Changes {
    Local(StatusEvents),
    Cluster(ProcessEvents),
}

impl Changes {
    async fn recv(&mut self) -> Option<app::ProcessInfo> {
        match self {
            Changes::Local(events) => events.recv().await.ok(),
            Changes::Cluster(events) => events.recv().await,
        }
    }
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
) -> Response {
    let slot = match state.clients.enter(client.ip()) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    // Subscribe before the snapshot so no change falls between the two.
    let events = match &state.cluster {
        Some(cluster) => Changes::Cluster(cluster.directory.subscribe()),
        None => Changes::Local(state.supervisor.subscribe()),
    };
    // The same bound on what a client may send as on /ws/logs: a frame
    // (or a message of many) over it closes the connection instead of
    // being buffered.
    ws.max_message_size(super::ws_logs::MAX_CLIENT_FRAME)
        .max_frame_size(super::ws_logs::MAX_CLIENT_FRAME)
        .read_buffer_size(super::ws_logs::MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            let shutdown = state.shutdown.clone();
            serve(socket, state, events, shutdown).await;
            drop(slot);
        })
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    mut events: Changes,
    shutdown: CancellationToken,
) {
    let supervisor = &state.supervisor;
    let (mut sink, mut incoming) = socket.split();
    let snapshot = StatusMessage::Snapshot {
        processes: super::processes::all(&state),
    };
    if sink.send(text(&snapshot)).await.is_err() {
        return;
    }
    let mut resources = tokio::time::interval(supervisor.sample_interval());
    resources.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    resources.tick().await;
    loop {
        let sent = tokio::select! {
            // A state change goes out before a snapshot taken after it.
            biased;
            event = events.recv() => match event {
                Some(process) => sink.send(text(&StatusMessage::Process { process })).await,
                None => break,
            },
            _ = resources.tick() => {
                let mut result = Ok(());
                for process in supervisor.list().into_iter().filter(|p| p.state.is_alive()) {
                    result = sink.feed(text(&StatusMessage::Process { process })).await;
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => sink.flush().await,
                    error => error,
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => Ok(()),
            },
            _ = shutdown.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

fn text(message: &StatusMessage) -> Message {
    // Serialising these plain structs cannot fail.
    let json = serde_json::to_string(message).unwrap_or_default();
    Message::Text(Utf8Bytes::from(json))
}
