//! DMB's process routes: list, status, start, stop and restart. Unlike
//! Logdeck's own API these wait until the request has taken effect, as
//! DMB's do.

use std::time::Duration;

use app::protocol::ProcessAction;
use app::ProcessState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::unknown;
use crate::supervisor::ControlError;
use crate::web::{ApiError, AppState};

/// How long a start may take before DMB's routes answer anyway (waiting
/// for dependencies counts).
const START_WAIT: Duration = Duration::from_secs(30);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/process/processes", get(list_services))
        .route("/process/service-status", get(service_status))
        .route("/process/start-service", post(start_service))
        .route("/process/stop-service", post(stop_service))
        .route("/process/restart-service", post(restart_service))
}

/// DMB's request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceRequest {
    pub process_name: String,
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    pub process_name: String,
}

/// DMB's success answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceResponse {
    pub status: &'static str,
    pub process_name: String,
}

fn detail(status: StatusCode, detail: String) -> Response {
    ApiError::detail(status, detail).into_response()
}

fn ok(status: &'static str, process_name: String) -> Response {
    Json(ServiceResponse {
        status,
        process_name,
    })
    .into_response()
}

/// DMB's two states: a live process is `running`, anything else `stopped`.
fn dmb_status(state: &ProcessState) -> &'static str {
    if state.is_alive() {
        "running"
    } else {
        "stopped"
    }
}

/// `{"processes": [...]}`, one item per configured process, with DMB's
/// fields (`name`, `process_name`, `enabled`, `config`, ...) and the
/// current `status`.
#[utoipa::path(get, path = "/process/processes", tag = "dmb-compatible",
    responses((status = 200, description = "`{\"processes\": [...]}`")))]
pub async fn list_services(State(state): State<AppState>) -> Json<serde_json::Value> {
    let processes: Vec<serde_json::Value> = state
        .supervisor
        .list()
        .into_iter()
        .filter_map(|info| {
            let summary = state.supervisor.summary(&info.name)?;
            Some(json!({
                "name": info.name,
                "process_name": info.name,
                "enabled": summary.autostart,
                // Environment values may hold secrets; the summary has
                // only their names.
                "config": summary,
                "version": null,
                "key": info.name,
                "config_key": info.name,
                "repo_url": null,
                "status": dmb_status(&info.state),
            }))
        })
        .collect();
    Json(json!({ "processes": processes }))
}

/// `{"process_name": ..., "status": "running" | "stopped"}`; an unknown
/// name is `stopped`, as in DMB.
#[utoipa::path(get, path = "/process/service-status", tag = "dmb-compatible",
    params(("process_name" = String, Query, description = "The configured process name")),
    responses((status = 200, description = "`{\"process_name\": ..., \"status\": \"running\" | \"stopped\"}`")))]
pub async fn service_status(
    State(state): State<AppState>,
    Query(query): Query<StatusQuery>,
) -> Response {
    let status = state
        .supervisor
        .get(&query.process_name)
        .map_or("stopped", |info| dmb_status(&info.state));
    Json(json!({ "process_name": query.process_name, "status": status })).into_response()
}

/// Starts the service and waits until it runs.
#[utoipa::path(post, path = "/process/start-service", tag = "dmb-compatible",
    request_body = ServiceRequest,
    responses(
        (status = 200, description = "`Service started successfully`", body = ServiceResponse),
        (status = 404, description = "`{\"detail\": \"Service not enabled or found\"}`"),
        (status = 500, description = "It did not start"),
    ))]
pub async fn start_service(
    State(state): State<AppState>,
    Json(request): Json<ServiceRequest>,
) -> Response {
    let name = request.process_name;
    match state.supervisor.control(&name, ProcessAction::Start).await {
        // Starting a running service is what the caller wants already.
        Ok(_) | Err(ControlError::Conflict { .. }) => {}
        Err(ControlError::NotFound(_)) => return unknown(),
        Err(error) => return detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
    let settled = state
        .supervisor
        .wait_for(&name, START_WAIT, |s| !matches!(s, ProcessState::Starting))
        .await;
    match settled {
        Some(info) if info.state.is_alive() => ok("Service started successfully", name),
        _ => detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Unable to start the service '{name}'. Please check the logs for more details."
            ),
        ),
    }
}

/// Stops the service and waits until it has exited.
#[utoipa::path(post, path = "/process/stop-service", tag = "dmb-compatible",
    request_body = ServiceRequest,
    responses(
        (status = 200, description = "`Service stopped successfully`, or `Shutdown already in progress`", body = ServiceResponse),
        (status = 404, description = "`{\"detail\": \"Service not enabled or found\"}`"),
    ))]
pub async fn stop_service(
    State(state): State<AppState>,
    Json(request): Json<ServiceRequest>,
) -> Response {
    let name = request.process_name;
    let Some(summary) = state.supervisor.summary(&name) else {
        return unknown();
    };
    match state.supervisor.control(&name, ProcessAction::Stop).await {
        Ok(_) => {}
        Err(ControlError::Conflict { current, .. }) if current.state == ProcessState::Stopping => {
            return ok("Shutdown already in progress", name);
        }
        // Not running: stopped is what the caller wants already.
        Err(ControlError::Conflict { .. }) => return ok("Service stopped successfully", name),
        Err(ControlError::NotFound(_)) => return unknown(),
        Err(error) => return detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
    let wait = summary.stop_timeout + Duration::from_secs(5);
    state
        .supervisor
        .wait_for(&name, wait, |s| !matches!(s, ProcessState::Stopping))
        .await;
    ok("Service stopped successfully", name)
}

/// Restarts the service and waits until it runs again.
#[utoipa::path(post, path = "/process/restart-service", tag = "dmb-compatible",
    request_body = ServiceRequest,
    responses(
        (status = 200, description = "`Service restarted successfully`", body = ServiceResponse),
        (status = 404, description = "`{\"detail\": \"Service not enabled or found\"}`"),
        (status = 500, description = "It is not running afterwards"),
    ))]
pub async fn restart_service(
    State(state): State<AppState>,
    Json(request): Json<ServiceRequest>,
) -> Response {
    let name = request.process_name;
    let Some(summary) = state.supervisor.summary(&name) else {
        return unknown();
    };
    match state
        .supervisor
        .control(&name, ProcessAction::Restart)
        .await
    {
        Ok(_) => {}
        Err(ControlError::NotFound(_)) => return unknown(),
        Err(error) => {
            return detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to restart {name}: {error}"),
            );
        }
    }
    let wait = summary.stop_timeout + START_WAIT;
    let settled = state
        .supervisor
        .wait_for(&name, wait, |s| {
            !matches!(s, ProcessState::Stopping | ProcessState::Starting)
        })
        .await;
    match settled {
        Some(info) if info.state.is_alive() => ok("Service restarted successfully", name),
        Some(info) => detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Service did not restart successfully. Current status: {}",
                dmb_status(&info.state)
            ),
        ),
        None => unknown(),
    }
}
