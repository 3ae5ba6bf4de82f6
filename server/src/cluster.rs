//! The cluster: Logdeck nodes on several hosts share their entries, the
//! states of their processes and control of them through NATS JetStream.
//! Present only with a `[cluster]` section; without one nothing here runs.
//!
//! Each node
//! - publishes every entry of its own hub to the stream (subject
//!   `logdeck.logs.<node>.<process>`), pipelined, from a bounded buffer that
//!   rides out a lost connection ([`publisher`]);
//! - reads the whole stream once, in order, into the hub its viewers read
//!   (the view hub), so an entry's `seq` is its stream sequence and the same
//!   on every node ([`view`]);
//! - keeps its processes' states and a heartbeat in KV buckets, and watches
//!   every node's ([`directory`]);
//! - answers start/stop/restart for its own processes on
//!   `logdeck.ctl.<node>` ([`control`]).
//!
//! # Layout
//! - [`link`]: the NATS connection and its status.
//! - [`publisher`], [`view`], [`directory`], [`control`]: as above.

pub mod control;
pub mod directory;
pub mod link;
pub mod publisher;
pub mod view;

use std::sync::Arc;

use app::protocol::ProcessAction;
use app::ProcessInfo;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::hub::LogHub;
use crate::supervisor::SupervisorHandle;
pub use directory::{Directory, ProcessEvents};
pub use link::LinkStatus;
pub use view::StreamReader;

/// Why the cluster could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server refused the credentials: a configuration error,
    /// not something to retry.
    #[error(
        "the NATS server refused this node's credentials (cluster.token / cluster.creds): {0}"
    )]
    Refused(String),
    #[error("cannot set up the cluster connection: {0}")]
    Setup(String),
}

/// What the rest of the server needs of the cluster.
#[derive(Clone, Debug)]
pub struct ClusterHandle {
    pub node: String,
    pub link: watch::Receiver<LinkStatus>,
    pub directory: Directory,
    pub reader: StreamReader,
    pub publisher: Arc<publisher::PublisherStats>,
    control: control::Controller,
}

impl ClusterHandle {
    /// Every node's processes: this node's from its supervisor, the others'
    /// as they last reported them.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.directory.processes()
    }

    /// Starts, stops or restarts process `name` of another node: what
    /// that node's supervisor answered, or why there was no answer.
    pub async fn control(
        &self,
        node: &str,
        name: &str,
        action: ProcessAction,
    ) -> Result<Result<ProcessInfo, crate::supervisor::ControlError>, String> {
        self.control.request(node, name, action).await
    }

    pub fn status(&self) -> LinkStatus {
        *self.link.borrow()
    }
}

/// The running cluster's tasks; stopped with the server.
#[derive(Debug)]
pub struct Cluster {
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
    publisher: Option<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Connects to the cluster's NATS servers as `node`. Returns once the
    /// connection is under way: an unreachable server is retried in the
    /// background, refused credentials are an error (before any process
    /// starts).
    pub async fn connect(config: &ClusterConfig, node: &str) -> Result<link::Link, ClusterError> {
        link::Link::connect(config, node).await
    }

    /// Joins the cluster over `link` as `node`: publishes `local`'s
    /// entries, feeds the stream into `view`, and reports and answers for
    /// `supervisor`'s processes.
    pub fn start(
        link: link::Link,
        config: &ClusterConfig,
        node: String,
        local: &LogHub,
        view: Arc<LogHub>,
        supervisor: SupervisorHandle,
    ) -> (Cluster, ClusterHandle) {
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let ready = link::ready(&link, config, &mut tasks, stop.clone());
        let stats = Arc::new(publisher::PublisherStats::default());
        let publisher = tokio::spawn(
            publisher::Publisher::new(
                config,
                node.clone(),
                local,
                link.clone(),
                ready.clone(),
                stats.clone(),
            )
            .run(stop.clone()),
        );
        let reader = StreamReader::new(link.clone(), ready.clone(), config.stream.clone());
        tasks.spawn(view::follow(reader.clone(), view.clone(), stop.clone()));
        let directory = Directory::new(node.clone(), supervisor.clone(), config.offline_after);
        tasks.spawn(directory.clone().run(
            link.clone(),
            ready.clone(),
            config.offline_after,
            stop.clone(),
        ));
        tasks.spawn(control::serve(
            link.clone(),
            node.clone(),
            supervisor,
            stop.clone(),
        ));
        let handle = ClusterHandle {
            node,
            link: link.status.clone(),
            directory,
            reader,
            publisher: stats,
            control: control::Controller::new(link),
        };
        (
            Cluster {
                stop,
                tasks,
                publisher: Some(publisher),
            },
            handle,
        )
    }

    /// Publishes what is still buffered (for at most `grace`), then stops.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        self.stop.cancel();
        if let Some(publisher) = self.publisher.take() {
            let _ = tokio::time::timeout(grace, publisher).await;
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
