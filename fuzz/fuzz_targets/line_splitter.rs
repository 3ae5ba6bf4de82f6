//! Any bytes split into lines: pieces respect the limit, hold no line
//! ending, and lose nothing but the line endings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::capture::line_reader::LineReader;

fuzz_target!(|data: &[u8]| {
    let Some((&limit, input)) = data.split_first() else {
        return;
    };
    let max = 4 + usize::from(limit);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let lines = runtime.block_on(async {
        let reader = tokio::io::BufReader::with_capacity(7, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await.expect("reading memory cannot fail") {
            out.push(line);
        }
        out
    });
    let mut kept = 0;
    for line in &lines {
        // Each invalid byte becomes U+FFFD, three bytes long.
        assert!(line.text.len() <= 3 * max, "piece longer than the limit");
        assert!(!line.text.contains(['\n', '\r']), "a line ending inside a line");
        kept += line.text.chars().filter(|&c| c != '\u{fffd}').count();
    }
    let endings = input.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    assert!(kept <= input.len() - endings + lines.len());
});
