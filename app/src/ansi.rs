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
    for piece in Scanner::new(line) {
        if let Piece::Text(text) = piece {
            out.push_str(text);
        }
    }
    Cow::Owned(out)
}

/// `line` as plain text for a file someone may `cat` to a terminal: no
/// escape sequences (colours, titles, clipboard writes, screen clears) and
/// no other control characters but tab and newline. Borrows when there is
/// nothing to remove.
pub fn printable(line: &str) -> Cow<'_, str> {
    let unwanted = |c: char| c.is_control() && c != '\t' && c != '\n';
    if !line.contains(unwanted) {
        return Cow::Borrowed(line);
    }
    let mut text = strip_ansi(line).into_owned();
    text.retain(|c| !unwanted(c));
    Cow::Owned(text)
}

/// A part of a line as the terminal would read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// Printable text (everything outside escape sequences).
    Text(&'a str),
    /// The parameters of an SGR sequence (`ESC [ params m`): a style change.
    Sgr(&'a str),
    /// Any other escape sequence, which carries no text.
    Escape,
}

/// Splits a line into text and escape sequences: CSI (`ESC [` parameters
/// and a final byte in `@`..`~`), OSC (`ESC ]` up to BEL or `ESC \`),
/// charset selections (`ESC (` or `ESC )` and one character) and other
/// two-character escapes. A sequence cut off by the end of the line ends
/// it. [`strip_ansi`] and [`parse_ansi`] both read lines through this, so
/// their texts always agree.
struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    fn new(line: &'a str) -> Self {
        Self { rest: line }
    }

    /// Ends the current piece `used` bytes into `rest`.
    fn advance(&mut self, used: usize) {
        self.rest = self.rest.get(used..).unwrap_or_default();
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.find(ESC) {
            Some(0) => {}
            Some(at) => {
                let (text, rest) = self.rest.split_at(at);
                self.rest = rest;
                return Some(Piece::Text(text));
            }
            None => {
                let text = self.rest;
                self.rest = "";
                return Some(Piece::Text(text));
            }
        }
        // `rest` starts with ESC (one byte); `body` is what follows it.
        let body = &self.rest[1..];
        let mut chars = body.char_indices();
        let piece = match chars.next() {
            Some((_, '[')) => match chars.find(|(_, c)| ('\u{40}'..='\u{7e}').contains(c)) {
                Some((end, final_byte)) => {
                    self.advance(1 + end + 1);
                    if final_byte == 'm' {
                        Piece::Sgr(&body[1..end])
                    } else {
                        Piece::Escape
                    }
                }
                None => {
                    self.rest = "";
                    Piece::Escape
                }
            },
            Some((_, ']')) => {
                let mut end = None;
                for (i, c) in chars {
                    if c == '\u{7}' {
                        end = Some(i + 1);
                        break;
                    }
                    if c == ESC && body[i + 1..].starts_with('\\') {
                        end = Some(i + 2);
                        break;
                    }
                }
                match end {
                    Some(end) => self.advance(1 + end),
                    None => self.rest = "",
                }
                Piece::Escape
            }
            Some((_, '(' | ')')) => {
                match chars.next() {
                    Some((i, c)) => self.advance(1 + i + c.len_utf8()),
                    None => self.rest = "",
                }
                Piece::Escape
            }
            Some((_, c)) => {
                self.advance(1 + c.len_utf8());
                Piece::Escape
            }
            None => {
                self.rest = "";
                Piece::Escape
            }
        };
        Some(piece)
    }
}

/// Text styled by SGR sequences ("Select Graphic Rendition": colours, bold,
/// underline). Everything else in an escape sequence is dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// One of the 16 terminal colours (0-7 normal, 8-15 bright).
    Palette(u8),
    /// A colour of the 256-colour cube or grey ramp (16-255).
    Indexed(u8),
    Rgb(u8, u8, u8),
}

impl Color {
    /// An inline CSS colour for colours without a theme class.
    pub fn css(self) -> Option<String> {
        match self {
            Color::Palette(_) => None,
            Color::Indexed(n) => {
                let (r, g, b) = indexed_rgb(n);
                Some(format!("rgb({r},{g},{b})"))
            }
            Color::Rgb(r, g, b) => Some(format!("rgb({r},{g},{b})")),
        }
    }
}

/// The xterm values of colours 16-255.
fn indexed_rgb(n: u8) -> (u8, u8, u8) {
    if n >= 232 {
        let grey = 8 + (n - 232) * 10;
        return (grey, grey, grey);
    }
    let n = n.saturating_sub(16);
    let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
    (level(n / 36), level((n / 6) % 6), level(n % 6))
}

impl Style {
    /// CSS classes for this style: `ansi-fg-1`, `ansi-bold`, ...
    pub fn classes(&self) -> String {
        let mut classes = Vec::new();
        if let Some(Color::Palette(n)) = self.fg {
            classes.push(format!("ansi-fg-{n}"));
        }
        if let Some(Color::Palette(n)) = self.bg {
            classes.push(format!("ansi-bg-{n}"));
        }
        for (on, class) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                classes.push(class.to_owned());
            }
        }
        classes.join(" ")
    }

    /// Inline CSS for colours outside the 16-colour palette.
    pub fn inline_css(&self) -> String {
        let mut css = Vec::new();
        if let Some(color) = self.fg.and_then(Color::css) {
            css.push(format!("color:{color}"));
        }
        if let Some(color) = self.bg.and_then(Color::css) {
            css.push(format!("background-color:{color}"));
        }
        css.join(";")
    }

    pub fn is_plain(&self) -> bool {
        *self == Style::default()
    }

    fn apply(&mut self, params: &[u16]) {
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => {
                    self.bold = false;
                    self.dim = false;
                }
                23 => self.italic = false,
                24 => self.underline = false,
                n @ 30..=37 => self.fg = Some(Color::Palette((n - 30) as u8)),
                39 => self.fg = None,
                n @ 40..=47 => self.bg = Some(Color::Palette((n - 40) as u8)),
                49 => self.bg = None,
                n @ 90..=97 => self.fg = Some(Color::Palette((n - 90 + 8) as u8)),
                n @ 100..=107 => self.bg = Some(Color::Palette((n - 100 + 8) as u8)),
                n @ (38 | 48) => {
                    let (color, used) = extended_color(&params[i + 1..]);
                    if let Some(color) = color {
                        if n == 38 {
                            self.fg = Some(color);
                        } else {
                            self.bg = Some(color);
                        }
                    }
                    i += used;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `5;N` (256 colours) or `2;R;G;B`; returns the colour and how many
/// parameters it used.
fn extended_color(params: &[u16]) -> (Option<Color>, usize) {
    match params {
        [5, n, ..] => (
            u8::try_from(*n).ok().map(|n| {
                if n < 16 {
                    Color::Palette(n)
                } else {
                    Color::Indexed(n)
                }
            }),
            2,
        ),
        [2, r, g, b, ..] => (
            match (u8::try_from(*r), u8::try_from(*g), u8::try_from(*b)) {
                (Ok(r), Ok(g), Ok(b)) => Some(Color::Rgb(r, g, b)),
                _ => None,
            },
            4,
        ),
        _ => (None, params.len()),
    }
}

/// A run of text with one style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub style: Style,
}

/// Splits a line into styled runs. The concatenated texts equal
/// [`strip_ansi`] of the line, so positions found in the stripped text
/// (search matches) map onto the runs.
pub fn parse_ansi(line: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    for piece in Scanner::new(line) {
        match piece {
            Piece::Text(part) => text.push_str(part),
            Piece::Sgr(body) => {
                let params: Vec<u16> = if body.is_empty() {
                    vec![0]
                } else {
                    body.split([';', ':'])
                        .map(|p| p.parse().unwrap_or(0))
                        .collect()
                };
                if !text.is_empty() {
                    spans.push(Span {
                        text: std::mem::take(&mut text),
                        style: style.clone(),
                    });
                }
                style.apply(&params);
            }
            Piece::Escape => {}
        }
    }
    if !text.is_empty() {
        spans.push(Span { text, style });
    }
    spans
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
    fn the_scanner_splits_text_from_sequences() {
        let pieces: Vec<Piece<'_>> =
            Scanner::new("a\u{1b}[1;31mb\u{1b}(Bc\u{1b}]0;t\u{7}\u{1b}=é\u{1b}[2K").collect();
        assert_eq!(
            pieces,
            [
                Piece::Text("a"),
                Piece::Sgr("1;31"),
                Piece::Text("b"),
                Piece::Escape,
                Piece::Text("c"),
                Piece::Escape,
                Piece::Escape,
                Piece::Text("é"),
                Piece::Escape,
            ]
        );
        // Multi-byte characters right after ESC or inside a sequence.
        assert_eq!(strip_ansi("x\u{1b}éy\u{1b}(éz\u{1b}[é1mw"), "xyzw");
    }

    #[test]
    fn printable_text_has_no_escapes_or_control_characters() {
        assert!(matches!(printable("plain\ttext"), Cow::Borrowed(_)));
        for (line, want) in [
            ("\u{1b}]0;owned\u{7}title", "title"),
            ("\u{1b}[2J\u{1b}[Hclear", "clear"),
            ("\u{1b}]52;c;ZXZpbA==\u{7}clipboard", "clipboard"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            (
                "bell\u{7} back\u{8}space\r cr \u{9b}31m c1",
                "bell backspace cr 31m c1",
            ),
            ("two\nlines", "two\nlines"),
        ] {
            assert_eq!(printable(line), want, "{line:?}");
        }
    }

    #[test]
    fn truncated_sequences_do_not_panic() {
        assert_eq!(strip_ansi("abc\u{1b}"), "abc");
        assert_eq!(strip_ansi("abc\u{1b}["), "abc");
        assert_eq!(strip_ansi("abc\u{1b}]unterminated"), "abc");
    }
}

#[cfg(test)]
mod sgr_tests {
    use super::*;

    fn texts(spans: &[Span]) -> Vec<&str> {
        spans.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn plain_text_is_one_unstyled_span() {
        let spans = parse_ansi("hello");
        assert_eq!(spans.len(), 1);
        assert!(spans[0].style.is_plain());
        assert!(parse_ansi("").is_empty());
    }

    #[test]
    fn colours_and_attributes_become_styles() {
        let spans = parse_ansi("\u{1b}[1;31mERROR\u{1b}[0m: \u{1b}[4;92mlink\u{1b}[24m done");
        assert_eq!(texts(&spans), ["ERROR", ": ", "link", " done"]);
        assert_eq!(spans[0].style.fg, Some(Color::Palette(1)));
        assert!(spans[0].style.bold);
        assert_eq!(spans[0].style.classes(), "ansi-fg-1 ansi-bold");
        assert!(spans[1].style.is_plain());
        assert_eq!(spans[2].style.fg, Some(Color::Palette(10)));
        assert!(spans[2].style.underline);
        assert!(!spans[3].style.underline);
        assert_eq!(spans[3].style.fg, Some(Color::Palette(10)));
    }

    #[test]
    fn extended_colours_become_inline_css() {
        let spans = parse_ansi("\u{1b}[38;5;208morange\u{1b}[48;2;10;20;30m on blue");
        assert_eq!(spans[0].style.fg, Some(Color::Indexed(208)));
        assert_eq!(spans[0].style.inline_css(), "color:rgb(255,135,0)");
        assert_eq!(spans[1].style.bg, Some(Color::Rgb(10, 20, 30)));
        assert!(spans[1]
            .style
            .inline_css()
            .contains("background-color:rgb(10,20,30)"));
        assert_eq!(
            parse_ansi("\u{1b}[38;5;3mx")[0].style.fg,
            Some(Color::Palette(3))
        );
    }

    #[test]
    fn other_sequences_are_dropped_and_text_matches_strip_ansi() {
        let line = "\u{1b}[2K\u{1b}[1G50%\u{1b}]0;title\u{7} \u{1b}[32mok\u{1b}[m\u{1b}[";
        let spans = parse_ansi(line);
        let joined: String = spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(joined, strip_ansi(line));
        assert_eq!(joined, "50% ok");
    }

    #[test]
    fn malformed_parameters_do_not_panic() {
        for line in [
            "\u{1b}[38;5m",
            "\u{1b}[38;2;1m",
            "\u{1b}[99999999m",
            "\u{1b}[;;m",
            "\u{1b}[38;5;300mx",
        ] {
            let _ = parse_ansi(line);
        }
    }
}
