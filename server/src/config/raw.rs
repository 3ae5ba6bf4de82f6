//! The configuration file's shape, exactly as serde reads it. Values that
//! later checks may reject keep their position (`Spanned`) so the error can
//! name the line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::alerts::{RawAlert, RawMetrics, RawNotifier};
use super::duration::ConfigDuration;
use super::size::ConfigSize;
use super::{Command, Condition, RestartPolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub name: Option<Spanned<String>>,
    pub node: Option<Spanned<String>>,
    pub cluster: Option<Spanned<RawCluster>>,
    pub log_dir: Option<PathBuf>,
    pub log_size: Option<Spanned<ConfigSize>>,
    pub log_count: Option<usize>,
    pub log_files: Option<bool>,
    pub store: Option<bool>,
    #[serde(default)]
    pub retention: RawRetention,
    pub max_line_bytes: Option<Spanned<ConfigSize>>,
    pub memory_entries: Option<Spanned<usize>>,
    pub memory_bytes: Option<Spanned<ConfigSize>>,
    pub client_queue: Option<Spanned<usize>>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub redact: RawRedact,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default, rename = "process")]
    pub processes: Vec<RawProcess>,
    pub public_url: Option<Spanned<String>>,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default, rename = "notifier")]
    pub notifiers: Vec<RawNotifier>,
    #[serde(default, rename = "alert")]
    pub alerts: Vec<RawAlert>,
    #[serde(default)]
    pub dmb: RawDmb,
}

/// `[dmb]`: what DMB's own frontend needs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDmb {
    pub text_frames: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub token: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_unauthenticated: bool,
    #[serde(default)]
    pub allowed_origins: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_hosts: Vec<Spanned<String>>,
    pub session_ttl: Option<ConfigDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedact {
    pub builtin: Option<bool>,
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub max_age: Option<Spanned<ConfigDuration>>,
    pub max_size: Option<Spanned<ConfigSize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub max_clients: Option<Spanned<usize>>,
    pub max_clients_per_address: Option<Spanned<usize>>,
    pub max_body: Option<Spanned<ConfigSize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub url: Spanned<OneOrMany>,
    pub token: Option<Spanned<String>>,
    pub creds: Option<Spanned<PathBuf>>,
    pub tls: Option<RawTls>,
    pub stream: Option<Spanned<String>>,
    pub max_age: Option<Spanned<ConfigDuration>>,
    pub max_bytes: Option<Spanned<ConfigSize>>,
    pub max_per_process: Option<Spanned<u64>>,
    pub buffer: Option<Spanned<ConfigSize>>,
    pub offline_after: Option<Spanned<ConfigDuration>>,
}

/// One string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProcess {
    pub name: Spanned<String>,
    pub command: Spanned<Command>,
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub env_file: Option<Spanned<PathBuf>>,
    #[serde(default = "yes")]
    pub autostart: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    pub backoff: Option<Spanned<RawBackoff>>,
    pub max_restarts: Option<u32>,
    pub restart_window: Option<ConfigDuration>,
    pub stop_signal: Option<Spanned<String>>,
    pub stop_timeout: Option<ConfigDuration>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<RawDependency>>,
    pub ready: Option<Spanned<RawReady>>,
    #[serde(default = "yes")]
    pub unbuffered: bool,
    pub level_pattern: Option<Spanned<String>>,
    pub default_level: Option<Spanned<RawDefaultLevel>>,
    pub multiline: Option<Spanned<RawMultiline>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackoff {
    pub initial: Option<ConfigDuration>,
    pub max: Option<ConfigDuration>,
    pub multiplier: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReady {
    pub log_line: Option<Spanned<String>>,
    pub http: Option<Spanned<String>>,
    pub tcp: Option<Spanned<String>>,
    pub interval: Option<ConfigDuration>,
    pub timeout: Option<ConfigDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMultiline {
    pub start: Option<Spanned<String>>,
    pub continuation: Option<Spanned<String>>,
    pub timeout: Option<ConfigDuration>,
}

/// `"WARNING"` for both streams, or `{ stdout = "INFO", stderr = "ERROR" }`.
#[derive(Debug)]
pub(super) struct RawDefaultLevel {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

impl<'de> Deserialize<'de> for RawDefaultLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            stdout: Option<String>,
            stderr: Option<String>,
        }

        struct LevelVisitor;

        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = RawDefaultLevel;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a level such as \"INFO\", or a table { stdout = \"INFO\", stderr = \"ERROR\" }")
            }

            fn visit_str<E: de::Error>(self, level: &str) -> Result<Self::Value, E> {
                Ok(RawDefaultLevel {
                    stdout: Some(level.to_owned()),
                    stderr: Some(level.to_owned()),
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let table = Table::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawDefaultLevel {
                    stdout: table.stdout,
                    stderr: table.stderr,
                })
            }
        }

        deserializer.deserialize_any(LevelVisitor)
    }
}

/// `"db"` or `{ process = "db", condition = "ready" }`.
#[derive(Debug)]
pub(super) struct RawDependency {
    pub process: String,
    pub condition: Condition,
}

impl<'de> Deserialize<'de> for RawDependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            process: String,
            #[serde(default)]
            condition: Condition,
        }

        struct DependencyVisitor;

        impl<'de> Visitor<'de> for DependencyVisitor {
            type Value = RawDependency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a process name, or a table { process = \"name\", condition = \"started\" | \"ready\" | \"exited_ok\" }")
            }

            fn visit_str<E: de::Error>(self, process: &str) -> Result<Self::Value, E> {
                Ok(RawDependency {
                    process: process.to_owned(),
                    condition: Condition::default(),
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let table = Table::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawDependency {
                    process: table.process,
                    condition: table.condition,
                })
            }
        }

        deserializer.deserialize_any(DependencyVisitor)
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = Command;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a command: a string run by `sh -c`, or an array of program and arguments",
                )
            }

            fn visit_str<E: de::Error>(self, line: &str) -> Result<Command, E> {
                Ok(Command::Shell(line.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(Command::Argv(argv))
            }
        }

        deserializer.deserialize_any(CommandVisitor)
    }
}
