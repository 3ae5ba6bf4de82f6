//! Validation: turns the file's raw shape into a [`Config`], checking every
//! value and filling in the defaults; every error names its key and place.

use std::collections::HashMap;
use std::ops::RangeBounds;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use app::backoff::Backoff;
use app::process::check_name;
use app::Level;
use nix::sys::signal::Signal;
use regex::Regex;
use toml::Spanned;

use super::dependencies::check_dependencies;
use super::locate::Locator;
use super::raw::{self, RawConfig, RawDefaultLevel, RawMultiline, RawProcess, RawReady};
use super::{
    AuthConfig, CaptureRules, ClusterConfig, ClusterTls, Command, Config, ConfigError, Dependency,
    HttpTarget, Limits, Multiline, MultilineRule, ProcessConfig, ReadyCheck, ReadyProbe,
    RedactConfig, StoreConfig, DEFAULT_SERVER_NAME,
};

pub(super) const DEFAULT_BACKOFF: Backoff = Backoff {
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
const DEFAULT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// The shortest restart delay: a crash loop without it restarts hundreds of
/// times a second.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_CLIENT_QUEUE: usize = 16 * 1024;
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_MAX_CLIENTS: usize = 256;
const DEFAULT_MAX_CLIENTS_PER_ADDRESS: usize = 64;
const DEFAULT_MAX_BODY: u64 = 64 * 1024;
const DEFAULT_MULTILINE_TIMEOUT: Duration = Duration::from_millis(50);

/// The errors found so far: validation goes on past one (with the
/// setting's default in its place) so that a check reports them all.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn keep<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }
}

pub(super) fn validate(
    raw: RawConfig,
    locate: &Locator<'_>,
    source_name: &str,
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();
    let server_name = match raw.name {
        Some(name) => {
            let checked = check_name(name.get_ref())
                .map_err(|m| locate.error(Some(name.span()), Some("name".into()), m));
            match problems.keep(checked) {
                Some(()) => name.into_inner(),
                None => DEFAULT_SERVER_NAME.to_owned(),
            }
        }
        None => DEFAULT_SERVER_NAME.to_owned(),
    };

    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (index, process) in raw.processes.iter().enumerate() {
        let name = process.name.get_ref();
        let key = || Some(format!("process[{index}].name"));
        if let Err(m) = check_name(name) {
            problems.push(locate.error(Some(process.name.span()), key(), m));
        }
        if let Some(first) = index_of.insert(name, index) {
            problems.push(locate.error(
                Some(process.name.span()),
                key(),
                format!("duplicate process name `{name}` (also process[{first}])"),
            ));
        }
        // Logdeck's own entries carry the server's name: a process named
        // so could pass its lines off as Logdeck's.
        if *name == server_name {
            problems.push(locate.error(
                Some(process.name.span()),
                key(),
                format!(
                    "`{name}` is the server's own name (the top-level `name`, whose entries are Logdeck's); choose another"
                ),
            ));
        }
    }
    problems.keep(check_dependencies(&raw.processes, &index_of, locate));

    let processes: Vec<ProcessConfig> = raw
        .processes
        .into_iter()
        .enumerate()
        .filter_map(|(index, process)| {
            problems.keep(validate_process(index, process, locate, base_dir))
        })
        .collect();
    let log_size = problems
        .keep(setting(
            locate,
            "log_size",
            raw.log_size,
            |size| size.0,
            4096..,
            "must be at least 4096 bytes",
            DEFAULT_LOG_SIZE,
        ))
        .unwrap_or(DEFAULT_LOG_SIZE);
    let store = match raw.store {
        Some(false) => None,
        _ => {
            let dir = match &raw.log_dir {
                Some(dir) => base_dir.join(dir),
                None => base_dir.join(DEFAULT_DATA_DIR),
            };
            Some(StoreConfig {
                path: dir.join(crate::store::FILE_NAME),
                max_age: problems
                    .keep(setting(
                        locate,
                        "retention.max_age",
                        raw.retention.max_age,
                        |d| d.0,
                        Duration::from_secs(60)..,
                        "must be at least 1m",
                        DEFAULT_RETENTION_MAX_AGE,
                    ))
                    .unwrap_or(DEFAULT_RETENTION_MAX_AGE),
                max_size: problems
                    .keep(setting(
                        locate,
                        "retention.max_size",
                        raw.retention.max_size,
                        |size| size.0,
                        1024 * 1024..,
                        "must be at least 1 MiB",
                        DEFAULT_RETENTION_MAX_SIZE,
                    ))
                    .unwrap_or(DEFAULT_RETENTION_MAX_SIZE),
            })
        }
    };
    if raw.log_files == Some(true) && raw.log_dir.is_none() {
        problems.push(locate.error(
            None,
            Some("log_files".into()),
            "log files need a directory: set log_dir".into(),
        ));
    }
    let max_line_bytes = problems
        .keep(setting(
            locate,
            "max_line_bytes",
            raw.max_line_bytes,
            |size| size.0,
            MIN_MAX_LINE_BYTES..=16 * 1024 * 1024,
            "must be between 256 bytes and 16 MiB",
            DEFAULT_MAX_LINE_BYTES as u64,
        ))
        .unwrap_or(DEFAULT_MAX_LINE_BYTES as u64) as usize;
    let memory_entries = problems
        .keep(setting(
            locate,
            "memory_entries",
            raw.memory_entries,
            |n| n,
            1..,
            "must be at least 1",
            DEFAULT_MEMORY_ENTRIES,
        ))
        .unwrap_or(DEFAULT_MEMORY_ENTRIES);
    let memory_bytes = problems
        .keep(setting(
            locate,
            "memory_bytes",
            raw.memory_bytes,
            |size| size.0,
            1024 * 1024..,
            "must be at least 1 MiB",
            DEFAULT_MEMORY_BYTES,
        ))
        .unwrap_or(DEFAULT_MEMORY_BYTES);
    let client_queue = problems
        .keep(setting(
            locate,
            "client_queue",
            raw.client_queue,
            |n| n,
            16..=1 << 20,
            "must be between 16 and 1048576",
            DEFAULT_CLIENT_QUEUE,
        ))
        .unwrap_or(DEFAULT_CLIENT_QUEUE);
    let mut auth = problems
        .keep(validate_auth(raw.auth, locate))
        .unwrap_or_default();
    let (metrics, metrics_token) = problems
        .keep(super::alerts::validate_metrics(raw.metrics, locate))
        .unwrap_or((true, None));
    auth.metrics_token = metrics_token;
    let public_url = problems
        .keep(super::alerts::validate_public_url(raw.public_url, locate))
        .flatten();
    let mut watchable: std::collections::BTreeSet<String> =
        processes.iter().map(|p| p.name.clone()).collect();
    watchable.insert(server_name.clone());
    let alerts = problems
        .keep(super::alerts::validate_alerts(
            raw.notifiers,
            raw.alerts,
            &watchable,
            locate,
        ))
        .unwrap_or_default();
    let redact = RedactConfig {
        builtin: raw.redact.builtin.unwrap_or(true),
        patterns: raw
            .redact
            .patterns
            .into_iter()
            .enumerate()
            .filter_map(|(i, pattern)| {
                problems.keep(Regex::new(pattern.get_ref()).map_err(|e| {
                    locate.error(
                        Some(pattern.span()),
                        Some(format!("redact.patterns[{i}]")),
                        format!("invalid regex: {e}"),
                    )
                }))
            })
            .collect(),
    };
    let limits = Limits {
        max_clients: problems
            .keep(setting(
                locate,
                "limits.max_clients",
                raw.limits.max_clients,
                |n| n,
                1..,
                "must be at least 1",
                DEFAULT_MAX_CLIENTS,
            ))
            .unwrap_or(DEFAULT_MAX_CLIENTS),
        max_clients_per_address: problems
            .keep(setting(
                locate,
                "limits.max_clients_per_address",
                raw.limits.max_clients_per_address,
                |n| n,
                1..,
                "must be at least 1",
                DEFAULT_MAX_CLIENTS_PER_ADDRESS,
            ))
            .unwrap_or(DEFAULT_MAX_CLIENTS_PER_ADDRESS),
        max_body: problems
            .keep(setting(
                locate,
                "limits.max_body",
                raw.limits.max_body,
                |size| size.0,
                1024..,
                "must be at least 1024 bytes",
                DEFAULT_MAX_BODY,
            ))
            .map_or(usize::MAX, |size| {
                usize::try_from(size).unwrap_or(usize::MAX)
            }),
    };
    let cluster = raw
        .cluster
        .and_then(|cluster| problems.keep(validate_cluster(cluster, locate, base_dir)));
    // The node's name matters only in a cluster (entries carry it there).
    let node = match (&cluster, raw.node) {
        (None, _) => None,
        (Some(_), Some(node)) => {
            let checked = check_name(node.get_ref())
                .map_err(|m| locate.error(Some(node.span()), Some("node".into()), m));
            problems.keep(checked).map(|()| node.into_inner())
        }
        (Some(_), None) => problems.keep(host_name().map_err(|why| {
            locate.error(
                None,
                Some("node".into()),
                format!("{why}; set `node` to name this node in the cluster"),
            )
        })),
    };
    if let Some(node) = &node {
        if *node == server_name {
            problems.push(locate.error(
                None,
                Some("node".into()),
                format!("the node `{node}` has the server's own name; give one of them another"),
            ));
        }
    }
    if !problems.0.is_empty() {
        return Err(ConfigError::from_many(problems.0));
    }
    Ok(Config {
        node,
        cluster,
        source: source_name.to_owned(),
        name: server_name,
        log_files: raw.log_files.unwrap_or(false),
        store,
        log_dir: raw.log_dir.map(|dir| base_dir.join(dir)),
        log_size,
        log_count: raw.log_count.unwrap_or(DEFAULT_LOG_COUNT),
        max_line_bytes,
        memory_entries,
        memory_bytes,
        client_queue,
        auth,
        redact,
        limits,
        processes,
        public_url,
        alerts,
        metrics,
        dmb_text_frames: raw.dmb.text_frames.unwrap_or(false),
    })
}

/// The machine's name, as a node name.
fn host_name() -> Result<String, String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| format!("cannot read the host name: {e}"))?;
    let name = name.trim().to_owned();
    check_name(&name).map_err(|why| format!("the host name is no node name: {why}"))?;
    Ok(name)
}

/// Where the store goes without `log_dir`, next to the configuration.
pub const DEFAULT_DATA_DIR: &str = "logdeck-data";
const DEFAULT_RETENTION_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
const DEFAULT_RETENTION_MAX_SIZE: u64 = 2 << 30;
const DEFAULT_STREAM: &str = "LOGDECK_LOGS";
const DEFAULT_CLUSTER_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_CLUSTER_MAX_BYTES: u64 = 1 << 30;
const DEFAULT_CLUSTER_BUFFER: u64 = 64 * 1024 * 1024;
const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(10);

fn validate_cluster(
    raw: Spanned<raw::RawCluster>,
    locate: &Locator<'_>,
    base_dir: &Path,
) -> Result<ClusterConfig, ConfigError> {
    let raw = raw.into_inner();
    let url_span = raw.url.span();
    let urls = raw.url.into_inner().into_vec();
    if urls.is_empty() {
        return Err(locate.error(
            Some(url_span),
            Some("cluster.url".into()),
            "no NATS server given".into(),
        ));
    }
    for url in &urls {
        let scheme_ok = match url.split_once("://") {
            Some((scheme, rest)) => {
                matches!(scheme, "nats" | "tls" | "ws" | "wss") && !rest.is_empty()
            }
            None => !url.is_empty(),
        };
        // Credentials in the URL are not sent; `token` or `creds` are.
        if !scheme_ok || url.contains('@') || url.contains(char::is_whitespace) {
            return Err(locate.error(
                Some(url_span.clone()),
                Some("cluster.url".into()),
                format!(
                    "`{}` is not a NATS server address such as nats://10.0.0.5:4222 (put credentials in `token` or `creds`)",
                    if url.contains('@') { "(an address with credentials)" } else { url }
                ),
            ));
        }
    }
    let token = match raw.token {
        Some(token) if token.get_ref().trim().is_empty() => {
            return Err(locate.error(
                Some(token.span()),
                Some("cluster.token".into()),
                "the token is empty".into(),
            ))
        }
        Some(token) => Some(token.into_inner()),
        None => None,
    };
    let readable = |path: std::path::PathBuf, key: &str, span: Option<std::ops::Range<usize>>| {
        let path = base_dir.join(path);
        if path.is_file() {
            Ok(path)
        } else {
            Err(locate.error(
                span,
                Some(key.to_owned()),
                format!("{} is not a readable file", path.display()),
            ))
        }
    };
    let creds = match raw.creds {
        Some(creds) => {
            let span = creds.span();
            Some(readable(creds.into_inner(), "cluster.creds", Some(span))?)
        }
        None => None,
    };
    let tls = match raw.tls {
        Some(tls) => {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err(locate.error(
                    Some(url_span),
                    Some("cluster.tls".into()),
                    "set both `cert` and `key`, or neither".into(),
                ));
            }
            Some(ClusterTls {
                ca: tls
                    .ca
                    .map(|p| readable(p, "cluster.tls.ca", None))
                    .transpose()?,
                cert: tls
                    .cert
                    .map(|p| readable(p, "cluster.tls.cert", None))
                    .transpose()?,
                key: tls
                    .key
                    .map(|p| readable(p, "cluster.tls.key", None))
                    .transpose()?,
            })
        }
        None => None,
    };
    let stream = match raw.stream {
        Some(stream) => {
            let valid = !stream.get_ref().is_empty()
                && stream
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            if !valid {
                return Err(locate.error(
                    Some(stream.span()),
                    Some("cluster.stream".into()),
                    "a stream name is letters, digits, `_` and `-`".into(),
                ));
            }
            stream.into_inner()
        }
        None => DEFAULT_STREAM.to_owned(),
    };
    let max_age = setting(
        locate,
        "cluster.max_age",
        raw.max_age,
        |d| d.0,
        Duration::from_secs(60)..,
        "must be at least 1m",
        DEFAULT_CLUSTER_MAX_AGE,
    )?;
    let max_bytes = setting(
        locate,
        "cluster.max_bytes",
        raw.max_bytes,
        |size| size.0,
        1024 * 1024..,
        "must be at least 1 MiB",
        DEFAULT_CLUSTER_MAX_BYTES,
    )?;
    let max_per_process = match raw.max_per_process {
        Some(n) if *n.get_ref() < 100 => {
            return Err(locate.error(
                Some(n.span()),
                Some("cluster.max_per_process".into()),
                "must be at least 100".into(),
            ))
        }
        Some(n) => Some(n.into_inner()),
        None => None,
    };
    let buffer = setting(
        locate,
        "cluster.buffer",
        raw.buffer,
        |size| size.0,
        1024 * 1024..,
        "must be at least 1 MiB",
        DEFAULT_CLUSTER_BUFFER,
    )?;
    let offline_after = setting(
        locate,
        "cluster.offline_after",
        raw.offline_after,
        |d| d.0,
        Duration::from_secs(3)..,
        "must be at least 3s",
        DEFAULT_OFFLINE_AFTER,
    )?;
    Ok(ClusterConfig {
        urls,
        token,
        creds,
        tls,
        stream,
        max_age,
        max_bytes,
        max_per_process,
        buffer,
        offline_after,
    })
}

/// The setting `key`: its value (as `read` makes it) when that lies in
/// `range`, `default` when unset, and otherwise an error at the value
/// saying what it `must` be.
fn setting<R, V: PartialOrd>(
    locate: &Locator<'_>,
    key: &str,
    raw: Option<Spanned<R>>,
    read: impl FnOnce(R) -> V,
    range: impl RangeBounds<V>,
    must: &str,
    default: V,
) -> Result<V, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let span = raw.span();
    let value = read(raw.into_inner());
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(locate.error(Some(span), Some(key.to_owned()), must.to_owned()))
    }
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
            if backoff.initial < MIN_BACKOFF {
                return Err(locate.error(
                    Some(span),
                    key("backoff"),
                    format!(
                        "`initial` must be at least {}ms, so a crash loop cannot restart hundreds of times a second",
                        MIN_BACKOFF.as_millis()
                    ),
                ));
            }
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
    let mut allowed_hosts = Vec::new();
    for (i, host) in raw.allowed_hosts.into_iter().enumerate() {
        let value = host.get_ref().trim().to_ascii_lowercase();
        let name = value.strip_prefix('.').unwrap_or(&value);
        let valid = value == "*"
            || (!name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')));
        if !valid {
            return Err(locate.error(
                Some(host.span()),
                Some(format!("auth.allowed_hosts[{i}]")),
                format!(
                    "`{}` is not a host name such as logs.example.com (without a port), `.example.com` or `*`",
                    host.get_ref()
                ),
            ));
        }
        allowed_hosts.push(value);
    }
    Ok(AuthConfig {
        token,
        allow_unauthenticated: raw.allow_unauthenticated,
        allowed_origins,
        allowed_hosts,
        session_ttl: raw.session_ttl.map_or(DEFAULT_SESSION_TTL, |d| d.0),
        metrics_token: None,
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
pub(super) fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
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
