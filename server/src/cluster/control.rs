//! Controlling processes on other nodes: each node answers start, stop and
//! restart for its own processes on `logdeck.ctl.<node>`, exactly as its
//! supervisor answers them locally; any node can ask.

use std::time::Duration;

use app::protocol::ProcessAction;
use app::ProcessInfo;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::link::Link;
use crate::supervisor::{ControlError, SupervisorHandle};

/// How long a node may take to answer.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// The subject node `node` answers on.
fn subject(node: &str) -> String {
    format!("logdeck.ctl.{node}")
}

#[derive(Debug, Serialize, Deserialize)]
struct ControlRequest {
    process: String,
    action: ProcessAction,
}

/// The answer: what the node's supervisor said.
type ControlReply = Result<ProcessInfo, ControlError>;

/// Asks other nodes.
#[derive(Clone, Debug)]
pub struct Controller {
    link: Link,
}

impl Controller {
    pub fn new(link: Link) -> Controller {
        Controller { link }
    }

    /// Starts, stops or restarts `name` on `node`: its supervisor's
    /// answer, or why there was none.
    pub async fn request(
        &self,
        node: &str,
        name: &str,
        action: ProcessAction,
    ) -> Result<ControlReply, String> {
        let request = serde_json::to_vec(&ControlRequest {
            process: name.to_owned(),
            action,
        })
        .map_err(|e| e.to_string())?;
        let answer = self
            .link
            .client
            .send_request(
                subject(node),
                async_nats::Request::new()
                    .payload(Bytes::from(request))
                    .timeout(Some(CONTROL_TIMEOUT)),
            )
            .await
            .map_err(|error| match error.kind() {
                async_nats::RequestErrorKind::NoResponders => {
                    format!("node {node} is not connected to the cluster")
                }
                async_nats::RequestErrorKind::TimedOut => {
                    format!("node {node} did not answer within {CONTROL_TIMEOUT:?}")
                }
                _ => format!("cannot reach node {node}: {error}"),
            })?;
        serde_json::from_slice(&answer.payload)
            .map_err(|e| format!("node {node} gave an answer this node cannot read: {e}"))
    }
}

/// Answers requests for this node's processes until `stop`.
pub async fn serve(
    link: Link,
    node: String,
    supervisor: SupervisorHandle,
    stop: CancellationToken,
) {
    // The client subscribes again by itself after a reconnect.
    let mut requests = match link.client.subscribe(subject(&node)).await {
        Ok(requests) => requests,
        Err(error) => {
            tracing::error!("cluster: cannot take control requests: {error}");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            message = requests.next() => message,
            () = stop.cancelled() => return,
        };
        let Some(message) = message else {
            return;
        };
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let answer: ControlReply = match serde_json::from_slice::<ControlRequest>(&message.payload)
        {
            Ok(request) => supervisor.control(&request.process, request.action).await,
            Err(_) => continue,
        };
        if let Ok(json) = serde_json::to_vec(&answer) {
            if let Err(error) = link.client.publish(reply, Bytes::from(json)).await {
                tracing::warn!("cluster: cannot answer a control request: {error}");
            }
        }
    }
}
