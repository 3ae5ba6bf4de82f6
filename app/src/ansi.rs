//! ANSI escape sequences in log lines. Messages keep them as printed; level
//! detection and search look at the text without them.

use std::borrow::Cow;

const ESC: char = '\u{1b}';

/// The text of `line` without ANSI escape sequences (colours, cursor moves,
/// OSC titles and hyperlinks). Borrows when there is nothing to strip.
pub fn strip_ansi(line: &str) -> Cow<'_, str> {
    if !line.contains(ESC) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters intermediates final-byte(0x40..=0x7e)
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: ESC ] ... terminated by BEL or ESC \
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == ESC && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Two-character sequences such as ESC ( B or ESC =.
            Some('(') | Some(')') => {
                chars.next();
                chars.next();
            }
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn removes_colours_and_cursor_sequences() {
        assert_eq!(strip_ansi("\u{1b}[32mINFO\u{1b}[0m ready"), "INFO ready");
        assert_eq!(strip_ansi("\u{1b}[1;31;48;5;200mhot\u{1b}[m"), "hot");
        assert_eq!(strip_ansi("50%\u{1b}[2K\u{1b}[1G"), "50%");
    }

    #[test]
    fn removes_osc_hyperlinks_and_titles() {
        assert_eq!(
            strip_ansi("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\ text"),
            "link text"
        );
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}body"), "body");
    }

    #[test]
    fn truncated_sequences_do_not_panic() {
        assert_eq!(strip_ansi("abc\u{1b}"), "abc");
        assert_eq!(strip_ansi("abc\u{1b}["), "abc");
        assert_eq!(strip_ansi("abc\u{1b}]unterminated"), "abc");
    }
}
