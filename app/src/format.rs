//! How the viewer writes times, sizes and durations.

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};

/// `HH:MM:SS.mmm`, in the viewer's zone or UTC.
pub fn time_of_day(timestamp: &DateTime<Utc>, utc: bool) -> String {
    if utc {
        timestamp.format("%H:%M:%S%.3f").to_string()
    } else {
        timestamp
            .with_timezone(&Local)
            .format("%H:%M:%S%.3f")
            .to_string()
    }
}

/// `2025-04-01 14:34:56.789 +02:00` (local) or `... UTC`.
pub fn full_time(timestamp: &DateTime<Utc>, utc: bool) -> String {
    if utc {
        timestamp.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
    } else {
        timestamp
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S%.3f %:z")
            .to_string()
    }
}

/// A time as a `datetime-local` input shows it (`2025-04-01T14:34:56`),
/// in the viewer's zone or UTC.
pub fn input_time(timestamp: &DateTime<Utc>, utc: bool) -> String {
    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
    if utc {
        timestamp.format(FORMAT).to_string()
    } else {
        timestamp.with_timezone(&Local).format(FORMAT).to_string()
    }
}

/// What a `datetime-local` input holds (`2025-04-01T14:34`, seconds
/// optional, a space for the `T` too), read in the viewer's zone or UTC.
/// A local time that does not exist (skipped by a clock change) is `None`;
/// one that exists twice is the earlier.
pub fn parse_input_time(text: &str, utc: bool) -> Option<DateTime<Utc>> {
    let text = text.trim().replacen(' ', "T", 1);
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())?;
    if utc {
        Some(Utc.from_utc_datetime(&naive))
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn relative(timestamp: &DateTime<Utc>, now: &DateTime<Utc>) -> String {
    let seconds = (*now - *timestamp).num_seconds();
    match seconds {
        s if s < 0 => "in the future".to_owned(),
        0..=4 => "just now".to_owned(),
        5..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// `45s`, `12m 3s`, `5h 2m`, `3d 4h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `512 B`, `1.5 KiB`, `23.4 MiB`, `1.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The message pretty-printed if it is a JSON object or array.
pub fn pretty_json(message: &str) -> Option<String> {
    let trimmed = message.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Utc
            .with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
            .single()
            .expect("date");
        let ago = |s: i64| relative(&(now - chrono::Duration::seconds(s)), &now);
        assert_eq!(ago(2), "just now");
        assert_eq!(ago(42), "42 s ago");
        assert_eq!(ago(300), "5 min ago");
        assert_eq!(ago(3 * 3600 + 5), "3 h ago");
        assert_eq!(ago(2 * 86_400), "2 d ago");
        assert_eq!(ago(-10), "in the future");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration(45.9), "45s");
        assert_eq!(duration(723.0), "12m 3s");
        assert_eq!(duration(18_120.0), "5h 2m");
        assert_eq!(duration(273_600.0), "3d 4h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(24_536_000), "23.4 MiB");
    }

    #[test]
    fn utc_times() {
        let t = Utc
            .with_ymd_and_hms(2025, 4, 1, 12, 34, 56)
            .single()
            .expect("date")
            + chrono::Duration::milliseconds(789);
        assert_eq!(time_of_day(&t, true), "12:34:56.789");
        assert_eq!(full_time(&t, true), "2025-04-01 12:34:56.789 UTC");
    }

    #[test]
    fn input_times_read_back_what_they_write() {
        let t = Utc.with_ymd_and_hms(2025, 4, 1, 12, 34, 56).unwrap();
        assert_eq!(input_time(&t, true), "2025-04-01T12:34:56");
        assert_eq!(parse_input_time("2025-04-01T12:34:56", true), Some(t));
        assert_eq!(parse_input_time(" 2025-04-01 12:34:56 ", true), Some(t));
        assert_eq!(
            parse_input_time("2025-04-01T12:34", true),
            Some(t - chrono::Duration::seconds(56))
        );
        assert_eq!(parse_input_time(&input_time(&t, false), false), Some(t));
        for bad in ["", "yesterday", "2025-04-01", "2025-13-01T00:00", "12:34"] {
            assert_eq!(parse_input_time(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn json_messages_are_pretty_printed() {
        assert_eq!(
            pretty_json(r#"{"a":1,"b":[true]}"#).as_deref(),
            Some("{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}")
        );
        assert_eq!(pretty_json("not json"), None);
        assert_eq!(pretty_json("{broken"), None);
    }
}
