//! The viewer's state in the page URL (`?process=a,b&level=WARNING&q=...`),
//! so a link reopens the same view and back/forward move between views.

use chrono::{DateTime, Utc};

use crate::filter::LogFilter;

/// Everything about the view that belongs in the URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewQuery {
    pub filter: LogFilter,
    /// Mark matches of the search text without hiding other rows.
    pub highlight_only: bool,
    /// Outside "live": the stored entries of this time range (`range=1h`,
    /// or `from=...&to=...`).
    pub range: Option<TimeRange>,
    /// A link to one entry (`seq=N`): the lines around it, it highlighted.
    pub seq: Option<u64>,
}

/// A time range of the store to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRange {
    /// Up to now, from this long ago.
    Last(RangePreset),
    Between {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// The ranges offered next to the search box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangePreset {
    Minutes15,
    Hour1,
    Hours24,
    Days7,
}

impl RangePreset {
    pub const ALL: [RangePreset; 4] = [
        RangePreset::Minutes15,
        RangePreset::Hour1,
        RangePreset::Hours24,
        RangePreset::Days7,
    ];

    /// In the URL and the API (`-` before it is "ago").
    pub const fn as_str(self) -> &'static str {
        match self {
            RangePreset::Minutes15 => "15m",
            RangePreset::Hour1 => "1h",
            RangePreset::Hours24 => "24h",
            RangePreset::Days7 => "7d",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            RangePreset::Minutes15 => "last 15 min",
            RangePreset::Hour1 => "last 1 h",
            RangePreset::Hours24 => "last 24 h",
            RangePreset::Days7 => "last 7 d",
        }
    }

    pub fn parse(text: &str) -> Option<RangePreset> {
        RangePreset::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub const fn seconds(self) -> i64 {
        match self {
            RangePreset::Minutes15 => 15 * 60,
            RangePreset::Hour1 => 3600,
            RangePreset::Hours24 => 24 * 3600,
            RangePreset::Days7 => 7 * 24 * 3600,
        }
    }
}

impl TimeRange {
    /// The range as `from`/`to` query parameters of the API.
    pub fn api_pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            TimeRange::Last(preset) => vec![("from", format!("-{}", preset.as_str()))],
            TimeRange::Between { from, to } => vec![
                ("from", crate::log_entry::format_timestamp(from)),
                ("to", crate::log_entry::format_timestamp(to)),
            ],
        }
    }

    /// Where the range starts and ends, as of `now`.
    pub fn bounds(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match *self {
            TimeRange::Last(preset) => (now - chrono::Duration::seconds(preset.seconds()), now),
            TimeRange::Between { from, to } => (from, to),
        }
    }
}

impl ViewQuery {
    /// Reads the query parameters the viewer understands; invalid values
    /// are ignored rather than breaking the page.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ViewQuery {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let mut query = ViewQuery::default();
        let time = |value: &str| {
            DateTime::parse_from_rfc3339(value)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let (mut from, mut to) = (None, None);
        for (key, value) in pairs {
            match key {
                "hl" => {
                    query.highlight_only = value == "1";
                    continue;
                }
                "range" => {
                    query.range = RangePreset::parse(value).map(TimeRange::Last);
                    continue;
                }
                "from" => {
                    from = time(value);
                    continue;
                }
                "to" => {
                    to = time(value);
                    continue;
                }
                "seq" => {
                    query.seq = value.parse().ok();
                    continue;
                }
                _ => {}
            }
            // One pair at a time, so one bad value does not lose the rest.
            if let Ok((single, _)) = LogFilter::from_query_pairs([(key, value)]) {
                let f = &mut query.filter;
                f.processes.extend(single.processes);
                f.nodes.extend(single.nodes);
                f.streams.extend(single.streams);
                if single.min_level.is_some() {
                    f.min_level = single.min_level;
                }
                if !single.text.is_empty() {
                    f.text = single.text;
                }
                f.regex |= single.regex;
                f.case_sensitive |= single.case_sensitive;
            }
        }
        if let (Some(from), Some(to)) = (from, to) {
            if from <= to {
                query.range = Some(TimeRange::Between { from, to });
            }
        }
        query
    }

    /// Whether the view streams live (no range, no linked entry).
    pub fn is_live(&self) -> bool {
        self.range.is_none() && self.seq.is_none()
    }

    /// `?process=a&q=...` (empty when nothing is set), encoded for a URL.
    pub fn to_query_string(&self) -> String {
        let mut encoder = form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.filter.to_query_pairs() {
            encoder.append_pair(key, &value);
        }
        if self.highlight_only && !self.filter.text.is_empty() {
            encoder.append_pair("hl", "1");
        }
        match &self.range {
            Some(TimeRange::Last(preset)) => {
                encoder.append_pair("range", preset.as_str());
            }
            Some(range @ TimeRange::Between { .. }) => {
                for (key, value) in range.api_pairs() {
                    encoder.append_pair(key, &value);
                }
            }
            None => {}
        }
        if let Some(seq) = self.seq {
            encoder.append_pair("seq", &seq.to_string());
        }
        let query = encoder.finish();
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    }

    /// The filter that decides which rows are shown: in highlight-only
    /// mode the text does not hide anything.
    pub fn hiding_filter(&self) -> LogFilter {
        let mut filter = self.filter.clone();
        if self.highlight_only {
            filter.text.clear();
        }
        filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;
    use crate::log_entry::Stream;

    fn parse(query: &str) -> ViewQuery {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        ViewQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    #[test]
    fn round_trips_through_the_url() {
        let view = ViewQuery {
            filter: LogFilter {
                processes: ["api".into(), "db".into()].into(),
                nodes: ["edge-1".into()].into(),
                min_level: Some(Level::Warning),
                streams: [Stream::Stderr].into(),
                text: "time out & retry?".into(),
                regex: false,
                case_sensitive: true,
            },
            highlight_only: true,
            range: None,
            seq: None,
        };
        let url = view.to_query_string();
        assert!(
            url.starts_with("?node=edge-1&process=api%2Cdb&level=WARNING"),
            "{url}"
        );
        assert_eq!(parse(&url[1..]), view);
    }

    #[test]
    fn ranges_and_linked_entries_round_trip() {
        for preset in RangePreset::ALL {
            let view = ViewQuery {
                range: Some(TimeRange::Last(preset)),
                ..ViewQuery::default()
            };
            assert_eq!(parse(&view.to_query_string()[1..]), view);
            assert!(!view.is_live());
        }
        let from = DateTime::parse_from_rfc3339("2026-12-01T10:00:00.000Z")
            .expect("time")
            .with_timezone(&Utc);
        let to = from + chrono::Duration::minutes(5);
        let view = ViewQuery {
            range: Some(TimeRange::Between { from, to }),
            seq: Some(42),
            ..ViewQuery::default()
        };
        let url = view.to_query_string();
        assert!(url.contains("from=2026-12-01T10%3A00%3A00.000Z"), "{url}");
        assert_eq!(parse(&url[1..]), view);
        assert_eq!(
            TimeRange::Last(RangePreset::Hour1).api_pairs(),
            [("from", "-1h".to_owned())]
        );
        // A range the wrong way round, or half of one, is no range.
        assert_eq!(
            parse("from=2026-12-01T10:05:00Z&to=2026-12-01T10:00:00Z").range,
            None
        );
        assert_eq!(parse("from=2026-12-01T10:05:00Z").range, None);
        assert_eq!(parse("range=3w").range, None);
        assert!(parse("").is_live());
    }

    #[test]
    fn an_empty_view_has_no_query() {
        assert_eq!(ViewQuery::default().to_query_string(), "");
        assert_eq!(parse(""), ViewQuery::default());
    }

    #[test]
    fn bad_values_are_skipped_not_fatal() {
        let view = parse("level=LOUD&process=web&regex=maybe&q=x");
        assert_eq!(view.filter.min_level, None);
        assert!(view.filter.processes.contains("web"));
        assert_eq!(view.filter.text, "x");
    }

    #[test]
    fn highlight_only_does_not_hide_by_text() {
        let view = parse("q=err&hl=1&level=ERROR");
        let hiding = view.hiding_filter();
        assert!(hiding.text.is_empty());
        assert_eq!(hiding.min_level, Some(Level::Error));
        assert_eq!(parse("q=err").hiding_filter().text, "err");
    }
}
