//! The process table, live from `/ws/status`.

use leptos::prelude::*;

use crate::process::ProcessInfo;

/// Every configured process, kept current.
#[derive(Clone, Copy, Debug)]
pub struct ProcessTable {
    pub processes: RwSignal<Vec<ProcessInfo>>,
    /// Whether the status socket is connected.
    pub connected: RwSignal<bool>,
}

impl ProcessTable {
    pub fn get(&self, name: &str) -> Option<ProcessInfo> {
        self.processes
            .with(|all| all.iter().find(|p| p.name == name).cloned())
    }

    /// Applies one message from the server.
    pub fn apply(&self, message: crate::process::StatusMessage) {
        use crate::process::StatusMessage;
        match message {
            StatusMessage::Snapshot { processes } => self.processes.set(processes),
            StatusMessage::Process { process } => {
                self.processes.update(
                    |all| match all.iter_mut().find(|p| p.name == process.name) {
                        Some(slot) => *slot = process,
                        None => all.push(process),
                    },
                )
            }
        }
    }
}

/// Subscribes to `/ws/status` once the page runs in the browser, and
/// reconnects when the connection drops.
pub fn use_process_status() -> ProcessTable {
    let table = ProcessTable {
        processes: RwSignal::new(Vec::new()),
        connected: RwSignal::new(false),
    };
    #[cfg(feature = "hydrate")]
    browser::connect(table);
    table
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::time::Duration;

    use futures::channel::oneshot;
    use futures::{future, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use super::ProcessTable;
    use crate::backoff::Backoff;
    use crate::hooks::use_log_stream::{sleep, socket_url};
    use crate::process::StatusMessage;

    const RECONNECT: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(10),
        multiplier: 2.0,
    };

    pub(super) fn connect(table: ProcessTable) {
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        on_cleanup(move || drop(cancel_tx));
        let mut cancel_rx = Some(cancel_rx);
        Effect::new(move |_| {
            if let Some(cancel_rx) = cancel_rx.take() {
                spawn_local(async move {
                    future::select(Box::pin(follow(table)), cancel_rx).await;
                });
            }
        });
    }

    async fn follow(table: ProcessTable) {
        let mut attempt = 0;
        loop {
            if let Ok(mut socket) = WebSocket::open(&socket_url("/ws/status")) {
                while let Some(message) = socket.next().await {
                    let Ok(Message::Text(text)) = message else {
                        break;
                    };
                    if let Ok(message) = serde_json::from_str::<StatusMessage>(&text) {
                        table.connected.set(true);
                        attempt = 0;
                        table.apply(message);
                    }
                }
            }
            table.connected.set(false);
            attempt += 1;
            sleep(RECONNECT.delay(attempt, js_sys::Math::random())).await;
        }
    }
}
