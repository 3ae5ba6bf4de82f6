//! Which entries a viewer shows. The same filter, and the same query-string
//! form of it, serves the browser's controls, the shareable page URL and the
//! server's per-connection and history filters; [`EntryFilter`] is that
//! filter compiled once (its search included) and tested against many
//! entries, in the browser and on the server alike.

use std::collections::BTreeSet;
use std::fmt;

use crate::ansi::strip_ansi;
use crate::level::Level;
use crate::log_entry::{LogEntry, Stream};
use crate::process::check_name;
use crate::search::Search;

/// At most this many processes in one filter: a query names each at most
/// once, and the history opens a file per name.
pub const MAX_PROCESSES: usize = 100;

/// Process, level, stream and text filters, all combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Processes to show; empty shows every process.
    pub processes: BTreeSet<String>,
    /// Hide entries less severe than this.
    pub min_level: Option<Level>,
    /// Streams to show; empty shows every stream.
    pub streams: BTreeSet<Stream>,
    /// Text the message (without ANSI colours) must contain; empty matches
    /// everything.
    pub text: String,
    /// `text` is a regular expression rather than a substring.
    pub regex: bool,
    /// `text` is matched case-sensitively.
    pub case_sensitive: bool,
    /// In a cluster, the nodes to show; empty shows every node.
    pub nodes: BTreeSet<String>,
}

impl LogFilter {
    /// True when the filter lets every entry through.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.min_level.is_none()
            && self.streams.is_empty()
            && self.text.is_empty()
            && self.nodes.is_empty()
    }

    /// Everything but the text: process, level, stream and node.
    pub fn matches_fields(&self, entry: &LogEntry) -> bool {
        (self.processes.is_empty() || self.processes.contains(&entry.process_name))
            && self.min_level.is_none_or(|min| entry.level >= min)
            && (self.streams.is_empty() || self.streams.contains(&entry.stream))
            && (self.nodes.is_empty()
                || entry
                    .node
                    .as_ref()
                    .is_some_and(|node| self.nodes.contains(node)))
    }

    /// The filter as query parameters: `node=a&process=a,b&level=WARNING&
    /// stream=stderr&q=text&regex=1&case=1`, only those that are set.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.nodes.is_empty() {
            pairs.push(("node", join(self.nodes.iter().map(String::as_str))));
        }
        if !self.processes.is_empty() {
            pairs.push(("process", join(self.processes.iter().map(String::as_str))));
        }
        if let Some(level) = self.min_level {
            pairs.push(("level", level.as_str().to_owned()));
        }
        if !self.streams.is_empty() {
            pairs.push(("stream", join(self.streams.iter().map(|s| s.as_str()))));
        }
        if !self.text.is_empty() {
            pairs.push(("q", self.text.clone()));
        }
        // Kept without text too: the reader turns a toggle on, then types.
        if self.regex {
            pairs.push(("regex", "1".into()));
        }
        if self.case_sensitive {
            pairs.push(("case", "1".into()));
        }
        pairs
    }

    /// Reads the keys [`LogFilter::to_query_pairs`] writes; other keys are
    /// returned untouched for the caller.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(LogFilter, QueryPairs<'a>), FilterError> {
        let mut filter = LogFilter::default();
        let mut rest = Vec::new();
        for (key, value) in pairs {
            match key {
                "node" => {
                    for name in split_list(value) {
                        check_name(name).map_err(|_| {
                            FilterError::new(
                                "node",
                                name,
                                "node names of letters, digits, `_`, `-` and `.`",
                            )
                        })?;
                        filter.nodes.insert(name.to_owned());
                    }
                }
                "process" => {
                    for name in split_list(value) {
                        check_name(name).map_err(|_| {
                            FilterError::new(
                                "process",
                                name,
                                "process names of letters, digits, `_`, `-` and `.`",
                            )
                        })?;
                        filter.processes.insert(name.to_owned());
                    }
                    if filter.processes.len() > MAX_PROCESSES {
                        return Err(FilterError::new(
                            "process",
                            value,
                            "at most 100 process names",
                        ));
                    }
                }
                "level" => {
                    if !value.is_empty() {
                        let level = value.parse().map_err(|_| {
                            FilterError::new("level", value, "a level such as WARNING")
                        })?;
                        filter.min_level = Some(level);
                    }
                }
                "stream" => {
                    for name in split_list(value) {
                        let stream = Stream::from_name(name).ok_or_else(|| {
                            FilterError::new("stream", name, "stdout, stderr or system")
                        })?;
                        filter.streams.insert(stream);
                    }
                }
                "q" => filter.text = value.to_owned(),
                "regex" => filter.regex = flag("regex", value)?,
                "case" => filter.case_sensitive = flag("case", value)?,
                _ => rest.push((key, value)),
            }
        }
        Ok((filter, rest))
    }
}

/// Query parameters as `(key, value)` pairs.
pub type QueryPairs<'a> = Vec<(&'a str, &'a str)>;

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn flag(key: &'static str, value: &str) -> Result<bool, FilterError> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(FilterError::new(key, value, "1 or 0")),
    }
}

/// A query parameter with a value the filter cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub key: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl FilterError {
    fn new(key: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            key,
            value: value.to_owned(),
            expected,
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl std::error::Error for FilterError {}

/// A [`LogFilter`] with its search compiled, ready to test many entries.
/// Two are equal when their filters are (the search is derived).
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    filter: LogFilter,
    search: Option<Search>,
}

impl PartialEq for EntryFilter {
    fn eq(&self, other: &Self) -> bool {
        self.filter == other.filter
    }
}

impl EntryFilter {
    /// Compiles `filter`'s search; an invalid (or too large) regex is an
    /// error naming `q`.
    pub fn new(filter: LogFilter) -> Result<EntryFilter, String> {
        let search = Search::new(&filter).map_err(|e| format!("invalid q regex: {e}"))?;
        Ok(EntryFilter { filter, search })
    }

    /// The filter's fields without a search: for filters known to have no
    /// text (a process name, say), which cannot fail to compile.
    pub fn fields_only(mut filter: LogFilter) -> EntryFilter {
        filter.text.clear();
        EntryFilter {
            filter,
            search: None,
        }
    }

    pub fn filter(&self) -> &LogFilter {
        &self.filter
    }

    /// The compiled search, when the filter has text.
    pub fn search(&self) -> Option<&Search> {
        self.search.as_ref()
    }

    /// Whether `entry` passes every part of the filter; the text is
    /// matched against the message without its ANSI colours.
    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.filter.matches_fields(entry)
            && self
                .search
                .as_ref()
                .is_none_or(|search| search.is_match(&strip_ansi(&entry.message)))
    }

    /// What [`matches`](Self::matches) says of each of `entries`, with the
    /// search run over all that pass the other parts at once. With
    /// `serial_base`, they are a store's entries, all of them, oldest
    /// first, numbered from it (see `LogStore::serial_base`), which lets a
    /// search keep what it built for the rows it has seen before.
    pub fn matches_each(&self, entries: &[&LogEntry], serial_base: Option<u64>) -> Vec<bool> {
        let mut shows: Vec<bool> = entries
            .iter()
            .map(|entry| self.filter.matches_fields(entry))
            .collect();
        if let Some(search) = &self.search {
            let candidates: Vec<usize> = (0..entries.len()).filter(|&i| shows[i]).collect();
            let serials: Option<Vec<u64>> =
                serial_base.map(|base| candidates.iter().map(|&i| base + i as u64).collect());
            let found = search.matches_rows(candidates.len(), serials.as_deref(), |row| {
                strip_ansi(&entries[candidates[row]].message)
            });
            for (&i, found) in candidates.iter().zip(found) {
                shows[i] = found;
            }
        }
        shows
    }

    /// Whether the filter searches with a regular expression.
    pub fn has_regex(&self) -> bool {
        matches!(self.search, Some(Search::Regex(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            continued: false,
            dropped: None,
            node: None,
        }
    }

    fn matches(filter: &LogFilter, entry: &LogEntry) -> bool {
        EntryFilter::new(filter.clone())
            .expect("valid")
            .matches(entry)
    }

    #[test]
    fn matching_many_at_once_says_what_matching_each_says() {
        let entries = [
            entry("api", Level::Info, "GET /health 200"),
            entry("api", Level::Error, "\u{1b}[31mtimeout\u{1b}[0m after 5s"),
            entry("db", Level::Error, "timeout waiting for lock"),
            entry("api", Level::Warning, "slow: 900 ms"),
        ];
        let entries: Vec<&LogEntry> = entries.iter().collect();
        for (text, regex) in [
            ("timeout", false),
            ("^timeout", true),
            ("", false),
            ("\\d+ ms", true),
        ] {
            let filter = EntryFilter::new(LogFilter {
                text: text.into(),
                regex,
                processes: ["api".to_string()].into(),
                ..LogFilter::default()
            })
            .expect("valid");
            let each: Vec<bool> = entries.iter().map(|e| filter.matches(e)).collect();
            assert_eq!(filter.matches_each(&entries, None), each, "{text}");
        }
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        let filter = LogFilter::default();
        assert!(filter.is_empty());
        assert!(matches(&filter, &entry("a", Level::Debug, "x")));
    }

    #[test]
    fn process_filter_keeps_only_selected_processes() {
        let filter = LogFilter {
            processes: ["api".to_string(), "db".to_string()].into(),
            ..LogFilter::default()
        };
        assert!(matches(&filter, &entry("api", Level::Info, "x")));
        assert!(matches(&filter, &entry("db", Level::Info, "x")));
        assert!(!matches(&filter, &entry("worker", Level::Info, "x")));
    }

    #[test]
    fn min_level_hides_less_severe_entries() {
        let filter = LogFilter {
            min_level: Some(Level::Warning),
            ..LogFilter::default()
        };
        assert!(!matches(&filter, &entry("a", Level::Info, "x")));
        assert!(matches(&filter, &entry("a", Level::Warning, "x")));
        assert!(matches(&filter, &entry("a", Level::Critical, "x")));
    }

    #[test]
    fn stream_filter_keeps_only_selected_streams() {
        let filter = LogFilter {
            streams: [Stream::Stderr].into(),
            ..LogFilter::default()
        };
        let mut line = entry("a", Level::Info, "x");
        assert!(!matches(&filter, &line));
        line.stream = Stream::Stderr;
        assert!(matches(&filter, &line));
    }

    #[test]
    fn text_search_ignores_case_including_non_ascii() {
        let filter = LogFilter {
            text: "TimeOut".into(),
            ..LogFilter::default()
        };
        assert!(matches(
            &filter,
            &entry("a", Level::Info, "request timeout after 3s")
        ));
        assert!(!matches(&filter, &entry("a", Level::Info, "request ok")));

        let filter = LogFilter {
            text: "ÉCHEC".into(),
            ..LogFilter::default()
        };
        assert!(matches(
            &filter,
            &entry("a", Level::Error, "connexion: échec")
        ));
    }

    #[test]
    fn case_sensitive_search_respects_case() {
        let filter = LogFilter {
            text: "Error".into(),
            case_sensitive: true,
            ..LogFilter::default()
        };
        assert!(matches(&filter, &entry("a", Level::Info, "Error here")));
        assert!(!matches(&filter, &entry("a", Level::Info, "error here")));
    }

    #[test]
    fn search_ignores_ansi_colours() {
        let filter = LogFilter {
            text: "ready now".into(),
            ..LogFilter::default()
        };
        assert!(matches(
            &filter,
            &entry("a", Level::Info, "\u{1b}[32mready\u{1b}[0m now")
        ));
    }

    #[test]
    fn node_filter_keeps_only_entries_of_those_nodes() {
        let filter = LogFilter {
            nodes: ["media-1".to_owned()].into(),
            ..LogFilter::default()
        };
        let mut line = entry("a", Level::Info, "x");
        assert!(!matches(&filter, &line), "an entry without a node");
        line.node = Some("media-2".into());
        assert!(!matches(&filter, &line));
        line.node = Some("media-1".into());
        assert!(matches(&filter, &line));
        assert!(LogFilter::from_query_pairs([("node", "../x")]).is_err());
    }

    #[test]
    fn filters_combine_with_and() {
        let filter = LogFilter {
            processes: ["api".to_string()].into(),
            min_level: Some(Level::Error),
            text: "db".into(),
            ..LogFilter::default()
        };
        assert!(matches(&filter, &entry("api", Level::Error, "db down")));
        assert!(!matches(&filter, &entry("api", Level::Info, "db down")));
        assert!(!matches(&filter, &entry("web", Level::Error, "db down")));
        assert!(!matches(&filter, &entry("api", Level::Error, "cache down")));
    }

    #[test]
    fn a_needle_longer_than_the_message_does_not_match() {
        let filter = LogFilter {
            text: "a much longer needle".into(),
            ..LogFilter::default()
        };
        assert!(!matches(&filter, &entry("a", Level::Info, "short")));
    }

    #[test]
    fn query_pairs_round_trip() {
        let filter = LogFilter {
            processes: ["api".to_string(), "db".to_string()].into(),
            min_level: Some(Level::Warning),
            streams: [Stream::Stderr].into(),
            text: "time(out)?".into(),
            regex: true,
            case_sensitive: true,
            nodes: ["media-1".to_owned()].into(),
        };
        let pairs = filter.to_query_pairs();
        assert_eq!(
            pairs,
            vec![
                ("node", "media-1".to_owned()),
                ("process", "api,db".to_owned()),
                ("level", "WARNING".to_owned()),
                ("stream", "stderr".to_owned()),
                ("q", "time(out)?".to_owned()),
                ("regex", "1".to_owned()),
                ("case", "1".to_owned()),
            ]
        );
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (back, rest) = LogFilter::from_query_pairs(borrowed).expect("valid");
        assert_eq!(back, filter);
        assert!(rest.is_empty());
    }

    #[test]
    fn search_toggles_survive_an_empty_search_box() {
        let filter = LogFilter {
            regex: true,
            case_sensitive: true,
            ..LogFilter::default()
        };
        let pairs = filter.to_query_pairs();
        assert_eq!(
            pairs,
            vec![("regex", "1".to_owned()), ("case", "1".to_owned())]
        );
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (back, _) = LogFilter::from_query_pairs(borrowed).expect("valid");
        assert_eq!(back, filter);
    }

    #[test]
    fn query_parsing_accepts_aliases_and_returns_unknown_keys() {
        let (filter, rest) = LogFilter::from_query_pairs([
            ("level", "warn"),
            ("process", "a, b,,"),
            ("tail", "100"),
        ])
        .expect("valid");
        assert_eq!(filter.min_level, Some(Level::Warning));
        assert_eq!(filter.processes.len(), 2);
        assert_eq!(rest, vec![("tail", "100")]);
        assert!(LogFilter::default().to_query_pairs().is_empty());
    }

    #[test]
    fn process_names_are_names_not_paths_and_each_counts_once() {
        for bad in ["../victim/secret", "a/b", ".", "..", "x y"] {
            let error = LogFilter::from_query_pairs([("process", bad)]).expect_err(bad);
            assert_eq!(error.key, "process");
        }
        let (filter, _) =
            LogFilter::from_query_pairs([("process", "web,web,db"), ("process", "web")])
                .expect("valid");
        assert_eq!(filter.processes.len(), 2);
        let many: String = (0..=MAX_PROCESSES)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(LogFilter::from_query_pairs([("process", many.as_str())]).is_err());
    }

    #[test]
    fn query_parsing_rejects_bad_values() {
        for (key, value) in [("level", "LOUD"), ("stream", "stdin"), ("regex", "maybe")] {
            let error = LogFilter::from_query_pairs([(key, value)]).expect_err("invalid");
            assert_eq!(error.key, key);
            assert!(error.to_string().contains(value));
        }
    }
}
