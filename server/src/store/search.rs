//! What the trigram index can narrow a text search to: a `LIKE` pattern
//! (`%piece%piece%`) every matching message also matches. The index finds
//! the candidates, and the filter itself ([`app::filter::EntryFilter`])
//! decides, so a pattern may let through more than the search (`LIKE`
//! ignores ASCII case, `_` and `%` in the text are wildcards to it) but
//! never less.

use app::LogFilter;
use regex_syntax::hir::{Hir, HirKind};

/// The index holds every run of three characters; shorter pieces cannot
/// use it.
const MIN_PIECE: usize = 3;

/// The `LIKE` pattern for `filter`'s text, or `None` when the index
/// cannot narrow it (no text, too short, or a regex without a literal
/// part of three characters).
pub fn like_pattern(filter: &LogFilter) -> Option<String> {
    if filter.text.is_empty() {
        return None;
    }
    let pieces = if filter.regex {
        regex_pieces(&filter.text)?
    } else {
        vec![filter.text.clone()]
    };
    // `LIKE` folds ASCII letters only: a search ignoring case cannot ask
    // it for other letters in one case.
    let usable: Vec<String> = pieces
        .into_iter()
        .filter(|p| filter.case_sensitive || p.is_ascii())
        .filter(|p| has_indexable_run(p))
        .collect();
    if usable.is_empty() {
        return None;
    }
    let mut pattern = String::from("%");
    for piece in usable {
        pattern.push_str(&piece);
        pattern.push('%');
    }
    Some(pattern)
}

/// Whether `piece` holds three characters in a row that are not `LIKE`
/// wildcards (the index uses nothing else).
fn has_indexable_run(piece: &str) -> bool {
    piece
        .split(['%', '_'])
        .any(|run| run.chars().count() >= MIN_PIECE)
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

    #[test]
    fn a_substring_is_looked_up_whole() {
        assert_eq!(
            like_pattern(&filter("timeout", false, false)).as_deref(),
            Some("%timeout%")
        );
        assert_eq!(like_pattern(&filter("ab", false, false)), None);
        assert_eq!(like_pattern(&filter("", false, false)), None);
        // `_` and `%` only widen what the index lets through.
        assert_eq!(
            like_pattern(&filter("100%_done", false, false)).as_deref(),
            Some("%100%_done%")
        );
        assert_eq!(like_pattern(&filter("a_b%c", false, false)), None);
    }

    #[test]
    fn letters_beyond_ascii_are_used_only_when_case_matters() {
        assert_eq!(like_pattern(&filter("größe", false, false)), None);
        assert_eq!(
            like_pattern(&filter("größe", false, true)).as_deref(),
            Some("%größe%")
        );
    }

    #[test]
    fn a_regex_gives_its_literal_parts_in_order() {
        assert_eq!(
            like_pattern(&filter(r"error.*timeout after \d+ms", true, false)).as_deref(),
            Some("%error%timeout after %")
        );
        assert_eq!(
            like_pattern(&filter(r"^GET /api/(items|users)", true, false)).as_deref(),
            Some("%GET /api/%")
        );
        assert_eq!(
            like_pattern(&filter(r"(?:abc)+def", true, false)).as_deref(),
            Some("%abc%def%")
        );
        assert_eq!(like_pattern(&filter(r"\d+\s\w+", true, false)), None);
        assert_eq!(like_pattern(&filter(r"foo|barbaz", true, false)), None);
        // Case-insensitive inside the pattern: no literal to rely on.
        assert_eq!(like_pattern(&filter(r"(?i)panic", true, true)), None);
        assert_eq!(like_pattern(&filter(r"[", true, false)), None);
    }
}
