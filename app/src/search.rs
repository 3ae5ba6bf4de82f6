//! Text search: the matcher behind a [`LogFilter`]'s text, in the browser
//! and on the server alike, and the ranges to highlight. Regular
//! expressions use the `regex` crate on the server (with a bound on the
//! compiled size, so a query cannot build a huge automaton) and the
//! browser's own engine in the viewer ([`browser`]), which reads the same
//! syntax and refuses what the server would; the viewer's wasm carries no
//! regex engine.

use std::borrow::Cow;
use std::ops::Range;

use crate::filter::LogFilter;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
use browser::Pattern;
#[cfg(not(target_arch = "wasm32"))]
use native::Pattern;

/// The largest compiled regex a search may build (and the lazy DFA's cache
/// per search). A caller's pattern such as `[\w\s]{200}x` would otherwise
/// compile to many megabytes and scan slowly.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled search: substring or regular expression.
#[derive(Clone, Debug)]
pub enum Search {
    Substring {
        /// The needle, lower-cased unless `case_sensitive`.
        lower: String,
        case_sensitive: bool,
    },
    Regex(Pattern),
}

impl Search {
    /// The search for `filter`'s text; `None` when there is no text, an
    /// error message for an invalid regex.
    pub fn new(filter: &LogFilter) -> Result<Option<Search>, String> {
        if filter.text.is_empty() {
            return Ok(None);
        }
        if filter.regex {
            return Pattern::new(&filter.text, !filter.case_sensitive)
                .map(|pattern| Some(Search::Regex(pattern)));
        }
        Ok(Some(Search::Substring {
            lower: if filter.case_sensitive {
                filter.text.clone()
            } else {
                filter.text.to_lowercase()
            },
            case_sensitive: filter.case_sensitive,
        }))
    }

    /// Whether `text` holds a match.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Search::Regex(pattern) => pattern.is_match(text),
            Search::Substring {
                lower,
                case_sensitive: true,
            } => text.contains(lower.as_str()),
            Search::Substring {
                lower,
                case_sensitive: false,
            } => contains_ignore_case(text, lower),
        }
    }

    /// Whether each of `rows` rows holds a match (what
    /// [`is_match`](Self::is_match) says of `text(i)` for each), in one go.
    /// `serials` numbers the rows, if they are a store's (see
    /// [`continuation`]): the browser's engine scans them all at once and
    /// keeps their joined text for the next search, which copies only the
    /// rows it has not seen (none for the next keystroke over the same
    /// rows, the newest ones while the stream goes on).
    pub fn matches_rows<'t>(
        &self,
        rows: usize,
        serials: Option<&[u64]>,
        text: impl Fn(usize) -> Cow<'t, str>,
    ) -> Vec<bool> {
        #[cfg(target_arch = "wasm32")]
        if let Search::Regex(pattern) = self {
            return pattern.matches_rows(rows, serials, text);
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = serials;
        (0..rows).map(|i| self.is_match(&text(i))).collect()
    }

    /// Byte ranges of the matches in `text`, in order, not overlapping.
    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        match self {
            Search::Regex(pattern) => pattern.ranges(text),
            Search::Substring {
                lower,
                case_sensitive,
            } => {
                if lower.is_empty() {
                    return Vec::new();
                }
                // Lower-casing non-ASCII text can change its length, so
                // case-insensitive positions are only exact for ASCII.
                let haystack = if *case_sensitive {
                    Cow::Borrowed(text)
                } else if text.is_ascii() {
                    Cow::Owned(text.to_ascii_lowercase())
                } else {
                    return Vec::new();
                };
                haystack
                    .match_indices(lower.as_str())
                    .map(|(start, m)| start..start + m.len())
                    .collect()
            }
        }
    }
}

/// How the rows of a search (their serial numbers, increasing: see
/// `LogStore::serial_base`) continue those of the one before: `Some((k,
/// m))` when the new rows start with the `m` old rows from the `k`th on
/// (rows left the start, or the end, of the old ones) and go on with new
/// rows only; `None` when they share no such run (nothing of the old
/// search's text can be kept).
pub fn continuation(old: &[u64], new: &[u64]) -> Option<(usize, usize)> {
    let first = *new.first()?;
    let k = old.binary_search(&first).ok()?;
    let m = old[k..]
        .iter()
        .zip(new)
        .take_while(|(old, new)| old == new)
        .count();
    // What follows the run must come after everything the old rows had.
    let later = new
        .get(m)
        .is_none_or(|next| old.last().is_some_and(|last| next > last));
    (m > 0 && later).then_some((k, m))
}

/// Lets go of the joined text the browser's search keeps for the next one
/// (see [`Search::matches_rows`]).
pub fn forget_rows() {
    #[cfg(target_arch = "wasm32")]
    browser::forget_rows();
}

/// The server's (and native tests') regular expressions: the `regex` crate.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::ops::Range;

    use super::REGEX_SIZE_LIMIT;

    #[derive(Clone, Debug)]
    pub struct Pattern(regex::Regex);

    impl Pattern {
        pub fn new(text: &str, case_insensitive: bool) -> Result<Pattern, String> {
            regex::RegexBuilder::new(text)
                .case_insensitive(case_insensitive)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Pattern)
                .map_err(|e| e.to_string())
        }

        pub fn is_match(&self, text: &str) -> bool {
            self.0.is_match(text)
        }

        pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
            self.0
                .find_iter(text)
                .filter(|m| !m.is_empty())
                .map(|m| m.range())
                .collect()
        }
    }
}

/// Substring test against an already lower-cased needle. ASCII haystacks
/// (the common case) are compared without allocating.
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

/// A piece of a styled line: its run (`span`), text, and whether it is part
/// of a search match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub span: usize,
    pub text: String,
    pub highlighted: bool,
}

/// Cuts styled runs at the edges of `ranges` (byte ranges in the runs'
/// joined text, sorted and not overlapping), so matches can be marked
/// without losing colours.
pub fn highlight_segments(spans: &[crate::ansi::Span], ranges: &[Range<usize>]) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut offset = 0;
    let mut ranges = ranges.iter().peekable();
    for (index, span) in spans.iter().enumerate() {
        let end = offset + span.text.len();
        let mut cursor = offset;
        while cursor < end {
            // Skip ranges that ended before this point.
            while ranges.peek().is_some_and(|r| r.end <= cursor) {
                ranges.next();
            }
            let (piece_end, highlighted) = match ranges.peek() {
                Some(r) if r.start <= cursor => (r.end.min(end), true),
                Some(r) if r.start < end => (r.start, false),
                _ => (end, false),
            };
            let (from, to) = (cursor - offset, piece_end - offset);
            if let Some(text) = span.text.get(from..to) {
                segments.push(Segment {
                    span: index,
                    text: text.to_owned(),
                    highlighted,
                });
            }
            cursor = piece_end;
        }
        offset = end;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(text: &str, regex: bool, case_sensitive: bool) -> Search {
        Search::new(&LogFilter {
            text: text.into(),
            regex,
            case_sensitive,
            ..LogFilter::default()
        })
        .expect("valid")
        .expect("has text")
    }

    #[test]
    fn substring_ranges_ignore_case() {
        let s = search("err", false, false);
        assert_eq!(s.ranges("ERR: an error, Err"), vec![0..3, 8..11, 15..18]);
        assert!(s.is_match("ERROR"));
        let s = search("Err", false, true);
        assert_eq!(s.ranges("ERR: Err"), vec![5..8]);
        assert!(!s.is_match("error"));
    }

    #[test]
    fn regex_ranges_and_case() {
        let s = search(r"time(out)?\s\d+", true, false);
        assert_eq!(s.ranges("Timeout 30 and time 5"), vec![0..10, 15..21]);
        assert!(s.is_match("TIME 1"));
        assert!(!search("abc", true, true).is_match("ABC"));
    }

    #[test]
    fn no_text_means_no_search_and_bad_regex_is_an_error() {
        assert!(Search::new(&LogFilter::default()).expect("valid").is_none());
        let bad = LogFilter {
            text: "(".into(),
            regex: true,
            ..LogFilter::default()
        };
        assert!(Search::new(&bad).is_err());
    }

    #[test]
    fn highlights_cut_across_coloured_runs() {
        let spans = crate::ansi::parse_ansi("\u{1b}[31mERROR\u{1b}[0m: disk error");
        let ranges = search("error", false, false).ranges("ERROR: disk error");
        let segments = highlight_segments(&spans, &ranges);
        let shape: Vec<(usize, &str, bool)> = segments
            .iter()
            .map(|s| (s.span, s.text.as_str(), s.highlighted))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, "ERROR", true),
                (1, ": disk ", false),
                (1, "error", true)
            ]
        );
        let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(joined, "ERROR: disk error");
    }

    #[test]
    fn a_match_spanning_two_runs_is_marked_in_both() {
        let spans = crate::ansi::parse_ansi("ab\u{1b}[1mcd");
        let one_match: Vec<Range<usize>> = std::iter::once(1..3).collect();
        let segments = highlight_segments(&spans, &one_match);
        let shape: Vec<(usize, &str, bool)> = segments
            .iter()
            .map(|s| (s.span, s.text.as_str(), s.highlighted))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, "a", false),
                (0, "b", true),
                (1, "c", true),
                (1, "d", false)
            ]
        );
        assert_eq!(highlight_segments(&spans, &[]).len(), 2);
    }

    #[test]
    fn a_regex_too_large_to_compile_is_refused() {
        let huge = LogFilter {
            text: r"[\w\s]{200}zzzq".into(),
            regex: true,
            ..LogFilter::default()
        };
        let error = Search::new(&huge).expect_err("over the size limit");
        assert!(error.contains("size limit"), "{error}");
    }

    #[test]
    fn a_search_continues_the_rows_of_the_last_one() {
        let old = [10, 11, 13, 14];
        assert_eq!(continuation(&old, &old), Some((0, 4)), "the same rows");
        assert_eq!(
            continuation(&old, &[13, 14, 15, 16]),
            Some((2, 2)),
            "newer rows came"
        );
        assert_eq!(
            continuation(&old, &[11, 13]),
            Some((1, 2)),
            "fewer at both ends"
        );
        assert_eq!(continuation(&old, &[14]), Some((3, 1)));
        assert_eq!(
            continuation(&old, &[9, 10, 11]),
            None,
            "an older row before them"
        );
        assert_eq!(
            continuation(&old, &[12, 13]),
            None,
            "not one of the old rows first"
        );
        assert_eq!(
            continuation(&old, &[10, 13, 14]),
            None,
            "a row in between left"
        );
        assert_eq!(
            continuation(&old, &[10, 11, 12]),
            None,
            "a new row among the old ones"
        );
        assert_eq!(continuation(&old, &[15, 16]), None, "nothing in common");
        assert_eq!(continuation(&old, &[]), None);
        assert_eq!(continuation(&[], &[1]), None);
    }

    #[test]
    fn empty_regex_matches_give_no_ranges() {
        assert!(search("x*", true, false).ranges("abc").is_empty());
    }
}
