//! The HTTP side: server-rendered pages, static files, the process API
//! and the WebSockets.
//!
//! The web layer reads from the hub and never writes to it, and reaches
//! the processes only through the supervisor's handle.
//!
//! # Layout
//! - `api`: the process API, `/health` and the OpenAPI document;
//!   `processes`: finding and controlling a process on any node.
//! - `history_api`: `GET /api/logs` and its download.
//! - `info`: `GET /api/info` and `GET /api/alerts`.
//! - `metrics`: `GET /metrics` (Prometheus).
//! - `ws_logs`, `ws_status`: the two WebSockets.
//! - `dmb`: everything that exists for DMB's clients (its routes, its
//!   `/logs`, its ping).
//! - `auth`: the token, sessions, the login form and origin checks.
//! - `error`: the one error answer type; `query`: query-string parsing.
//! - `connection`: accepting sockets, and closing those whose client
//!   stopped reading.

pub mod api;
pub mod auth;
pub mod connection;
mod dmb;
mod error;
pub mod history_api;
mod info;
pub mod metrics;
pub(crate) mod processes;
mod query;
mod store_api;
pub mod ws_logs;
mod ws_status;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::cluster::ClusterHandle;
use crate::history::History;
use crate::hub::LogHub;
use crate::persist::WriterStats;
use crate::supervisor::SupervisorHandle;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// Where the static files come from.
    pub site_files: crate::site::SiteFiles,
    /// What viewers read: this node's hub, or in a cluster the view of
    /// every node's entries.
    pub hub: Arc<LogHub>,
    pub history: History,
    /// Present when log files are written.
    pub writer_stats: Option<Arc<WriterStats>>,
    /// Present with a store.
    pub store: Option<StoreState>,
    /// `log_dir`, if set.
    pub log_dir: Option<std::path::PathBuf>,
    pub supervisor: SupervisorHandle,
    /// Present in a cluster: every node's processes, and their controls.
    pub cluster: Option<ClusterHandle>,
    /// The alert rules and their state.
    pub alerts: crate::alerts::AlertsHandle,
    /// `dmb.text_frames`: `/ws/logs` speaks DMB's text unless asked for
    /// JSON.
    pub dmb_text_frames: bool,
    /// `metrics.enabled`: `/metrics` answers.
    pub metrics: bool,
    pub auth: Arc<auth::Auth>,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Open WebSocket connections, bounded by `limits.max_clients`.
    pub clients: Arc<ClientGauge>,
    /// Places for history reads running at once...
    pub history_readers: Arc<tokio::sync::Semaphore>,
    /// ...and for downloads open at once.
    pub downloads: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server shuts down, so long-lived connections
    /// (WebSockets) close instead of holding the shutdown open.
    pub shutdown: CancellationToken,
}

/// The store (`None` when it could not be opened at start) and its
/// writer's counts.
#[derive(Clone, Debug)]
pub struct StoreState {
    pub path: std::path::PathBuf,
    pub store: Option<crate::store::Store>,
    pub stats: Arc<WriterStats>,
}

impl StoreState {
    pub fn info(&self) -> app::protocol::StoreInfo {
        let written = self.stats.snapshot();
        let (expired, size_bytes, indexed_upto) = self.store.as_ref().map_or((0, 0, 0), |store| {
            let stats = store.stats();
            (
                stats.expired.load(Ordering::Relaxed),
                stats.size(),
                stats.indexed_upto.load(Ordering::Relaxed),
            )
        });
        app::protocol::StoreInfo {
            path: self.path.display().to_string(),
            written: written.written,
            lost: written.lost,
            errors: written.errors,
            expired,
            size_bytes,
            indexed_upto,
        }
    }
}

/// Counts WebSocket connections, in all and per client address, and
/// refuses those beyond the limits.
#[derive(Debug)]
pub struct ClientGauge {
    open: AtomicUsize,
    max: usize,
    /// Open connections per address. A std mutex: held for one map update
    /// per connection opened or closed.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_address: usize,
    /// Entries `/ws/logs` clients missed because they fell behind.
    dropped: AtomicU64,
}

impl ClientGauge {
    pub fn new(max: usize, max_per_address: usize) -> ClientGauge {
        ClientGauge {
            open: AtomicUsize::new(0),
            max,
            per_address: Mutex::new(HashMap::new()),
            max_per_address,
            dropped: AtomicU64::new(0),
        }
    }

    /// A place for one more connection from `address`, held until the
    /// connection ends; refused (503) when all places, or all of this
    /// address's, are taken.
    pub fn enter(self: &Arc<Self>, address: IpAddr) -> Result<ClientSlot, ApiError> {
        {
            let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let mine = per_address.entry(address).or_insert(0);
            if *mine >= self.max_per_address {
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "too many WebSocket clients from this address (limits.max_clients_per_address = {})",
                        self.max_per_address
                    ),
                ));
            }
            *mine += 1;
        }
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            release_place(&self.per_address, address);
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many WebSocket clients (limits.max_clients = {})",
                    self.max
                ),
            ));
        }
        Ok(ClientSlot {
            gauge: self.clone(),
            address,
        })
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Counts entries a slow client missed.
    pub fn count_dropped(&self, missed: u64) {
        self.dropped.fetch_add(missed, Ordering::Relaxed);
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Gives back one of `address`'s places.
fn release_place(per_address: &Mutex<HashMap<IpAddr, usize>>, address: IpAddr) {
    let mut per_address = per_address.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(count) = per_address.get_mut(&address) {
        *count -= 1;
        if *count == 0 {
            per_address.remove(&address);
        }
    }
}

/// One open connection; dropping it frees the place.
#[derive(Debug)]
pub struct ClientSlot {
    gauge: Arc<ClientGauge>,
    address: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.gauge.open.fetch_sub(1, Ordering::AcqRel);
        release_place(&self.gauge.per_address, self.address);
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<LogHub> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.clone()
    }
}

/// The site's static files, from this binary or from disk; what is no
/// file is the app's "not found" page.
async fn static_files(
    uri: axum::http::Uri,
    state: axum::extract::State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    if state.site_files == crate::site::SiteFiles::Embedded {
        if let Some(response) =
            crate::site::embedded_response(request.method(), uri.path(), request.headers())
        {
            return response;
        }
    }
    leptos_axum::file_and_error_handler::<AppState, _>(app::shell)(uri, state, request).await
}

/// All routes: the process API, DMB's compatible routes, `/ws/logs`,
/// `/ws/status`, the app's pages (`/`, `/processes/{name}`: the app picks
/// the page from the path, [`app::page::Page`]) and, as the fallback, the
/// site's static files (the wasm bundle, styles) or the "not found" page.
pub fn router(state: AppState) -> Router {
    // Rendering a page runs its tasks on the server's runtime.
    let _ = any_spawner::Executor::init_tokio();
    let page = {
        let context_state = state.clone();
        let shell_options = state.leptos_options.clone();
        let preloads = app::components::app::ModulePreloads(crate::site::module_preloads(
            &state.leptos_options,
            state.site_files,
        ));
        leptos_axum::render_app_to_stream_with_context(
            move || {
                leptos::prelude::provide_context(context_state.clone());
                leptos::prelude::provide_context(preloads.clone());
            },
            move || app::shell(shell_options.clone()),
        )
    };
    Router::new()
        .route("/ws/logs", get(ws_logs::upgrade))
        .route("/ws/status", get(ws_status::upgrade))
        .merge(api::routes())
        .merge(info::routes())
        .merge(metrics::routes())
        .merge(history_api::routes())
        .merge(store_api::routes())
        .merge(dmb::routes())
        .merge(auth::routes())
        .route("/", get(page.clone()))
        .route("/processes/{name}", get(page))
        .fallback(static_files)
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}
