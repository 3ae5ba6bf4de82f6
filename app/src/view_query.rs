//! The viewer's state in the page URL (`?process=a,b&level=WARNING&q=...`),
//! so a link reopens the same view and back/forward move between views.

use crate::filter::LogFilter;

/// Everything about the view that belongs in the URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewQuery {
    pub filter: LogFilter,
    /// Mark matches of the search text without hiding other rows.
    pub highlight_only: bool,
}

impl ViewQuery {
    /// Reads the query parameters the viewer understands; invalid values
    /// are ignored rather than breaking the page.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ViewQuery {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let mut query = ViewQuery::default();
        for (key, value) in pairs {
            if key == "hl" {
                query.highlight_only = value == "1";
                continue;
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
        query
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
        };
        let url = view.to_query_string();
        assert!(
            url.starts_with("?node=edge-1&process=api%2Cdb&level=WARNING"),
            "{url}"
        );
        assert_eq!(parse(&url[1..]), view);
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
