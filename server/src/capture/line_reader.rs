//! Splits a byte stream into lines the way a terminal shows them.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line of output, without its terminator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The text, with invalid UTF-8 replaced by U+FFFD.
    pub text: String,
    /// True when this piece continues a line that was longer than the
    /// reader's limit and got split.
    pub continuation: bool,
}

/// How far back from a forced split the reader looks for a separator to
/// cut at instead.
const SPLIT_LOOKBACK: usize = 4096;

/// Reads lines ending in `\n`, `\r\n` or a lone `\r` (progress bars redraw
/// with `\r`). A line longer than `max_line_bytes` is handed out in pieces
/// of at most that size, so one endless line can neither exhaust memory nor
/// stall the reader.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_line_bytes: usize,
    /// The previous line ended in `\r`; a `\n` right after it belongs to it.
    after_cr: bool,
    /// The next line continues a split one.
    continuing: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            max_line_bytes: max_line_bytes.max(4),
            after_cr: false,
            continuing: false,
        }
    }

    /// The next line, or `None` at end of stream.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take_line(false)));
            }
            if self.after_cr {
                self.after_cr = false;
                if available[0] == b'\n' {
                    self.inner.consume(1);
                    continue;
                }
            }
            if self.buf.len() >= self.max_line_bytes {
                // The line is full: it ends here if a terminator follows,
                // otherwise it goes on in another piece.
                if let terminator @ (b'\n' | b'\r') = available[0] {
                    self.after_cr = terminator == b'\r';
                    self.inner.consume(1);
                    return Ok(Some(self.take_line(false)));
                }
                return Ok(Some(self.take_line(true)));
            }
            let room = self.max_line_bytes - self.buf.len();
            let window = &available[..available.len().min(room)];
            if let Some(end) = find_line_end(window) {
                self.after_cr = window[end] == b'\r';
                self.buf.extend_from_slice(&window[..end]);
                self.inner.consume(end + 1);
                return Ok(Some(self.take_line(false)));
            }
            let taken = window.len();
            self.buf.extend_from_slice(window);
            self.inner.consume(taken);
        }
    }

    /// Hands out the buffered bytes as a line. When `split` (the line goes
    /// on), the piece ends after the last separator (space, tab, `,`, `;`,
    /// `&`) in its last quarter (at most 4 KiB), so that a word, a token or
    /// a `key=value` pair near the cut stays whole in the next piece,
    /// where redaction sees all of it; without one, only an incomplete
    /// UTF-8 character at the end is kept back instead of being mangled.
    fn take_line(&mut self, split: bool) -> Line {
        let keep = if split {
            let lookback = (self.max_line_bytes / 4).min(SPLIT_LOOKBACK);
            let start = self.buf.len().saturating_sub(lookback);
            match self.buf[start..]
                .iter()
                .rposition(|b| matches!(b, b' ' | b'\t' | b',' | b';' | b'&'))
            {
                Some(at) => self.buf.len() - (start + at + 1),
                None => incomplete_utf8_tail(&self.buf),
            }
        } else {
            0
        };
        let rest = self.buf.split_off(self.buf.len() - keep);
        let bytes = std::mem::replace(&mut self.buf, rest);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        };
        let line = Line {
            text,
            continuation: self.continuing,
        };
        self.continuing = split;
        line
    }
}

/// The first `\n` or `\r` in `bytes`. Eight bytes at a time (the classic
/// "has a zero byte" word trick): the reader looks at every byte of every
/// line, and a byte-by-byte loop cost more than the rest of the splitting.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const RETURNS: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        // Only the lowest flagged byte is exact (a borrow can flag bytes
        // above it), and it is the one wanted.
        let found = has_zero(word ^ NEWLINES) | has_zero(word ^ RETURNS);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| offset + i)
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is
/// not complete yet (0 to 3).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: look further back for the lead
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tokio::io::BufReader;

    async fn lines_of(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny read buffer makes every boundary case cross a refill.
        let mut reader = LineReader::new(
            BufReader::with_capacity(3, Cursor::new(input.to_vec())),
            max,
        );
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.expect("in-memory read") {
            lines.push(line);
        }
        lines
    }

    async fn texts_of(input: &[u8]) -> Vec<String> {
        lines_of(input, 1024)
            .await
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    #[tokio::test]
    async fn splits_on_every_line_ending() {
        assert_eq!(texts_of(b"a\nb\r\nc\rd").await, vec!["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn progress_output_with_carriage_returns_becomes_lines() {
        assert_eq!(
            texts_of(b"10%\r50%\r100%\r\ndone\n").await,
            vec!["10%", "50%", "100%", "done"]
        );
    }

    #[tokio::test]
    async fn empty_lines_are_kept() {
        assert_eq!(texts_of(b"a\n\n\nb\n").await, vec!["a", "", "", "b"]);
        assert_eq!(texts_of(b"\r\n\r\n").await, vec!["", ""]);
    }

    #[tokio::test]
    async fn no_trailing_empty_line_at_end_of_stream() {
        assert_eq!(texts_of(b"a\n").await, vec!["a"]);
        assert!(texts_of(b"").await.is_empty());
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(
            texts_of(b"ok \xff\xfe bytes\nnext\n").await,
            vec!["ok \u{fffd}\u{fffd} bytes", "next"]
        );
    }

    #[tokio::test]
    async fn long_lines_are_split_into_marked_continuations() {
        let lines = lines_of(b"abcdefghij\nxy\n", 4).await;
        let got: Vec<(&str, bool)> = lines
            .iter()
            .map(|l| (l.text.as_str(), l.continuation))
            .collect();
        assert_eq!(
            got,
            vec![("abcd", false), ("efgh", true), ("ij", true), ("xy", false)]
        );
    }

    #[tokio::test]
    async fn a_split_falls_after_a_separator_near_the_limit() {
        // 40-byte pieces look back 10 bytes for a separator.
        let line = format!("{} token=abcdef {}\n", "a".repeat(30), "b".repeat(30));
        let lines = lines_of(line.as_bytes(), 40).await;
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                format!("{} ", "a".repeat(30)).as_str(),
                format!("token=abcdef {}", "b".repeat(27)).as_str(),
                "bbb",
            ]
        );
        assert_eq!(texts.concat(), line.trim_end());
    }

    #[tokio::test]
    async fn splitting_never_cuts_a_utf8_character() {
        // "aé€" is 1 + 2 + 3 bytes; a 4-byte limit falls inside "€".
        let lines = lines_of("aé€b\n".as_bytes(), 4).await;
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, vec!["aé", "€b"]);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_not_split() {
        let lines = lines_of(b"abcd\nefgh", 4).await;
        let got: Vec<(&str, bool)> = lines
            .iter()
            .map(|l| (l.text.as_str(), l.continuation))
            .collect();
        assert_eq!(got, vec![("abcd", false), ("efgh", false)]);
    }

    #[tokio::test]
    async fn a_megabyte_without_newline_comes_out_in_bounded_pieces() {
        let input = vec![b'x'; 1 << 20];
        let lines = lines_of(&input, 64 * 1024).await;
        assert_eq!(lines.len(), 16);
        assert!(lines.iter().all(|l| l.text.len() == 64 * 1024));
        assert!(!lines[0].continuation && lines[1..].iter().all(|l| l.continuation));
    }

    #[test]
    fn line_ends_are_found_in_every_position() {
        for len in 0..40 {
            for end in 0..len {
                for terminator in [b'\n', b'\r'] {
                    let mut bytes = vec![b'x'; len];
                    // Bytes just above and below the terminators must not match.
                    for (i, b) in bytes.iter_mut().enumerate() {
                        *b = [b'x', 0x0b, 0x0c, 0x0e, 0x09, 0x8a, 0x8d, 0xff][i % 8];
                    }
                    bytes[end] = terminator;
                    if end + 1 < len {
                        bytes[end + 1] = b'\n';
                    }
                    assert_eq!(find_line_end(&bytes), Some(end), "{bytes:?}");
                }
            }
            let plain: Vec<u8> = (0..len)
                .map(|i| [b'a', 0x0b, 0x0c, 0x8a, 0x0e][i % 5])
                .collect();
            assert_eq!(find_line_end(&plain), None);
        }
    }

    #[test]
    fn incomplete_tail_detection() {
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
        assert_eq!(incomplete_utf8_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_utf8_tail(&"€".as_bytes()[..1]), 1);
        assert_eq!(incomplete_utf8_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_utf8_tail(b"\xff"), 0);
    }
}
