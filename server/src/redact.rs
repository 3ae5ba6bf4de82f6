//! Redaction: secrets are replaced by `***` as lines are captured, before
//! they reach memory, files, history or any client.
//!
//! Built-in rules cover bearer tokens, `key=value` secrets (`token=`,
//! `password=`, `api_key=`, and their JSON forms), credentials in URLs and
//! well-known key formats; the configuration adds its own patterns.

use std::borrow::Cow;

use regex::{Regex, RegexSet};

/// What replaces a secret.
pub const MASK: &str = "***";

/// A rule: what to find, and which capture groups to keep around the
/// masked part (`${prefix}***${suffix}`).
struct Rule {
    regex: Regex,
    keep_prefix: bool,
    keep_suffix: bool,
}

/// The compiled rules. Most lines contain no secret, so one pass of a
/// [`RegexSet`] decides whether any rule needs to run at all.
#[derive(Default)]
pub struct Redactor {
    any: Option<RegexSet>,
    rules: Vec<Rule>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// Built-in rules: (pattern, keeps `prefix` group, keeps `suffix` group).
const BUILT_IN: &[(&str, bool, bool)] = &[
    // Authorization: Bearer <token>
    (
        r"(?i)(?P<prefix>\bbearer\s+)[A-Za-z0-9\-._~+/]{8,}=*",
        true,
        false,
    ),
    // token=..., "password": "...", api_key: ...
    (
        r#"(?i)(?P<prefix>["']?(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|(?:access|auth|refresh|id)?[_-]?token|secret|client[_-]?secret|passw(?:or)?d|pwd)["']?\s*[=:]\s*["']?)[^\s"'&,;}]+"#,
        true,
        false,
    ),
    // scheme://user:password@host
    (
        r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+(?P<suffix>@)",
        true,
        true,
    ),
    // AWS access key ids
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", false, false),
    // GitHub tokens
    (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", false, false),
    (r"\bgithub_pat_[A-Za-z0-9_]{40,}\b", false, false),
    // Slack tokens
    (r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", false, false),
    // Stripe keys
    (r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", false, false),
    // Google API keys
    (r"\bAIza[0-9A-Za-z\-_]{35}\b", false, false),
    // JSON Web Tokens
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        false,
        false,
    ),
];

impl Redactor {
    /// The built-in rules (when `builtin`) and `patterns`. In a pattern, a
    /// group named `prefix` or `suffix` is kept; the rest of the match is
    /// masked.
    pub fn new(builtin: bool, patterns: &[Regex]) -> Redactor {
        let mut rules: Vec<Rule> = Vec::new();
        if builtin {
            for &(pattern, keep_prefix, keep_suffix) in BUILT_IN {
                rules.push(Rule {
                    regex: Regex::new(pattern).expect("built-in redaction patterns are valid"),
                    keep_prefix,
                    keep_suffix,
                });
            }
        }
        for regex in patterns {
            let names: Vec<&str> = regex.capture_names().flatten().collect();
            rules.push(Rule {
                regex: regex.clone(),
                keep_prefix: names.contains(&"prefix"),
                keep_suffix: names.contains(&"suffix"),
            });
        }
        let any = (!rules.is_empty())
            .then(|| RegexSet::new(rules.iter().map(|r| r.regex.as_str())).ok())
            .flatten();
        Redactor { any, rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `line` with every secret masked; borrowed when there is none.
    pub fn redact<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let Some(any) = &self.any else {
            return Cow::Borrowed(line);
        };
        // `is_match` stops at the first hit and runs on the lazy DFA;
        // `matches` (which rules) only for the rare line that has one.
        if !any.is_match(line) {
            return Cow::Borrowed(line);
        }
        let matched = any.matches(line);
        let mut text = Cow::Borrowed(line);
        for index in matched.iter() {
            let rule = &self.rules[index];
            let replaced = rule.regex.replace_all(&text, |caps: &regex::Captures<'_>| {
                let mut out = String::new();
                if rule.keep_prefix {
                    out.push_str(caps.name("prefix").map_or("", |m| m.as_str()));
                }
                out.push_str(MASK);
                if rule.keep_suffix {
                    out.push_str(caps.name("suffix").map_or("", |m| m.as_str()));
                }
                out
            });
            if let Cow::Owned(owned) = replaced {
                text = Cow::Owned(owned);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(line: &str) -> String {
        Redactor::new(true, &[]).redact(line).into_owned()
    }

    #[test]
    fn real_looking_lines_lose_their_secrets() {
        for (line, expected) in [
            (
                "GET /api HTTP/1.1 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
                "GET /api HTTP/1.1 Authorization: Bearer ***",
            ),
            ("connecting with token=abc123def456 to riven", "connecting with token=*** to riven"),
            ("apikey=0123456789abcdef&user=ada", "apikey=***&user=ada"),
            ("API_KEY: sk-proj-AbCdEf0123456789 loaded", "API_KEY: *** loaded"),
            (r#"{"user":"ada","password":"hunter2","ok":true}"#, r#"{"user":"ada","password":"***","ok":true}"#),
            ("login failed for ada with password=s3cr3t!", "login failed for ada with password=***"),
            (
                "connecting to postgres://riven:Sup3rS3cret@db:5432/riven",
                "connecting to postgres://riven:***@db:5432/riven",
            ),
            (
                "rclone: https://user:pa55w0rd@webdav.example.com/dav mounted",
                "rclone: https://user:***@webdav.example.com/dav mounted",
            ),
            ("aws key AKIAIOSFODNN7EXAMPLE in env", "aws key *** in env"),
            ("pushed with ghp_0123456789abcdefghijABCDEFGHIJ012345", "pushed with ***"),
            ("slack xoxb-1234567890-abcdefghij ok", "slack *** ok"),
            ("stripe sk_live_0123456789abcdefABCD charge", "stripe *** charge"),
            ("maps AIzaSyA0123456789abcdefghijklmnopqrstuv key", "maps *** key"),
            (
                "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U done",
                "session *** done",
            ),
            ("REAL_DEBRID_API_KEY=ABCDEFGHIJKLMNOP1234", "REAL_DEBRID_API_KEY=***"),
        ] {
            assert_eq!(redact(line), expected, "{line}");
        }
    }

    #[test]
    fn ordinary_lines_are_left_alone_and_borrowed() {
        let redactor = Redactor::new(true, &[]);
        for line in [
            "GET /api/items/12 200 3ms",
            "tokens processed: 1200",
            "password reset email sent to ada",
            "see https://example.com/docs for details",
            "the secret ingredient is love",
        ] {
            assert!(matches!(redactor.redact(line), Cow::Borrowed(_)), "{line}");
        }
    }

    #[test]
    fn configured_patterns_mask_their_match_keeping_named_groups() {
        let patterns = [
            Regex::new(r"card \d{4}-\d{4}-\d{4}-\d{4}").expect("regex"),
            Regex::new(r"(?P<prefix>ssn=)\d{3}-\d{2}-\d{4}").expect("regex"),
        ];
        let redactor = Redactor::new(false, &patterns);
        assert_eq!(
            redactor.redact("paid with card 1234-5678-9012-3456"),
            "paid with ***"
        );
        assert_eq!(redactor.redact("ssn=123-45-6789 ok"), "ssn=*** ok");
        // Built-ins are off: a token stays.
        assert_eq!(redactor.redact("token=abcdef123456"), "token=abcdef123456");
        assert!(Redactor::new(false, &[]).is_empty());
    }
}
