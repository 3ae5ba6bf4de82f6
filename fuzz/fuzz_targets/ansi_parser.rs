//! The ANSI parser's runs always add up to the stripped text, and
//! highlighting any ranges keeps every character exactly once.
#![no_main]

use app::ansi::{parse_ansi, strip_ansi};
use app::search::highlight_segments;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ranges_seed, text) = data.split_at(data.len().min(4));
    let line = String::from_utf8_lossy(text);
    let spans = parse_ansi(&line);
    let joined: String = spans.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined, strip_ansi(&line));
    for span in &spans {
        let _ = (span.style.classes(), span.style.inline_css());
    }
    // Ranges on character boundaries, as searches produce them.
    let bounds: Vec<usize> = joined.char_indices().map(|(i, _)| i).chain([joined.len()]).collect();
    let mut ranges = Vec::new();
    let mut at = 0;
    for pair in ranges_seed.chunks(2) {
        let start = at + usize::from(pair[0]) % 3;
        let end = start + 1 + usize::from(*pair.get(1).unwrap_or(&0)) % 4;
        if end >= bounds.len() {
            break;
        }
        ranges.push(bounds[start]..bounds[end]);
        at = end;
    }
    let segments = highlight_segments(&spans, &ranges);
    let rejoined: String = segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(rejoined, joined);
});
