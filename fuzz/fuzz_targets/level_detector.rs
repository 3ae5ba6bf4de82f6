//! Level detection accepts any text without panicking, and ANSI colours
//! never change the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::capture::level::detect_level;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let level = detect_level(&line);
    let coloured = format!("\u{1b}[1;31m{line}\u{1b}[0m");
    if !line.contains('\u{1b}') && !line.trim_start().starts_with('{') {
        assert_eq!(detect_level(&coloured), level);
    }
});
