//! `logdeck check`'s account of a valid configuration: a line for the
//! whole, then one per process (command, restart policy, dependencies,
//! readiness).

use super::{Command, Config, ProcessConfig, ReadyCheck, RestartPolicy};

/// The lines `logdeck check` prints for `config`.
pub fn summary(config: &Config) -> Vec<String> {
    let mut lines = vec![overview(config)];
    lines.extend(config.processes.iter().map(process_line));
    lines
}

fn overview(config: &Config) -> String {
    let count = config.processes.len();
    let mut parts = vec![format!(
        "{}: ok, {count} process{}",
        config.source,
        if count == 1 { "" } else { "es" }
    )];
    parts.push(match &config.store {
        Some(store) => format!("history in {}", store.path.display()),
        None => "no history store".to_owned(),
    });
    if config.log_files {
        if let Some(dir) = &config.log_dir {
            parts.push(format!("log files in {}", dir.display()));
        }
    }
    let rules = config.alerts.rules.len();
    if rules > 0 {
        parts.push(format!(
            "{rules} alert rule{}",
            if rules == 1 { "" } else { "s" }
        ));
    }
    if let (Some(cluster), Some(node)) = (&config.cluster, &config.node) {
        parts.push(format!(
            "node `{node}` of the cluster at {}",
            cluster.urls.join(", ")
        ));
    }
    if config.auth.token.is_some() {
        parts.push("token required".to_owned());
    }
    parts.join("; ")
}

fn process_line(process: &ProcessConfig) -> String {
    let mut parts = vec![
        format!("  {}: {}", process.name, command_line(&process.command)),
        restart(process),
    ];
    if !process.autostart {
        parts.push("started by hand".to_owned());
    }
    if process.depends_on.is_empty() {
        parts.push("no dependencies".to_owned());
    } else {
        let after: Vec<String> = process
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.process, d.condition.as_str()))
            .collect();
        parts.push(format!("after {}", after.join(", ")));
    }
    parts.push(match &process.ready {
        None => "ready once running".to_owned(),
        Some(probe) => match &probe.check {
            ReadyCheck::LogLine(regex) => format!("ready when a line matches `{regex}`"),
            ReadyCheck::Http(target) => format!("ready when GET {} answers 2xx", target.url),
            ReadyCheck::Tcp(address) => format!("ready when {address} accepts a connection"),
        },
    });
    parts.join(" · ")
}

fn restart(process: &ProcessConfig) -> String {
    let policy = match process.restart {
        RestartPolicy::No => return "never restarted".to_owned(),
        RestartPolicy::OnFailure => "restarted on failure",
        RestartPolicy::Always => "restarted always",
    };
    format!(
        "{policy} (at most {} times in {}s)",
        process.max_restarts,
        process.restart_window.as_secs()
    )
}

/// The command as one would type it: arguments quoted where a shell
/// would need it.
fn command_line(command: &Command) -> String {
    match command {
        Command::Shell(line) => format!("sh -c {}", quote(line)),
        Command::Argv(argv) => argv
            .iter()
            .map(|arg| quote(arg))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn each_process_gets_a_line_with_what_a_start_would_do() {
        let config = Config::parse(
            r#"
[[process]]
name = "db"
command = ["postgres", "-D", "/var/lib/pg data"]
restart = "always"
ready = { log_line = "ready to accept" }

[[process]]
name = "api"
command = "python -m api --port 8000"
restart = "no"
autostart = false
depends_on = [{ process = "db", condition = "ready" }]
ready = { tcp = "127.0.0.1:8000" }
"#,
            "test.toml",
            Path::new("/srv"),
        )
        .expect("valid");
        let lines = summary(&config);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with("test.toml: ok, 2 processes; history in /srv/"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1]
                .starts_with("  db: postgres -D '/var/lib/pg data' · restarted always (at most "),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("· no dependencies · ready when a line matches `ready to accept`"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            "  api: sh -c 'python -m api --port 8000' · never restarted · started by hand · \
             after db (ready) · ready when 127.0.0.1:8000 accepts a connection"
        );
    }

    #[test]
    fn quoting_keeps_plain_words_plain() {
        assert_eq!(quote("--port=80"), "--port=80");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
