//! The TOML configuration: which processes to run and how.
//!
//! Loading is strict: an unknown key, a missing field or a value of the
//! wrong type stops start-up with an error naming the file, the line and
//! the key, so a typo never silently runs a different setup.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The demo configuration shipped with Logdeck, used when no
/// `logdeck.toml` is given or found.
pub const DEMO_CONFIG: &str = include_str!("../../demo/logdeck.toml");

/// Label used in messages about the built-in demo configuration.
pub const DEMO_SOURCE: &str = "<built-in demo config>";

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub source: String,
    pub processes: Vec<ProcessConfig>,
}

/// One supervised process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    /// The `process_name` of every entry this process produces.
    pub name: String,
    pub command: Command,
    /// Working directory; relative paths are resolved against the directory
    /// holding the configuration file.
    pub cwd: Option<PathBuf>,
    /// Variables added to the server's own environment.
    pub env: BTreeMap<String, String>,
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
            Command::Argv(argv) => {
                let (program, args) = argv
                    .split_first()
                    .expect("validated at load: an argv command is never empty");
                (program, args.iter().map(String::as_str).collect())
            }
            Command::Shell(line) => ("sh", vec!["-c", line]),
        }
    }
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
    #[error("{source_name}:{line}:{column}: {}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Invalid {
        source_name: String,
        line: usize,
        column: usize,
        /// Dotted path of the offending key, such as `process[1].command`.
        key: Option<String>,
        message: String,
    },
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base_dir)
    }

    /// The built-in demo configuration.
    pub fn demo() -> Config {
        Self::parse(DEMO_CONFIG, DEMO_SOURCE, Path::new("."))
            .expect("the built-in demo config is valid (checked by a unit test)")
    }

    /// Parses and validates `text`; `source_name` labels error messages and
    /// relative `cwd` values are resolved against `base_dir`.
    pub fn parse(text: &str, source_name: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let invalid =
            |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| {
                let (line, column) = line_and_column(text, span.map_or(0, |s| s.start));
                ConfigError::Invalid {
                    source_name: source_name.to_owned(),
                    line,
                    column,
                    key,
                    message,
                }
            };

        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|e| invalid(e.span(), None, e.message().to_owned()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // `Spanned` values add an internal segment to the path.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let key = (key != ".").then_some(key);
            let inner = e.into_inner();
            invalid(inner.span(), key, inner.message().to_owned())
        })?;

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, process) in raw.processes.iter().enumerate() {
            let key = |field: &str| Some(format!("process[{index}].{field}"));
            let name = process.name.get_ref();
            if let Err(problem) = check_name(name) {
                return Err(invalid(Some(process.name.span()), key("name"), problem));
            }
            if let Some(first) = seen.insert(name, index) {
                return Err(invalid(
                    Some(process.name.span()),
                    key("name"),
                    format!("duplicate process name `{name}` (also process[{first}])"),
                ));
            }
            if let Command::Argv(argv) = process.command.get_ref() {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    return Err(invalid(
                        Some(process.command.span()),
                        key("command"),
                        "the command array must start with a program name".into(),
                    ));
                }
            }
            if let Command::Shell(line) = process.command.get_ref() {
                if line.trim().is_empty() {
                    return Err(invalid(
                        Some(process.command.span()),
                        key("command"),
                        "the command is empty".into(),
                    ));
                }
            }
        }

        Ok(Config {
            source: source_name.to_owned(),
            processes: raw
                .processes
                .into_iter()
                .map(|p| ProcessConfig {
                    name: p.name.into_inner(),
                    command: p.command.into_inner(),
                    cwd: p.cwd.map(|cwd| base_dir.join(cwd)),
                    env: p.env,
                })
                .collect(),
        })
    }
}

/// Names end up in URLs, file names and filters, so keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the process name is empty".into());
    }
    if name.len() > 64 {
        return Err(format!("the process name `{name}` is longer than 64 bytes"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the process name `{name}` contains `{bad}`; use letters, digits, `_`, `-` and `.`"
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, rename = "process")]
    processes: Vec<RawProcess>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    name: Spanned<String>,
    command: Spanned<Command>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
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
        let demo = Config::demo();
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
        assert!(error("[[process]]\nname = \"\"\ncommand = \"x\"\n").contains("name is empty"));
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
