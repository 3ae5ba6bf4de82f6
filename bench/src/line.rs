//! The generator's line format and how clients find the stamps in a frame.
//!
//! A line looks like `INFO seq=42 t=123456789 gen payload=abcabc…`, about
//! 110 bytes: a level word every server recognises, the line's number and
//! its CLOCK_MONOTONIC send time. Clients do not need to understand each
//! server's framing to read them: the stamps survive JSON encoding
//! (Logdeck, the limit, the DMB model) and socket.io's (frontail) intact, so
//! scanning the frame text for `seq=` finds every line it carries, also in
//! an array of entries.

use std::io::Write;

/// Levels by `seq % 10`: mostly INFO, some DEBUG, WARN and ERROR, in the
/// spellings logging libraries print.
const LEVELS: [&str; 10] = [
    "INFO", "INFO", "DEBUG", "INFO", "WARN", "INFO", "INFO", "ERROR", "INFO", "INFO",
];

/// Filler for the payload; plain letters so no server has to escape them.
const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

pub fn level_for(seq: u64) -> &'static str {
    // The index is below 10, so the cast cannot truncate.
    LEVELS[(seq % 10) as usize]
}

/// Appends one line (with its `\n`) of about `size` bytes.
pub fn write_line(out: &mut Vec<u8>, seq: u64, t_ns: u64, size: usize) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{} seq={seq} t={t_ns} gen payload=", level_for(seq));
    let written = out.len() - start;
    let pad = size.saturating_sub(written).min(FILLER.len());
    out.extend_from_slice(&FILLER[..pad]);
    out.push(b'\n');
}

/// One line found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub t_ns: u64,
}

/// Every `seq=N t=T` pair in `text`, in order.
pub fn stamps(text: &str) -> Stamps<'_> {
    Stamps { rest: text }
}

#[derive(Debug)]
pub struct Stamps<'a> {
    rest: &'a str,
}

impl Iterator for Stamps<'_> {
    type Item = Stamp;

    fn next(&mut self) -> Option<Stamp> {
        loop {
            let at = self.rest.find("seq=")?;
            self.rest = &self.rest[at + 4..];
            let Some((seq, after)) = leading_number(self.rest) else {
                continue;
            };
            let Some(after) = after.strip_prefix(" t=") else {
                continue;
            };
            let Some((t_ns, after)) = leading_number(after) else {
                continue;
            };
            self.rest = after;
            return Some(Stamp { seq, t_ns });
        }
    }
}

fn leading_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_about_the_asked_size_and_carry_their_stamps() {
        let mut buf = Vec::new();
        write_line(&mut buf, 7, 123_456_789_000, 110);
        assert_eq!(buf.len(), 111);
        assert!(buf.starts_with(b"ERROR seq=7 t=123456789000 gen payload=abc"));
        let text = String::from_utf8(buf).expect("ascii");
        assert_eq!(
            stamps(&text).collect::<Vec<_>>(),
            [Stamp {
                seq: 7,
                t_ns: 123_456_789_000
            }]
        );
    }

    #[test]
    fn stamps_are_found_inside_json_frames_and_arrays() {
        let frame = r#"[{"message":"INFO seq=1 t=10 gen payload=x","level":"INFO","seq":99},{"message":"WARN seq=2 t=20 gen","seq":100}]"#;
        let got: Vec<_> = stamps(frame).map(|s| (s.seq, s.t_ns)).collect();
        assert_eq!(got, [(1, 10), (2, 20)]);
        let socket_io = r#"42/abc,["line","DEBUG seq=5 t=55 gen payload=q"]"#;
        assert_eq!(stamps(socket_io).count(), 1);
        assert_eq!(
            stamps(r#"{"dropped":3,"message":"3 log entries were dropped"}"#).count(),
            0
        );
        assert_eq!(stamps("seq=x t=1 seq=4 t=").count(), 0);
    }
}
