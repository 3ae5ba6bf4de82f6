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
//! - [`persist`]: the writer thread every stored copy of the entries goes
//!   through, and the JSON Lines files (`log_files`): rotation, reading
//!   them back.
//! - [`store`]: a consumer of the hub: every entry in an indexed SQLite
//!   database (search, time ranges, the histogram), with retention.
//! - [`history`]: memory and the store (or the files) merged, for history
//!   and downloads.
//! - [`cluster`]: with a `[cluster]` section only: entries, process states
//!   and controls shared with the other nodes through NATS JetStream.
//! - [`alerts`]: a consumer of the hub and the supervisor's changes:
//!   rules on lines and events, sent to webhooks, Slack, Discord, ntfy.
//! - [`web`]: pages, static files, the process API, `/metrics` and the
//!   WebSockets; the only module that knows HTTP.
//!
//! Data flows one way: child pipe → capture → hub → consumers (the store,
//! the file writer, the cluster publisher, the alert rules; the WebSockets
//! → browser). What
//! a consumer needs to say (the writers' errors) comes back as a status
//! this module publishes.

pub mod alerts;
pub mod capture;
pub mod cluster;
pub mod config;
pub mod history;
pub mod hub;
pub mod persist;
pub mod redact;
pub mod site;
pub mod store;
pub mod supervisor;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use app::Level;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::history::History;
use crate::hub::{HubOptions, LogHub};
use crate::persist::files::RotatingFiles;
use crate::persist::{start_writer, writer_overflow, LogFiles, WriterHandle};
use crate::store::{Store, StoreOptions};
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
    #[error("cannot start a writer thread: {0}")]
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
    site: impl Into<site::Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let site = site.into();
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
    // In a cluster: connect first, so credentials the NATS server refuses
    // stop start-up before any process starts.
    let link = match (&config.cluster, &config.node) {
        (Some(cluster), Some(node)) => Some(Cluster::connect(cluster, node).await?),
        _ => None,
    };
    let (store, store_sink) = match &config.store {
        Some(store) => {
            let (store, sink) = open_store(store, files.as_ref()).await;
            (store, Some(sink))
        }
        None => (None, None),
    };
    // Numbering goes on from what was kept: every entry of this node has
    // its own `seq` in the files and, without a cluster, in the store.
    let stored_seq = match (&store, &config.cluster) {
        (Some(store), None) => store.last_seq().ok().flatten(),
        _ => None,
    };
    let first_seq = files
        .as_ref()
        .and_then(LogFiles::last_seq)
        .max(stored_seq)
        .map_or(1, |seq| seq + 1);
    // This node's hub. In a cluster nothing reads its memory (viewers read
    // the view below; the files and the publisher take entries as they
    // come), so it keeps only a few.
    let hub_memory = if link.is_some() {
        LOCAL_MEMORY_IN_CLUSTER
    } else {
        config.memory_entries
    };
    let hub = Arc::new(LogHub::new(HubOptions {
        server_name: config.name.clone(),
        memory_entries: hub_memory,
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
    // The writers subscribe before any process starts, so they miss
    // nothing: the files take this node's entries, the store what viewers
    // read (in a cluster, every node's).
    let writer = match &files {
        Some(files) if config.log_files => Some(
            start_writer(
                hub.subscribe(),
                writer_overflow(hub_memory, config.client_queue),
                Box::new(RotatingFiles::new(files.clone())),
                format!("log files to {}", files.dir.display()),
            )
            .map_err(ServerError::Writer)?,
        ),
        _ => None,
    };
    let store_overflow = writer_overflow(config.memory_entries, config.client_queue);
    let store_writer = match (store_sink, &config.store) {
        (Some(sink), Some(config)) => Some(
            start_writer(
                view.subscribe(),
                store_overflow,
                sink,
                format!("the store {}", config.path.display()),
            )
            .map_err(ServerError::Writer)?,
        ),
        _ => None,
    };
    let [mut writer, mut store_writer] = [writer, store_writer];
    for reports in [&mut writer, &mut store_writer]
        .into_iter()
        .filter_map(|w| w.as_mut().and_then(|w| w.reports.take()))
    {
        // What a writer cannot do is told where everything is told: in
        // the log itself.
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut reports = reports;
            while let Some(report) = reports.recv().await {
                hub.publish_system(Level::Error, report);
            }
        });
    }
    // Runners start after every consumer of the hub (the files, the
    // store, the cluster's publisher, the alert rules) has subscribed, so
    // none misses a process's first lines.
    let mut supervisor = Supervisor::new(&config, hub.clone());
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
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let (alerts, alerts_handle) = alerts::start(
        &config.alerts,
        alerts::Sources {
            hub: hub.clone(),
            supervisor: supervisor.handle(),
            directory: cluster_handle.as_ref().map(|c| c.directory.clone()),
            node: config.node.clone(),
            base_url,
        },
    );
    supervisor.launch();
    let stopping = CancellationToken::new();
    let app = web::router(web::AppState {
        leptos_options: site.options,
        site_files: site.files,
        history: History {
            hub: view.clone(),
            // The files hold this node's entries numbered its own way; in
            // a cluster, history beyond memory comes from the store (fed
            // by the stream) alone. With a store, history reads it; the
            // files serve DUMB's byte-offset reads (`GET /logs?cursor=`).
            files: if cluster.is_some() || !config.log_files {
                None
            } else {
                files
            },
            store: store.clone(),
        },
        writer_stats: writer.as_ref().map(|w| w.stats.clone()),
        log_dir: config.log_dir.clone(),
        store: config
            .store
            .as_ref()
            .zip(store_writer.as_ref())
            .map(|(config, writer)| web::StoreState {
                path: config.path.clone(),
                store,
                stats: writer.stats.clone(),
            }),
        hub: view,
        cluster: cluster_handle,
        alerts: alerts_handle,
        dmb_text_frames: config.dmb_text_frames,
        metrics: config.metrics,
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
    alerts.shutdown();
    // Everything the processes printed is now published: write it out,
    // and send it to the cluster.
    finish(writer).await;
    if let Some(cluster) = cluster {
        cluster.shutdown(HTTP_DRAIN_TIMEOUT).await;
    }
    finish(store_writer).await;
    served.map_err(ServerError::from)
}

async fn finish(writer: Option<WriterHandle>) {
    if let Some(writer) = writer {
        writer.finish().await;
    }
}

/// Opens the store and, the first time, reads the log files already in
/// `log_dir` into it. A store that cannot be opened does not stop the
/// server: entries stream on, and the writer counts and reports each one
/// it cannot store while it tries to open the store again.
async fn open_store(
    config: &config::StoreConfig,
    files: Option<&LogFiles>,
) -> (Option<Store>, Box<dyn persist::LogSink>) {
    let options = StoreOptions {
        path: config.path.clone(),
        max_age: config.max_age,
        max_size: config.max_size,
    };
    let files = files.cloned();
    let opened = tokio::task::spawn_blocking(move || match Store::open(options.clone()) {
        Ok((store, mut sink)) => {
            if let Some(files) = files {
                match store::import_files(&mut sink, &files) {
                    Ok(Some(imported)) if imported.entries > 0 => tracing::info!(
                        "imported {} entries of the log files in {} into the store ({} lines were not entries)",
                        imported.entries,
                        files.dir.display(),
                        imported.skipped
                    ),
                    Ok(_) => {}
                    // Tried again at the next start; entries already
                    // imported are not imported twice.
                    Err(error) => tracing::error!(
                        "cannot import the log files of {} into the store: {error}",
                        files.dir.display()
                    ),
                }
            }
            let sink: Box<dyn persist::LogSink> = Box::new(sink);
            (Some(store), sink)
        }
        Err(error) => {
            tracing::error!("{error}; entries are not stored until it opens");
            let sink: Box<dyn persist::LogSink> = Box::new(store::Reopening::new(options, &error));
            (None, sink)
        }
    })
    .await;
    opened.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}
