//! The process table, live from `/ws/status`.

use leptos::prelude::*;

use crate::process::ProcessInfo;

/// Every configured process, kept current (in a cluster, every node's).
#[derive(Clone, Copy, Debug)]
pub struct ProcessTable {
    pub processes: RwSignal<Vec<ProcessInfo>>,
    /// Whether the status socket is connected.
    pub connected: RwSignal<bool>,
}

impl ProcessTable {
    /// Process `name` of `node` (of any node when `None`).
    pub fn get(&self, name: &str, node: Option<&str>) -> Option<ProcessInfo> {
        self.processes
            .with(|all| all.iter().find(|p| p.is(name, node)).cloned())
    }

    /// The nodes with processes, in the order the server lists them (this
    /// node first); empty outside a cluster.
    pub fn nodes(&self) -> Vec<String> {
        self.processes.with(|all| {
            let mut nodes: Vec<String> = Vec::new();
            for node in all.iter().filter_map(|p| p.node.as_ref()) {
                if !nodes.contains(node) {
                    nodes.push(node.clone());
                }
            }
            nodes
        })
    }

    /// Applies one message from the server.
    pub fn apply(&self, message: crate::process::StatusMessage) {
        use crate::process::StatusMessage;
        match message {
            StatusMessage::Snapshot { processes } => self.processes.set(processes),
            StatusMessage::Process { process } => self.processes.update(|all| {
                match all
                    .iter_mut()
                    .find(|p| p.name == process.name && p.node == process.node)
                {
                    Some(slot) => *slot = process,
                    None => all.push(process),
                }
            }),
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
    // Its socket opens once the page's first rows are shown.
    #[cfg(feature = "hydrate")]
    crate::hooks::startup::use_startup().then(move || browser::connect(table));
    table
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;

    use super::ProcessTable;
    use crate::hooks::reconnect::{run_while_mounted, socket_url, Retry};
    use crate::process::StatusMessage;

    pub(super) fn connect(table: ProcessTable) {
        run_while_mounted(move || follow(table));
    }

    async fn follow(table: ProcessTable) {
        let mut retry = Retry::default();
        loop {
            let mut connected = false;
            if let Ok(mut socket) = WebSocket::open(&socket_url("/ws/status")) {
                while let Some(message) = socket.next().await {
                    let Ok(Message::Text(text)) = message else {
                        break;
                    };
                    if let Ok(message) = serde_json::from_str::<StatusMessage>(&text) {
                        table.connected.set(true);
                        connected = true;
                        table.apply(message);
                    }
                }
            }
            table.connected.set(false);
            retry.next(connected);
            retry.wait().await;
        }
    }
}
