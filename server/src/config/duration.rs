//! Durations in the configuration: `10` or `2.5` (seconds), or strings such
//! as `"500ms"`, `"10s"`, `"2m"`, `"1h"`, `"7d"` and `"1m30s"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration as written in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = ConfigDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds as a number, or a string such as \"500ms\", \"10s\" or \"1m30s\"")
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
                u64::try_from(seconds)
                    .map(|s| ConfigDuration(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration(Duration::from_secs(seconds)))
            }

            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
                Duration::try_from_secs_f64(seconds)
                    .map(ConfigDuration)
                    .map_err(|_| E::custom("a duration must be a non-negative number of seconds"))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                parse_duration(text).map(ConfigDuration).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Parses `"7d"`, `"1h"`, `"2m"`, `"10s"`, `"250ms"`, `"1.5s"` and concatenations
/// such as `"1m30s"`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || {
        format!("invalid duration `{text}` (use e.g. \"500ms\", \"10s\", \"2m\", \"1h\", \"7d\")")
    };
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let seconds_per_unit = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            _ => return Err(invalid()),
        };
        let part = Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| invalid())?;
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = tail.trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        for (text, millis) in [
            ("500ms", 500),
            ("10s", 10_000),
            ("1.5s", 1500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("1d12h", 129_600_000),
            ("1m30s", 90_000),
            ("1m 30s", 90_000),
            ("7", 7000),
            ("0.25", 250),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_nonsense() {
        for text in [
            "",
            "fast",
            "10 parsecs",
            "s",
            "-1s",
            "1w",
            "1..2s",
            "1e19s1e19s",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
