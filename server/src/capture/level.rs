//! Severity detection for lines whose format nobody declared.
//!
//! Logging libraries put the level near the start of a line in a handful of
//! shapes; this looks for those shapes, case-insensitively, in the first few
//! tokens (after stripping ANSI colours), and for the level fields of JSON
//! lines. Anything unrecognised is left to the caller's default.

use app::ansi::strip_ansi;
use app::Level;
use serde::Deserialize;

/// How far into a line a level may appear.
const HEAD_BYTES: usize = 256;
/// How many whitespace-separated tokens may precede the level.
const MAX_LEADING_TOKENS: usize = 10;
/// A bare upper-case word (`INFO`, `WRN`) is only trusted this early.
const MAX_BARE_WORD_TOKENS: usize = 5;

/// The level a line announces, if it announces one.
pub fn detect_level(line: &str) -> Option<Level> {
    let text = strip_ansi(line);
    let text = text.trim_start();
    if text.starts_with('{') {
        if let Some(level) = json_level(text) {
            return Some(level);
        }
    }
    let head = head(text);
    syslog_priority(head)
        .or_else(|| glog_level(head))
        .or_else(|| key_value_level(head))
        .or_else(|| word_level(head))
}

fn head(text: &str) -> &str {
    if text.len() <= HEAD_BYTES {
        return text;
    }
    let mut end = HEAD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// JSON lines: `level`, `severity`, `lvl`, `levelname`, `log.level` (flat or
/// nested, as in Elastic's schema) and Serilog's `@l`. Numbers are pino and
/// bunyan levels (10..60) or syslog severities (0..7).
fn json_level(text: &str) -> Option<Level> {
    #[derive(Deserialize)]
    struct Nested {
        level: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Fields {
        level: Option<serde_json::Value>,
        severity: Option<serde_json::Value>,
        lvl: Option<serde_json::Value>,
        levelname: Option<serde_json::Value>,
        #[serde(rename = "log.level")]
        log_level: Option<serde_json::Value>,
        #[serde(rename = "@l")]
        serilog: Option<serde_json::Value>,
        log: Option<serde_json::Value>,
    }
    let fields: Fields = serde_json::from_str(text).ok()?;
    let nested = fields
        .log
        .and_then(|log| serde_json::from_value::<Nested>(log).ok())
        .and_then(|nested| nested.level);
    [
        fields.level,
        fields.severity,
        fields.lvl,
        fields.levelname,
        fields.log_level,
        nested,
        fields.serilog,
    ]
    .into_iter()
    .flatten()
    .find_map(|value| match value {
        serde_json::Value::String(name) => Level::from_name(name.trim()),
        serde_json::Value::Number(n) => n.as_u64().and_then(numeric_level),
        _ => None,
    })
}

fn numeric_level(n: u64) -> Option<Level> {
    match n {
        0..=7 => Some(syslog_severity(n)),
        10..=29 => Some(Level::Debug),
        30..=39 => Some(Level::Info),
        40..=49 => Some(Level::Warning),
        50..=59 => Some(Level::Error),
        60..=100 => Some(Level::Critical),
        _ => None,
    }
}

fn syslog_severity(severity: u64) -> Level {
    match severity {
        0..=2 => Level::Critical,
        3 => Level::Error,
        4 => Level::Warning,
        5 | 6 => Level::Info,
        _ => Level::Debug,
    }
}

/// `<N>` priority prefix of syslog and of systemd's `SyslogLevelPrefix`.
fn syslog_priority(head: &str) -> Option<Level> {
    let rest = head.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let priority: u64 = rest[..end].parse().ok()?;
    (priority <= 191).then(|| syslog_severity(priority % 8))
}

/// glog / klog: `I0102 15:04:05.000000   12 file.go:34] message`.
fn glog_level(head: &str) -> Option<Level> {
    let bytes = head.as_bytes();
    let date_then_space = bytes.len() > 6
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b' '
        && bytes[6].is_ascii_digit();
    if !date_then_space {
        return None;
    }
    match bytes[0] {
        b'I' => Some(Level::Info),
        b'W' => Some(Level::Warning),
        b'E' => Some(Level::Error),
        b'F' => Some(Level::Critical),
        _ => None,
    }
}

/// logfmt and friends: `level=info`, `lvl=WARN`, `severity="error"`.
fn key_value_level(head: &str) -> Option<Level> {
    const KEYS: [&str; 4] = ["level", "lvl", "severity", "loglevel"];
    // Every `key=` ends at an `=`: one (memchr-fast) pass over the `=`s,
    // looking back from each for a key, ignoring case, instead of
    // lower-casing a copy of every line and searching it once per key. An
    // earlier key wins, then an earlier position, as when searching per key.
    let bytes = head.as_bytes();
    let mut best: Option<(usize, Level)> = None;
    let mut search = 0;
    while let Some(found) = head[search..].find('=') {
        let at = search + found;
        search = at + 1;
        // Every key ends in `l` or `y`: most `=`s are no key's at all.
        if at == 0 || !matches!(bytes[at - 1].to_ascii_lowercase(), b'l' | b'y') {
            continue;
        }
        for (rank, key) in KEYS.iter().enumerate() {
            if best.is_some_and(|(better, _)| better <= rank) {
                break;
            }
            let Some(start) = at.checked_sub(key.len()) else {
                continue;
            };
            if !bytes[start..at].eq_ignore_ascii_case(key.as_bytes()) {
                continue;
            }
            // `start` begins an ASCII letter, so it is a char boundary.
            let at_token_start = head[..start]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace());
            if !at_token_start {
                continue;
            }
            let value = head[at + 1..].trim_start_matches(['"', '\'']);
            let end = value
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(value.len());
            if let Some(level) = Level::from_name(&value[..end]) {
                best = Some((rank, level));
                break;
            }
        }
        if best.is_some_and(|(rank, _)| rank == 0) {
            break;
        }
    }
    best.map(|(_, level)| level)
}

/// A level word in one of the shapes logging libraries print it in:
/// `[LEVEL]`, `[module:level]`, `LEVEL:`, `LEVEL -`, `| LEVEL |`,
/// `LEVEL[0000]` (logrus), a tab-delimited word (zap) or a bare upper-case
/// word among the first tokens (Rust tracing, log4j, zerolog).
fn word_level(head: &str) -> Option<Level> {
    let bytes = head.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let (before, word, after) = (&head[..start], &head[start..i], &head[i..]);
        let tokens_before = before.split_whitespace().count();
        if tokens_before >= MAX_LEADING_TOKENS {
            return None;
        }
        let Some(level) = Level::from_name(word) else {
            continue;
        };
        if attached(before.chars().next_back()) || attached(after.chars().next()) {
            continue;
        }
        if announces_level(word, before, after, tokens_before) {
            return Some(level);
        }
    }
    None
}

/// A character that makes the word part of a longer identifier.
fn attached(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '\\' | '$'))
}

fn announces_level(word: &str, before: &str, after: &str, tokens_before: usize) -> bool {
    let open = before.trim_end_matches(' ');
    let close = after.trim_start_matches(' ');
    let bracketed = (open.ends_with('[') || open.ends_with(':') && open.contains('['))
        && close.starts_with(']');
    let piped = open.ends_with('|') && close.starts_with('|');
    let colon = after.starts_with(':') && !after.starts_with("://");
    let dashed = after.starts_with(" - ") || after == " -";
    let logrus = after.starts_with('[');
    let tabbed = before.ends_with('\t') || after.starts_with('\t');
    // `LOG` is PostgreSQL's INFO, but only in its `LOG:` form; as a bare
    // word it is too common to trust.
    if word.eq_ignore_ascii_case("log") {
        return colon;
    }
    let bare = tokens_before < MAX_BARE_WORD_TOKENS
        && word.len() >= 3
        && word.bytes().all(|b| b.is_ascii_uppercase())
        && before.chars().next_back().is_none_or(char::is_whitespace)
        && after.chars().next().is_none_or(char::is_whitespace);
    bracketed || piped || colon || dashed || logrus || tabbed || bare
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    #[test]
    fn an_earlier_key_wins_over_an_earlier_position() {
        assert_eq!(key_value_level("lvl=warn level=error"), Some(Error));
        assert_eq!(key_value_level("loglevel=debug lvl=info"), Some(Info));
        assert_eq!(
            key_value_level("xlevel=error severity=warning"),
            Some(Warning)
        );
        assert_eq!(key_value_level("a=b c=d"), None);
        assert_eq!(key_value_level("=level= level=nope LEVEL=Err"), Some(Error));
    }

    /// Real-world line shapes and the level each must yield.
    const CASES: &[(&str, Option<Level>)] = &[
        // Bracketed
        ("[INFO] riven_backend: Startup complete", Some(Info)),
        ("[warn] disk almost full", Some(Warning)),
        ("[ ERROR ] connection refused", Some(Error)),
        (
            "[2024-01-01 12:00:00 +0000] [1] [INFO] Starting gunicorn 21.2.0",
            Some(Info),
        ),
        (
            "2024/01/01 12:00:00 [error] 31#31: *1 open() failed",
            Some(Error),
        ),
        (
            "2024/01/01 12:00:00 [notice] 1#1: start worker processes",
            Some(Info),
        ),
        (
            "2024/01/01 12:00:00 [emerg] 1#1: bind() failed",
            Some(Critical),
        ),
        (
            "[Mon Jan 01 12:00:00.123 2024] [core:error] [pid 12] AH00037",
            Some(Error),
        ),
        (
            "[Mon Jan 01 12:00:00.123 2024] [mpm_event:notice] [pid 1] resuming",
            Some(Info),
        ),
        // LEVEL: forms
        ("ERROR: boom", Some(Error)),
        ("WARNING:root:low disk space", Some(Warning)),
        ("ERROR:__main__:unhandled exception", Some(Error)),
        ("INFO:     Started server process [1]", Some(Info)),
        (
            "DEBUG:urllib3.connectionpool:Starting new HTTPS connection",
            Some(Debug),
        ),
        ("CRITICAL:app:cannot continue", Some(Critical)),
        (
            "LOG:  database system is ready to accept connections",
            Some(Info),
        ),
        (
            "FATAL:  password authentication failed for user \"x\"",
            Some(Critical),
        ),
        (
            "2024-01-01 12:00:00.123 UTC [42] ERROR:  relation \"t\" does not exist",
            Some(Error),
        ),
        (
            "2024-01-01 12:00:00.123 UTC [42] LOG:  checkpoint starting: time",
            Some(Info),
        ),
        ("PANIC:  could not write to file", Some(Critical)),
        ("Error: connect ECONNREFUSED 127.0.0.1:5432", Some(Error)),
        ("warning: unused variable `x`", Some(Warning)),
        ("error[E0308]: mismatched types", Some(Error)),
        // LEVEL - forms
        ("INFO - server started", Some(Info)),
        (
            "2024-01-01 12:00:00,123 - myapp.db - WARNING - pool exhausted",
            Some(Warning),
        ),
        (
            "2024-01-01 12:00:00,123 - myapp - ERROR - failed",
            Some(Error),
        ),
        // Pipes (loguru)
        (
            "2024-01-01 12:00:00.123 | INFO     | app.main:run:12 - ready",
            Some(Info),
        ),
        (
            "2024-01-01 12:00:00.123 | CRITICAL | app.main:run:40 - down",
            Some(Critical),
        ),
        (
            "2024-01-01 12:00:00.123 | SUCCESS  | app:run:9 - ok",
            Some(Info),
        ),
        // key=value
        (
            "time=\"2024-01-01T12:00:00Z\" level=warning msg=\"slow\"",
            Some(Warning),
        ),
        (
            "ts=2024-01-01T12:00:00Z caller=main.go:12 level=error msg=oops",
            Some(Error),
        ),
        ("t=2024-01-01T12:00:00+0000 lvl=dbug msg=x", Some(Debug)),
        ("t=2024-01-01T12:00:00+0000 lvl=eror msg=x", Some(Error)),
        ("level=DEBUG msg=\"cache warm\"", Some(Debug)),
        ("severity=\"critical\" msg=\"disk failed\"", Some(Critical)),
        // Go / Rust / Java / zerolog word forms
        (
            "2024-01-01T12:00:00.123456Z  INFO my_crate::server: listening",
            Some(Info),
        ),
        (
            "2024-01-01T12:00:00.123456Z  WARN my_crate: retrying",
            Some(Warning),
        ),
        (
            "2024-01-01T12:00:00.123456Z TRACE my_crate: tick",
            Some(Debug),
        ),
        (
            "2024-01-01T12:00:00.000Z\tinfo\tserver/main.go:12\tstarted",
            Some(Info),
        ),
        (
            "2024-01-01T12:00:00.000Z\terror\tserver/main.go:40\tfailed",
            Some(Error),
        ),
        (
            "2024-01-01T12:00:00.000Z\tDPANIC\tserver/main.go:40\tbad",
            Some(Critical),
        ),
        ("INFO[0000] Starting containerd", Some(Info)),
        ("WARN[0003] deprecated option", Some(Warning)),
        (
            "2024-01-01 12:00:00,123 ERROR [main] com.example.App - failed",
            Some(Error),
        ),
        ("12:00:00 INF request served path=/", Some(Info)),
        ("12:00:00 WRN slow request", Some(Warning)),
        ("12:00:00 ERR request failed", Some(Error)),
        ("12:00:00 FTL cannot start", Some(Critical)),
        // glog / klog
        (
            "I0102 15:04:05.123456       1 main.go:12] started",
            Some(Info),
        ),
        (
            "E0102 15:04:05.123456       1 main.go:40] failed to sync",
            Some(Error),
        ),
        (
            "W0102 15:04:05.123456       1 main.go:41] retrying",
            Some(Warning),
        ),
        // syslog priorities
        ("<3>disk failure", Some(Error)),
        ("<14>Jan  1 12:00:00 host app: hello", Some(Info)),
        ("<12>warning text", Some(Warning)),
        // JSON
        (r#"{"level":"info","msg":"request served"}"#, Some(Info)),
        (
            r#"{"level":50,"time":1700000000000,"msg":"pino error"}"#,
            Some(Error),
        ),
        (r#"{"level":30,"msg":"pino info"}"#, Some(Info)),
        (
            r#"{"severity":"WARNING","message":"gcp style"}"#,
            Some(Warning),
        ),
        (
            r#"{"@t":"2024-01-01T12:00:00Z","@l":"Error","@mt":"serilog"}"#,
            Some(Error),
        ),
        (r#"{"log.level":"debug","message":"ecs flat"}"#, Some(Debug)),
        (
            r#"{"log":{"level":"warn"},"message":"ecs nested"}"#,
            Some(Warning),
        ),
        (r#"{"lvl":"crit","msg":"log15"}"#, Some(Critical)),
        (
            r#"{"levelname":"ERROR","message":"python json logger"}"#,
            Some(Error),
        ),
        (r#"{"msg":"no level here"}"#, None),
        // ANSI colours around the level
        ("\u{1b}[32mINFO\u{1b}[0m ready", Some(Info)),
        (
            "2024-01-01T12:00:00Z \u{1b}[33m WARN\u{1b}[0m my_crate: careful",
            Some(Warning),
        ),
        // Lines that must not be mistaken for a level
        ("GET /api/items 200 12ms", None),
        ("Server started. Everything is fine", None),
        ("see https://example.com/error:page for details", None),
        ("processing item error_count=0", None),
        ("the information was logged", None),
        ("Starting server on port 8080", None),
        ("error-handler middleware loaded", None),
        ("", None),
    ];

    #[test]
    fn detects_the_level_of_real_world_lines() {
        let failures: Vec<String> = CASES
            .iter()
            .filter(|(line, want)| detect_level(line) != *want)
            .map(|(line, want)| format!("{line:?}: want {want:?}, got {:?}", detect_level(line)))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CASES.len() >= 40);
    }

    #[test]
    fn a_level_late_in_a_long_line_is_ignored() {
        let line = format!("{} ERROR: late", "word ".repeat(20));
        assert_eq!(detect_level(&line), None);
    }

    #[test]
    fn long_lines_with_multibyte_text_do_not_panic() {
        let line = "é".repeat(1000);
        assert_eq!(detect_level(&line), None);
        let line = format!("[WARN] {}", "ü".repeat(500));
        assert_eq!(detect_level(&line), Some(Warning));
    }
}
