//! Which entries a viewer shows. The same predicate serves the browser's
//! filters and, later, the server's per-connection filters.

use std::collections::BTreeSet;

use crate::level::Level;
use crate::log_entry::LogEntry;

/// Process, minimum-level and text filters, all combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Processes to show; empty shows every process.
    pub processes: BTreeSet<String>,
    /// Hide entries less severe than this.
    pub min_level: Option<Level>,
    /// Case-insensitive substring of the message; empty matches everything.
    pub text: String,
}

impl LogFilter {
    /// True when the filter lets every entry through.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.min_level.is_none() && self.text.is_empty()
    }

    /// Prepares the filter for testing many entries: the search text is
    /// lower-cased once instead of per entry.
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher {
            filter: self,
            needle: self.text.to_lowercase(),
        }
    }
}

/// A [`LogFilter`] ready to test entries.
#[derive(Debug)]
pub struct Matcher<'a> {
    filter: &'a LogFilter,
    needle: String,
}

impl Matcher<'_> {
    pub fn matches(&self, entry: &LogEntry) -> bool {
        let filter = self.filter;
        if !filter.processes.is_empty() && !filter.processes.contains(&entry.process_name) {
            return false;
        }
        if filter.min_level.is_some_and(|min| entry.level < min) {
            return false;
        }
        self.needle.is_empty() || contains_ignore_case(&entry.message, &self.needle)
    }
}

/// Substring test against an already lower-cased needle. ASCII haystacks (the
/// common case) are compared without allocating.
fn contains_ignore_case(haystack: &str, lower_needle: &str) -> bool {
    if haystack.is_ascii() && lower_needle.is_ascii() {
        let (hay, needle) = (haystack.as_bytes(), lower_needle.as_bytes());
        if needle.len() > hay.len() {
            return false;
        }
        return hay
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle));
    }
    haystack.to_lowercase().contains(lower_needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_entry::Stream;
    use chrono::Utc;

    fn entry(process: &str, level: Level, message: &str) -> LogEntry {
        LogEntry {
            message: message.into(),
            level,
            process_name: process.into(),
            timestamp: Utc::now(),
            seq: 1,
            stream: Stream::Stdout,
            pid: None,
        }
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        let filter = LogFilter::default();
        assert!(filter.is_empty());
        assert!(filter.matcher().matches(&entry("a", Level::Debug, "x")));
    }

    #[test]
    fn process_filter_keeps_only_selected_processes() {
        let filter = LogFilter {
            processes: ["api".to_string(), "db".to_string()].into(),
            ..LogFilter::default()
        };
        let m = filter.matcher();
        assert!(m.matches(&entry("api", Level::Info, "x")));
        assert!(m.matches(&entry("db", Level::Info, "x")));
        assert!(!m.matches(&entry("worker", Level::Info, "x")));
    }

    #[test]
    fn min_level_hides_less_severe_entries() {
        let filter = LogFilter {
            min_level: Some(Level::Warning),
            ..LogFilter::default()
        };
        let m = filter.matcher();
        assert!(!m.matches(&entry("a", Level::Info, "x")));
        assert!(m.matches(&entry("a", Level::Warning, "x")));
        assert!(m.matches(&entry("a", Level::Critical, "x")));
    }

    #[test]
    fn text_search_ignores_case_including_non_ascii() {
        let filter = LogFilter {
            text: "TimeOut".into(),
            ..LogFilter::default()
        };
        let m = filter.matcher();
        assert!(m.matches(&entry("a", Level::Info, "request timeout after 3s")));
        assert!(!m.matches(&entry("a", Level::Info, "request ok")));

        let filter = LogFilter {
            text: "ÉCHEC".into(),
            ..LogFilter::default()
        };
        assert!(filter
            .matcher()
            .matches(&entry("a", Level::Error, "connexion: échec")));
    }

    #[test]
    fn filters_combine_with_and() {
        let filter = LogFilter {
            processes: ["api".to_string()].into(),
            min_level: Some(Level::Error),
            text: "db".into(),
        };
        let m = filter.matcher();
        assert!(m.matches(&entry("api", Level::Error, "db down")));
        assert!(!m.matches(&entry("api", Level::Info, "db down")));
        assert!(!m.matches(&entry("web", Level::Error, "db down")));
        assert!(!m.matches(&entry("api", Level::Error, "cache down")));
    }

    #[test]
    fn a_needle_longer_than_the_message_does_not_match() {
        let filter = LogFilter {
            text: "a much longer needle".into(),
            ..LogFilter::default()
        };
        assert!(!filter.matcher().matches(&entry("a", Level::Info, "short")));
    }
}
