//! The NATS connection. A first attempt at start: credentials the server
//! refuses end start-up with an error; an unreachable server is retried in
//! the background, forever, while the node serves its own processes. The
//! status is watched by everything that talks to NATS, and shown to users.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::ClusterError;
use crate::config::ClusterConfig;

/// The subjects entries are published on: `logdeck.logs.<node>.<process>`.
pub const LOG_SUBJECTS: &str = "logdeck.logs.>";
/// How often the connection is checked; three missed pings and it is
/// declared lost (the client's default, 60 s, would take three minutes).
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long JetStream requests (and publish acknowledgements) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// Not connected yet since start.
    Connecting,
    Connected,
    /// Lost; reconnecting.
    Disconnected,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Connecting => "connecting",
            LinkStatus::Connected => "connected",
            LinkStatus::Disconnected => "disconnected",
        }
    }
}

/// The connection, its JetStream context and its status.
#[derive(Clone, Debug)]
pub struct Link {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub status: watch::Receiver<LinkStatus>,
}

impl Link {
    /// Connects to `config`'s servers as `node`.
    pub async fn connect(config: &ClusterConfig, node: &str) -> Result<Link, ClusterError> {
        let (status_tx, status) = watch::channel(LinkStatus::Connecting);
        let status_tx = Arc::new(status_tx);
        let first = options(config, node, &status_tx, false)
            .await?
            .connect(config.urls.clone())
            .await;
        let client = match first {
            Ok(client) => client,
            Err(error)
                if matches!(
                    error.kind(),
                    ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
                ) =>
            {
                return Err(ClusterError::Refused(error.to_string()));
            }
            Err(error) => {
                tracing::warn!(
                    "cluster: cannot reach NATS yet ({error}); serving this node's processes and retrying"
                );
                options(config, node, &status_tx, true)
                    .await?
                    .connect(config.urls.clone())
                    .await
                    .map_err(|e| ClusterError::Setup(e.to_string()))?
            }
        };
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        Ok(Link { client, js, status })
    }

    /// Waits until connected (or `stop`); false when stopped.
    pub async fn connected(&self, stop: &CancellationToken) -> bool {
        let mut status = self.status.clone();
        tokio::select! {
            changed = status.wait_for(|s| *s == LinkStatus::Connected) => changed.is_ok(),
            () = stop.cancelled() => false,
        }
    }
}

/// The connection's options; `retry` connects in the background.
async fn options(
    config: &ClusterConfig,
    node: &str,
    status: &Arc<watch::Sender<LinkStatus>>,
    retry: bool,
) -> Result<ConnectOptions, ClusterError> {
    let status = status.clone();
    let mut options = ConnectOptions::new()
        .name(format!("logdeck-{node}"))
        .ping_interval(PING_INTERVAL)
        .connection_timeout(REQUEST_TIMEOUT)
        .reconnect_delay_callback(|attempt| {
            // 0.25 s, 0.5 s, ... up to 5 s, jittered by the client's own
            // server shuffling.
            Duration::from_millis((250u64 << attempt.min(5)).min(5_000))
        })
        .event_callback(move |event| {
            let status = status.clone();
            async move {
                match event {
                    Event::Connected => {
                        tracing::info!("cluster: connected to NATS");
                        status.send_replace(LinkStatus::Connected);
                    }
                    Event::Disconnected => {
                        tracing::warn!("cluster: lost the NATS connection; reconnecting");
                        status.send_replace(LinkStatus::Disconnected);
                    }
                    Event::ServerError(error) => {
                        tracing::warn!("cluster: NATS server error: {error}")
                    }
                    Event::ClientError(error) => tracing::warn!("cluster: NATS client: {error}"),
                    other => tracing::debug!("cluster: NATS: {other}"),
                }
            }
        });
    if retry {
        options = options.retry_on_initial_connect();
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(creds) = &config.creds {
        options = options
            .credentials_file(creds)
            .await
            .map_err(|e| ClusterError::Setup(format!("cluster.creds {}: {e}", creds.display())))?;
    }
    if let Some(tls) = &config.tls {
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
    }
    Ok(options)
}

/// The stream and buckets, once they exist.
#[derive(Clone, Debug)]
pub struct Ready {
    /// Every process's state, by `<node>.<process>`.
    pub states: kv::Store,
    /// Every node's heartbeat, by node.
    pub nodes: kv::Store,
}

/// The KV bucket names of the stream `stream`.
pub fn bucket_names(stream: &str) -> (String, String) {
    (format!("{stream}_STATE"), format!("{stream}_NODES"))
}

/// Makes sure the stream and the buckets exist (and the stream's limits are
/// the configured ones) each time the connection comes up, and publishes
/// them once they do.
pub fn ready(
    link: &Link,
    config: &ClusterConfig,
    tasks: &mut JoinSet<()>,
    stop: CancellationToken,
) -> watch::Receiver<Option<Ready>> {
    let (ready_tx, ready) = watch::channel(None);
    let link = link.clone();
    let stream_config = stream::Config {
        name: config.stream.clone(),
        subjects: vec![LOG_SUBJECTS.to_owned()],
        max_age: config.max_age,
        max_bytes: i64::try_from(config.max_bytes).unwrap_or(i64::MAX),
        // 0 is "no limit" to the server.
        max_messages_per_subject: config
            .max_per_process
            .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        storage: stream::StorageType::File,
        // Reading old entries by sequence, for history, from any replica.
        allow_direct: true,
        // Publishes retried after a lost connection keep their message ids:
        // within this window the stream stores each only once.
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    let (states_bucket, nodes_bucket) = bucket_names(&config.stream);
    tasks.spawn(async move {
        let mut attempt = 0u32;
        while link.connected(&stop).await {
            let made = async {
                link.js
                    .create_or_update_stream(stream_config.clone())
                    .await
                    .map_err(|e| format!("stream {}: {e}", stream_config.name))?;
                let states = link
                    .js
                    .create_or_update_key_value(kv::Config {
                        bucket: states_bucket.clone(),
                        history: 1,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("bucket {states_bucket}: {e}"))?;
                let nodes = link
                    .js
                    .create_or_update_key_value(kv::Config {
                        bucket: nodes_bucket.clone(),
                        history: 1,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("bucket {nodes_bucket}: {e}"))?;
                Ok::<_, String>(Ready { states, nodes })
            }
            .await;
            match made {
                Ok(made) => {
                    ready_tx.send_replace(Some(made));
                    // Wait for the next reconnect: the server may have lost
                    // its state meanwhile (a restart without its store).
                    let mut status = link.status.clone();
                    tokio::select! {
                        _ = status.wait_for(|s| *s != LinkStatus::Connected) => {}
                        () = stop.cancelled() => return,
                    }
                    attempt = 0;
                }
                Err(error) => {
                    attempt += 1;
                    tracing::warn!("cluster: cannot set up JetStream ({error}); retrying");
                    let wait = Duration::from_millis((500u64 << attempt.min(4)).min(5_000));
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    });
    ready
}
