//! Severity levels, ordered from least to most severe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The five levels every entry carries on the wire, spelt in upper case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    /// Its place in [`Level::ALL`] (0 for `DEBUG`): ordered as the levels.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The wire spelling: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// Lower-case spelling, used for CSS classes.
    pub const fn css_class(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    /// Maps a level name as logging libraries spell it to a level,
    /// case-insensitively: the five canonical names and the common aliases
    /// (`WARN`, `ERR`, `FATAL`, `TRACE`, `NOTICE`, `PANIC`, ...).
    pub fn from_name(name: &str) -> Option<Level> {
        const ALIASES: &[(&str, Level)] = &[
            ("TRACE", Level::Debug),
            ("DEBUG", Level::Debug),
            ("DBG", Level::Debug),
            ("DBUG", Level::Debug),
            ("TRC", Level::Debug),
            ("VERBOSE", Level::Debug),
            ("INFO", Level::Info),
            ("INF", Level::Info),
            ("INFORMATION", Level::Info),
            ("NOTICE", Level::Info),
            ("LOG", Level::Info),
            ("SUCCESS", Level::Info),
            ("WARNING", Level::Warning),
            ("WARN", Level::Warning),
            ("WRN", Level::Warning),
            ("ERROR", Level::Error),
            ("ERR", Level::Error),
            ("ERRO", Level::Error),
            ("EROR", Level::Error),
            ("CRITICAL", Level::Critical),
            ("CRIT", Level::Critical),
            ("CRT", Level::Critical),
            ("FATAL", Level::Critical),
            ("FTL", Level::Critical),
            ("PANIC", Level::Critical),
            ("DPANIC", Level::Critical),
            ("ALERT", Level::Critical),
            ("EMERG", Level::Critical),
            ("EMERGENCY", Level::Critical),
        ];
        ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map(|&(_, level)| level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level `{}` (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::from_name(s.trim()).ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_by_severity() {
        let mut sorted = Level::ALL;
        sorted.sort();
        assert_eq!(sorted, Level::ALL);
        assert!(Level::Warning > Level::Info);
        assert!(Level::Critical > Level::Error);
    }

    #[test]
    fn aliases_normalise_to_the_five_levels() {
        for (name, level) in [
            ("warn", Level::Warning),
            ("WARN", Level::Warning),
            ("err", Level::Error),
            ("Fatal", Level::Critical),
            ("trace", Level::Debug),
            ("notice", Level::Info),
            ("panic", Level::Critical),
            ("critical", Level::Critical),
        ] {
            assert_eq!(Level::from_name(name), Some(level), "{name}");
        }
        assert_eq!(Level::from_name("warnings"), None);
        assert_eq!(Level::from_name(""), None);
    }

    #[test]
    fn parses_and_displays_the_wire_spelling() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
            assert_eq!(level.to_string(), level.as_str());
        }
        assert!("loud".parse::<Level>().is_err());
    }
}
