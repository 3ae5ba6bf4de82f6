//! The HTTP API's answers, defined once for the server that writes them and
//! the browser that reads them (the log entry and the process types live in
//! [`crate::log_entry`] and [`crate::process`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::log_entry::rfc3339_millis;
use crate::process::ProcessInfo;

/// `GET /api/info`: about this server run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Info {
    /// The `process_name` of Logdeck's own entries.
    pub name: String,
    pub version: String,
    /// Changes whenever the server restarts.
    pub run_id: String,
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub started_at: DateTime<Utc>,
    /// The `seq` the next entry will get.
    pub next_seq: u64,
    /// The oldest `seq` still in memory (what `since=` can resume from).
    pub oldest_kept_seq: Option<u64>,
    /// Where log files are written, if anywhere.
    pub log_dir: Option<String>,
    pub log_files: Option<LogFileStats>,
    /// The indexed store history is read from, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreInfo>,
    /// WebSocket connections open now (logs and status).
    pub websocket_clients: usize,
    /// In a cluster, this node's name...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// ...and the cluster as this node sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
}

/// A node's view of its cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ClusterInfo {
    /// `connecting` (not yet since start), `connected` or `disconnected`.
    pub status: String,
    /// The stream every node reads: entries' `seq` numbers it, so a client
    /// may resume with `since` on any node of the same stream.
    pub stream: String,
    /// Every node known, this one first.
    pub nodes: Vec<NodeInfo>,
    /// This node's entries the stream has acknowledged...
    pub published: u64,
    /// ...those waiting to be published, in bytes...
    pub buffered_bytes: u64,
    /// ...and those lost while the cluster could not be reached.
    pub dropped: u64,
}

/// A node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NodeInfo {
    pub name: String,
    pub online: bool,
    /// When it last reported (its own clock).
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub last_seen: DateTime<Utc>,
}

/// What the log file writer has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LogFileStats {
    pub written: u64,
    /// Entries that could not be written (disk full, say).
    pub lost: u64,
    pub errors: u64,
}

/// The store's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StoreInfo {
    /// The database file.
    pub path: String,
    /// Entries stored since start...
    pub written: u64,
    /// ...entries that could not be stored (disk full, say): exact...
    pub lost: u64,
    /// ...failed writes...
    pub errors: u64,
    /// ...and entries deleted by retention (`retention.max_age`,
    /// `retention.max_size`).
    pub expired: u64,
    /// Bytes the database uses.
    pub size_bytes: u64,
    /// The search index holds every entry up to this `seq` (it trails a
    /// burst, and catches up after; searches read what it has not reached
    /// yet directly).
    pub indexed_upto: u64,
}

/// `GET /api/logs/histogram`: entries per time bucket and level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Histogram {
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub from: DateTime<Utc>,
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub to: DateTime<Utc>,
    /// Each bucket's width (a whole number of seconds).
    pub bucket_ms: u64,
    /// From `from` on, oldest first, every bucket (empty ones too).
    pub buckets: Vec<HistogramBucket>,
}

/// One bucket of a [`Histogram`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HistogramBucket {
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub start: DateTime<Utc>,
    /// Entries per level, in the order of [`crate::Level::ALL`]: DEBUG, INFO,
    /// WARNING, ERROR, CRITICAL.
    pub levels: [u64; 5],
}

impl HistogramBucket {
    pub fn total(&self) -> u64 {
        self.levels.iter().sum()
    }
}

/// An error answer: `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
}

/// The answer when a request does not fit the process's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConflictBody {
    pub error: String,
    /// The process as it is.
    pub process: ProcessInfo,
}

/// `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    /// `healthy`, or `unhealthy` when a process has failed.
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedProcess>,
    /// The failures in one line (DMB's `details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailedProcess {
    pub name: String,
    pub reason: String,
}

/// What a client may ask of a process: `POST /api/processes/{name}/{action}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessAction {
    Start,
    Stop,
    Restart,
}

impl ProcessAction {
    pub const ALL: [ProcessAction; 3] = [
        ProcessAction::Start,
        ProcessAction::Stop,
        ProcessAction::Restart,
    ];

    /// The action's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessAction::Start => "start",
            ProcessAction::Stop => "stop",
            ProcessAction::Restart => "restart",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn info_round_trips_with_a_protocol_timestamp() {
        let info = Info {
            name: "logdeck".into(),
            version: "0.1.0".into(),
            run_id: "00ff".into(),
            started_at: Utc
                .with_ymd_and_hms(2025, 4, 1, 12, 34, 56)
                .single()
                .expect("date"),
            next_seq: 7,
            oldest_kept_seq: Some(1),
            log_dir: None,
            log_files: Some(LogFileStats::default()),
            store: None,
            websocket_clients: 2,
            node: None,
            cluster: None,
        };
        let json = serde_json::to_value(&info).expect("serialises");
        assert_eq!(json["started_at"], "2025-04-01T12:34:56.000Z");
        let back: Info = serde_json::from_value(json).expect("parses");
        assert_eq!(back, info);
    }

    #[test]
    fn a_healthy_answer_has_no_failure_fields() {
        let json = serde_json::to_value(Health {
            status: "healthy".into(),
            failed: Vec::new(),
            details: None,
        })
        .expect("serialises");
        assert_eq!(json, serde_json::json!({ "status": "healthy" }));
    }

    #[test]
    fn actions_are_spelled_as_their_paths() {
        for action in ProcessAction::ALL {
            let json = serde_json::to_value(action).expect("serialises");
            assert_eq!(json, action.as_str());
        }
    }
}

/// `GET /api/alerts`: every alert rule and notifier, and their state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertsInfo {
    pub alerts: Vec<AlertInfo>,
    pub notifiers: Vec<NotifierInfo>,
}

/// One `[[alert]]` rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertInfo {
    pub name: String,
    /// What it watches, in words (`api ERROR+ /timeout|refused/ ×5 in 1m`).
    pub when: String,
    /// The notifiers it sends to.
    pub notify: Vec<String>,
    /// `ok` or `firing`.
    pub state: String,
    /// Firing since (while it is).
    #[serde(default, with = "crate::process::optional_rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub firing_since: Option<DateTime<Utc>>,
    /// When it last fired (sent, or would have with a notifier).
    #[serde(default, with = "crate::process::optional_rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub last_fired: Option<DateTime<Utc>>,
    /// How often it fired since the server started.
    pub fired: u64,
    /// The process (and node) of what fired it last.
    pub process: Option<String>,
    pub node: Option<String>,
    /// The last line that fired it (`/?seq=N` opens it), for line rules.
    pub seq: Option<u64>,
    /// The last delivery that failed, and why (cleared by one that works).
    pub last_delivery_error: Option<String>,
}

impl AlertInfo {
    pub fn is_firing(&self) -> bool {
        self.state == "firing"
    }
}

/// One `[[notifier]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotifierInfo {
    pub name: String,
    pub kind: String,
    /// Notifications delivered...
    pub sent: u64,
    /// ...given up on after every retry...
    pub failed: u64,
    /// ...and dropped because its queue was full.
    pub dropped: u64,
    pub last_error: Option<String>,
}
