//! The log entry: what one line a process printed becomes, and exactly what
//! one `/ws/logs` text frame holds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::level::Level;

/// One log entry. The first four fields are the contract every `/ws/logs`
/// client relies on and never change; the others are additions that clients
/// may ignore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LogEntry {
    /// The line as the process printed it, without its line ending.
    pub message: String,
    pub level: Level,
    /// The configured name of the process that printed the line.
    pub process_name: String,
    /// When the server read the line; RFC 3339, UTC, milliseconds, `Z`.
    #[serde(with = "rfc3339_millis")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub timestamp: DateTime<Utc>,
    /// Position in this server run's stream of entries, strictly increasing.
    pub seq: u64,
    pub stream: Stream,
    /// The process id of the child that printed the line; absent for the
    /// server's own entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// This entry continues the previous one: a line longer than the
    /// server's limit was split.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continued: bool,
    /// Set on a notice standing in for entries this connection did not get
    /// (it fell behind, or asked to resume from entries no longer kept):
    /// how many. Such a notice carries the `seq` of the last entry missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// In a cluster, the node (host) whose process printed the line;
    /// absent on a single node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Where a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// Logdeck's own entries (process state changes and the like).
    System,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Stdout, Stream::Stderr, Stream::System];

    /// Its place in [`Stream::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_name(name: &str) -> Option<Stream> {
        Stream::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::System => "system",
        }
    }
}

/// Formats a timestamp the way the protocol requires:
/// `2025-04-01T12:34:56.789Z`.
pub fn format_timestamp(timestamp: &DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How many entries a `/ws/logs` frame (one entry as JSON, or a batch of
/// them) holds, without parsing it: each entry has one `"seq":` key, and a
/// `"` inside a JSON string is always escaped, so that text appears nowhere
/// else.
pub fn entries_in_frame(frame: &str) -> u64 {
    frame.matches("\"seq\":").count() as u64
}

/// Serde adapter for the protocol's timestamp format.
pub mod rfc3339_millis {
    use chrono::{DateTime, Utc};
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        timestamp: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_timestamp(timestamp))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> LogEntry {
        LogEntry {
            message: "[INFO] riven_backend: Startup complete".into(),
            level: Level::Info,
            process_name: "riven_backend".into(),
            timestamp: Utc
                .with_ymd_and_hms(2025, 4, 1, 12, 34, 56)
                .single()
                .expect("valid date")
                + chrono::Duration::milliseconds(789),
            seq: 7,
            stream: Stream::Stdout,
            pid: Some(4242),
            continued: false,
            dropped: None,
            node: None,
        }
    }

    #[test]
    fn a_frame_is_counted_by_its_entries_whatever_their_messages_hold() {
        let mut tricky = sample();
        tricky.message = r#"{"seq": 5, "seq":6} \"seq\": "seq":"#.into();
        let batch = vec![sample(), tricky.clone(), sample()];
        let frame = serde_json::to_string(&batch).expect("batch serialises");
        assert_eq!(entries_in_frame(&frame), 3);
        let one = serde_json::to_string(&tricky).expect("entry serialises");
        assert_eq!(entries_in_frame(&one), 1);
        assert_eq!(entries_in_frame("[]"), 0);
    }

    #[test]
    fn serialises_to_the_documented_shape() {
        let json: serde_json::Value = serde_json::to_value(sample()).expect("entry serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "message": "[INFO] riven_backend: Startup complete",
                "level": "INFO",
                "process_name": "riven_backend",
                "timestamp": "2025-04-01T12:34:56.789Z",
                "seq": 7,
                "stream": "stdout",
                "pid": 4242
            })
        );
    }

    #[test]
    fn the_contract_fields_come_first_in_the_frame() {
        let text = serde_json::to_string(&sample()).expect("entry serialises");
        assert!(
            text.starts_with(r#"{"message":"[INFO] riven_backend: Startup complete","level":"INFO","process_name":"riven_backend","timestamp":"2025-04-01T12:34:56.789Z""#),
            "{text}"
        );
    }

    #[test]
    fn timestamp_always_has_milliseconds_and_z() {
        let whole_second = Utc
            .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
            .single()
            .expect("valid date");
        assert_eq!(format_timestamp(&whole_second), "2025-01-02T03:04:05.000Z");
        let now = format_timestamp(&Utc::now());
        assert_eq!(now.len(), "2025-01-02T03:04:05.000Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn system_entries_have_no_pid_field() {
        let mut entry = sample();
        entry.pid = None;
        entry.stream = Stream::System;
        let json = serde_json::to_value(entry).expect("entry serialises");
        assert!(json.get("pid").is_none());
        assert_eq!(json["stream"], "system");
    }

    #[test]
    fn continuation_and_drop_fields_appear_only_when_set() {
        let mut entry = sample();
        entry.continued = true;
        entry.dropped = Some(312);
        let json = serde_json::to_value(&entry).expect("entry serialises");
        assert_eq!(json["continued"], true);
        assert_eq!(json["dropped"], 312);
        let back: LogEntry = serde_json::from_value(json).expect("entry parses");
        assert_eq!(back, entry);
    }

    #[test]
    fn a_frame_with_only_the_four_contract_fields_still_parses() {
        let text = r#"{"message":"m","level":"WARNING","process_name":"p","timestamp":"2025-04-01T12:34:56.789Z","seq":1,"stream":"stderr"}"#;
        let entry: LogEntry = serde_json::from_str(text).expect("entry parses");
        assert!(!entry.continued);
        assert_eq!(entry.dropped, None);
    }

    #[test]
    fn round_trips_through_json() {
        let entry = sample();
        let text = serde_json::to_string(&entry).expect("entry serialises");
        let back: LogEntry = serde_json::from_str(&text).expect("entry parses");
        assert_eq!(back, entry);
    }

    #[test]
    fn rejects_a_timestamp_that_is_not_rfc3339() {
        let text = r#"{"message":"m","level":"INFO","process_name":"p","timestamp":"yesterday","seq":1,"stream":"stdout"}"#;
        assert!(serde_json::from_str::<LogEntry>(text).is_err());
    }
}
