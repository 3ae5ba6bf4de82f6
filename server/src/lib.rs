//! Logdeck's server: runs the configured processes, turns every line they
//! print into a structured entry, and streams the entries to browsers over
//! `/ws/logs`, next to the server-rendered log viewer.
//!
//! The server is a library so tests can start it in-process on a port of
//! their choosing; `main.rs` only parses the command line.
//!
//! # Layout
//! - [`config`]: the TOML configuration, strictly validated.
//! - [`supervisor`]: runs each process through its lifecycle (dependencies,
//!   readiness, restarts with backoff, stops), one task each.
//! - [`capture`]: splits a pipe into lines and detects their level.
//! - [`hub`]: numbers, serialises once, keeps the newest in memory and
//!   broadcasts every entry.
//! - [`redact`]: masks secrets in lines before anything keeps them.
//! - [`persist`]: a consumer of the hub: the log files (a writer thread,
//!   rotation), and reading them back.
//! - [`history`]: memory and files merged, for history and downloads.
//! - [`cluster`]: with a `[cluster]` section only: entries, process states
//!   and controls shared with the other nodes through NATS JetStream.
//! - [`web`]: pages, static files, the process API and the WebSockets;
//!   the only module that knows HTTP.
//!
//! Data flows one way: child pipe → capture → hub → consumers (the file
//! writer; the WebSockets → browser). What a consumer needs to say (the
//! writer's errors) comes back as a status this module publishes.

pub mod capture;
pub mod cluster;
pub mod config;
pub mod history;
pub mod hub;
pub mod persist;
pub mod redact;
pub mod supervisor;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use app::Level;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::history::History;
use crate::hub::{HubOptions, LogHub};
use crate::persist::files::RotatingFiles;
use crate::persist::{start_writer, LogFiles};
use crate::supervisor::Supervisor;
use crate::web::connection::{ClientAddr, GuardedListener, WRITE_STALL_LIMIT};

/// How long open connections get to finish once shutdown starts.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Entries this node's own hub keeps in a cluster (see [`run`]).
const LOCAL_MEMORY_IN_CLUSTER: usize = 1024;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("cannot start the log file writer: {0}")]
    Writer(std::io::Error),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    /// Listening beyond this machine with nothing guarding the logs and
    /// the process controls.
    #[error(
        "refusing to listen on {0} without authentication: set auth.token (or LOGDECK_TOKEN), \
         or auth.allow_unauthenticated = true if something else guards it"
    )]
    Unauthenticated(std::net::SocketAddr),
}

/// Runs Logdeck on `listener` until `shutdown` resolves, then closes every
/// connection, stops every process (and what they started) and returns.
///
/// `site` holds the Leptos settings: where the built site (wasm, CSS) lives
/// and its output name.
pub async fn run(
    listener: TcpListener,
    config: Config,
    site: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let local = listener.local_addr()?;
    if !local.ip().is_loopback()
        && config.auth.token.is_none()
        && !config.auth.allow_unauthenticated
    {
        return Err(ServerError::Unauthenticated(local));
    }
    let files = config.log_dir.as_ref().map(|dir| LogFiles {
        dir: dir.clone(),
        max_size: config.log_size,
        keep: config.log_count,
    });
    let first_seq = files
        .as_ref()
        .and_then(LogFiles::last_seq)
        .map_or(1, |seq| seq + 1);
    // In a cluster: connect first, so credentials the NATS server refuses
    // stop start-up before any process starts.
    let link = match (&config.cluster, &config.node) {
        (Some(cluster), Some(node)) => Some(Cluster::connect(cluster, node).await?),
        _ => None,
    };
    // This node's hub. In a cluster nothing reads its memory (viewers read
    // the view below; the files and the publisher take entries as they
    // come), so it keeps only a few.
    let hub = Arc::new(LogHub::new(HubOptions {
        server_name: config.name.clone(),
        memory_entries: if link.is_some() {
            LOCAL_MEMORY_IN_CLUSTER
        } else {
            config.memory_entries
        },
        memory_bytes: config.memory_bytes,
        lag_capacity: config.client_queue,
        first_seq,
        node: config.node.clone(),
    }));
    // What viewers read: this node's hub, or in a cluster a hub of their
    // own fed from the stream, numbered by it, with every node's entries.
    let view = match &link {
        Some(_) => Arc::new(LogHub::new(HubOptions {
            server_name: config.name.clone(),
            memory_entries: config.memory_entries,
            memory_bytes: config.memory_bytes,
            lag_capacity: config.client_queue,
            first_seq: 1,
            node: None,
        })),
        None => hub.clone(),
    };
    // The writer subscribes before any process starts, so the files miss
    // nothing.
    let mut writer = match &files {
        Some(files) => Some(
            start_writer(
                hub.subscribe(),
                Box::new(RotatingFiles::new(files.clone())),
                files.dir.display().to_string(),
            )
            .map_err(ServerError::Writer)?,
        ),
        None => None,
    };
    if let Some(mut reports) = writer.as_mut().and_then(|w| w.reports.take()) {
        // What the writer cannot do is told where everything is told: in
        // the log itself.
        let hub = hub.clone();
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                hub.publish_system(Level::Error, report);
            }
        });
    }
    let supervisor = Supervisor::start(&config, hub.clone());
    let (cluster, cluster_handle) = match (link, &config.cluster, &config.node) {
        (Some(link), Some(cluster), Some(node)) => {
            let (running, handle) = Cluster::start(
                link,
                cluster,
                node.clone(),
                &hub,
                view.clone(),
                supervisor.handle(),
            );
            (Some(running), Some(handle))
        }
        _ => (None, None),
    };
    let stopping = CancellationToken::new();
    let app = web::router(web::AppState {
        leptos_options: site,
        history: History {
            hub: view.clone(),
            // The files hold this node's entries numbered its own way; in
            // a cluster, history beyond memory comes from the stream.
            files: if cluster.is_some() { None } else { files },
        },
        writer_stats: writer.as_ref().map(|w| w.stats.clone()),
        hub: view,
        cluster: cluster_handle,
        supervisor: supervisor.handle(),
        auth: Arc::new(web::auth::Auth::new(&config.auth)),
        max_body: config.limits.max_body,
        history_readers: Arc::new(tokio::sync::Semaphore::new(
            web::history_api::HISTORY_READERS,
        )),
        downloads: Arc::new(tokio::sync::Semaphore::new(web::history_api::DOWNLOADS)),
        clients: Arc::new(web::ClientGauge::new(
            config.limits.max_clients,
            config.limits.max_clients_per_address,
        )),
        shutdown: stopping.clone(),
    });

    let graceful = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            stopping.cancel();
        }
    };
    let listener = GuardedListener::new(listener, WRITE_STALL_LIMIT);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ClientAddr>(),
    )
    .with_graceful_shutdown(graceful);
    let served = tokio::select! {
        served = server => served,
        // A connection that ignores the close (a stuck client) must not
        // keep the processes running.
        _ = async {
            stopping.cancelled().await;
            tokio::time::sleep(HTTP_DRAIN_TIMEOUT).await;
        } => Ok(()),
    };
    supervisor.shutdown().await;
    // Everything the processes printed is now published: write it out,
    // and send it to the cluster.
    if let Some(writer) = writer {
        writer.finish().await;
    }
    if let Some(cluster) = cluster {
        cluster.shutdown(HTTP_DRAIN_TIMEOUT).await;
    }
    served.map_err(ServerError::from)
}
