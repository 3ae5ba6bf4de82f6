//! `GET /api/info`: the server run's identity and log counters.

use app::protocol::{AlertsInfo, ClusterInfo, Info};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/info", get(info))
        .route("/api/alerts", get(alerts))
}

/// Every alert rule with its state (ok, or firing since when), when it
/// last fired, the line that fired it and the last delivery error; and
/// every notifier with what it sent and failed to send.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", responses((status = 200, body = AlertsInfo)))]
pub async fn alerts(State(state): State<AppState>) -> Json<AlertsInfo> {
    Json(state.alerts.info())
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
        log_dir: state.log_dir.as_ref().map(|d| d.display().to_string()),
        log_files: state.writer_stats.as_ref().map(|stats| stats.snapshot()),
        store: state.store.as_ref().map(super::StoreState::info),
        websocket_clients: state.clients.open(),
        node: state.cluster.as_ref().map(|c| c.node.clone()),
        cluster: state.cluster.as_ref().map(|cluster| {
            use std::sync::atomic::Ordering::Relaxed;
            let stats = &cluster.publisher;
            ClusterInfo {
                status: cluster.status().as_str().to_owned(),
                stream: cluster.reader.stream().to_owned(),
                nodes: cluster.directory.nodes(),
                published: stats.published.load(Relaxed),
                buffered_bytes: stats.buffered_bytes.load(Relaxed),
                dropped: stats.dropped.load(Relaxed),
            }
        }),
    })
}
