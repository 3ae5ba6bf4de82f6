//! Reading query strings: decoded pairs, and points in time.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::config::parse_duration;

/// The query's `key=value` pairs, percent-decoded, in order.
pub fn decode(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).collect()
}

/// A point in time: RFC 3339, `now`, or a duration meaning that long ago
/// (`15m`, or `-15m`).
pub fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    if value == "now" {
        return Ok(Utc::now());
    }
    let ago = parse_duration(value.strip_prefix('-').unwrap_or(value)).map_err(|_| {
        format!("invalid {key}={value:?}: expected an RFC 3339 time or a duration such as 15m")
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("invalid {key}={value:?}: that is too long ago"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::log_entry::format_timestamp;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let t = parse_time("since", "2025-04-01T12:34:56.789Z").expect("valid");
        assert_eq!(format_timestamp(&t), "2025-04-01T12:34:56.789Z");
        let expected = Utc::now() - chrono::Duration::minutes(15);
        for relative in ["15m", "-15m"] {
            let ago = parse_time("from", relative).expect("valid");
            assert!((ago - expected).num_seconds().abs() <= 1);
        }
        let now = parse_time("to", "now").expect("valid");
        assert!((Utc::now() - now).num_seconds().abs() <= 1);
        assert!(parse_time("since", "--15m").is_err());
        assert!(parse_time("since", "yesterday").is_err());
        for absurd in ["1e13", "1e19s1e19s", "99999999999999h", "1e300"] {
            assert!(parse_time("since", absurd).is_err(), "{absurd}");
        }
    }
}
