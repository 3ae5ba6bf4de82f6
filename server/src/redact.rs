//! Redaction: secrets are replaced by `***` as lines are captured, before
//! they reach memory, files, history or any client.
//!
//! Built-in rules cover `key=value` secrets in their many spellings
//! (`password=`, `"token": "…"`, `:password => '…'`, YAML, env files, XML,
//! `--password X`, tracing's ANSI-coloured fields), `sshpass -p`,
//! `mysql -pX`, `curl -u user:pass`, `docker login -p`, `Authorization` and
//! cookie headers, credentials in URLs, private keys, and well-known token
//! formats (cloud, VCS, chat, payment and AI providers). The configuration
//! adds its own patterns, and exact secret values (the server's own token)
//! are masked wherever they appear with [`Redactor::with_literals`].
//!
//! This runs on every captured line, and most lines hold no secret. Each
//! built-in rule names keywords that any line it masks contains, and one
//! SIMD multi-literal search over the line (Teddy, from `aho-corasick`)
//! finds them all: a line without a keyword costs that search and nothing
//! else. Only the rules whose keywords were found run, and they start from
//! where: the two rules whose keywords are common in ordinary lines (`key`,
//! `token`, `pass`, `://`) are small parsers that look around each keyword,
//! the others regexes that begin with their keyword, so that the regex
//! engine jumps to it instead of scanning the line.
//!
//! Every rule reports what to mask in the original line; the line is copied
//! once, with all of it masked, and only if there is something to mask.
//!
//! Private keys span several lines: [`Redactor::redact_line`] with a
//! [`RedactState`] per stream masks the lines between `-----BEGIN … PRIVATE
//! KEY-----` and `-----END … PRIVATE KEY-----`.

use std::borrow::Cow;
use std::ops::Range;

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, MatchKind, Span};
use regex::{Captures, Regex, RegexSet};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Lines masked after a `BEGIN … PRIVATE KEY` line without its `END`: a
/// 4096-bit RSA key is about 50 lines, and a process that never prints the
/// end must not lose the rest of its log.
const PEM_MAX_BODY_LINES: u32 = 200;

/// Shorter literal secrets are ignored: they would mask ordinary words.
const MIN_LITERAL_LEN: usize = 8;

/// The prefilter maps lines in stack chunks of this size, so that no line
/// allocates; longer lines are scanned chunk by chunk.
const FOLD_CHUNK: usize = 256;

/// Per-stream state for [`Redactor::redact_line`]: whether the previous
/// lines opened a private-key block that has not ended yet.
#[derive(Default, Debug, Clone)]
pub struct RedactState {
    /// Body lines masked so far in the open block, if one is open.
    pem_body_lines: Option<u32>,
}

/// Which parts of a regex match to mask. It gets the captures and the line
/// they index: the original line even when the regex ran over its
/// lower-cased copy, so that checks see the real case.
type MaskFn = fn(&Captures<'_>, &str, &mut Vec<Range<usize>>);

/// A parser rule: what to mask in the line, given where its keywords start.
type ScanFn = fn(&str, &[usize], &mut Vec<Range<usize>>);

/// How a built-in rule finds its secrets.
enum Find {
    /// A regex over the line or, when `lower`, over its ASCII lower-cased
    /// copy (the pattern is then written in lower case: its literals stay
    /// case-sensitive, which keeps the engine's literal search fast).
    Regex {
        pattern: &'static str,
        lower: bool,
        mask: MaskFn,
    },
    Scan(ScanFn),
}

/// A built-in rule and its keywords: ASCII, found case-insensitively, at
/// least three bytes. A line without any of them never runs the rule.
struct Builtin {
    name: &'static str,
    keywords: &'static [&'static str],
    find: Find,
}

/// ANSI SGR sequences: tracing's pretty format writes a field as
/// `\x1b[3mkey\x1b[0m\x1b[2m=\x1b[0mvalue`.
macro_rules! ansi {
    () => {
        r"(?:\x1b\[[0-9;]*m)*"
    };
}

/// A quoted or bare value, in the groups `dq`, `sq` and `bare`. A quoted
/// value runs to its closing quote, so it may hold spaces, `;` and `@`.
macro_rules! value {
    () => {
        r#"(?:"(?P<dq>(?:[^"\\]|\\.)+)|'(?P<sq>(?:[^'\\]|\\.)+)|(?P<bare>[^\s"'\\&,;}<>=:\x1b-][^\s"'&,;}<\x1b]*))"#
    };
}

const BUILT_IN: &[Builtin] = &[
    Builtin {
        name: "private-key-block",
        keywords: &["-----begin"],
        find: Find::Regex {
            pattern: r#"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<body>[^-"'\x1b]*)"#,
            lower: false,
            mask: mask_pem_body,
        },
    },
    Builtin {
        name: "secret-assignment",
        keywords: &["pass", "pwd", "auth", "token", "secret", "key"],
        find: Find::Scan(scan_assignments),
    },
    Builtin {
        name: "url-credentials",
        keywords: &["://"],
        find: Find::Scan(scan_url_credentials),
    },
    Builtin {
        name: "authorization-header",
        keywords: &["authoriz"],
        find: Find::Regex {
            pattern: concat!(
                r#"(?:proxy-)?authorization(?:\\?["'])?"#,
                ansi!(),
                r"\s*[:=]\s*",
                ansi!(),
                r#"(?:\\?["'])?(?:(?P<scheme>basic|bearer|token|negotiate|ntlm|apikey|api-key|sso-key|dpop|hmac|key)\s+)?"#,
                r#"(?P<s>[^\s"'\\,\x1b]+)"#
            ),
            lower: true,
            mask: mask_authorization,
        },
    },
    Builtin {
        name: "bearer-token",
        keywords: &["bearer"],
        find: Find::Regex {
            pattern: concat!(
                "bearer",
                ansi!(),
                r"\s+",
                ansi!(),
                r"(?P<s>[a-z0-9\-._~+/]{8,}=*)"
            ),
            lower: true,
            mask: mask_bearer,
        },
    },
    Builtin {
        name: "cookie-header",
        keywords: &["cookie"],
        find: Find::Regex {
            pattern: concat!(
                r#"(?:set-)?cookie(?:\\?["'])?"#,
                ansi!(),
                r"\s*[:=]",
                ansi!(),
                r#"\s*(?:"(?P<dq>[^"]*)|'(?P<sq>[^']*)|(?P<bare>[^"'\r\n\x1b]+))"#
            ),
            lower: true,
            mask: mask_cookies,
        },
    },
    Builtin {
        name: "aws-access-key",
        keywords: &["akia", "asia", "abia", "acca", "a3t"],
        find: Find::Regex {
            // The secret access key right after its key id goes too.
            pattern: r#"(?-u:\b)(?P<s>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)(?:[\s,:;|"'=]{1,5}(?P<s2>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$))?"#,
            lower: false,
            mask: mask_groups,
        },
    },
    Builtin {
        name: "github-token",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})(?-u:\b)",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "gitlab-token",
        keywords: &["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-"],
        find: Find::Regex {
            pattern: r"(?-u:\b)gl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9]{2,}){0,2}",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "slack-token",
        keywords: &["xox", "xapp-"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]+-[A-Za-z0-9-]{10,})",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "chat-webhook",
        keywords: &["hooks.slack.com", "/api/webhooks/"],
        find: Find::Regex {
            pattern: r"(?:hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/[0-9]+/)(?P<s>[A-Za-z0-9/_+-]{10,})",
            lower: false,
            mask: mask_groups,
        },
    },
    Builtin {
        name: "telegram-bot-token",
        keywords: &["/bot", ":aa"],
        find: Find::Regex {
            pattern: r"api\.telegram\.org/(?:file/)?bot(?P<s>[0-9]{5,16}:[A-Za-z0-9_-]{20,})|(?-u:\b)(?P<s2>[0-9]{5,16}:AA[A-Za-z0-9_-]{30,})",
            lower: false,
            mask: mask_groups,
        },
    },
    Builtin {
        name: "stripe-key",
        keywords: &["k_live_", "k_test_", "whsec_"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,})",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "google-credential",
        keywords: &["aiza", "ya29.", "gocspx-", "1//0"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[0-9A-Za-z_-]{20,}|1//0[0-9A-Za-z_-]{30,})",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "ai-provider-key",
        keywords: &["sk-"],
        find: Find::Regex {
            pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin|ant|None)-[A-Za-z0-9_-]{16,}|[A-Za-z0-9]{32,})",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "package-registry-token",
        keywords: &["npm_", "pypi-"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,})(?-u:\b)",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "sendgrid-key",
        keywords: &["sg."],
        find: Find::Regex {
            pattern: r"(?-u:\b)SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}(?-u:\b)",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "vault-token",
        keywords: &["hvs.", "hvb.", "hvr."],
        find: Find::Regex {
            pattern: r"(?-u:\b)hv[sbr]\.[A-Za-z0-9_-]{20,}",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "prefixed-token",
        keywords: &["hf_", "shp", "_v1_", "sntry", "age-secret-key-1"],
        find: Find::Regex {
            pattern: r"(?-u:\b)(?:hf_[A-Za-z0-9]{30,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|do[por]_v1_[a-f0-9]{64}|sntry[su]_[A-Za-z0-9+/=_-]{30,}|AGE-SECRET-KEY-1[0-9A-Z]{58})(?-u:\b)",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "jwt",
        keywords: &["eyj"],
        find: Find::Regex {
            pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            lower: false,
            mask: mask_whole,
        },
    },
    Builtin {
        name: "url-signature",
        keywords: &["sig=", "signature="],
        find: Find::Regex {
            pattern: r#"[?&](?:sig|signature|x-amz-signature|x-goog-signature)=(?P<s>[^&\s"'#\x1b]+)"#,
            lower: true,
            mask: mask_groups,
        },
    },
    Builtin {
        name: "sshpass",
        keywords: &["sshpass"],
        find: Find::Regex {
            // Case-sensitive: `-P` is sshpass's prompt option.
            pattern: concat!(
                r"(?-u:\b)sshpass(?:\s+-[a-oq-zA-OQ-Z][^\s]*)*\s+-p\s*",
                value!()
            ),
            lower: false,
            mask: mask_value,
        },
    },
    Builtin {
        name: "mysql-password",
        keywords: &["mysql"],
        find: Find::Regex {
            // Case-sensitive: `-P` is the port. `-p` takes the password only
            // when attached: `-p db` prompts, and `db` is a database.
            pattern: r#"(?-u:\b)mysql(?:dump|admin|sh|import|check)?(?-u:\b)[^|;&]*?\s-p(?P<s>"[^"]+"|'[^']+'|[^\s"'][^\s]*)"#,
            lower: false,
            mask: mask_groups,
        },
    },
    Builtin {
        name: "curl-user",
        keywords: &["curl"],
        find: Find::Regex {
            pattern: r#"(?-u:\b)curl(?-u:\b)[^|;&]*?\s(?:-u|--user|--proxy-user)(?:\s*|=)["']?[^\s:"']*:(?P<s>[^\s"']+)"#,
            lower: true,
            mask: mask_value,
        },
    },
    Builtin {
        name: "registry-login",
        keywords: &["login"],
        find: Find::Regex {
            pattern: concat!(
                r"(?-u:\b)(?:docker|podman|nerdctl|buildah|skopeo|oras|helm\s+registry)\s+login(?-u:\b)[^|;&]*?\s(?:-p|--password)(?:\s+|=)",
                value!()
            ),
            lower: true,
            mask: mask_value,
        },
    },
];

/// Matches a line that opens a multi-line private key: the BEGIN marker
/// with nothing of the key after it on the same line.
const PEM_OPEN: &str = concat!(
    r#"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s"',]*"#,
    ansi!(),
    r"\s*$"
);

/// Maps a byte so that a case-sensitive search over mapped bytes is an ASCII
/// case-insensitive search over the original ones, with bytes spread for
/// Teddy.
///
/// `| 0x20` folds upper case onto lower case (and merges a few punctuation
/// and control bytes, which only costs a needless rule run). Teddy tells
/// bytes apart by their two nibbles, but every lower-case letter has a high
/// nibble of 6 or 7, so keyword fingerprints would match most positions of
/// ordinary text. Multiplying by an odd constant and folding the high nibble
/// into the low one are bijections that give letters varied nibbles; the
/// constant was picked by simulating Teddy's fingerprints over sample log
/// lines (about four times fewer candidate checks than `| 0x20` alone).
/// Plain arithmetic, so the compiler vectorizes it.
#[inline]
fn fold(byte: u8) -> u8 {
    let spread = (byte | 0x20).wrapping_mul(237);
    spread ^ (spread >> 4)
}

/// The order in which to give Teddy the (folded) keywords: it only tunes
/// speed, never what is found.
///
/// Teddy (with AVX2) sorts patterns into 16 buckets (8 for up to 32
/// patterns) by their index, pattern `i` into bucket `i % buckets`
/// (reversed), and checks a position against a bucket's patterns when each
/// of the first bytes there (as many as the shortest pattern has, up to
/// four) has a low and a high nibble seen at that offset in the bucket.
/// Unlike keywords in one bucket make such false alarms frequent, so
/// keywords are grouped greedily, each into the bucket whose nibble sets it
/// grows least, then laid out so that each group lands in one bucket. On
/// sample log lines this halves the false alarms of any plain order.
fn teddy_order(patterns: &[Vec<u8>]) -> Vec<usize> {
    let buckets = if patterns.len() > 32 { 16 } else { 8 };
    let capacity = patterns.len().div_ceil(buckets);
    let fingerprint = patterns.iter().map(Vec::len).min().unwrap_or(0).min(4);
    // Per bucket and offset: the low and the high nibbles seen, as bits.
    let mut nibbles = vec![[(0u16, 0u16); 4]; buckets];
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); buckets];
    let spread = |sets: &[(u16, u16); 4]| -> u64 {
        sets[..fingerprint]
            .iter()
            .map(|(lo, hi)| u64::from(lo.count_ones().max(1) * hi.count_ones().max(1)))
            .product()
    };
    let mut by_length: Vec<usize> = (0..patterns.len()).collect();
    by_length.sort_by_key(|&i| std::cmp::Reverse(patterns[i].len()));
    for i in by_length {
        let grown = |sets: &[(u16, u16); 4]| {
            let mut sets = *sets;
            for (set, byte) in sets.iter_mut().zip(&patterns[i]) {
                set.0 |= 1 << (byte & 15);
                set.1 |= 1 << (byte >> 4);
            }
            sets
        };
        // There is always room: `capacity` rounds up.
        let best = (0..buckets)
            .filter(|&b| groups[b].len() < capacity)
            .min_by_key(|&b| {
                let before = if groups[b].is_empty() {
                    0
                } else {
                    spread(&nibbles[b])
                };
                spread(&grown(&nibbles[b])) - before
            })
            .unwrap_or(0);
        nibbles[best] = grown(&nibbles[best]);
        groups[best].push(i);
    }
    // Fullest groups first, so that the short last row keeps each group in
    // the same column, and so in the same bucket.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let rows = groups.first().map_or(0, Vec::len);
    (0..rows)
        .flat_map(|row| groups.iter().filter_map(move |g| g.get(row).copied()))
        .collect()
}

/// Each built-in keyword, lower-cased, with the bit set of its rules.
fn builtin_keywords() -> Vec<(Vec<u8>, u64)> {
    assert!(BUILT_IN.len() <= 64, "rule sets are u64 bit sets");
    let mut keywords: Vec<(Vec<u8>, u64)> = Vec::new();
    for (index, builtin) in BUILT_IN.iter().enumerate() {
        for keyword in builtin.keywords {
            let keyword = keyword.as_bytes().to_ascii_lowercase();
            match keywords.iter_mut().find(|(k, _)| *k == keyword) {
                Some((_, rules)) => *rules |= 1 << index,
                None => keywords.push((keyword, 1 << index)),
            }
        }
    }
    keywords
}

/// Finds the built-in keywords in a line.
struct Prefilter {
    search: Search,
    /// Per pattern: the bit set of the rules to run where it is found.
    rules: Vec<u64>,
}

enum Search {
    /// Teddy over [`fold`]ed lines, in chunks of [`FOLD_CHUNK`] bytes that
    /// overlap by `overlap` so that no keyword is cut.
    Folded {
        searcher: packed::Searcher,
        overlap: usize,
    },
    /// Where Teddy is unavailable: CPUs without SSSE3 or NEON, or more
    /// keywords than it takes (64).
    Automaton(AhoCorasick),
}

/// Keywords found in a line: where each starts, with its rules. Kept on
/// the stack: a line seldom holds more than a few.
struct Hits {
    rules: u64,
    at: [(usize, u64); MAX_HITS],
    len: usize,
}

/// Keyword positions kept per line; the parsers find their keywords again
/// in the rare line with more.
const MAX_HITS: usize = 16;

impl Hits {
    fn new() -> Hits {
        Hits {
            rules: 0,
            at: [(0, 0); MAX_HITS],
            len: 0,
        }
    }

    fn add(&mut self, start: usize, rules: u64) {
        self.rules |= rules;
        if self.len < MAX_HITS {
            self.at[self.len] = (start, rules);
        }
        self.len += 1;
    }

    /// Where the keywords of rule `index` start in `line`, in order (a
    /// keyword in the overlap of two chunks comes twice).
    fn starts<'a>(
        &self,
        index: usize,
        line: &str,
        buffer: &'a mut [usize; MAX_HITS],
    ) -> Cow<'a, [usize]> {
        if self.len > MAX_HITS {
            return Cow::Owned(find_keywords(line, BUILT_IN[index].keywords));
        }
        let mut n = 0;
        for (start, rules) in &self.at[..self.len] {
            if rules >> index & 1 == 1 {
                buffer[n] = *start;
                n += 1;
            }
        }
        let starts = &mut buffer[..n];
        starts.sort_unstable();
        Cow::Borrowed(starts)
    }
}

/// Where `keywords` start in `line`, ignoring ASCII case: the slow way, for
/// lines with more keywords than [`Hits`] keeps.
fn find_keywords(line: &str, keywords: &[&str]) -> Vec<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len())
        .filter(|&at| {
            keywords.iter().any(|k| {
                bytes
                    .get(at..at + k.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(k.as_bytes()))
            })
        })
        .collect()
}

impl Prefilter {
    /// `keywords`: lower-case ASCII, each with the rules it selects. Teddy
    /// when `packed` and available.
    fn new(keywords: &[(Vec<u8>, u64)], packed: bool) -> Option<Prefilter> {
        // At one position a search reports one pattern: where a keyword
        // starts another (`auth`, `authoriz`), either must run the rules of
        // both. Restarting the search one byte after each match then finds
        // every keyword.
        let rules: Vec<u64> = keywords
            .iter()
            .map(|(keyword, _)| {
                keywords
                    .iter()
                    .filter(|(other, _)| keyword.starts_with(other) || other.starts_with(keyword))
                    .fold(0, |all, (_, rules)| all | rules)
            })
            .collect();
        let folded: Vec<Vec<u8>> = keywords
            .iter()
            .map(|(k, _)| k.iter().copied().map(fold).collect())
            .collect();
        let order = teddy_order(&folded);
        let rules = order.iter().map(|&i| rules[i]).collect();
        let teddy = packed
            .then(|| {
                packed::Config::new()
                    .builder()
                    .extend(order.iter().map(|&i| &folded[i]))
                    .build()
            })
            .flatten();
        let search = match teddy {
            Some(searcher) => Search::Folded {
                searcher,
                overlap: folded.iter().map(Vec::len).max()? - 1,
            },
            None => Search::Automaton(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(order.iter().map(|&i| &keywords[i].0))
                    .ok()?,
            ),
        };
        Some(Prefilter { search, rules })
    }

    /// Every keyword in `line`; `None` for most lines.
    fn scan(&self, line: &str) -> Option<Hits> {
        let mut hits: Option<Hits> = None;
        match &self.search {
            Search::Folded { searcher, overlap } => {
                let bytes = line.as_bytes();
                let mut buffer = [0u8; FOLD_CHUNK];
                let mut start = 0;
                loop {
                    let end = (start + FOLD_CHUNK).min(bytes.len());
                    let chunk = &bytes[start..end];
                    let folded = &mut buffer[..chunk.len()];
                    for (to, from) in folded.iter_mut().zip(chunk) {
                        *to = fold(*from);
                    }
                    let mut at = 0;
                    while let Some(m) = searcher.find_in(&*folded, Span::from(at..folded.len())) {
                        let rules = self.rules[m.pattern().as_usize()];
                        hits.get_or_insert_with(Hits::new)
                            .add(start + m.start(), rules);
                        at = m.start() + 1;
                    }
                    if end == bytes.len() {
                        return hits;
                    }
                    start = end - overlap;
                }
            }
            Search::Automaton(automaton) => {
                for m in automaton.find_overlapping_iter(line) {
                    let rules = self.rules[m.pattern().as_usize()];
                    hits.get_or_insert_with(Hits::new).add(m.start(), rules);
                }
                hits
            }
        }
    }
}

enum RuleFind {
    Regex {
        regex: Regex,
        lower: bool,
        mask: MaskFn,
    },
    Scan(ScanFn),
}

struct Rule {
    name: &'static str,
    find: RuleFind,
}

/// A configured pattern: everything but its `prefix`/`suffix` groups.
struct Custom {
    regex: Regex,
    prefix: bool,
    suffix: bool,
}

/// The compiled rules. See the module documentation for how a line is
/// checked.
#[derive(Default)]
pub struct Redactor {
    /// The built-in rules' keywords; `None` without built-ins.
    prefilter: Option<Prefilter>,
    builtins: Vec<Rule>,
    /// The bit of the private-key rule, and the test for a line that opens
    /// a multi-line key.
    pem_bit: u64,
    pem_open: Option<Regex>,
    /// Exact secrets, searched case-sensitively on their own: a search for
    /// a few literals is about as fast as the keyword search.
    literals: Option<AhoCorasick>,
    literal_list: Vec<String>,
    /// No keywords are known for configured patterns, so a [`RegexSet`]
    /// pass decides whether any needs to run.
    custom: Vec<Custom>,
    custom_set: Option<RegexSet>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "builtins",
                &self.builtins.iter().map(|r| r.name).collect::<Vec<_>>(),
            )
            .field("patterns", &self.custom.len())
            .field("literals", &self.literal_list.len())
            .finish()
    }
}

impl Redactor {
    /// The built-in rules (when `builtin`) and `patterns`. In a pattern, a
    /// group named `prefix` or `suffix` is kept; the rest of the match is
    /// masked.
    pub fn new(builtin: bool, patterns: &[Regex]) -> Redactor {
        let mut redactor = Redactor::default();
        if builtin {
            redactor.add_builtins();
        }
        for regex in patterns {
            let names: Vec<&str> = regex.capture_names().flatten().collect();
            redactor.custom.push(Custom {
                regex: regex.clone(),
                prefix: names.contains(&"prefix"),
                suffix: names.contains(&"suffix"),
            });
        }
        redactor.custom_set = (!redactor.custom.is_empty())
            .then(|| RegexSet::new(redactor.custom.iter().map(|c| c.regex.as_str())).ok())
            .flatten();
        redactor
    }

    /// Also masks each of `secrets` wherever it appears, exactly (case
    /// matters), with no keyword needed around it: for values the server
    /// knows are secret, such as its own access token. Values shorter than
    /// 8 bytes are ignored, since they would mask ordinary text.
    pub fn with_literals(mut self, secrets: impl IntoIterator<Item = String>) -> Redactor {
        self.literal_list
            .extend(secrets.into_iter().filter(|s| s.len() >= MIN_LITERAL_LEN));
        self.literal_list.sort();
        self.literal_list.dedup();
        self.literals = (!self.literal_list.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&self.literal_list)
                    .ok()
            })
            .flatten();
        self
    }

    fn add_builtins(&mut self) {
        for (index, builtin) in BUILT_IN.iter().enumerate() {
            if builtin.name == "private-key-block" {
                self.pem_bit = 1 << index;
            }
            let find = match builtin.find {
                Find::Regex {
                    pattern,
                    lower,
                    mask,
                } => RuleFind::Regex {
                    regex: Regex::new(pattern).expect("built-in redaction patterns are valid"),
                    lower,
                    mask,
                },
                Find::Scan(scan) => RuleFind::Scan(scan),
            };
            self.builtins.push(Rule {
                name: builtin.name,
                find,
            });
        }
        self.prefilter = Prefilter::new(&builtin_keywords(), true);
        self.pem_open = Some(Regex::new(PEM_OPEN).expect("built-in redaction patterns are valid"));
    }

    pub fn is_empty(&self) -> bool {
        self.builtins.is_empty() && self.custom.is_empty() && self.literals.is_none()
    }

    /// `line` with every secret masked; borrowed when there is none.
    pub fn redact<'a>(&self, line: &'a str) -> Cow<'a, str> {
        self.redact_inner(line).0
    }

    /// Like [`redact`](Self::redact), for the next line of a stream: also
    /// masks the body of a private key printed over several lines, keeping
    /// its `BEGIN`/`END` lines. Each stream needs its own `state`.
    pub fn redact_line<'a>(&self, line: &'a str, state: &mut RedactState) -> Cow<'a, str> {
        if let Some(masked) = state.pem_body_lines {
            if line.contains("-----END ") || masked >= PEM_MAX_BODY_LINES {
                state.pem_body_lines = None;
            } else if !line.contains("-----BEGIN ") {
                state.pem_body_lines = Some(masked + 1);
                if line.trim().is_empty() {
                    return Cow::Borrowed(line);
                }
                return Cow::Owned(MASK.to_owned());
            }
        }
        let (redacted, maybe_pem) = self.redact_inner(line);
        if maybe_pem
            && self
                .pem_open
                .as_ref()
                .is_some_and(|open| open.is_match(line))
        {
            state.pem_body_lines = Some(0);
        }
        redacted
    }

    /// The redacted line, and whether it may open a private-key block.
    fn redact_inner<'a>(&self, line: &'a str) -> (Cow<'a, str>, bool) {
        let mut spans: Vec<Range<usize>> = Vec::new();
        if let Some(literals) = &self.literals {
            if literals.is_match(line) {
                spans.extend(literals.find_iter(line).map(|m| m.range()));
            }
        }
        let hits = self.prefilter.as_ref().and_then(|p| p.scan(line));
        let maybe_pem = hits.as_ref().is_some_and(|h| h.rules & self.pem_bit != 0);
        if let Some(hits) = hits {
            // Made once, for the first rule that needs it.
            let mut lower: Option<String> = None;
            let mut rules = hits.rules;
            while rules != 0 {
                let index = rules.trailing_zeros() as usize;
                rules &= rules - 1;
                match &self.builtins[index].find {
                    RuleFind::Scan(scan) => {
                        let mut buffer = [0; MAX_HITS];
                        scan(line, &hits.starts(index, line, &mut buffer), &mut spans);
                    }
                    RuleFind::Regex {
                        regex,
                        lower: false,
                        mask,
                    } => find_all(regex, line, line, *mask, &mut spans),
                    RuleFind::Regex {
                        regex,
                        lower: true,
                        mask,
                    } => {
                        let haystack = lower.get_or_insert_with(|| line.to_ascii_lowercase());
                        find_all(regex, haystack, line, *mask, &mut spans);
                    }
                }
            }
        }
        if let Some(set) = &self.custom_set {
            if set.is_match(line) {
                for index in set.matches(line).iter() {
                    self.custom[index].find_all(line, &mut spans);
                }
            }
        }
        (splice(line, spans), maybe_pem)
    }
}

impl Custom {
    fn find_all(&self, line: &str, spans: &mut Vec<Range<usize>>) {
        for caps in self.regex.captures_iter(line) {
            let Some(whole) = caps.get(0) else { continue };
            let start = match caps.name("prefix") {
                Some(p) if self.prefix => p.end(),
                _ => whole.start(),
            };
            let end = match caps.name("suffix") {
                Some(s) if self.suffix => s.start(),
                _ => whole.end(),
            };
            if start < end {
                spans.push(start..end);
            }
        }
    }
}

/// Runs `regex` over `haystack` (`line` or its lower-cased copy) and adds
/// what `mask` picks from each match.
fn find_all(
    regex: &Regex,
    haystack: &str,
    line: &str,
    mask: MaskFn,
    spans: &mut Vec<Range<usize>>,
) {
    let mut at = 0;
    while let Some(caps) = regex.captures_at(haystack, at) {
        let Some(whole) = caps.get(0) else { break };
        let before = spans.len();
        mask(&caps, line, spans);
        // A match the mask turned down may hide one that starts inside it:
        // search again from its next character.
        let next = whole.start()
            + haystack[whole.start()..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
        at = if spans.len() > before {
            whole.end().max(next)
        } else {
            next
        };
        if at > haystack.len() {
            break;
        }
    }
}

/// `line` with each span replaced by [`MASK`]; borrowed when none needs it
/// (empty, or already exactly the mask). Overlapping spans become one mask.
fn splice(line: &str, mut spans: Vec<Range<usize>>) -> Cow<'_, str> {
    spans.retain(|s| s.start < s.end && line.get(s.clone()).is_some_and(|t| t != MASK));
    if spans.is_empty() {
        return Cow::Borrowed(line);
    }
    spans.sort_unstable_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for span in spans {
        if span.start < at {
            // Overlaps the previous mask: extend it.
            at = at.max(span.end);
            continue;
        }
        out.push_str(&line[at..span.start]);
        out.push_str(MASK);
        at = span.end;
    }
    out.push_str(&line[at..]);
    Cow::Owned(out)
}

fn mask_whole(caps: &Captures<'_>, _line: &str, spans: &mut Vec<Range<usize>>) {
    if let Some(m) = caps.get(0) {
        spans.push(m.range());
    }
}

fn mask_groups(caps: &Captures<'_>, _line: &str, spans: &mut Vec<Range<usize>>) {
    for name in ["s", "s2"] {
        if let Some(m) = caps.name(name) {
            spans.push(m.range());
        }
    }
}

/// The value of [`value!`] (or group `s`), unless it is a placeholder
/// (`curl -u "$USER:$PASS"` passes variables, not secrets).
fn mask_value(caps: &Captures<'_>, line: &str, spans: &mut Vec<Range<usize>>) {
    let value = ["dq", "sq", "bare", "s"]
        .iter()
        .find_map(|name| caps.name(name));
    if let Some(value) = value {
        if !is_placeholder(&line[value.range()]) {
            spans.push(value.range());
        }
    }
}

/// The body between the markers, without the line breaks (real or
/// `\n`-escaped) around it.
fn mask_pem_body(caps: &Captures<'_>, line: &str, spans: &mut Vec<Range<usize>>) {
    let Some(body) = caps.name("body") else {
        return;
    };
    let inside = &line[body.range()];
    let start = inside.len() - trim_breaks(inside, false).len();
    let end = trim_breaks(inside, true).len();
    if start < end {
        spans.push(body.start() + start..body.start() + end);
    }
}

/// `text` without leading (or trailing) whitespace and escaped `\n`/`\r`.
fn trim_breaks(mut text: &str, trailing: bool) -> &str {
    loop {
        let trimmed = if trailing {
            text.trim_end()
        } else {
            text.trim_start()
        };
        let next = if trailing {
            ["\\n", "\\r"]
                .iter()
                .find_map(|e| trimmed.strip_suffix(e))
                .map(|t| t.trim_end_matches('\\'))
        } else {
            trimmed
                .trim_start_matches('\\')
                .strip_prefix(['n', 'r'])
                .filter(|_| trimmed.starts_with('\\'))
        };
        match next {
            Some(rest) => text = rest,
            None => return trimmed,
        }
    }
}

/// The credentials after an `Authorization` scheme, or the whole value
/// without one (`Digest` is left: its parameters hold a one-time hash).
fn mask_authorization(caps: &Captures<'_>, line: &str, spans: &mut Vec<Range<usize>>) {
    let Some(value) = caps.name("s") else { return };
    let credentials = &line[value.range()];
    // Without a scheme, `authorization: required` is prose, not a token.
    if is_placeholder(credentials) || (caps.name("scheme").is_none() && is_prose_word(credentials))
    {
        return;
    }
    spans.push(value.range());
}

fn mask_bearer(caps: &Captures<'_>, line: &str, spans: &mut Vec<Range<usize>>) {
    let (Some(whole), Some(token)) = (caps.get(0), caps.name("s")) else {
        return;
    };
    // `Bearer authentication failed`: tokens have digits or are long.
    let token_text = &line[token.range()];
    if starts_word(line, whole.start())
        && (token_text.bytes().any(|b| b.is_ascii_digit()) || token_text.len() >= 20)
    {
        spans.push(token.range());
    }
}

/// Cookie values, keeping cookie names and `Set-Cookie` attributes.
fn mask_cookies(caps: &Captures<'_>, line: &str, spans: &mut Vec<Range<usize>>) {
    const ATTRIBUTES: &[&str] = &[
        "path",
        "domain",
        "expires",
        "max-age",
        "secure",
        "httponly",
        "samesite",
        "priority",
        "partitioned",
        "version",
        "comment",
    ];
    if !starts_word(line, caps.get(0).map_or(0, |m| m.start())) {
        return;
    }
    let Some(value) = caps.name("dq").or(caps.name("sq")).or(caps.name("bare")) else {
        return;
    };
    let mut offset = value.start();
    for pair in line[value.range()].split(';') {
        if let Some(eq) = pair.find('=') {
            let name = pair[..eq].trim();
            let raw = &pair[eq + 1..];
            let cookie = raw.trim();
            let is_attribute = ATTRIBUTES.iter().any(|a| name.eq_ignore_ascii_case(a));
            if !is_attribute && !is_placeholder(cookie) {
                let start = offset + eq + 1 + (raw.len() - raw.trim_start().len());
                spans.push(start..start + cookie.len());
            }
        }
        offset += pair.len() + 1;
    }
}

/// `scheme://user:password@host` (also with an empty user, and a password
/// holding `@`), and `scheme://<token>@host` as in Sentry DSNs.
fn scan_url_credentials(line: &str, starts: &[usize], spans: &mut Vec<Range<usize>>) {
    let bytes = line.as_bytes();
    for &at in starts {
        let scheme_start = bytes[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')))
            .map_or(0, |i| i + 1);
        if !bytes.get(scheme_start).is_some_and(u8::is_ascii_alphabetic) || scheme_start == at {
            continue;
        }
        let authority_start = at + 3;
        let authority_end = bytes[authority_start..]
            .iter()
            .position(|b| b"/?#\"'<>\\".contains(b) || b.is_ascii_whitespace())
            .map_or(bytes.len(), |i| authority_start + i);
        // The last `@`: a password may hold one.
        let Some(user_end) = bytes[authority_start..authority_end]
            .iter()
            .rposition(|&b| b == b'@')
            .map(|i| authority_start + i)
        else {
            continue;
        };
        let userinfo = &line[authority_start..user_end];
        match userinfo.find(':') {
            Some(colon) => {
                let password = authority_start + colon + 1..user_end;
                if !is_placeholder(&line[password.clone()]) {
                    spans.push(password);
                }
            }
            // A long user name with letters and digits is a token.
            None if userinfo.len() >= 20
                && userinfo
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && userinfo.bytes().any(|b| b.is_ascii_digit())
                && userinfo.bytes().any(|b| b.is_ascii_alphabetic()) =>
            {
                spans.push(authority_start..user_end);
            }
            None => {}
        }
    }
}

/// How sure a key name is to hold a secret.
#[derive(PartialEq, Clone, Copy)]
enum KeyKind {
    /// `password`, `passphrase`, `private_key`: whatever the value.
    Password,
    /// `pass`, `pwd`, `auth`: also the ends of words (`bypass`, `oauth`),
    /// so only as a whole name, and not for a small count (`pass=12`).
    Short,
    /// `token`, `secret`, `api_key`…: unless the value reads like prose
    /// after a colon (`invalid token: expired`).
    Token,
}

/// Words that make `…key` a secret's name: `api_key`, `AccountKey`,
/// `x-api-key`, `SharedAccessKey`, but not `cache_key` or `monkey`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "secret",
    "signing",
    "encryption",
    "master",
    "account",
    "client",
    "auth",
    "app",
    "subscription",
    "storage",
    "webhook",
];

/// What kind of secret a key name (`DB_PASSWORD`, `x-api-key`,
/// `--auth-token`) holds, if any: decided by how it ends.
fn key_kind(name: &str) -> Option<KeyKind> {
    let name = name.as_bytes();
    let rest = |suffix: &str| {
        let cut = name.len().checked_sub(suffix.len())?;
        name[cut..]
            .eq_ignore_ascii_case(suffix.as_bytes())
            .then_some(&name[..cut])
    };
    let ends = |rest: &[u8], word: &str| {
        rest.len() >= word.len()
            && rest[rest.len() - word.len()..].eq_ignore_ascii_case(word.as_bytes())
    };
    if ["password", "passwd", "passphrase"]
        .iter()
        .any(|s| rest(s).is_some())
    {
        return Some(KeyKind::Password);
    }
    if let Some(before) = rest("key") {
        let before = before
            .strip_suffix(b"_")
            .or(before.strip_suffix(b"."))
            .or(before.strip_suffix(b"-"))
            .unwrap_or(before);
        if ends(before, "private") {
            return Some(KeyKind::Password);
        }
        return KEY_QUALIFIERS
            .iter()
            .any(|q| ends(before, q))
            .then_some(KeyKind::Token);
    }
    if rest("token").is_some() || rest("secret").is_some() {
        return Some(KeyKind::Token);
    }
    let whole = |suffix: &str| {
        rest(suffix).is_some_and(|before| {
            before.is_empty() || matches!(before.last(), Some(b'_' | b'.' | b'-'))
        })
    };
    ["pass", "pwd", "auth"]
        .iter()
        .any(|s| whole(s))
        .then_some(KeyKind::Short)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Secrets after secret-sounding key names: `key=value`, `"key": "value"`,
/// `key => value`, `key := value`, `--key value`, `<key>value</key>`.
fn scan_assignments(line: &str, starts: &[usize], spans: &mut Vec<Range<usize>>) {
    let bytes = line.as_bytes();
    let mut done = 0;
    for &at in starts {
        if at < done {
            // Another keyword of a name already looked at (`secret_key`).
            continue;
        }
        let mut name_start = bytes[..at]
            .iter()
            .rposition(|&b| !is_name_byte(b))
            .map_or(0, |i| i + 1);
        let name_end = bytes[at..]
            .iter()
            .position(|&b| !is_name_byte(b))
            .map_or(bytes.len(), |i| at + i);
        done = name_end;
        // `\x1b[3mpassword`: the colour code is not part of the name.
        if line[..name_start].ends_with("\x1b[") {
            if let Some(m) = line[name_start..at].find('m') {
                name_start += m + 1;
            }
        }
        let name = &line[name_start..name_end];
        let Some(kind) = key_kind(name.trim_start_matches('-')) else {
            continue;
        };
        if let Some(value) = assigned_value(line, name_start, name_end, kind) {
            spans.push(value);
        }
    }
}

/// The secret value given to the key name at `name_start..name_end`, if any.
fn assigned_value(
    line: &str,
    name_start: usize,
    name_end: usize,
    kind: KeyKind,
) -> Option<Range<usize>> {
    let bytes = line.as_bytes();
    let name = &line[name_start..name_end];
    let rest = &line[name_end..];
    // `<db_password>value</db_password>`
    if rest.starts_with('>') && element_opens_at(&line[..name_start]) {
        let end = name_end + 1 + rest[1..].find('<')?;
        let text = &line[name_end + 1..end];
        let closed = line[end..].starts_with("</");
        return (closed && !is_placeholder(text)).then_some(name_end + 1..end);
    }
    // `--db-password value`
    let dashes = name.len() - name.trim_start_matches('-').len();
    if (dashes == 1 || dashes == 2)
        && (name_start == 0 || bytes[name_start - 1].is_ascii_whitespace())
        && rest.starts_with([' ', '\t'])
    {
        let value_start = name_end + (rest.len() - rest.trim_start_matches([' ', '\t']).len());
        let (value, quoted) = value_at(line, value_start)?;
        let text = &line[value.clone()];
        if (!quoted && text.starts_with('-')) || is_placeholder(text) {
            return None;
        }
        return Some(value);
    }
    // `key = value`, `"key": value`, `key => value`, with colours between.
    let mut i = name_end;
    if bytes.get(i) == Some(&b'\\') && matches!(bytes.get(i + 1), Some(b'"' | b'\'')) {
        i += 2;
    } else if matches!(bytes.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    i = skip_blanks(line, i, true);
    let colon = match bytes.get(i..(i + 2).min(bytes.len()))? {
        [b'=', b'>'] | [b':', b'='] => {
            i += 2;
            false
        }
        [b'=', b'='] | [b':', b':'] => return None,
        [b'=', ..] => {
            i += 1;
            false
        }
        [b':', ..] => {
            i += 1;
            true
        }
        _ => return None,
    };
    i = skip_blanks(line, i, false);
    if bytes
        .get(i..i + 5)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"some("))
    {
        i += 5;
    }
    let (value, quoted) = value_at(line, i)?;
    let text = &line[value.clone()];
    if is_placeholder(text) || holds_private_key(text) {
        return None;
    }
    if kind != KeyKind::Password
        && !quoted
        && colon
        && (is_prose_word(text) || is_small_number(text))
    {
        return None;
    }
    if kind == KeyKind::Short && !quoted && is_small_number(text) {
        return None;
    }
    Some(value)
}

/// Whether `before` ends with `<` or `<ns:`, opening an element whose name
/// follows.
fn element_opens_at(before: &str) -> bool {
    let before = before
        .strip_suffix(':')
        .map(|b| b.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(before);
    before.ends_with('<')
}

/// The index after the spaces, tabs and colour codes at `at`; after any
/// whitespace with `any_whitespace`.
fn skip_blanks(line: &str, mut at: usize, any_whitespace: bool) -> usize {
    let bytes = line.as_bytes();
    loop {
        match bytes.get(at) {
            Some(b' ' | b'\t') => at += 1,
            Some(b) if any_whitespace && b.is_ascii_whitespace() => at += 1,
            Some(0x1b) if bytes.get(at + 1) == Some(&b'[') => {
                let end = bytes[at + 2..]
                    .iter()
                    .position(|b| !(b.is_ascii_digit() || *b == b';'))
                    .map(|i| at + 2 + i);
                match end {
                    Some(m) if bytes[m] == b'm' => at = m + 1,
                    _ => return at,
                }
            }
            _ => return at,
        }
    }
}

/// The value starting at `at`, and whether it was quoted: a quoted string
/// (also with JSON-escaped quotes) to its closing quote, or a bare word
/// up to what ends values in query strings, JSON, logfmt and connection
/// strings.
fn value_at(line: &str, at: usize) -> Option<(Range<usize>, bool)> {
    let bytes = line.as_bytes();
    let (open, close): (&[u8], &[u8]) = match bytes.get(at..)? {
        [b'\\', b'"', ..] => (b"\\\"", b"\\\""),
        [b'"', ..] => (b"\"", b"\""),
        [b'\'', ..] => (b"'", b"'"),
        _ => (b"", b""),
    };
    if open.is_empty() {
        let first = *bytes.get(at)?;
        if first.is_ascii_whitespace() || b"\"'\\&,;}<>=:\x1b".contains(&first) {
            return None;
        }
        let end = bytes[at..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"\"'&,;}<\x1b".contains(b))
            .map_or(bytes.len(), |i| at + i);
        return Some((at..end, false));
    }
    let start = at + open.len();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i..].starts_with(close) {
            break;
        }
        // A backslash escapes the next byte, except the one starting an
        // escaped closing quote.
        if bytes[i] == b'\\' && close.len() == 1 && i + 1 < bytes.len() {
            i += 2;
        } else {
            i += 1;
        }
    }
    let end = i.min(bytes.len());
    (start < end).then_some((start..end, true))
}

/// Whether `text[at..]` starts a word: no letter or digit just before it,
/// except the `m` ending an ANSI colour sequence.
fn starts_word(text: &str, at: usize) -> bool {
    let before = &text[..at];
    match before.bytes().last() {
        None => true,
        Some(b) if !b.is_ascii_alphanumeric() => true,
        Some(b'm') => before.rfind("\x1b[").is_some_and(|esc| {
            before[esc + 2..before.len() - 1]
                .bytes()
                .all(|b| b == b';' || b.is_ascii_digit())
        }),
        Some(_) => false,
    }
}

/// A value that is no secret: empty, a template, an environment variable
/// reference, or already masked by whatever printed it.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.bytes().all(|b| b == b'*') {
        return true;
    }
    if v.len() >= 3 && v.bytes().all(|b| matches!(b, b'x' | b'X' | b'.')) {
        return true;
    }
    if v.starts_with("${") || v.starts_with("{{") || (v.starts_with('<') && v.ends_with('>')) {
        return true;
    }
    if v.len() > 2 && v.starts_with('%') && v.ends_with('%') {
        return true;
    }
    if let Some(name) = v.strip_prefix('$') {
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return true;
        }
    }
    const WORDS: &[&str] = &[
        "null",
        "nil",
        "none",
        "undefined",
        "true",
        "false",
        "redacted",
        "[redacted]",
        "(redacted)",
        "hidden",
        "[hidden]",
        "[filtered]",
        "filtered",
        "masked",
        "[masked]",
        // MySQL's `(using password: NO)`
        "yes",
        "no",
    ];
    let word = v.trim_end_matches([')', ']']);
    WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// One short word of letters (`expired`, `Missing`): prose, not a token.
fn is_prose_word(value: &str) -> bool {
    let word = value.strip_suffix(['.', '!']).unwrap_or(value);
    let mut bytes = word.bytes();
    word.len() < 16
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_lowercase())
}

fn is_small_number(value: &str) -> bool {
    !value.is_empty() && value.len() <= 5 && value.bytes().all(|b| b.is_ascii_digit())
}

/// A private key: the block rule masks its body and keeps its markers.
fn holds_private_key(value: &str) -> bool {
    value.contains("-----BEGIN") && value.contains("PRIVATE KEY")
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

    /// The corpora write ESC as `\x1b` so that they stay readable text.
    fn unescape(line: &str) -> String {
        line.replace(r"\x1b", "\x1b")
    }

    const CORPUS_LITERAL: &str = "ldk_live_7Qm2Vx9Rt4Lp8Zs3Nw6Hc1Jb";

    fn corpus_redactor() -> Redactor {
        Redactor::new(true, &[]).with_literals([CORPUS_LITERAL.to_owned()])
    }

    fn corpus(text: &str) -> impl Iterator<Item = &str> {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    #[test]
    fn every_corpus_secret_is_masked_and_its_context_kept() {
        let redactor = corpus_redactor();
        let mut failures = Vec::new();
        let mut count = 0;
        for entry in corpus(include_str!("redact/corpus/secrets.txt")) {
            count += 1;
            let mut fields = entry.split('\t');
            let line = unescape(fields.next().unwrap_or_default());
            let secrets: Vec<String> = fields.map(unescape).collect();
            assert!(!secrets.is_empty(), "no secret marked: {entry}");
            let mut expected = line.clone();
            for secret in &secrets {
                assert!(
                    line.contains(secret.as_str()),
                    "marked secret not in line: {entry}"
                );
                expected = expected.replace(secret.as_str(), MASK);
            }
            let got = redactor.redact(&line);
            if got != expected {
                failures.push(format!("{line:?}\n   got {got:?}\n  want {expected:?}"));
            }
        }
        assert!(count >= 70, "{count} secret lines");
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn corpus_lookalikes_are_borrowed_and_unchanged() {
        let redactor = corpus_redactor();
        let mut failures = Vec::new();
        let mut count = 0;
        for entry in corpus(include_str!("redact/corpus/lookalikes.txt")) {
            count += 1;
            let line = unescape(entry);
            let mut state = RedactState::default();
            if !matches!(redactor.redact(&line), Cow::Borrowed(_))
                || !matches!(redactor.redact_line(&line, &mut state), Cow::Borrowed(_))
                || state.pem_body_lines.is_some()
            {
                failures.push(format!("{line:?} -> {:?}", redactor.redact(&line)));
            }
        }
        assert!(count >= 70, "{count} lookalike lines");
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn corpus_key_blocks_keep_markers_and_lose_bodies() {
        let redactor = corpus_redactor();
        let text = include_str!("redact/corpus/pem_blocks.txt");
        let mut blocks = 0;
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            blocks += 1;
            let mut state = RedactState::default();
            let mut inside = false;
            for line in block.lines() {
                let got = redactor.redact_line(line, &mut state);
                if line.contains("-----BEGIN") {
                    assert_eq!(got, line, "BEGIN line");
                    inside = true;
                } else if line.contains("-----END") {
                    assert_eq!(got, line, "END line");
                    inside = false;
                } else if inside && !line.trim().is_empty() {
                    assert_eq!(got, MASK, "body line {line:?}");
                } else {
                    assert_eq!(got, line, "line outside the block");
                }
            }
            assert!(state.pem_body_lines.is_none(), "block left open");
        }
        assert!(blocks >= 5, "{blocks} blocks");
    }

    #[test]
    fn a_key_block_without_end_stops_masking_after_the_cap() {
        let redactor = Redactor::new(true, &[]);
        let mut state = RedactState::default();
        let begin = "-----BEGIN RSA PRIVATE KEY-----";
        assert_eq!(redactor.redact_line(begin, &mut state), begin);
        for _ in 0..PEM_MAX_BODY_LINES {
            let got = redactor.redact_line(
                "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
                &mut state,
            );
            assert_eq!(got, MASK);
        }
        let after = "INFO server listening on 0.0.0.0:8080";
        assert!(matches!(
            redactor.redact_line(after, &mut state),
            Cow::Borrowed(_)
        ));
        assert!(state.pem_body_lines.is_none());
        assert_eq!(redactor.redact_line(after, &mut state), after);
    }

    #[test]
    fn a_key_block_ends_at_its_end_marker_and_restarts_at_a_new_begin() {
        let redactor = Redactor::new(true, &[]);
        let mut state = RedactState::default();
        let lines = [
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----",
                "-----BEGIN OPENSSH PRIVATE KEY-----",
            ),
            (
                "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
                MASK,
            ),
            ("", ""),
            (
                "-----BEGIN EC PRIVATE KEY-----",
                "-----BEGIN EC PRIVATE KEY-----",
            ),
            (
                "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oK4i4ys3cyfIoAoGCCqGSM49",
                MASK,
            ),
            (
                "-----END EC PRIVATE KEY-----",
                "-----END EC PRIVATE KEY-----",
            ),
            ("INFO key loaded", "INFO key loaded"),
        ];
        for (line, expected) in lines {
            assert_eq!(redactor.redact_line(line, &mut state), expected);
        }
        assert!(state.pem_body_lines.is_none());
        // A key inside one line does not open a block.
        let inline = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n", "client_email": "a@b.iam.gserviceaccount.com"}"#;
        let got = redactor.redact_line(inline, &mut state);
        assert!(!got.contains("MIIEvQ"), "{got}");
        assert!(state.pem_body_lines.is_none());
        // Without built-ins, nothing is tracked.
        let plain = Redactor::new(false, &[]);
        assert_eq!(
            plain.redact_line("-----BEGIN RSA PRIVATE KEY-----", &mut state),
            "-----BEGIN RSA PRIVATE KEY-----"
        );
        assert_eq!(plain.redact_line("MIIEow", &mut state), "MIIEow");
    }

    #[test]
    fn literal_secrets_are_masked_anywhere_exactly() {
        let token = "correct-horse-battery-staple";
        let redactor = Redactor::new(true, &[]).with_literals([
            token.to_owned(),
            "short".to_owned(),
            String::new(),
        ]);
        assert_eq!(
            redactor.redact(&format!("GET /ws?access={token}&x=1 from 10.0.0.2")),
            "GET /ws?access=***&x=1 from 10.0.0.2"
        );
        assert_eq!(redactor.redact(&format!("{token}{token}")), "******");
        // Case matters, and too-short literals are ignored.
        let shouted = token.to_uppercase();
        assert!(matches!(redactor.redact(&shouted), Cow::Borrowed(_)));
        assert!(matches!(redactor.redact("a short line"), Cow::Borrowed(_)));
        // Literals work without the built-ins, and past the first chunk of a
        // long line.
        let only = Redactor::new(false, &[]).with_literals([token.to_owned()]);
        assert!(!only.is_empty());
        let long = format!("{}{token}", "y".repeat(FOLD_CHUNK - 5));
        assert_eq!(
            only.redact(&long),
            format!("{}***", "y".repeat(FOLD_CHUNK - 5))
        );
        assert!(matches!(
            only.redact("token=abcdef123456"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn keywords_across_chunk_boundaries_are_found() {
        let redactor = Redactor::new(true, &[]);
        for pad in FOLD_CHUNK - 12..FOLD_CHUNK + 2 {
            let line = format!("{} password=hunter2 tail", "z".repeat(pad));
            assert_eq!(
                redactor.redact(&line),
                format!("{} password=*** tail", "z".repeat(pad))
            );
        }
    }

    #[test]
    fn masking_is_idempotent() {
        let redactor = corpus_redactor();
        for entry in corpus(include_str!("redact/corpus/secrets.txt")) {
            let line = unescape(entry.split('\t').next().unwrap_or_default());
            let once = redactor.redact(&line).into_owned();
            assert!(matches!(redactor.redact(&once), Cow::Borrowed(_)), "{once}");
        }
    }

    /// A line made of random pieces that trip the parsers: quotes,
    /// escapes, colour codes, multi-byte characters, keywords, separators.
    fn random_line(seed: &mut u64) -> String {
        const PIECES: &[&str] = &[
            "password",
            "pass",
            "pwd",
            "auth",
            "token",
            "secret",
            "api_key",
            "key",
            "=",
            ":",
            "=>",
            " ",
            "\t",
            "\"",
            "'",
            "\\",
            "\\\"",
            "\x1b[3m",
            "\x1b[0m",
            "m",
            "é",
            "€",
            "😀",
            "://",
            "@",
            "/",
            "?",
            "&",
            ";",
            ",",
            "some(",
            "--",
            "-",
            "<",
            ">",
            "</",
            "sshpass -p",
            "curl -u",
            "Cookie: ",
            "Bearer ",
            "Authorization: ",
            "-----BEGIN",
            " PRIVATE KEY-----",
            "-----END",
            "AKIA",
            "ghp_",
            "sk-",
            "eyJ",
            "abc",
            "12",
            "x",
        ];
        let mut line = String::new();
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        for _ in 0..next() % 40 {
            line.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        line
    }

    #[test]
    fn random_lines_never_panic() {
        let redactor = corpus_redactor();
        let mut state = RedactState::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..30_000 {
            let line = random_line(&mut seed);
            let once = redactor.redact(&line).into_owned();
            let _ = redactor.redact(&once);
            let _ = redactor.redact_line(&line, &mut state);
        }
    }

    #[test]
    fn the_fallback_search_finds_what_teddy_finds() {
        let keywords = builtin_keywords();
        let teddy = Prefilter::new(&keywords, true).expect("keywords");
        let automaton = Prefilter::new(&keywords, false).expect("keywords");
        assert!(matches!(automaton.search, Search::Automaton(_)));
        // Where keywords start: the automaton also reports `auth` where
        // Teddy reports `authoriz`, and past MAX_HITS which are kept depends
        // on the order of the reports; the rules to run must agree.
        let found = |p: &Prefilter, line: &str| {
            p.scan(line).map(|h| {
                let mut starts: Vec<usize> =
                    h.at[..h.len.min(MAX_HITS)].iter().map(|a| a.0).collect();
                starts.sort_unstable();
                starts.dedup();
                (h.rules, starts, h.len > MAX_HITS)
            })
        };
        let mut seed = 42;
        let lines = corpus(include_str!("redact/corpus/secrets.txt"))
            .chain(corpus(include_str!("redact/corpus/lookalikes.txt")))
            .map(unescape)
            .chain((0..5_000).map(|_| random_line(&mut seed)));
        for line in lines {
            match (found(&teddy, &line), found(&automaton, &line)) {
                (Some((a, _, true)), Some((b, _, _))) | (Some((a, _, _)), Some((b, _, true))) => {
                    assert_eq!(a, b, "{line:?}")
                }
                (a, b) => assert_eq!(a, b, "{line:?}"),
            }
        }
    }

    #[test]
    fn teddy_order_is_a_permutation() {
        for n in [1, 5, 8, 9, 31, 32, 33, 47, 60, 64] {
            let patterns: Vec<Vec<u8>> = (0..n).map(|i| format!("k{i:02}x").into_bytes()).collect();
            let mut order = teddy_order(&patterns);
            order.sort_unstable();
            assert_eq!(order, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn lines_with_many_keywords_lose_every_secret() {
        let redactor = Redactor::new(true, &[]);
        let line: String = (0..24).map(|i| format!("t{i}_token=s3cr3t{i} ")).collect();
        let expected: String = (0..24).map(|i| format!("t{i}_token=*** ")).collect();
        assert_eq!(redactor.redact(&line), expected.as_str());
    }

    #[test]
    fn multi_byte_text_around_secrets_survives() {
        let redactor = Redactor::new(true, &[]);
        assert_eq!(
            redactor.redact("пароль für €: password=hünter2€ ok 😀"),
            "пароль für €: password=*** ok 😀"
        );
        assert_eq!(
            redactor.redact("ключ token=\"ab€c\" ✓"),
            "ключ token=\"***\" ✓"
        );
        let plain = "naïve café — no secrets here, only keys 🔑 and tokens";
        assert!(matches!(redactor.redact(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn builtins_and_configured_patterns_work_together() {
        let patterns = [Regex::new(r"(?P<prefix>card=)\d{16}").expect("regex")];
        let redactor = Redactor::new(true, &patterns);
        assert_eq!(
            redactor.redact("card=4111111111111111 password=hunter2"),
            "card=*** password=***"
        );
        assert!(format!("{redactor:?}").contains("secret-assignment"));
    }

    #[test]
    fn lower_case_rules_are_written_in_lower_case() {
        for builtin in BUILT_IN {
            if let Find::Regex {
                pattern,
                lower: true,
                ..
            } = builtin.find
            {
                let pattern = pattern.replace("(?P<", "(?<");
                assert!(
                    !pattern.bytes().any(|b| b.is_ascii_uppercase()),
                    "{}",
                    builtin.name
                );
            }
        }
    }

    #[test]
    fn every_builtin_keyword_set_is_ascii_and_lowercase() {
        for builtin in BUILT_IN {
            for keyword in builtin.keywords {
                assert!(
                    keyword.is_ascii() && *keyword == keyword.to_ascii_lowercase(),
                    "{keyword}"
                );
                assert!(
                    keyword.len() >= 3,
                    "short keywords slow the prefilter: {keyword}"
                );
            }
        }
    }
}
