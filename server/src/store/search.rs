//! What the trigram index can narrow a text search to: a few of the
//! trigrams (runs of three characters) every matching message contains.
//! The index finds the entries holding all of them, and the filter itself
//! ([`app::filter::EntryFilter`]) decides, so the candidates may be more
//! than the matches (the index folds case; three trigrams say nothing of
//! their order) but never fewer.
//!
//! Which trigrams: a search reads the index's list of entries for each
//! trigram it names, and a trigram in every line (`seq` of `seq=12345`)
//! costs as much as it narrows nothing. So the trigrams are counted in a
//! sample of the messages and the rarest few are used.

use app::LogFilter;
use regex_syntax::hir::{Hir, HirKind};

/// The index holds every run of three characters.
const TRIGRAM: usize = 3;
/// At most this many trigrams go to the index: each one more narrows
/// less and costs a list to read.
const MAX_TRIGRAMS: usize = 3;
/// Beyond the rarest, a trigram is used only when it is in at most this
/// share of the sample (one in twenty).
const COMMON_SHARE: usize = 20;

/// The distinct trigrams every match of `filter`'s text contains, in the
/// order they appear; empty when the index cannot narrow it (no text,
/// shorter than three characters, or a regex without such a literal
/// part).
pub fn trigrams(filter: &LogFilter) -> Vec<String> {
    if filter.text.is_empty() {
        return Vec::new();
    }
    let pieces = if filter.regex {
        regex_pieces(&filter.text).unwrap_or_default()
    } else {
        vec![filter.text.clone()]
    };
    let mut found: Vec<String> = Vec::new();
    for piece in pieces {
        let chars: Vec<char> = piece.chars().collect();
        for window in chars.windows(TRIGRAM) {
            // The index folds case as Unicode does; a search that ignores
            // case compares lower-cased text, which for letters beyond
            // ASCII is not always the same thing.
            if !filter.case_sensitive && !window.iter().all(char::is_ascii) {
                continue;
            }
            let trigram: String = window.iter().collect::<String>().to_lowercase();
            if !found.contains(&trigram) {
                found.push(trigram);
            }
        }
    }
    found
}

/// The trigrams to look up: the rarest in `sample` (messages stored),
/// and up to [`MAX_TRIGRAMS`] in all of those that are rare enough to
/// narrow. Ties keep the pattern's order.
pub fn rarest<'t>(trigrams: &'t [String], sample: &[String]) -> Vec<&'t str> {
    let lowered: Vec<String> = sample.iter().map(|text| text.to_lowercase()).collect();
    let mut counted: Vec<(usize, usize, &str)> = trigrams
        .iter()
        .enumerate()
        .map(|(place, trigram)| {
            let count = lowered
                .iter()
                .filter(|text| text.contains(trigram.as_str()))
                .count();
            (count, place, trigram.as_str())
        })
        .collect();
    counted.sort_unstable();
    let rare_enough = sample.len() / COMMON_SHARE;
    counted
        .iter()
        .enumerate()
        .take_while(|(i, (count, _, _))| *i == 0 || *count <= rare_enough)
        .take(MAX_TRIGRAMS)
        .map(|(_, (_, _, trigram))| *trigram)
        .collect()
}

/// The index query for `trigrams`: each one a quoted string, all of them
/// required.
pub fn match_expression(trigrams: &[&str]) -> String {
    trigrams
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The literal runs every match of `pattern` contains, in order.
fn regex_pieces(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut runs = Vec::new();
    let mut current = Vec::new();
    required_runs(&hir, &mut runs, &mut current);
    runs.push(current);
    Some(
        runs.into_iter()
            .filter_map(|run| String::from_utf8(run).ok())
            .filter(|run| !run.is_empty())
            .collect(),
    )
}

/// Appends to `current` what `hir` must match literally; whatever may
/// vary ends the run.
fn required_runs(hir: &Hir, runs: &mut Vec<Vec<u8>>, current: &mut Vec<u8>) {
    match hir.kind() {
        HirKind::Literal(literal) => current.extend_from_slice(&literal.0),
        HirKind::Concat(parts) => {
            for part in parts {
                required_runs(part, runs, current);
            }
        }
        HirKind::Capture(capture) => required_runs(&capture.sub, runs, current),
        // Zero-width: the text on either side is still adjacent.
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Repetition(repetition) if repetition.min == 1 && repetition.max == Some(1) => {
            required_runs(&repetition.sub, runs, current);
        }
        HirKind::Repetition(repetition) if repetition.min >= 1 => {
            // The part occurs, but what follows need not be adjacent to
            // its first occurrence.
            runs.push(std::mem::take(current));
            required_runs(&repetition.sub, runs, current);
            runs.push(std::mem::take(current));
        }
        HirKind::Class(_) | HirKind::Repetition(_) | HirKind::Alternation(_) => {
            runs.push(std::mem::take(current));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str, regex: bool, case_sensitive: bool) -> LogFilter {
        LogFilter {
            text: text.into(),
            regex,
            case_sensitive,
            ..LogFilter::default()
        }
    }

    fn of(text: &str, regex: bool, case_sensitive: bool) -> Vec<String> {
        trigrams(&filter(text, regex, case_sensitive))
    }

    #[test]
    fn a_substring_gives_each_of_its_trigrams_once_lower_cased() {
        assert_eq!(
            of("Time out", false, false),
            ["tim", "ime", "me ", "e o", " ou", "out"]
        );
        assert_eq!(of("aaaa", false, true), ["aaa"]);
        assert!(of("ab", false, false).is_empty());
        assert!(of("", false, false).is_empty());
        // No wildcards here: `%` and `_` are characters like others.
        assert_eq!(of("1%_", false, false), ["1%_"]);
    }

    #[test]
    fn letters_beyond_ascii_are_used_only_when_case_matters() {
        assert_eq!(of("größe", false, false), Vec::<String>::new());
        assert_eq!(of("xgrö", false, false), ["xgr"]);
        assert_eq!(of("größe", false, true), ["grö", "röß", "öße"]);
    }

    #[test]
    fn a_regex_gives_the_trigrams_of_its_literal_parts() {
        assert_eq!(
            of(r"error.*after \d+ms", true, false),
            ["err", "rro", "ror", "aft", "fte", "ter", "er "]
        );
        assert_eq!(
            of(r"^GET /a(b|c)", true, false),
            ["get", "et ", "t /", " /a"]
        );
        assert_eq!(of(r"(?:abc)+def", true, false), ["abc", "def"]);
        assert!(of(r"\d+\s\w+", true, false).is_empty());
        assert!(of(r"foo|barbaz", true, false).is_empty());
        // Case-insensitive inside the pattern: no literal to rely on.
        assert!(of(r"(?i)panic", true, true).is_empty());
        assert!(of(r"[", true, false).is_empty());
    }

    #[test]
    fn the_rarest_trigrams_are_chosen_and_common_ones_left_out() {
        let sample: Vec<String> = (0..200)
            .map(|i| format!("INFO seq={i} payload"))
            .chain(["INFO seq=12345 payload".to_owned()])
            .collect();
        let all = of("seq=12345", false, false);
        // In the sample: `234` and `345` once, `123` twice, `=12` twelve
        // times (over the one in twenty), `seq` in every line.
        assert_eq!(rarest(&all, &sample), ["234", "345", "123"]);
        // All common: the rarest one alone.
        assert_eq!(rarest(&of("payload", false, false), &sample), ["pay"]);
        // No sample yet: the first three.
        assert_eq!(rarest(&all, &[]), ["seq", "eq=", "q=1"]);
        // The sample is compared without case.
        let shouting = vec!["SEQ=1".to_owned(); 40];
        assert_eq!(rarest(&of("seq=1", false, false), &shouting), ["seq"]);
    }

    #[test]
    fn the_index_query_quotes_each_trigram() {
        assert_eq!(match_expression(&["abc", "a\"b"]), "\"abc\" AND \"a\"\"b\"");
        assert_eq!(match_expression(&["x y"]), "\"x y\"");
    }
}
