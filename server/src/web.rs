//! The HTTP side: server-rendered pages, static files and `/ws/logs`.
//!
//! The web layer reads from the hub and never writes to it; it knows
//! nothing of how entries are produced.

mod ws_logs;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio_util::sync::CancellationToken;

use crate::hub::LogHub;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<LogHub>,
    /// Cancelled when the server shuts down, so long-lived connections
    /// (WebSockets) close instead of holding the shutdown open.
    pub shutdown: CancellationToken,
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

/// All routes: `/ws/logs`, the Leptos pages and, as the fallback, the
/// site's static files (the wasm bundle, styles).
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let shell_options = state.leptos_options.clone();
    Router::new()
        .route("/ws/logs", get(ws_logs::upgrade))
        .leptos_routes(&state, routes, move || app::shell(shell_options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .with_state(state)
}
