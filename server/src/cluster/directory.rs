//! Who runs what where: this node's processes come from its supervisor,
//! the other nodes' from the states bucket (each node writes its own, under
//! `<node>.<process>`), and whether a node is alive from the heartbeat it
//! writes to the nodes bucket. A node not heard from for `offline_after`
//! is offline: its processes are shown as it last reported them, with the
//! time it was last seen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::NodeInfo;
use app::ProcessInfo;
use async_nats::jetstream::kv;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{Link, Ready};
use crate::supervisor::SupervisorHandle;

/// This node's processes are written again this often (their CPU and
/// memory figures change without a state change).
const REFRESH: Duration = Duration::from_secs(5);

/// What a node writes as its heartbeat.
#[derive(Debug, Serialize, Deserialize)]
struct Heartbeat {
    node: String,
    #[serde(with = "app::log_entry::rfc3339_millis")]
    at: DateTime<Utc>,
}

/// Every node's processes, kept current.
#[derive(Clone, Debug)]
pub struct Directory {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: String,
    supervisor: SupervisorHandle,
    offline_after: Duration,
    /// A std mutex: held for map updates only.
    state: Mutex<State>,
    changes: broadcast::Sender<ProcessInfo>,
}

#[derive(Debug, Default)]
struct State {
    /// Other nodes' processes, by (node, name).
    remote: BTreeMap<(String, String), ProcessInfo>,
    nodes: BTreeMap<String, Seen>,
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    /// When this node received its last heartbeat.
    received: Instant,
    /// When the node wrote it.
    at: DateTime<Utc>,
    online: bool,
}

/// A subscription to process changes on every node.
#[derive(Debug)]
pub struct ProcessEvents(broadcast::Receiver<ProcessInfo>);

impl ProcessEvents {
    /// The next change; `None` when the directory is gone. A subscriber
    /// that fell behind skips to the oldest change still kept.
    pub async fn recv(&mut self) -> Option<ProcessInfo> {
        loop {
            match self.0.recv().await {
                Ok(process) => return Some(process),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Directory {
    pub fn new(node: String, supervisor: SupervisorHandle, offline_after: Duration) -> Directory {
        let (changes, _) = broadcast::channel(1024);
        Directory {
            inner: Arc::new(Inner {
                node,
                supervisor,
                offline_after,
                state: Mutex::default(),
                changes,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every node's processes: this node's first, then the others by node.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        let mut all: Vec<ProcessInfo> = self
            .inner
            .supervisor
            .list()
            .into_iter()
            .map(shared)
            .collect();
        let state = self.state();
        all.extend(
            state
                .remote
                .values()
                .map(|p| with_liveness(p.clone(), &state.nodes)),
        );
        all
    }

    /// Every node known, this one first.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut nodes = vec![NodeInfo {
            name: self.inner.node.clone(),
            online: true,
            last_seen: Utc::now(),
        }];
        nodes.extend(
            self.state()
                .nodes
                .iter()
                .filter(|(name, _)| **name != self.inner.node)
                .map(|(name, seen)| NodeInfo {
                    name: name.clone(),
                    online: seen.online,
                    last_seen: seen.at,
                }),
        );
        nodes
    }

    /// Every change from now on, on any node.
    pub fn subscribe(&self) -> ProcessEvents {
        ProcessEvents(self.inner.changes.subscribe())
    }

    /// Keeps the directory current until `stop`: writes this node's
    /// processes and heartbeat, and reads every node's.
    pub async fn run(
        self,
        link: Link,
        mut ready: watch::Receiver<Option<Ready>>,
        offline_after: Duration,
        stop: CancellationToken,
    ) {
        let mut local = self.inner.supervisor.subscribe();
        let mut heartbeat = tokio::time::interval(offline_after / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refresh = tokio::time::interval(REFRESH);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut liveness = tokio::time::interval(Duration::from_secs(1));
        let mut states_watch: Option<kv::Watch> = None;
        let mut nodes_watch: Option<kv::Watch> = None;
        // Whether this node has told the cluster about itself since the
        // link last came up.
        let mut announced = false;
        loop {
            // Nothing is written while the link is down (a write would wait
            // for its timeout); everything is written again once it is up.
            let connected = *link.status.borrow() == super::LinkStatus::Connected;
            let buckets = ready.borrow_and_update().clone().filter(|_| connected);
            match (&buckets, announced) {
                (Some(buckets), false) => {
                    self.beat(&buckets.nodes).await;
                    self.write_all(&buckets.states).await;
                    announced = true;
                }
                (None, _) => announced = false,
                (Some(_), true) => {}
            }
            if let Some(buckets) = &buckets {
                if states_watch.is_none() {
                    states_watch = watch(&buckets.states).await;
                }
                if nodes_watch.is_none() {
                    nodes_watch = watch(&buckets.nodes).await;
                }
            }
            let mut status = link.status.clone();
            status.borrow_and_update();
            let event = tokio::select! {
                () = stop.cancelled() => return,
                changed = ready.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return,
                },
                _ = status.changed() => continue,
                event = local.recv() => match event {
                    Ok(process) => Event::Local(process),
                    Err(_) => return,
                },
                _ = heartbeat.tick() => Event::Heartbeat,
                _ = refresh.tick() => Event::Refresh,
                _ = liveness.tick() => Event::Liveness,
                entry = next(&mut states_watch) => Event::State(entry),
                entry = next(&mut nodes_watch) => Event::Node(entry),
            };
            match event {
                Event::Local(process) => {
                    let process = shared(process);
                    let _ = self.inner.changes.send(process.clone());
                    if let Some(buckets) = &buckets {
                        self.write(&buckets.states, &process).await;
                    }
                }
                Event::Heartbeat => {
                    if let Some(buckets) = &buckets {
                        self.beat(&buckets.nodes).await;
                    }
                }
                Event::Refresh => {
                    if let Some(buckets) = &buckets {
                        self.write_all(&buckets.states).await;
                    }
                }
                Event::Liveness => self.check_liveness(),
                // A watch that broke is made again on the next turn.
                Event::State(Some(Ok(entry))) => self.read_state(entry),
                Event::State(_) => states_watch = None,
                Event::Node(Some(Ok(entry))) => self.read_heartbeat(entry),
                Event::Node(_) => nodes_watch = None,
            }
            // Hold off a little before watching again after a failure.
            if buckets.is_some() && (states_watch.is_none() || nodes_watch.is_none()) {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// Writes this node's heartbeat.
    async fn beat(&self, nodes: &kv::Store) {
        let beat = Heartbeat {
            node: self.inner.node.clone(),
            at: Utc::now(),
        };
        if let Ok(json) = serde_json::to_vec(&beat) {
            if let Err(error) = nodes.put(&self.inner.node, Bytes::from(json)).await {
                tracing::debug!("cluster: heartbeat not written: {error}");
            }
        }
    }

    /// Writes every process of this node as it stands now.
    async fn write_all(&self, states: &kv::Store) {
        for process in self.inner.supervisor.list() {
            self.write(states, &process).await;
        }
    }

    async fn write(&self, states: &kv::Store, process: &ProcessInfo) {
        let key = format!("{}.{}", self.inner.node, process.name);
        if let Ok(json) = serde_json::to_vec(&shared(process.clone())) {
            if let Err(error) = states.put(&key, Bytes::from(json)).await {
                tracing::debug!("cluster: state of {key} not written: {error}");
            }
        }
    }

    fn read_state(&self, entry: kv::Entry) {
        let Some((node, name)) = entry.key.split_once('.') else {
            return;
        };
        if node == self.inner.node {
            return;
        }
        let key = (node.to_owned(), name.to_owned());
        let changed = {
            let mut state = self.state();
            match entry.operation {
                kv::Operation::Put => match serde_json::from_slice::<ProcessInfo>(&entry.value) {
                    Ok(process) => {
                        state.remote.insert(key, process.clone());
                        Some(with_liveness(process, &state.nodes))
                    }
                    Err(_) => None,
                },
                kv::Operation::Delete | kv::Operation::Purge => {
                    state.remote.remove(&key);
                    None
                }
            }
        };
        if let Some(process) = changed {
            let _ = self.inner.changes.send(process);
        }
    }

    fn read_heartbeat(&self, entry: kv::Entry) {
        if entry.key == self.inner.node || entry.operation != kv::Operation::Put {
            return;
        }
        let Ok(beat) = serde_json::from_slice::<Heartbeat>(&entry.value) else {
            return;
        };
        // A heartbeat written long ago (a node that died before this one
        // started) does not make its node alive.
        let age = (Utc::now() - beat.at).to_std().unwrap_or_default();
        let fresh = age < self.inner.offline_after;
        let came_back = {
            let mut state = self.state();
            let was_online = state.nodes.get(&entry.key).is_some_and(|seen| seen.online);
            state.nodes.insert(
                entry.key.clone(),
                Seen {
                    received: if fresh {
                        Instant::now()
                    } else {
                        Instant::now() - self.inner.offline_after
                    },
                    at: beat.at,
                    online: fresh,
                },
            );
            fresh && !was_online
        };
        if came_back {
            self.announce_node(&entry.key);
        }
    }

    /// Marks nodes whose heartbeat stopped as offline, and says so.
    fn check_liveness(&self) {
        let gone: Vec<String> = {
            let mut state = self.state();
            let limit = self.inner.offline_after;
            state
                .nodes
                .iter_mut()
                .filter(|(_, seen)| seen.online && seen.received.elapsed() > limit)
                .map(|(name, seen)| {
                    seen.online = false;
                    name.clone()
                })
                .collect()
        };
        for node in gone {
            tracing::warn!("cluster: node {node} stopped reporting; it is offline");
            self.announce_node(&node);
        }
    }

    /// Sends every process of `node` as it stands now.
    fn announce_node(&self, node: &str) {
        let processes: Vec<ProcessInfo> = {
            let state = self.state();
            state
                .remote
                .iter()
                .filter(|((n, _), _)| n == node)
                .map(|(_, p)| with_liveness(p.clone(), &state.nodes))
                .collect()
        };
        for process in processes {
            let _ = self.inner.changes.send(process);
        }
    }
}

/// `process` as the cluster sees it: without `start_seq`, which numbers
/// this node's entries, not the stream's (its `started_at` says when the
/// run began).
fn shared(mut process: ProcessInfo) -> ProcessInfo {
    process.start_seq = None;
    process
}

/// `process` marked offline (since its node was last seen) if its node is.
fn with_liveness(mut process: ProcessInfo, nodes: &BTreeMap<String, Seen>) -> ProcessInfo {
    let seen = process.node.as_ref().and_then(|node| nodes.get(node));
    process.offline_since = match seen {
        Some(seen) if !seen.online => Some(seen.at),
        // Reported, but never heard from: offline since it reported.
        None => process.started_at.or(Some(Utc::now())),
        _ => None,
    };
    if process.offline_since.is_some() {
        process.cpu_percent = None;
        process.rss_bytes = None;
        process.uptime_secs = None;
    }
    process
}

/// What woke the directory.
enum Event {
    Local(ProcessInfo),
    Heartbeat,
    Refresh,
    Liveness,
    State(Option<Result<kv::Entry, kv::WatcherError>>),
    Node(Option<Result<kv::Entry, kv::WatcherError>>),
}

/// Watches every key of `bucket`, current values first.
async fn watch(bucket: &kv::Store) -> Option<kv::Watch> {
    match bucket.watch_with_history(">").await {
        Ok(watch) => Some(watch),
        Err(error) => {
            tracing::warn!("cluster: cannot watch the other nodes: {error}");
            None
        }
    }
}

/// The next entry of `watch` (pending forever while there is none).
async fn next(watch: &mut Option<kv::Watch>) -> Option<Result<kv::Entry, kv::WatcherError>> {
    match watch {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}
