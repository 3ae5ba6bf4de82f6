//! Finding and controlling processes for the HTTP routes: this node's, or
//! in a cluster any node's, by name and (when the name is on several nodes)
//! by `?node=`.

use std::time::Duration;

use app::protocol::ProcessAction;
use app::{ProcessInfo, ProcessState};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::supervisor::ControlError;

/// The optional `?node=` of a process route.
#[derive(Debug, Default, Deserialize)]
pub struct NodeQuery {
    pub node: Option<String>,
}

/// Every process this server shows: its own, or every node's in a cluster.
pub fn all(state: &AppState) -> Vec<ProcessInfo> {
    match &state.cluster {
        Some(cluster) => cluster.processes(),
        None => state.supervisor.list(),
    }
}

/// Process `name` (of `node`, if given), or why there is none to choose:
/// 404, or 409 when the name is on several nodes and none of them is this
/// one. Without `?node=` this node's own process comes first, so what
/// spoke to a single host (scripts, DMB's frontend) keeps working when
/// the host joins a cluster.
pub fn find(state: &AppState, name: &str, node: Option<&str>) -> Result<ProcessInfo, ApiError> {
    let mut found: Vec<ProcessInfo> = all(state)
        .into_iter()
        .filter(|p| p.is(name, node))
        .collect();
    if found.len() > 1 {
        if let Some(cluster) = &state.cluster {
            if let Some(here) = found
                .iter()
                .position(|p| p.node.as_deref() == Some(cluster.node.as_str()))
            {
                return Ok(found.swap_remove(here));
            }
        }
    }
    match found.len() {
        0 => Err(ApiError::not_found(match node {
            Some(node) => format!("no process named `{name}` on node `{node}`"),
            None => format!("no process named `{name}`"),
        })),
        1 => Ok(found.remove(0)),
        _ => {
            let nodes: Vec<String> = found.iter().filter_map(|p| p.node.clone()).collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "a process named `{name}` runs on several nodes ({}); add ?node= to choose one",
                    nodes.join(", ")
                ),
            ))
        }
    }
}

/// What a start, stop or restart request came to.
pub type Controlled = Result<ProcessInfo, ControlError>;

/// Starts, stops or restarts process `name` (of `node`, if given) wherever
/// it runs: here through the supervisor, elsewhere through the cluster.
pub async fn control(
    state: &AppState,
    name: &str,
    node: Option<&str>,
    action: ProcessAction,
) -> Result<Controlled, ApiError> {
    let process = find(state, name, node)?;
    match (&state.cluster, &process.node) {
        (Some(cluster), Some(node)) if *node != cluster.node => cluster
            .control(node, name, action)
            .await
            .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)),
        _ => Ok(state.supervisor.control(name, action).await),
    }
}

/// Waits until `process` (as [`find`] gave it) is in a state that satisfies
/// `done`, for at most `timeout`; the last state seen. Another node's
/// process is followed through what that node reports.
pub async fn wait_for(
    state: &AppState,
    process: &ProcessInfo,
    timeout: Duration,
    done: impl Fn(&ProcessState) -> bool,
) -> Option<ProcessInfo> {
    let remote = match (&state.cluster, &process.node) {
        (Some(cluster), Some(node)) => *node != cluster.node,
        _ => false,
    };
    if !remote {
        return state
            .supervisor
            .wait_for(&process.name, timeout, done)
            .await;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = find(state, &process.name, process.node.as_deref()).ok();
        let settled = now.as_ref().is_none_or(|p| done(&p.state));
        if settled || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
