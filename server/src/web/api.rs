//! The process API: list, inspect, start, stop and restart processes;
//! `/health`; and the OpenAPI document describing it all.

use app::protocol::{ConflictBody, ErrorBody, FailedProcess, Health, ProcessAction};
use app::{ProcessInfo, ProcessState, StatusMessage};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use super::processes::{self, NodeQuery};
use super::{ApiError, AppState};
use crate::supervisor::ControlError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/processes", get(list_processes))
        .route("/api/processes/{name}", get(get_process))
        .route("/api/processes/{name}/start", post(start_process))
        .route("/api/processes/{name}/stop", post(stop_process))
        .route("/api/processes/{name}/restart", post(restart_process))
        .route("/health", get(health))
        .route("/api/openapi.json", get(openapi_json))
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Logdeck API",
        description = "Supervise processes and read their logs. Live logs stream over the `/ws/logs` WebSocket and process changes over `/ws/status` (see docs/websocket.md).",
    ),
    paths(
        list_processes,
        get_process,
        start_process,
        stop_process,
        restart_process,
        health,
        super::dmb::services::list_services,
        super::dmb::services::get_service,
        super::dmb::services::service_status,
        super::dmb::services::start_service,
        super::dmb::services::stop_service,
        super::dmb::services::restart_service,
        super::dmb::logs::dmb_logs,
        super::info::info,
        super::info::alerts,
        super::history_api::list_logs,
        super::history_api::download_logs,
        super::store_api::histogram,
        super::store_api::context,
    ),
    components(schemas(
        ProcessInfo,
        ProcessState,
        StatusMessage,
        ErrorBody,
        ConflictBody,
        Health,
        FailedProcess,
        app::protocol::Info,
        app::protocol::LogFileStats,
        app::protocol::ClusterInfo,
        app::protocol::NodeInfo,
        app::protocol::StoreInfo,
        app::protocol::Histogram,
        app::protocol::HistogramBucket,
        app::protocol::AlertsInfo,
        app::protocol::AlertInfo,
        app::protocol::NotifierInfo,
    ))
)]
pub struct ApiDoc;

/// Every configured process with its state, restarts and resource use (in
/// a cluster, every node's, each with its `node`).
#[utoipa::path(get, path = "/api/processes", tag = "processes",
    responses((status = 200, description = "All processes, in configuration order", body = Vec<ProcessInfo>)))]
pub async fn list_processes(State(state): State<AppState>) -> Json<Vec<ProcessInfo>> {
    Json(processes::all(&state))
}

/// One process.
#[utoipa::path(get, path = "/api/processes/{name}", tag = "processes",
    params(
        ("name" = String, Path, description = "The configured process name"),
        ("node" = Option<String>, Query, description = "In a cluster: the node, when the name is on several"),
    ),
    responses(
        (status = 200, body = ProcessInfo),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 409, description = "The name is on several nodes: add ?node=", body = ErrorBody),
    ))]
pub async fn get_process(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<NodeQuery>,
) -> Result<Json<ProcessInfo>, ApiError> {
    processes::find(&state, &name, query.node.as_deref()).map(Json)
}

/// Starts a stopped, exited, failed or backing-off process.
#[utoipa::path(post, path = "/api/processes/{name}/start", tag = "processes",
    params(
        ("name" = String, Path, description = "The configured process name"),
        ("node" = Option<String>, Query, description = "In a cluster: the node, when the name is on several"),
    ),
    responses(
        (status = 202, description = "Starting; the body is the new state", body = ProcessInfo),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 409, description = "Already running or stopping", body = ConflictBody),
    ))]
pub async fn start_process(
    state: State<AppState>,
    name: Path<String>,
    query: Query<NodeQuery>,
) -> Result<Response, ApiError> {
    control(state, name, query, ProcessAction::Start).await
}

/// Stops a process and everything it started: the stop signal to its
/// process group, SIGKILL after the stop timeout.
#[utoipa::path(post, path = "/api/processes/{name}/stop", tag = "processes",
    params(
        ("name" = String, Path, description = "The configured process name"),
        ("node" = Option<String>, Query, description = "In a cluster: the node, when the name is on several"),
    ),
    responses(
        (status = 202, description = "Stopping; the body is the new state", body = ProcessInfo),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 409, description = "Not running, or already stopping", body = ConflictBody),
    ))]
pub async fn stop_process(
    state: State<AppState>,
    name: Path<String>,
    query: Query<NodeQuery>,
) -> Result<Response, ApiError> {
    control(state, name, query, ProcessAction::Stop).await
}

/// Stops the process if it runs, then starts it again.
#[utoipa::path(post, path = "/api/processes/{name}/restart", tag = "processes",
    params(
        ("name" = String, Path, description = "The configured process name"),
        ("node" = Option<String>, Query, description = "In a cluster: the node, when the name is on several"),
    ),
    responses(
        (status = 202, description = "Restarting; the body is the new state", body = ProcessInfo),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 409, description = "Already stopping", body = ConflictBody),
    ))]
pub async fn restart_process(
    state: State<AppState>,
    name: Path<String>,
    query: Query<NodeQuery>,
) -> Result<Response, ApiError> {
    control(state, name, query, ProcessAction::Restart).await
}

async fn control(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<NodeQuery>,
    action: ProcessAction,
) -> Result<Response, ApiError> {
    match processes::control(&state, &name, query.node.as_deref(), action).await? {
        Ok(info) => Ok((StatusCode::ACCEPTED, Json(info)).into_response()),
        Err(ControlError::NotFound { name }) => {
            Err(ApiError::not_found(format!("no process named `{name}`")))
        }
        Err(ControlError::Conflict { message, current }) => {
            Err(ApiError::conflict(message, *current))
        }
        Err(error @ ControlError::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error.to_string(),
        )),
    }
}

/// `healthy` unless a process has failed (503).
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "No process has failed", body = Health),
        (status = 503, description = "At least one process has failed", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let failed: Vec<FailedProcess> = state
        .supervisor
        .failed()
        .into_iter()
        .map(|(name, reason)| FailedProcess { name, reason })
        .collect();
    if failed.is_empty() {
        return Json(Health {
            status: "healthy".into(),
            failed,
            details: None,
        })
        .into_response();
    }
    let details = failed
        .iter()
        .map(|f| format!("{}: {}", f.name, f.reason))
        .collect::<Vec<_>>()
        .join("; ");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            status: "unhealthy".into(),
            failed,
            details: Some(details),
        }),
    )
        .into_response()
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
