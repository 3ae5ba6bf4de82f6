//! The TOML configuration: which processes to run and how.
//!
//! Loading is strict: an unknown key, a missing field, a value of the wrong
//! type, a dependency on an unknown process or a dependency cycle stops
//! start-up with an error naming the file, the line and the key (or the
//! environment variable that set it), so a typo never silently runs a
//! different setup.

//!
//! # Layout
//! - this file: the validated types and the entry points (`load`,
//!   `parse`, `demo`).
//! - `raw`: the file's shape as serde reads it, positions kept.
//! - `validate`: raw values checked, defaults filled in.
//! - `dependencies`: dependencies exist and have no cycle.
//! - `locate`: an error's file, line and column (or variable).
//! - `env_override`: `LOGDECK_*` variables applied on top of the file.
//! - `duration`, `size`: `"30s"`, `"64KiB"` and their kin.
//! - `alerts`: `[[notifier]]`, `[[alert]]`, `public_url`, `[metrics]`.

pub mod alerts;
mod dependencies;
mod duration;
pub mod env_override;
mod locate;
mod raw;
mod size;
mod summary;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::backoff::Backoff;
use app::Level;
use nix::sys::signal::Signal;
use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::de::DeTable;
use toml::Spanned;

pub use duration::parse_duration;
pub use env_override::EnvOverride;
use locate::Locator;
use raw::RawConfig;
pub use size::parse_size;
pub use summary::summary;

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
    /// Where the store and the log files go (`log_dir`), if set.
    pub log_dir: Option<PathBuf>,
    /// Whether entries are also written to per-process JSON Lines files
    /// under `log_dir` (`log_files = true`).
    pub log_files: bool,
    /// The indexed store history is read from (on unless `store = false`).
    pub store: Option<StoreConfig>,
    /// A log file is rotated when it would grow past this many bytes.
    pub log_size: u64,
    /// How many rotated files are kept beside the current one.
    pub log_count: usize,
    /// Longest line published as one entry; longer lines are split.
    pub max_line_bytes: usize,
    /// How many recent entries are kept in memory (replay, history).
    pub memory_entries: usize,
    /// How many bytes of entries are kept in memory, at most.
    pub memory_bytes: u64,
    /// How many entries a `/ws/logs` client may fall behind before it
    /// loses the oldest (and is told so).
    pub client_queue: usize,
    pub auth: AuthConfig,
    pub redact: RedactConfig,
    pub limits: Limits,
    pub processes: Vec<ProcessConfig>,
    /// In a cluster (`[cluster]` set), this node's name: the top-level
    /// `node`, else the host name. `None` on a single node.
    pub node: Option<String>,
    pub cluster: Option<ClusterConfig>,
    /// Where people open the viewer (`public_url`), for links in
    /// notifications.
    pub public_url: Option<String>,
    pub alerts: alerts::AlertsConfig,
    /// `metrics.enabled`: `GET /metrics` is served and capture counts each
    /// process's lines and bytes for it (the default); off, it answers 404.
    pub metrics: bool,
    /// `dmb.text_frames`: `/ws/logs` sends DMB's text lines unless a client
    /// asks for JSON (`format=json`).
    pub dmb_text_frames: bool,
}

/// Where the store is and what it keeps.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The database: `logdeck.db` under `log_dir`, or without `log_dir`
    /// under `logdeck-data` next to the configuration file.
    pub path: PathBuf,
    /// `retention.max_age`: entries older than this are deleted.
    pub max_age: Duration,
    /// `retention.max_size`: the oldest entries are deleted while the
    /// store is larger.
    pub max_size: u64,
}

/// How this node joins the others through NATS JetStream.
#[derive(Clone)]
pub struct ClusterConfig {
    /// NATS servers to connect to (any of them).
    pub urls: Vec<String>,
    pub token: Option<String>,
    /// A NATS credentials file (JWT and NKey).
    pub creds: Option<PathBuf>,
    pub tls: Option<ClusterTls>,
    /// The JetStream stream every node publishes its entries to.
    pub stream: String,
    /// Entries older than this leave the stream...
    pub max_age: Duration,
    /// ...as do the oldest once it holds this many bytes...
    pub max_bytes: u64,
    /// ...and, if set, a process's oldest beyond this many entries.
    pub max_per_process: Option<u64>,
    /// Entries held in memory while NATS cannot be reached, at most.
    pub buffer: u64,
    /// A node not heard from for this long is offline.
    pub offline_after: Duration,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: configurations end up in logs.
        f.debug_struct("ClusterConfig")
            .field("urls", &self.urls)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("creds", &self.creds)
            .field("tls", &self.tls)
            .field("stream", &self.stream)
            .field("max_age", &self.max_age)
            .field("max_bytes", &self.max_bytes)
            .field("max_per_process", &self.max_per_process)
            .field("buffer", &self.buffer)
            .field("offline_after", &self.offline_after)
            .finish()
    }
}

/// TLS to the NATS servers: a CA to trust, and a client certificate.
#[derive(Clone, Debug, Default)]
pub struct ClusterTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
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
    /// WebSockets and send requests that change things, besides the
    /// server's own.
    pub allowed_origins: Vec<String>,
    /// `Host` names the server may be reached as, besides loopback names
    /// and IP addresses: `logs.example.com`, `.example.com` (and every
    /// subdomain), or `*` (any; turns the DNS-rebinding check off).
    pub allowed_hosts: Vec<String>,
    /// How long a browser session from the login form lasts.
    pub session_ttl: Duration,
    /// `metrics.token`: a second secret good for `GET /metrics` only.
    pub metrics_token: Option<String>,
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
    /// WebSocket connections at once from one client address.
    pub max_clients_per_address: usize,
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

/// What to execute. Shown to clients as written: an array or a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
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
    /// More than one of the above, one a line.
    #[error("{}", join_lines(.0))]
    Many(Vec<ConfigError>),
}

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// One error as itself, several as [`ConfigError::Many`] in the order
    /// of their lines.
    pub fn from_many(mut errors: Vec<ConfigError>) -> ConfigError {
        if errors.len() == 1 {
            if let Some(error) = errors.pop() {
                return error;
            }
        }
        errors.sort_by_key(|error| match error {
            ConfigError::Invalid { line, .. } => *line,
            _ => 0,
        });
        ConfigError::Many(errors)
    }

    /// Each error on its own.
    pub fn each(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(errors) => errors.iter().flat_map(ConfigError::each).collect(),
            other => vec![other],
        }
    }
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
        // A key that does not fit the schema is reported and taken out,
        // and the rest read again, so that one look finds every such key.
        let mut errors = Vec::new();
        let mut removed: Vec<Vec<PathPart>> = Vec::new();
        let raw = loop {
            let deserializer =
                toml::de::Deserializer::from(Spanned::new(root_span.clone(), table.clone()));
            match serde_path_to_error::deserialize::<_, RawConfig>(deserializer) {
                Ok(raw) => break Some(raw),
                Err(e) => {
                    let path = path_parts(e.path());
                    // A field missing where one was taken out is the same
                    // error again.
                    if removed.iter().any(|gone| gone.starts_with(&path)) {
                        break None;
                    }
                    let key = e
                        .path()
                        .to_string()
                        .replace(".$__serde_spanned_private_value", "");
                    let key = (key != ".").then_some(key);
                    let inner = e.into_inner();
                    errors.push(locate.error(inner.span(), key, inner.message().to_owned()));
                    if errors.len() >= MAX_SCHEMA_ERRORS || !remove_key(&mut table, &path) {
                        break None;
                    }
                    removed.push(path);
                }
            }
        };
        let Some(raw) = raw else {
            return Err(ConfigError::from_many(errors));
        };
        match validate::validate(raw, &locate, source_name, base_dir) {
            Ok(config) if errors.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError::from_many(errors)),
            Err(error) => {
                errors.extend(match error {
                    ConfigError::Many(more) => more,
                    one => vec![one],
                });
                Err(ConfigError::from_many(errors))
            }
        }
    }
}

/// Keys that do not fit the schema reported at most in one look.
const MAX_SCHEMA_ERRORS: usize = 50;

/// A step of a key's path: a table's key or an array's index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PathPart {
    Key(String),
    Index(usize),
}

fn path_parts(path: &serde_path_to_error::Path) -> Vec<PathPart> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } if key == "$__serde_spanned_private_value" => None,
            Segment::Map { key } => Some(PathPart::Key(key.clone())),
            Segment::Seq { index } => Some(PathPart::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// Takes the innermost key of `path` out of `table` (a bad array item goes
/// with its array); false when there is none to take.
fn remove_key(table: &mut DeTable<'_>, path: &[PathPart]) -> bool {
    let Some(last_key) = path
        .iter()
        .rposition(|part| matches!(part, PathPart::Key(_)))
    else {
        return false;
    };
    let PathPart::Key(name) = &path[last_key] else {
        return false;
    };
    let mut current = table;
    let mut at = 0;
    while at < last_key {
        let PathPart::Key(key) = &path[at] else {
            return false;
        };
        let Some(value) = current
            .iter_mut()
            .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
            .map(|(_, value)| value.get_mut())
        else {
            return false;
        };
        at += 1;
        current = match value {
            toml::de::DeValue::Table(inner) => inner,
            toml::de::DeValue::Array(items) => {
                let Some(PathPart::Index(index)) = path.get(at) else {
                    return false;
                };
                at += 1;
                match items.get_mut(*index).map(|item| item.get_mut()) {
                    Some(toml::de::DeValue::Table(inner)) => inner,
                    _ => return false,
                }
            }
            _ => return false,
        };
    }
    let before = current.len();
    *current = std::mem::take(current)
        .into_iter()
        .filter(|(k, _)| k.get_ref().as_ref() != name.as_str())
        .collect();
    current.len() < before
}

#[cfg(test)]
mod tests;
