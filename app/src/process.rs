//! Process state as the REST API and `/ws/status` report it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::log_entry::rfc3339_millis;

/// The longest process name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` can name a process: 1 to 64 letters, digits, `_`, `-`
/// and `.`, but not `.` or `..`. Names end up in URLs, file names and
/// filters, so they stay plain; it is also what keeps a name in a query
/// from ever being a path.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the name `{name}` is longer than {MAX_NAME_LEN} bytes"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the name `{name}` contains `{bad}`; use letters, digits, `_`, `-` and `.`"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("the name `{name}` is reserved"));
    }
    Ok(())
}

/// Where a supervised process is in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ProcessState {
    /// Not running, and not going to run until started.
    Stopped,
    /// About to start: waiting for its dependencies, or being spawned.
    Starting,
    Running,
    /// Running and its readiness probe has passed.
    Ready,
    /// Asked to stop; waiting for it to exit.
    Stopping,
    /// Ended on its own and will not be restarted.
    Exited {
        exit_code: Option<i32>,
        /// The signal that ended it, such as `SIGSEGV`.
        signal: Option<String>,
    },
    /// Ended on its own; restarts at `until`.
    Backoff {
        #[serde(with = "rfc3339_millis")]
        #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
        until: DateTime<Utc>,
    },
    /// Will not be restarted: it could not be started, restarted too
    /// often, or a dependency failed.
    Failed {
        reason: String,
    },
}

impl ProcessState {
    /// The state's name as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ProcessState::Stopped => "stopped",
            ProcessState::Starting => "starting",
            ProcessState::Running => "running",
            ProcessState::Ready => "ready",
            ProcessState::Stopping => "stopping",
            ProcessState::Exited { .. } => "exited",
            ProcessState::Backoff { .. } => "backoff",
            ProcessState::Failed { .. } => "failed",
        }
    }

    /// Whether a process of this state has a live child.
    pub fn is_alive(&self) -> bool {
        matches!(
            self,
            ProcessState::Running | ProcessState::Ready | ProcessState::Stopping
        )
    }
}

/// One process as listed by `GET /api/processes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProcessInfo {
    pub name: String,
    #[serde(flatten)]
    pub state: ProcessState,
    pub pid: Option<u32>,
    /// When the current (or last) run started.
    #[serde(default, with = "optional_rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub started_at: Option<DateTime<Utc>>,
    /// Seconds since `started_at` while the process is alive.
    pub uptime_secs: Option<f64>,
    /// The first `seq` the current (or last) run could have produced: ask
    /// for entries after `start_seq - 1` to get "since its last start".
    /// Absent in a cluster, where `seq` numbers the stream: ask for entries
    /// `since` `started_at` instead.
    #[serde(default)]
    pub start_seq: Option<u64>,
    /// Automatic restarts since the server started.
    pub restarts: u32,
    pub last_exit_code: Option<i32>,
    /// Running and, if it has a readiness probe, the probe passed.
    pub ready: bool,
    /// CPU use of the process group over the last sample, in percent of
    /// one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory of the process group, in bytes.
    pub rss_bytes: Option<u64>,
    /// In a cluster, the node (host) the process runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Set when that node stopped reporting: when it was last heard from.
    /// The rest is what it reported then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_rfc3339_millis"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub offline_since: Option<DateTime<Utc>>,
}

impl ProcessInfo {
    /// Whether `self` is process `name` of `node` (any node when `None`).
    pub fn is(&self, name: &str, node: Option<&str>) -> bool {
        self.name == name && node.is_none_or(|node| self.node.as_deref() == Some(node))
    }
}

/// A `/ws/status` message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StatusMessage {
    /// Sent once on connect: every process.
    Snapshot { processes: Vec<ProcessInfo> },
    /// One process changed (state, or sampled resources).
    Process { process: ProcessInfo },
}

/// Serde adapter for an optional protocol timestamp.
pub mod optional_rfc3339_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        timestamp: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match timestamp {
            Some(t) => serializer.serialize_str(&crate::log_entry::format_timestamp(t)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn info(state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            name: "web".into(),
            state,
            pid: Some(42),
            started_at: Utc.with_ymd_and_hms(2025, 4, 1, 12, 0, 0).single(),
            uptime_secs: Some(1.5),
            start_seq: Some(10),
            restarts: 2,
            last_exit_code: Some(1),
            ready: false,
            cpu_percent: Some(3.25),
            rss_bytes: Some(1024),
            node: None,
            offline_since: None,
        }
    }

    #[test]
    fn the_state_is_a_flat_field_with_its_details_beside_it() {
        let json = serde_json::to_value(info(ProcessState::Backoff {
            until: Utc
                .with_ymd_and_hms(2025, 4, 1, 12, 0, 5)
                .single()
                .expect("date"),
        }))
        .expect("serialises");
        assert_eq!(json["state"], "backoff");
        assert_eq!(json["until"], "2025-04-01T12:00:05.000Z");
        assert_eq!(json["started_at"], "2025-04-01T12:00:00.000Z");
        assert_eq!(json["name"], "web");
        assert_eq!(json["restarts"], 2);

        let json = serde_json::to_value(info(ProcessState::Exited {
            exit_code: None,
            signal: Some("SIGSEGV".into()),
        }))
        .expect("serialises");
        assert_eq!(json["state"], "exited");
        assert_eq!(json["signal"], "SIGSEGV");
        assert!(json["exit_code"].is_null());
    }

    #[test]
    fn status_messages_round_trip() {
        for message in [
            StatusMessage::Snapshot {
                processes: vec![info(ProcessState::Running), info(ProcessState::Stopped)],
            },
            StatusMessage::Process {
                process: info(ProcessState::Failed {
                    reason: "no such file".into(),
                }),
            },
        ] {
            let text = serde_json::to_string(&message).expect("serialises");
            let back: StatusMessage = serde_json::from_str(&text).expect("parses");
            assert_eq!(back, message);
        }
    }

    #[test]
    fn names_are_plain_words_never_paths() {
        for good in ["web", "riven_backend", "api-2", "a.b", "..x", "x.."] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_liveness() {
        assert_eq!(ProcessState::Ready.name(), "ready");
        assert!(ProcessState::Stopping.is_alive());
        assert!(!ProcessState::Backoff { until: Utc::now() }.is_alive());
    }
}
