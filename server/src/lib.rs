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
//! - [`hub`]: numbers, serialises once and broadcasts every entry.
//! - [`web`]: pages, static files, the process API and the WebSockets.
//!
//! Data flows one way: child pipe → capture → hub → web → browser.

pub mod capture;
pub mod config;
pub mod hub;
pub mod supervisor;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hub::LogHub;
use crate::supervisor::Supervisor;

/// How many entries a `/ws/logs` client may fall behind before it loses
/// the oldest ones: about a second of a very busy box, a few MB of pointers.
pub const HUB_CAPACITY: usize = 16 * 1024;

/// How long open connections get to finish once shutdown starts.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
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
    let hub = Arc::new(LogHub::new(config.name.clone(), HUB_CAPACITY));
    let supervisor = Supervisor::start(&config, hub.clone());
    let stopping = CancellationToken::new();
    let app = web::router(web::AppState {
        leptos_options: site,
        hub,
        supervisor: supervisor.handle(),
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
    let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
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
    served.map_err(ServerError::from)
}
