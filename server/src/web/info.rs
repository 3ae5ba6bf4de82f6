//! `GET /api/info`: the server run's identity and log counters.

use app::protocol::Info;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/info", get(info))
}

/// The server run's identity and log counters.
#[utoipa::path(get, path = "/api/info", tag = "logs", responses((status = 200, body = Info)))]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    let hub = &state.hub;
    Json(Info {
        name: hub.server_name().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: hub.run_id().to_owned(),
        started_at: hub.started_at(),
        next_seq: hub.next_seq(),
        oldest_kept_seq: hub.oldest_kept(),
        log_dir: state
            .history
            .files
            .as_ref()
            .map(|f| f.dir.display().to_string()),
        log_files: state.writer_stats.as_ref().map(|stats| stats.snapshot()),
        websocket_clients: state.clients.open(),
    })
}
