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

use app::ProcessInfo;

use super::unknown;
use crate::supervisor::ControlError;
use crate::web::processes;
use crate::web::{ApiError, AppState};

/// How long a start may take before DMB's routes answer anyway (waiting
/// for dependencies counts).
const START_WAIT: Duration = Duration::from_secs(30);
/// How long a stop may take on another node, whose stop timeout this node
/// does not know.
const DEFAULT_STOP_WAIT: Duration = Duration::from_secs(15);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/process/processes", get(list_services))
        .route("/process/", get(get_service))
        .route("/process", get(get_service))
        .route("/process/service-status", get(service_status))
        .route("/process/start-service", post(start_service))
        .route("/process/stop-service", post(stop_service))
        .route("/process/restart-service", post(restart_service))
}

/// DMB's request body; `node` is Logdeck's addition, for a cluster.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceRequest {
    pub process_name: String,
    #[serde(default)]
    pub node: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    pub process_name: String,
    #[serde(default)]
    pub node: Option<String>,
}

/// The process a DMB request names: DMB's 404, or 409 when a cluster has
/// the name on several nodes and the request chose none.
fn resolve(state: &AppState, name: &str, node: Option<&str>) -> Result<ProcessInfo, Box<Response>> {
    processes::find(state, name, node).map_err(|error| {
        Box::new(if error.status() == StatusCode::NOT_FOUND {
            unknown()
        } else {
            error.into_response()
        })
    })
}

/// How long a stop of `process` may take: its own stop timeout here, the
/// default elsewhere (other nodes do not share their configuration).
fn stop_wait(state: &AppState, process: &ProcessInfo) -> Duration {
    let here = state
        .cluster
        .as_ref()
        .is_none_or(|cluster| process.node.as_deref() == Some(cluster.node.as_str()));
    let timeout = here
        .then(|| state.supervisor.summary(&process.name))
        .flatten()
        .map_or(DEFAULT_STOP_WAIT, |summary| summary.stop_timeout);
    timeout + Duration::from_secs(5)
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
    let processes: Vec<serde_json::Value> = processes::all(&state)
        .into_iter()
        .map(|info| {
            let here = state
                .cluster
                .as_ref()
                .is_none_or(|cluster| info.node.as_deref() == Some(cluster.node.as_str()));
            // Environment values may hold secrets; the summary has only
            // their names. Other nodes' configuration is not shared.
            let (config, enabled) = dmb_config(&state, &info, here);
            json!({
                "name": info.name,
                "process_name": info.name,
                "enabled": enabled,
                "config": config,
                "version": null,
                "key": info.name,
                "config_key": info.name,
                "repo_url": null,
                "status": dmb_status(&info.state),
                "node": info.node,
            })
        })
        .collect();
    Json(json!({ "processes": processes }))
}

/// A process's configuration as DMB's frontend reads it: what the summary
/// shows (never environment values), with DMB's `enabled` (started with
/// the server) inside, where the frontend looks for it. Other nodes share
/// no configuration: `{"enabled": true}`.
fn dmb_config(state: &AppState, info: &ProcessInfo, here: bool) -> (serde_json::Value, bool) {
    let summary = here.then(|| state.supervisor.summary(&info.name)).flatten();
    let enabled = summary.as_ref().is_none_or(|s| s.autostart);
    let mut config = summary
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({}));
    if let Some(object) = config.as_object_mut() {
        object.insert("enabled".into(), enabled.into());
    }
    (config, enabled)
}

/// DMB's `GET /process/?process_name=X`: `{process_name, config, version,
/// config_key}` (404 `{"detail"}` for a name it does not know).
#[utoipa::path(get, path = "/process/", tag = "dmb-compatible",
    params(("process_name" = String, Query, description = "The configured process name")),
    responses(
        (status = 200, description = "`{\"process_name\", \"config\", \"version\", \"config_key\"}`"),
        (status = 404, description = "`{\"detail\": \"Service not enabled or found\"}`"),
    ))]
pub async fn get_service(
    State(state): State<AppState>,
    Query(query): Query<StatusQuery>,
) -> Response {
    let info = match resolve(&state, &query.process_name, query.node.as_deref()) {
        Ok(info) => info,
        Err(refusal) => return *refusal,
    };
    let here = state
        .cluster
        .as_ref()
        .is_none_or(|cluster| info.node.as_deref() == Some(cluster.node.as_str()));
    let (config, _) = dmb_config(&state, &info, here);
    Json(json!({
        "process_name": info.name,
        "config": config,
        "version": null,
        "config_key": info.name,
    }))
    .into_response()
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
    let status = processes::find(&state, &query.process_name, query.node.as_deref())
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
    let process = match resolve(&state, &name, request.node.as_deref()) {
        Ok(process) => process,
        Err(refusal) => return *refusal,
    };
    match processes::control(&state, &name, process.node.as_deref(), ProcessAction::Start).await {
        // Starting a running service is what the caller wants already.
        Ok(Ok(_) | Err(ControlError::Conflict { .. })) => {}
        Ok(Err(ControlError::NotFound { .. })) => return unknown(),
        Ok(Err(error)) => return detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        Err(error) => return error.into_response(),
    }
    let settled = processes::wait_for(&state, &process, START_WAIT, |s| {
        !matches!(s, ProcessState::Starting)
    })
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
    let process = match resolve(&state, &name, request.node.as_deref()) {
        Ok(process) => process,
        Err(refusal) => return *refusal,
    };
    match processes::control(&state, &name, process.node.as_deref(), ProcessAction::Stop).await {
        Ok(Ok(_)) => {}
        Ok(Err(ControlError::Conflict { current, .. }))
            if current.state == ProcessState::Stopping =>
        {
            return ok("Shutdown already in progress", name);
        }
        // Not running: stopped is what the caller wants already.
        Ok(Err(ControlError::Conflict { .. })) => return ok("Service stopped successfully", name),
        Ok(Err(ControlError::NotFound { .. })) => return unknown(),
        Ok(Err(error)) => return detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        Err(error) => return error.into_response(),
    }
    let wait = stop_wait(&state, &process);
    processes::wait_for(&state, &process, wait, |s| {
        !matches!(s, ProcessState::Stopping)
    })
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
    let process = match resolve(&state, &name, request.node.as_deref()) {
        Ok(process) => process,
        Err(refusal) => return *refusal,
    };
    match processes::control(
        &state,
        &name,
        process.node.as_deref(),
        ProcessAction::Restart,
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(ControlError::NotFound { .. })) => return unknown(),
        Ok(Err(error)) => {
            return detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to restart {name}: {error}"),
            );
        }
        Err(error) => return error.into_response(),
    }
    let wait = stop_wait(&state, &process) + START_WAIT;
    let settled = processes::wait_for(&state, &process, wait, |s| {
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
