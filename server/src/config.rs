//! The TOML configuration: which processes to run and how.
//!
//! Loading is strict: an unknown key, a missing field, a value of the wrong
//! type, a dependency on an unknown process or a dependency cycle stops
//! start-up with an error naming the file, the line and the key (or the
//! environment variable that set it), so a typo never silently runs a
//! different setup.

mod duration;
pub mod env_override;
mod raw;
mod size;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use app::backoff::Backoff;
use nix::sys::signal::Signal;
use regex::Regex;
use serde::Deserialize;
use toml::de::DeTable;
use toml::Spanned;

use app::Level;
pub use duration::parse_duration;
pub use env_override::EnvOverride;
use raw::{RawConfig, RawDefaultLevel, RawMultiline, RawProcess, RawReady};
pub use size::parse_size;

/// The demo configuration shipped with Logdeck, used when no
/// `logdeck.toml` is given or found.
pub const DEMO_CONFIG: &str = include_str!("../../demo/logdeck.toml");

/// Label used in messages about the built-in demo configuration.
pub const DEMO_SOURCE: &str = "<built-in demo config>";

/// The `process_name` of Logdeck's own entries unless `name` says otherwise.
pub const DEFAULT_SERVER_NAME: &str = "logdeck";

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub source: String,
    /// The `process_name` of Logdeck's own entries.
    pub name: String,
    /// Where per-process log files are written, if anywhere.
    pub log_dir: Option<PathBuf>,
    /// A log file is rotated when it would grow past this many bytes.
    pub log_size: u64,
    /// How many rotated files are kept beside the current one.
    pub log_count: usize,
    /// Longest line published as one entry; longer lines are split.
    pub max_line_bytes: usize,
    /// How many recent entries are kept in memory (replay, history).
    pub memory_entries: usize,
    /// How many entries a `/ws/logs` client may fall behind before it
    /// loses the oldest (and is told so).
    pub client_queue: usize,
    pub auth: AuthConfig,
    pub redact: RedactConfig,
    pub limits: Limits,
    pub processes: Vec<ProcessConfig>,
}

/// Who may use the server.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The shared secret; `None` leaves the server open (only allowed on a
    /// loopback address, or with `allow_unauthenticated`).
    pub token: Option<String>,
    /// Listen on a public address without a token anyway.
    pub allow_unauthenticated: bool,
    /// Other origins (`https://host[:port]`) whose pages may open the
    /// WebSockets, besides the server's own.
    pub allowed_origins: Vec<String>,
    /// How long a browser session from the login form lasts.
    pub session_ttl: Duration,
}

/// Secrets masked before entries are kept or sent.
#[derive(Clone, Debug)]
pub struct RedactConfig {
    /// The built-in rules (tokens, passwords, URL credentials, key formats).
    pub builtin: bool,
    pub patterns: Vec<Regex>,
}

/// Bounds on what clients can make the server do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// WebSocket connections (logs and status together) at once.
    pub max_clients: usize,
    /// Largest request body accepted.
    pub max_body: usize,
}

/// One supervised process.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// The `process_name` of every entry this process produces.
    pub name: String,
    pub command: Command,
    /// Working directory; relative paths are resolved against the directory
    /// holding the configuration file.
    pub cwd: Option<PathBuf>,
    /// Variables added to the server's own environment (after `env_file`).
    pub env: BTreeMap<String, String>,
    /// A file of `KEY=value` lines, read each time the process starts.
    pub env_file: Option<PathBuf>,
    /// Start with the server.
    pub autostart: bool,
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    /// More automatic restarts than this within `restart_window` and the
    /// process is marked failed instead.
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub stop_signal: Signal,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,
    pub depends_on: Vec<Dependency>,
    pub ready: Option<ReadyProbe>,
    /// Ask common runtimes not to buffer output when it is not a terminal.
    pub unbuffered: bool,
    /// How this process's lines become entries.
    pub capture: CaptureRules,
}

/// Per-process rules for turning lines into entries.
#[derive(Clone, Debug)]
pub struct CaptureRules {
    /// A regex with a named group `level` (and optionally `message`) that
    /// overrides level detection for lines it matches.
    pub level_pattern: Option<Regex>,
    /// Level of stdout lines that announce none.
    pub stdout_level: Level,
    /// Level of stderr lines that announce none.
    pub stderr_level: Level,
    pub multiline: Option<Multiline>,
}

impl Default for CaptureRules {
    fn default() -> Self {
        Self {
            level_pattern: None,
            stdout_level: Level::Info,
            stderr_level: Level::Info,
            multiline: None,
        }
    }
}

/// Joins several lines into one entry (a stack trace, say).
#[derive(Clone, Debug)]
pub struct Multiline {
    pub rule: MultilineRule,
    /// An entry is complete when no line arrives for this long.
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub enum MultilineRule {
    /// A line matching this starts a new entry; others join the current.
    Start(Regex),
    /// A line matching this joins the current entry; others start one.
    Continuation(Regex),
}

/// What to execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Program and arguments, executed directly.
    Argv(Vec<String>),
    /// A command line run by `sh -c`.
    Shell(String),
}

impl Command {
    /// The program to execute and its arguments.
    pub fn program_and_args(&self) -> (&str, Vec<&str>) {
        match self {
            Command::Argv(argv) => match argv.split_first() {
                Some((program, args)) => (program, args.iter().map(String::as_str).collect()),
                // Rejected at load; an empty program fails to spawn cleanly.
                None => ("", Vec::new()),
            },
            Command::Shell(line) => ("sh", vec!["-c", line]),
        }
    }
}

/// When a process that ended on its own is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    /// Only after a non-zero exit or a crash.
    #[default]
    OnFailure,
    Always,
}

/// A process that must reach `condition` before this one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub process: String,
    pub condition: Condition,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// It has been spawned.
    #[default]
    Started,
    /// It is running and its readiness probe passed (or it has none).
    Ready,
    /// It ran to completion with exit code 0 (set-up jobs, migrations).
    ExitedOk,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::ExitedOk => "exited_ok",
        }
    }
}

/// How to tell that a running process is ready.
#[derive(Clone, Debug)]
pub struct ReadyProbe {
    pub check: ReadyCheck,
    /// Pause between attempts of an HTTP or TCP check.
    pub interval: Duration,
    /// How long one HTTP or TCP attempt may take.
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub enum ReadyCheck {
    /// A line of its output matches (ANSI colours ignored).
    LogLine(Regex),
    /// A GET answers with a 2xx status.
    Http(HttpTarget),
    /// A TCP connection to `host:port` succeeds.
    Tcp(String),
}

/// A parsed `http://` probe URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub url: String,
    /// `host:port` to connect to.
    pub address: String,
    /// The `Host` header.
    pub host: String,
    /// Path and query.
    pub path: String,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema.
    #[error("{source_name}:{line}:{column}: {}{message}", key_prefix(key))]
    Invalid {
        source_name: String,
        line: usize,
        column: usize,
        /// Dotted path of the offending key, such as `process[1].command`.
        key: Option<String>,
        message: String,
    },
    /// A `LOGDECK_*` environment variable holds an unusable value.
    #[error("environment variable {var}: {}{message}", key_prefix(key))]
    Env {
        var: String,
        key: Option<String>,
        message: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default()
}

impl Config {
    /// Reads and validates the configuration file at `path`, with
    /// `LOGDECK_*` environment variables applied on top.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let overrides = env_override::collect(std::env::vars());
        Self::parse_with_env(&text, &path.display().to_string(), base_dir, &overrides)
    }

    /// Each process's position in `processes`, by name.
    pub fn index_by_name(&self) -> HashMap<&str, usize> {
        self.processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect()
    }

    /// The built-in demo configuration, with `LOGDECK_*` variables applied.
    pub fn demo() -> Result<Config, ConfigError> {
        let overrides = env_override::collect(std::env::vars());
        Self::parse_with_env(DEMO_CONFIG, DEMO_SOURCE, Path::new("."), &overrides)
    }

    /// Parses and validates `text`; `source_name` labels error messages and
    /// relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, source_name: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Self::parse_with_env(text, source_name, base_dir, &[])
    }

    /// [`Config::parse`] with environment overrides applied on top.
    pub fn parse_with_env(
        text: &str,
        source_name: &str,
        base_dir: &Path,
        overrides: &[EnvOverride],
    ) -> Result<Config, ConfigError> {
        let locate = Locator {
            text,
            source_name,
            overrides,
        };
        let root = DeTable::parse(text)
            .map_err(|e| locate.error(e.span(), None, e.message().to_owned()))?;
        let root_span = root.span();
        let mut table = root.into_inner();
        for (index, over) in overrides.iter().enumerate() {
            env_override::apply(&mut table, over, locate.marker(index)).map_err(|message| {
                ConfigError::Env {
                    var: over.var.clone(),
                    key: None,
                    message,
                }
            })?;
        }
        let deserializer = toml::de::Deserializer::from(Spanned::new(root_span, table));
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // `Spanned` values add an internal segment to the path.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let key = (key != ".").then_some(key);
            let inner = e.into_inner();
            locate.error(inner.span(), key, inner.message().to_owned())
        })?;
        validate(raw, &locate, source_name, base_dir)
    }
}

/// Turns positions into errors: in the file (line and column) or in an
/// environment override (its variable).
struct Locator<'a> {
    text: &'a str,
    source_name: &'a str,
    overrides: &'a [EnvOverride],
}

impl Locator<'_> {
    /// The position given to everything override `index` inserts: past the
    /// end of the file, so it can never be mistaken for a place in it.
    fn marker(&self, index: usize) -> usize {
        self.text.len() + 1 + index
    }

    fn error(
        &self,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: String,
    ) -> ConfigError {
        let offset = span.map_or(0, |s| s.start);
        if offset > self.text.len() {
            if let Some(over) = self.overrides.get(offset - self.text.len() - 1) {
                return ConfigError::Env {
                    var: over.var.clone(),
                    key,
                    message,
                };
            }
        }
        let (line, column) = line_and_column(self.text, offset);
        ConfigError::Invalid {
            source_name: self.source_name.to_owned(),
            line,
            column,
            key,
            message,
        }
    }
}

const DEFAULT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(30),
    multiplier: 2.0,
};
const DEFAULT_MAX_RESTARTS: u32 = 5;
const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_LOG_SIZE: u64 = 10 * 1024 * 1024;
const DEFAULT_LOG_COUNT: usize = 5;
const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
const MIN_MAX_LINE_BYTES: u64 = 256;
const DEFAULT_MEMORY_ENTRIES: usize = 100_000;
const DEFAULT_CLIENT_QUEUE: usize = 16 * 1024;
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_MAX_CLIENTS: usize = 256;
const DEFAULT_MAX_BODY: u64 = 64 * 1024;
const DEFAULT_MULTILINE_TIMEOUT: Duration = Duration::from_millis(50);

fn validate(
    raw: RawConfig,
    locate: &Locator<'_>,
    source_name: &str,
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let name = match raw.name {
        Some(name) => {
            check_name(name.get_ref())
                .map_err(|m| locate.error(Some(name.span()), Some("name".into()), m))?;
            name.into_inner()
        }
        None => DEFAULT_SERVER_NAME.to_owned(),
    };

    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (index, process) in raw.processes.iter().enumerate() {
        let name = process.name.get_ref();
        check_name(name).map_err(|m| {
            locate.error(
                Some(process.name.span()),
                Some(format!("process[{index}].name")),
                m,
            )
        })?;
        if let Some(first) = index_of.insert(name, index) {
            return Err(locate.error(
                Some(process.name.span()),
                Some(format!("process[{index}].name")),
                format!("duplicate process name `{name}` (also process[{first}])"),
            ));
        }
    }
    check_dependencies(&raw.processes, &index_of, locate)?;

    let processes = raw
        .processes
        .into_iter()
        .enumerate()
        .map(|(index, process)| validate_process(index, process, locate, base_dir))
        .collect::<Result<Vec<_>, _>>()?;
    let log_size = match raw.log_size {
        Some(size) if size.get_ref().0 < 4096 => {
            return Err(locate.error(
                Some(size.span()),
                Some("log_size".into()),
                "must be at least 4096 bytes".into(),
            ));
        }
        Some(size) => size.get_ref().0,
        None => DEFAULT_LOG_SIZE,
    };
    let max_line_bytes = match raw.max_line_bytes {
        Some(size) if !(MIN_MAX_LINE_BYTES..=16 * 1024 * 1024).contains(&size.get_ref().0) => {
            return Err(locate.error(
                Some(size.span()),
                Some("max_line_bytes".into()),
                "must be between 256 bytes and 16 MiB".into(),
            ));
        }
        Some(size) => size.get_ref().0 as usize,
        None => DEFAULT_MAX_LINE_BYTES,
    };
    let memory_entries = match raw.memory_entries {
        Some(n) if *n.get_ref() == 0 => {
            return Err(locate.error(
                Some(n.span()),
                Some("memory_entries".into()),
                "must be at least 1".into(),
            ));
        }
        Some(n) => n.into_inner(),
        None => DEFAULT_MEMORY_ENTRIES,
    };
    let client_queue = match raw.client_queue {
        Some(n) if !(16..=1 << 20).contains(n.get_ref()) => {
            return Err(locate.error(
                Some(n.span()),
                Some("client_queue".into()),
                "must be between 16 and 1048576".into(),
            ));
        }
        Some(n) => n.into_inner(),
        None => DEFAULT_CLIENT_QUEUE,
    };
    let auth = validate_auth(raw.auth, locate)?;
    let redact = RedactConfig {
        builtin: raw.redact.builtin.unwrap_or(true),
        patterns: raw
            .redact
            .patterns
            .into_iter()
            .enumerate()
            .map(|(i, pattern)| {
                Regex::new(pattern.get_ref()).map_err(|e| {
                    locate.error(
                        Some(pattern.span()),
                        Some(format!("redact.patterns[{i}]")),
                        format!("invalid regex: {e}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let limits = Limits {
        max_clients: match raw.limits.max_clients {
            Some(n) if *n.get_ref() == 0 => {
                return Err(locate.error(
                    Some(n.span()),
                    Some("limits.max_clients".into()),
                    "must be at least 1".into(),
                ));
            }
            Some(n) => n.into_inner(),
            None => DEFAULT_MAX_CLIENTS,
        },
        max_body: match raw.limits.max_body {
            Some(size) if size.get_ref().0 < 1024 => {
                return Err(locate.error(
                    Some(size.span()),
                    Some("limits.max_body".into()),
                    "must be at least 1024 bytes".into(),
                ));
            }
            Some(size) => usize::try_from(size.get_ref().0).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_BODY as usize,
        },
    };
    Ok(Config {
        source: source_name.to_owned(),
        name,
        log_dir: raw.log_dir.map(|dir| base_dir.join(dir)),
        log_size,
        log_count: raw.log_count.unwrap_or(DEFAULT_LOG_COUNT),
        max_line_bytes,
        memory_entries,
        client_queue,
        auth,
        redact,
        limits,
        processes,
    })
}

fn validate_process(
    index: usize,
    raw: RawProcess,
    locate: &Locator<'_>,
    base_dir: &Path,
) -> Result<ProcessConfig, ConfigError> {
    let key = |field: &str| Some(format!("process[{index}].{field}"));
    match raw.command.get_ref() {
        Command::Argv(argv) if argv.first().is_none_or(|program| program.is_empty()) => {
            return Err(locate.error(
                Some(raw.command.span()),
                key("command"),
                "the command array must start with a program name".into(),
            ));
        }
        Command::Shell(line) if line.trim().is_empty() => {
            return Err(locate.error(
                Some(raw.command.span()),
                key("command"),
                "the command is empty".into(),
            ));
        }
        _ => {}
    }

    let env_file = match raw.env_file {
        Some(file) => {
            let path = base_dir.join(file.get_ref());
            if !path.is_file() {
                return Err(locate.error(
                    Some(file.span()),
                    key("env_file"),
                    format!("{} is not a readable file", path.display()),
                ));
            }
            Some(path)
        }
        None => None,
    };

    let backoff = match raw.backoff {
        Some(spanned) => {
            let span = spanned.span();
            let b = spanned.into_inner();
            let backoff = Backoff {
                initial: b.initial.map_or(DEFAULT_BACKOFF.initial, |d| d.0),
                max: b.max.map_or(DEFAULT_BACKOFF.max, |d| d.0),
                multiplier: b.multiplier.unwrap_or(DEFAULT_BACKOFF.multiplier),
            };
            if backoff.max < backoff.initial {
                return Err(locate.error(
                    Some(span),
                    key("backoff"),
                    "`max` is shorter than `initial`".into(),
                ));
            }
            if !(backoff.multiplier >= 1.0 && backoff.multiplier.is_finite()) {
                return Err(locate.error(
                    Some(span),
                    key("backoff"),
                    "`multiplier` must be at least 1".into(),
                ));
            }
            backoff
        }
        None => DEFAULT_BACKOFF,
    };

    let stop_signal = match raw.stop_signal {
        Some(name) => parse_signal(name.get_ref())
            .map_err(|m| locate.error(Some(name.span()), key("stop_signal"), m))?,
        None => Signal::SIGTERM,
    };

    let ready = match raw.ready {
        Some(ready) => Some(validate_ready(ready, locate, &key("ready"))?),
        None => None,
    };
    let capture = validate_capture(
        raw.level_pattern,
        raw.default_level,
        raw.multiline,
        locate,
        &key,
    )?;

    Ok(ProcessConfig {
        name: raw.name.into_inner(),
        command: raw.command.into_inner(),
        cwd: raw.cwd.map(|cwd| base_dir.join(cwd)),
        env: raw.env,
        env_file,
        autostart: raw.autostart,
        restart: raw.restart,
        backoff,
        max_restarts: raw.max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
        restart_window: raw.restart_window.map_or(DEFAULT_RESTART_WINDOW, |d| d.0),
        stop_signal,
        stop_timeout: raw.stop_timeout.map_or(DEFAULT_STOP_TIMEOUT, |d| d.0),
        depends_on: raw
            .depends_on
            .into_iter()
            .map(|d| {
                let d = d.into_inner();
                Dependency {
                    process: d.process,
                    condition: d.condition,
                }
            })
            .collect(),
        ready,
        unbuffered: raw.unbuffered,
        capture,
    })
}

fn validate_auth(raw: raw::RawAuth, locate: &Locator<'_>) -> Result<AuthConfig, ConfigError> {
    let token = match raw.token {
        Some(token) if token.get_ref().trim().is_empty() => {
            return Err(locate.error(
                Some(token.span()),
                Some("auth.token".into()),
                "the token is empty".into(),
            ));
        }
        Some(token) if token.get_ref().len() < 12 => {
            return Err(locate.error(
                Some(token.span()),
                Some("auth.token".into()),
                "the token is shorter than 12 characters; use a long random string".into(),
            ));
        }
        Some(token) => Some(token.into_inner()),
        None => None,
    };
    let mut allowed_origins = Vec::new();
    for (i, origin) in raw.allowed_origins.into_iter().enumerate() {
        let value = origin.get_ref().trim_end_matches('/').to_ascii_lowercase();
        let valid = (value.starts_with("http://") || value.starts_with("https://"))
            && !value
                .split_once("://")
                .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'));
        if !valid {
            return Err(locate.error(
                Some(origin.span()),
                Some(format!("auth.allowed_origins[{i}]")),
                format!(
                    "`{}` is not an origin such as https://logs.example.com",
                    origin.get_ref()
                ),
            ));
        }
        allowed_origins.push(value);
    }
    Ok(AuthConfig {
        token,
        allow_unauthenticated: raw.allow_unauthenticated,
        allowed_origins,
        session_ttl: raw.session_ttl.map_or(DEFAULT_SESSION_TTL, |d| d.0),
    })
}

fn validate_capture(
    level_pattern: Option<Spanned<String>>,
    default_level: Option<Spanned<RawDefaultLevel>>,
    multiline: Option<Spanned<RawMultiline>>,
    locate: &Locator<'_>,
    key: &dyn Fn(&str) -> Option<String>,
) -> Result<CaptureRules, ConfigError> {
    let mut rules = CaptureRules::default();
    if let Some(pattern) = level_pattern {
        let regex = Regex::new(pattern.get_ref()).map_err(|e| {
            locate.error(
                Some(pattern.span()),
                key("level_pattern"),
                format!("invalid regex: {e}"),
            )
        })?;
        if !regex.capture_names().flatten().any(|name| name == "level") {
            return Err(locate.error(
                Some(pattern.span()),
                key("level_pattern"),
                "the regex needs a named group `level`, such as (?P<level>\\w+)".into(),
            ));
        }
        rules.level_pattern = Some(regex);
    }
    if let Some(levels) = default_level {
        let span = levels.span();
        let levels = levels.into_inner();
        let parse = |name: Option<String>, fallback: Level| -> Result<Level, ConfigError> {
            match name {
                Some(name) => Level::from_name(&name).ok_or_else(|| {
                    locate.error(
                        Some(span.clone()),
                        key("default_level"),
                        format!("unknown level `{name}` (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)"),
                    )
                }),
                None => Ok(fallback),
            }
        };
        rules.stdout_level = parse(levels.stdout, Level::Info)?;
        rules.stderr_level = parse(levels.stderr, Level::Info)?;
    }
    if let Some(multiline) = multiline {
        let span = multiline.span();
        let multiline = multiline.into_inner();
        let compile = |pattern: Spanned<String>, field: &str| {
            Regex::new(pattern.get_ref()).map_err(|e| {
                locate.error(
                    Some(pattern.span()),
                    key(&format!("multiline.{field}")),
                    format!("invalid regex: {e}"),
                )
            })
        };
        let rule = match (multiline.start, multiline.continuation) {
            (Some(start), None) => MultilineRule::Start(compile(start, "start")?),
            (None, Some(continuation)) => {
                MultilineRule::Continuation(compile(continuation, "continuation")?)
            }
            _ => {
                return Err(locate.error(
                    Some(span),
                    key("multiline"),
                    "set exactly one of `start` or `continuation`".into(),
                ));
            }
        };
        rules.multiline = Some(Multiline {
            rule,
            timeout: multiline.timeout.map_or(DEFAULT_MULTILINE_TIMEOUT, |d| d.0),
        });
    }
    Ok(rules)
}

fn validate_ready(
    ready: Spanned<RawReady>,
    locate: &Locator<'_>,
    key: &Option<String>,
) -> Result<ReadyProbe, ConfigError> {
    let span = ready.span();
    let ready = ready.into_inner();
    let sub_key = |field: &str| key.as_ref().map(|k| format!("{k}.{field}"));
    let check = match (ready.log_line, ready.http, ready.tcp) {
        (Some(pattern), None, None) => {
            ReadyCheck::LogLine(Regex::new(pattern.get_ref()).map_err(|e| {
                locate.error(
                    Some(pattern.span()),
                    sub_key("log_line"),
                    format!("invalid regex: {e}"),
                )
            })?)
        }
        (None, Some(url), None) => ReadyCheck::Http(
            parse_http_url(url.get_ref())
                .map_err(|m| locate.error(Some(url.span()), sub_key("http"), m))?,
        ),
        (None, None, Some(address)) => {
            let valid = address
                .get_ref()
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return Err(locate.error(
                    Some(address.span()),
                    sub_key("tcp"),
                    format!("`{}` is not host:port", address.get_ref()),
                ));
            }
            ReadyCheck::Tcp(address.into_inner())
        }
        _ => {
            return Err(locate.error(
                Some(span),
                key.clone(),
                "set exactly one of `log_line`, `http` or `tcp`".into(),
            ));
        }
    };
    Ok(ReadyProbe {
        check,
        interval: ready.interval.map_or(DEFAULT_PROBE_INTERVAL, |d| d.0),
        timeout: ready.timeout.map_or(DEFAULT_PROBE_TIMEOUT, |d| d.0),
    })
}

/// Every dependency names another configured process, and there are no
/// cycles (which could never start).
fn check_dependencies(
    processes: &[RawProcess],
    index_of: &HashMap<&str, usize>,
    locate: &Locator<'_>,
) -> Result<(), ConfigError> {
    for (index, process) in processes.iter().enumerate() {
        for (d, dependency) in process.depends_on.iter().enumerate() {
            let target = dependency.get_ref().process.as_str();
            let key = Some(format!("process[{index}].depends_on[{d}]"));
            if target == process.name.get_ref() {
                return Err(locate.error(
                    Some(dependency.span()),
                    key,
                    format!("`{target}` depends on itself"),
                ));
            }
            if !index_of.contains_key(target) {
                return Err(locate.error(
                    Some(dependency.span()),
                    key,
                    format!("no process named `{target}`"),
                ));
            }
        }
    }
    // Depth-first search; a dependency on a process still on the stack
    // closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        node: usize,
        processes: &[RawProcess],
        index_of: &HashMap<&str, usize>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<(usize, usize)> {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for (d, dependency) in processes[node].depends_on.iter().enumerate() {
            let next = index_of[dependency.get_ref().process.as_str()];
            match marks[next] {
                Mark::OnStack => return Some((node, d)),
                Mark::New => {
                    if let Some(found) = visit(next, processes, index_of, marks, stack) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; processes.len()];
    for start in 0..processes.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack = Vec::new();
        if let Some((node, d)) = visit(start, processes, index_of, &mut marks, &mut stack) {
            let dependency = &processes[node].depends_on[d];
            let target = index_of[dependency.get_ref().process.as_str()];
            let from = stack.iter().position(|&n| n == target).unwrap_or(0);
            let mut cycle: Vec<&str> = stack[from..]
                .iter()
                .map(|&n| processes[n].name.get_ref().as_str())
                .collect();
            cycle.push(processes[target].name.get_ref());
            return Err(locate.error(
                Some(dependency.span()),
                Some(format!("process[{node}].depends_on[{d}]")),
                format!("dependency cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}

/// `TERM`, `SIGTERM` or `sigterm`.
fn parse_signal(name: &str) -> Result<Signal, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| format!("unknown signal `{name}`"))
}

/// `http://host[:port][/path]`; https is not supported for probes.
fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("`{url}` must start with http:// (use a tcp probe for TLS services)")
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("`{url}` has no usable host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[..i].ends_with(']') || authority.starts_with('['),
        None => false,
    } && !authority.ends_with(']');
    let address = if has_port {
        let (_, port) = authority.rsplit_once(':').unwrap_or_default();
        port.parse::<u16>()
            .map_err(|_| format!("`{url}` has an invalid port"))?;
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(HttpTarget {
        url: url.to_owned(),
        address,
        host: authority.to_owned(),
        path,
    })
}

/// Names end up in URLs, file names and filters, so keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 64 {
        return Err(format!("the name `{name}` is longer than 64 bytes"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the name `{name}` contains `{bad}`; use letters, digits, `_`, `-` and `.`"
        ));
    }
    Ok(())
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.toml", Path::new("/etc/logdeck"))
    }

    fn error(text: &str) -> String {
        parse(text)
            .expect_err("config should be rejected")
            .to_string()
    }

    #[test]
    fn the_demo_config_is_valid() {
        let demo = Config::parse(DEMO_CONFIG, DEMO_SOURCE, Path::new(".")).expect("valid demo");
        assert!(demo.processes.len() >= 3, "{demo:?}");
    }

    #[test]
    fn parses_argv_and_shell_commands() {
        let config = parse(
            r#"
            [[process]]
            name = "riven_backend"
            command = ["python3", "-u", "app.py"]
            cwd = "/opt/riven"
            env = { RUST_LOG = "info" }

            [[process]]
            name = "ticker"
            command = "while true; do date; sleep 1; done"
            "#,
        )
        .expect("valid config");
        assert_eq!(config.processes.len(), 2);
        let backend = &config.processes[0];
        assert_eq!(backend.name, "riven_backend");
        assert_eq!(
            backend.command,
            Command::Argv(vec!["python3".into(), "-u".into(), "app.py".into()])
        );
        assert_eq!(backend.cwd.as_deref(), Some(Path::new("/opt/riven")));
        assert_eq!(
            backend.env.get("RUST_LOG").map(String::as_str),
            Some("info")
        );
        assert_eq!(
            config.processes[1].command.program_and_args(),
            ("sh", vec!["-c", "while true; do date; sleep 1; done"])
        );
    }

    #[test]
    fn relative_cwd_is_resolved_against_the_config_directory() {
        let config = parse("[[process]]\nname = \"a\"\ncommand = \"true\"\ncwd = \"app\"\n")
            .expect("valid config");
        assert_eq!(
            config.processes[0].cwd.as_deref(),
            Some(Path::new("/etc/logdeck/app"))
        );
    }

    #[test]
    fn an_empty_file_has_no_processes() {
        assert!(parse("").expect("valid config").processes.is_empty());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let message = error("[[process]]\nname = \"a\"\ncomand = \"true\"\n");
        assert!(
            message.starts_with("test.toml:3:1: process[0].comand: "),
            "{message}"
        );
        assert!(message.contains("unknown field `comand`"), "{message}");
    }

    #[test]
    fn defaults_follow_the_documentation() {
        let config = parse("[[process]]\nname = \"a\"\ncommand = \"x\"\n").expect("valid");
        assert_eq!(config.auth.token, None);
        assert!(!config.auth.allow_unauthenticated && config.auth.allowed_origins.is_empty());
        assert!(config.redact.builtin && config.redact.patterns.is_empty());
        assert_eq!(
            (config.limits.max_clients, config.limits.max_body),
            (256, 64 * 1024)
        );
        assert_eq!(config.name, "logdeck");
        assert_eq!(config.log_dir, None);
        assert_eq!(config.log_size, 10 * 1024 * 1024);
        assert_eq!(config.log_count, 5);
        assert_eq!(config.max_line_bytes, 64 * 1024);
        assert_eq!(config.memory_entries, 100_000);
        assert_eq!(config.client_queue, 16 * 1024);
        let p = &config.processes[0];
        assert!(p.autostart);
        assert!(p.unbuffered);
        assert_eq!(p.restart, RestartPolicy::OnFailure);
        assert_eq!(p.stop_signal, Signal::SIGTERM);
        assert_eq!(p.stop_timeout, Duration::from_secs(10));
        assert_eq!(p.backoff, DEFAULT_BACKOFF);
        assert_eq!(p.max_restarts, 5);
        assert_eq!(p.restart_window, Duration::from_secs(60));
        assert!(p.depends_on.is_empty());
        assert!(p.ready.is_none());
        assert!(p.capture.level_pattern.is_none() && p.capture.multiline.is_none());
        assert_eq!(
            (p.capture.stdout_level, p.capture.stderr_level),
            (Level::Info, Level::Info)
        );
    }

    #[test]
    fn parses_log_and_capture_settings() {
        let config = parse(
            r#"
            log_size = "1MiB"
            log_count = 2
            max_line_bytes = "4KiB"
            memory_entries = 500

            [[process]]
            name = "a"
            command = "x"
            level_pattern = '^\[(?P<level>\w+)\] (?P<message>.*)$'
            default_level = { stderr = "ERROR" }
            multiline = { start = '^\d{4}-', timeout = "100ms" }

            [[process]]
            name = "b"
            command = "x"
            default_level = "WARNING"
            multiline = { continuation = '^\s' }
            "#,
        )
        .expect("valid");
        assert_eq!((config.log_size, config.log_count), (1024 * 1024, 2));
        assert_eq!((config.max_line_bytes, config.memory_entries), (4096, 500));
        let a = &config.processes[0].capture;
        assert!(a.level_pattern.is_some());
        assert_eq!(
            (a.stdout_level, a.stderr_level),
            (Level::Info, Level::Error)
        );
        let multiline = a.multiline.as_ref().expect("multiline");
        assert!(matches!(&multiline.rule, MultilineRule::Start(r) if r.is_match("2024-01-01 x")));
        assert_eq!(multiline.timeout, Duration::from_millis(100));
        let b = &config.processes[1].capture;
        assert_eq!(
            (b.stdout_level, b.stderr_level),
            (Level::Warning, Level::Warning)
        );
        assert!(matches!(
            &b.multiline.as_ref().expect("multiline").rule,
            MultilineRule::Continuation(_)
        ));
        assert_eq!(
            b.multiline.as_ref().expect("multiline").timeout,
            Duration::from_millis(50)
        );
    }

    #[test]
    fn parses_auth_redaction_and_limits() {
        let config = parse(
            r#"
            [auth]
            token = "correct-horse-battery-staple"
            allowed_origins = ["https://Logs.Example.com/"]
            session_ttl = "12h"
            [redact]
            builtin = false
            patterns = ['card \d{16}']
            [limits]
            max_clients = 10
            max_body = "8KiB"
            "#,
        )
        .expect("valid");
        assert_eq!(
            config.auth.token.as_deref(),
            Some("correct-horse-battery-staple")
        );
        assert_eq!(
            config.auth.allowed_origins,
            vec!["https://logs.example.com".to_owned()]
        );
        assert_eq!(config.auth.session_ttl, Duration::from_secs(12 * 3600));
        assert!(!config.redact.builtin && config.redact.patterns.len() == 1);
        assert_eq!(
            (config.limits.max_clients, config.limits.max_body),
            (10, 8192)
        );
        let from_env = with_env("", &[("LOGDECK_TOKEN", "from-the-environment")]).expect("valid");
        assert_eq!(from_env.auth.token.as_deref(), Some("from-the-environment"));
    }

    #[test]
    fn invalid_security_settings_name_their_key() {
        for (text, key, message) in [
            (
                "[auth]\ntoken = \"short\"\n",
                "auth.token",
                "shorter than 12",
            ),
            ("[auth]\ntoken = \"  \"\n", "auth.token", "empty"),
            (
                "[auth]\nallowed_origins = [\"logs.example.com\"]\n",
                "auth.allowed_origins[0]",
                "not an origin",
            ),
            (
                "[auth]\nallowed_origins = [\"https://x.com/path\"]\n",
                "auth.allowed_origins[0]",
                "not an origin",
            ),
            (
                "[redact]\npatterns = [\"(\"]\n",
                "redact.patterns[0]",
                "invalid regex",
            ),
            (
                "[limits]\nmax_clients = 0\n",
                "limits.max_clients",
                "at least 1",
            ),
            (
                "[limits]\nmax_body = 10\n",
                "limits.max_body",
                "at least 1024",
            ),
            ("[auth]\ntokn = \"x\"\n", "auth.tokn", "unknown field"),
        ] {
            let message_text = error(text);
            assert!(
                message_text.contains(&format!("{key}: ")),
                "{text}: {message_text}"
            );
            assert!(message_text.contains(message), "{text}: {message_text}");
        }
    }

    #[test]
    fn invalid_capture_and_log_settings_name_their_key() {
        for (top, extra, key, text) in [
            (
                "",
                "level_pattern = '(?P<lvl>x)'",
                "process[0].level_pattern",
                "named group `level`",
            ),
            (
                "",
                "level_pattern = '('",
                "process[0].level_pattern",
                "invalid regex",
            ),
            (
                "",
                "default_level = \"LOUD\"",
                "process[0].default_level",
                "unknown level `LOUD`",
            ),
            (
                "",
                "default_level = { stdin = \"INFO\" }",
                "process[0].default_level.stdin",
                "unknown field `stdin`",
            ),
            (
                "",
                "multiline = { timeout = 1 }",
                "process[0].multiline",
                "exactly one",
            ),
            (
                "",
                "multiline = { start = '(' }",
                "process[0].multiline.start",
                "invalid regex",
            ),
            ("log_size = 10\n", "", "log_size", "at least 4096"),
            (
                "max_line_bytes = \"1GiB\"\n",
                "",
                "max_line_bytes",
                "between 256 bytes",
            ),
            ("memory_entries = 0\n", "", "memory_entries", "at least 1"),
        ] {
            let message = error(&format!(
                "{top}[[process]]\nname = \"a\"\ncommand = \"x\"\n{extra}\n"
            ));
            assert!(
                message.contains(&format!("{key}: ")),
                "{extra}{top}: {message}"
            );
            assert!(message.contains(text), "{extra}{top}: {message}");
        }
    }

    #[test]
    fn parses_every_process_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("app.env"), "A=1\n").expect("env file");
        let text = r#"
            name = "deck"
            log_dir = "logs"

            [[process]]
            name = "db"
            command = "x"
            ready = { tcp = "127.0.0.1:5432", interval = "250ms", timeout = 2 }

            [[process]]
            name = "api"
            command = ["api", "--port", "8080"]
            env_file = "app.env"
            autostart = false
            restart = "always"
            backoff = { initial = "500ms", max = "1m", multiplier = 3 }
            max_restarts = 0
            restart_window = "5m"
            stop_signal = "INT"
            stop_timeout = "30s"
            unbuffered = false
            depends_on = ["db", { process = "db", condition = "ready" }]
            ready = { http = "http://127.0.0.1:8080/health" }

            [[process]]
            name = "migrate"
            command = "x"
            restart = "no"
            ready = { log_line = "^done in \\d+ms$" }

            [[process]]
            name = "web"
            command = "x"
            depends_on = [{ process = "migrate", condition = "exited_ok" }]
        "#;
        let config = Config::parse(text, "t.toml", dir.path()).expect("valid");
        assert_eq!(config.name, "deck");
        assert_eq!(config.log_dir, Some(dir.path().join("logs")));
        let api = &config.processes[1];
        assert_eq!(api.env_file, Some(dir.path().join("app.env")));
        assert!(!api.autostart && !api.unbuffered);
        assert_eq!(api.restart, RestartPolicy::Always);
        assert_eq!(
            api.backoff,
            Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(60),
                multiplier: 3.0
            }
        );
        assert_eq!(api.max_restarts, 0);
        assert_eq!(api.restart_window, Duration::from_secs(300));
        assert_eq!(api.stop_signal, Signal::SIGINT);
        assert_eq!(api.stop_timeout, Duration::from_secs(30));
        assert_eq!(
            api.depends_on,
            vec![
                Dependency {
                    process: "db".into(),
                    condition: Condition::Started
                },
                Dependency {
                    process: "db".into(),
                    condition: Condition::Ready
                },
            ]
        );
        match &api.ready.as_ref().expect("probe").check {
            ReadyCheck::Http(target) => {
                assert_eq!(target.address, "127.0.0.1:8080");
                assert_eq!(target.path, "/health");
            }
            other => panic!("{other:?}"),
        }
        let db_probe = config.processes[0].ready.as_ref().expect("probe");
        assert!(matches!(&db_probe.check, ReadyCheck::Tcp(a) if a == "127.0.0.1:5432"));
        assert_eq!(db_probe.interval, Duration::from_millis(250));
        assert_eq!(db_probe.timeout, Duration::from_secs(2));
        match &config.processes[2].ready.as_ref().expect("probe").check {
            ReadyCheck::LogLine(regex) => assert!(regex.is_match("done in 42ms")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            config.processes[3].depends_on[0].condition,
            Condition::ExitedOk
        );
    }

    #[test]
    fn dependency_errors_name_the_entry() {
        let message =
            error("[[process]]\nname = \"a\"\ncommand = \"x\"\ndepends_on = [\"nope\"]\n");
        assert!(
            message.starts_with("test.toml:4:15: process[0].depends_on[0]: "),
            "{message}"
        );
        assert!(message.contains("no process named `nope`"), "{message}");

        let message = error("[[process]]\nname = \"a\"\ncommand = \"x\"\ndepends_on = [\"a\"]\n");
        assert!(message.contains("`a` depends on itself"), "{message}");

        let message = error("[[process]]\nname = \"a\"\ncommand = \"x\"\ndepends_on = [{ process = \"b\", condition = \"soon\" }]\n[[process]]\nname = \"b\"\ncommand = \"x\"\n");
        assert!(message.contains("unknown variant `soon`"), "{message}");
    }

    #[test]
    fn dependency_cycles_are_reported_with_their_path() {
        let message = error(
            r#"[[process]]
name = "a"
command = "x"
depends_on = ["c"]
[[process]]
name = "b"
command = "x"
depends_on = ["a"]
[[process]]
name = "c"
command = "x"
depends_on = ["b"]
"#,
        );
        assert!(
            message.contains("dependency cycle: a → c → b → a"),
            "{message}"
        );
        // The edge that closes the cycle: b depends on a.
        assert!(
            message.starts_with("test.toml:8:15: process[1].depends_on[0]: "),
            "{message}"
        );
    }

    #[test]
    fn invalid_values_name_their_key() {
        for (extra, key, text) in [
            (
                "stop_signal = \"TERMINATE\"",
                "process[0].stop_signal",
                "unknown signal",
            ),
            (
                "stop_timeout = \"soon\"",
                "process[0].stop_timeout",
                "invalid duration",
            ),
            (
                "restart = \"sometimes\"",
                "process[0].restart",
                "unknown variant `sometimes`",
            ),
            (
                "ready = { log_line = \"(\" }",
                "process[0].ready.log_line",
                "invalid regex",
            ),
            (
                "ready = { http = \"https://x\" }",
                "process[0].ready.http",
                "must start with http://",
            ),
            (
                "ready = { tcp = \"localhost\" }",
                "process[0].ready.tcp",
                "not host:port",
            ),
            (
                "ready = { tcp = \"a:1\", http = \"http://a\" }",
                "process[0].ready",
                "exactly one",
            ),
            ("ready = { }", "process[0].ready", "exactly one"),
            (
                "backoff = { initial = \"10s\", max = \"1s\" }",
                "process[0].backoff",
                "shorter than",
            ),
            (
                "backoff = { multiplier = 0.5 }",
                "process[0].backoff",
                "at least 1",
            ),
            (
                "env_file = \"missing.env\"",
                "process[0].env_file",
                "not a readable file",
            ),
        ] {
            let message = error(&format!(
                "[[process]]\nname = \"a\"\ncommand = \"x\"\n{extra}\n"
            ));
            assert!(message.starts_with("test.toml:4:"), "{extra}: {message}");
            assert!(message.contains(&format!("{key}: ")), "{extra}: {message}");
            assert!(message.contains(text), "{extra}: {message}");
        }
    }

    #[test]
    fn http_urls_are_split_into_address_host_and_path() {
        let t = parse_http_url("http://localhost:8080/health?full=1").expect("valid");
        assert_eq!(
            (t.address.as_str(), t.host.as_str(), t.path.as_str()),
            ("localhost:8080", "localhost:8080", "/health?full=1")
        );
        let t = parse_http_url("http://example").expect("valid");
        assert_eq!((t.address.as_str(), t.path.as_str()), ("example:80", "/"));
        let t = parse_http_url("http://[::1]:9000").expect("valid");
        assert_eq!(t.address, "[::1]:9000");
        let t = parse_http_url("http://[::1]/x").expect("valid");
        assert_eq!(t.address, "[::1]:80");
        assert!(parse_http_url("http://host:99999/").is_err());
        assert!(parse_http_url("http://user@host/").is_err());
    }

    fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let overrides =
            env_override::collect(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Config::parse_with_env(text, "test.toml", Path::new("/etc/logdeck"), &overrides)
    }

    const TWO: &str = "[[process]]\nname = \"web\"\ncommand = \"x\"\n[[process]]\nname = \"db\"\ncommand = \"y\"\n";

    #[test]
    fn environment_variables_override_keys() {
        let config = with_env(
            TWO,
            &[
                ("LOGDECK_NAME", "box1"),
                ("LOGDECK_LOG_DIR", "/var/log/deck"),
                ("LOGDECK_PROCESS__WEB__RESTART", "always"),
                ("LOGDECK_PROCESS__web__AUTOSTART", "false"),
                ("LOGDECK_PROCESS__DB__STOP_TIMEOUT", "30s"),
                ("LOGDECK_PROCESS__DB__COMMAND", "true"),
                ("LOGDECK_PROCESS__DB__BACKOFF__MAX", "2m"),
                ("LOGDECK_PROCESS__web__DEPENDS_ON", "[\"db\"]"),
                ("LOGDECK_PROCESS__web__ENV__MODE", "prod"),
                // Read by the command line, not configuration keys.
                ("LOGDECK_CONFIG", "/x.toml"),
                ("LOGDECK_ADDR", "0.0.0.0:1"),
                ("OTHER", "ignored"),
            ],
        )
        .expect("valid");
        assert_eq!(config.name, "box1");
        assert_eq!(config.log_dir.as_deref(), Some(Path::new("/var/log/deck")));
        let (web, db) = (&config.processes[0], &config.processes[1]);
        assert_eq!(web.restart, RestartPolicy::Always);
        assert!(!web.autostart);
        assert_eq!(web.depends_on[0].process, "db");
        assert_eq!(web.env.get("MODE").map(String::as_str), Some("prod"));
        assert_eq!(db.stop_timeout, Duration::from_secs(30));
        // A text key keeps `true` as text: the command `true`.
        assert_eq!(db.command, Command::Shell("true".into()));
        assert_eq!(db.backoff.max, Duration::from_secs(120));
        assert_eq!(db.backoff.initial, DEFAULT_BACKOFF.initial);
    }

    #[test]
    fn environment_variables_can_add_a_process() {
        let config =
            with_env(TWO, &[("LOGDECK_PROCESS__extra__COMMAND", "sleep 1")]).expect("valid");
        assert_eq!(config.processes.len(), 3);
        assert_eq!(config.processes[2].name, "extra");
        assert_eq!(
            config.processes[2].command,
            Command::Shell("sleep 1".into())
        );
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let message = with_env(TWO, &[("LOGDECK_PROCESS__WEB__RESTART", "sometimes")])
            .expect_err("rejected")
            .to_string();
        assert!(
            message.starts_with(
                "environment variable LOGDECK_PROCESS__WEB__RESTART: process[0].restart: "
            ),
            "{message}"
        );
        assert!(message.contains("unknown variant `sometimes`"), "{message}");

        let message = with_env(TWO, &[("LOGDECK_PROCESS__web__STOP_SIGNAL", "LOUD")])
            .expect_err("rejected")
            .to_string();
        assert!(
            message.starts_with("environment variable LOGDECK_PROCESS__web__STOP_SIGNAL: "),
            "{message}"
        );

        let message = with_env(TWO, &[("LOGDECK_PROCESS__new__AUTOSTART", "true")])
            .expect_err("rejected")
            .to_string();
        assert!(
            message.contains("LOGDECK_PROCESS__new__AUTOSTART"),
            "{message}"
        );
        assert!(message.contains("missing field `command`"), "{message}");

        let message = with_env(TWO, &[("LOGDECK_COLOUR", "blue")])
            .expect_err("rejected")
            .to_string();
        assert!(
            message.contains("LOGDECK_COLOUR") && message.contains("unknown field `colour`"),
            "{message}"
        );

        for var in [
            "LOGDECK_PROCESS__web",
            "LOGDECK_PROCESS__web__NAME",
            "LOGDECK_A____B",
        ] {
            let message = with_env(TWO, &[(var, "x")])
                .expect_err("rejected")
                .to_string();
            assert!(
                message.starts_with(&format!("environment variable {var}: ")),
                "{message}"
            );
        }
    }

    #[test]
    fn the_file_is_still_blamed_for_its_own_errors_when_overrides_exist() {
        let message = with_env(
            "[[process]]\nname = \"web\"\ncommand = \"x\"\nrestart = \"never\"\n",
            &[("LOGDECK_NAME", "box")],
        )
        .expect_err("rejected")
        .to_string();
        assert!(message.starts_with("test.toml:4:"), "{message}");
    }

    #[test]
    fn unknown_top_level_table_is_rejected() {
        let message = error("[[proces]]\nname = \"a\"\n");
        assert!(message.starts_with("test.toml:1:"), "{message}");
        assert!(message.contains("unknown field `proces`"), "{message}");
    }

    #[test]
    fn missing_field_names_the_field() {
        let message =
            error("[[process]]\nname = \"a\"\n\n[[process]]\nname = \"b\"\ncommand = \"true\"\n");
        assert!(message.starts_with("test.toml:1:"), "{message}");
        assert!(message.contains("process[0]"), "{message}");
        assert!(message.contains("missing field `command`"), "{message}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let message = error("[[process]]\nname = \"a\"\ncommand = 5\n");
        assert!(
            message.starts_with("test.toml:3:11: process[0].command: "),
            "{message}"
        );
        assert!(message.contains("expected a command"), "{message}");

        let message = error("[[process]]\nname = \"a\"\ncommand = \"x\"\nenv = { A = 1 }\n");
        assert!(message.starts_with("test.toml:4:"), "{message}");
        assert!(message.contains("process[0].env.A"), "{message}");
    }

    #[test]
    fn toml_syntax_errors_have_a_position() {
        let message = error("[[process]]\nname = \"a\n");
        assert!(message.starts_with("test.toml:2:"), "{message}");
    }

    #[test]
    fn duplicate_names_are_rejected_at_the_second_one() {
        let message = error(
            "[[process]]\nname = \"a\"\ncommand = \"x\"\n[[process]]\nname = \"a\"\ncommand = \"y\"\n",
        );
        assert!(
            message.starts_with("test.toml:5:8: process[1].name: "),
            "{message}"
        );
        assert!(message.contains("duplicate process name `a`"), "{message}");
    }

    #[test]
    fn bad_names_and_empty_commands_are_rejected() {
        assert!(error("[[process]]\nname = \"\"\ncommand = \"x\"\n").contains("the name is empty"));
        assert!(error("[[process]]\nname = \"a b\"\ncommand = \"x\"\n").contains("contains ` `"));
        assert!(error("[[process]]\nname = \"a\"\ncommand = []\n")
            .contains("must start with a program name"));
        assert!(error("[[process]]\nname = \"a\"\ncommand = \"  \"\n").contains("command is empty"));
    }

    #[test]
    fn load_reports_a_missing_file_with_its_path() {
        let message = Config::load(Path::new("/nonexistent/logdeck.toml"))
            .expect_err("missing file")
            .to_string();
        assert!(message.contains("/nonexistent/logdeck.toml"), "{message}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_and_column("é = 1\nxy", 8), (2, 2));
        assert_eq!(line_and_column("abc", 99), (1, 4));
    }
}
