//! The configuration as a user writes it: what parses, what each key
//! becomes, and the error each mistake gets.

use super::locate::line_and_column;
use super::validate::{parse_http_url, DEFAULT_BACKOFF};
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
        (
            "[limits]\nmax_clients_per_address = 0\n",
            "limits.max_clients_per_address",
            "at least 1",
        ),
        (
            "[auth]\nallowed_hosts = [\"logs.example.com:443\"]\n",
            "auth.allowed_hosts[0]",
            "not a host name",
        ),
        (
            "memory_bytes = \"1KiB\"\n",
            "memory_bytes",
            "at least 1 MiB",
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
    let message = error("[[process]]\nname = \"a\"\ncommand = \"x\"\ndepends_on = [\"nope\"]\n");
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
            "backoff = { initial = \"0s\" }",
            "process[0].backoff",
            "`initial` must be at least 100ms",
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
fn a_process_may_not_take_the_servers_own_name() {
    let message = error("[[process]]\nname = \"logdeck\"\ncommand = \"x\"\n");
    assert!(message.contains("process[0].name: "), "{message}");
    assert!(message.contains("the server's own name"), "{message}");
    let message = error("name = \"deck\"\n[[process]]\nname = \"deck\"\ncommand = \"x\"\n");
    assert!(message.starts_with("test.toml:3:"), "{message}");
    // Another server name frees `logdeck` for a process.
    let config = parse("name = \"deck\"\n[[process]]\nname = \"logdeck\"\ncommand = \"x\"\n")
        .expect("valid");
    assert_eq!(config.processes[0].name, "logdeck");
}

#[test]
fn hosts_and_memory_settings_are_read() {
    let config = parse(
        "memory_bytes = \"64MiB\"\n[auth]\nallowed_hosts = [\"Logs.Example.com\", \".example.org\", \"*\"]\n[limits]\nmax_clients_per_address = 8\n",
    )
    .expect("valid");
    assert_eq!(config.memory_bytes, 64 * 1024 * 1024);
    assert_eq!(
        config.auth.allowed_hosts,
        ["logs.example.com", ".example.org", "*"]
    );
    assert_eq!(config.limits.max_clients_per_address, 8);
    let defaults = parse("").expect("valid");
    assert_eq!(defaults.memory_bytes, 256 * 1024 * 1024);
    assert_eq!(defaults.limits.max_clients_per_address, 64);
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

const TWO: &str =
    "[[process]]\nname = \"web\"\ncommand = \"x\"\n[[process]]\nname = \"db\"\ncommand = \"y\"\n";

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
    let config = with_env(TWO, &[("LOGDECK_PROCESS__extra__COMMAND", "sleep 1")]).expect("valid");
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

#[test]
fn a_cluster_section_names_the_node_and_the_nats_servers() {
    let config = parse(
        "node = \"media-1\"\n[cluster]\nurl = [\"nats://10.0.0.5:4222\", \"tls://10.0.0.6:4222\"]\ntoken = \"s3cret-token\"\nmax_age = \"2d\"\nmax_per_process = 5000\n",
    )
    .expect("valid");
    assert_eq!(config.node.as_deref(), Some("media-1"));
    let cluster = config.cluster.as_ref().expect("cluster");
    assert_eq!(
        cluster.urls,
        ["nats://10.0.0.5:4222", "tls://10.0.0.6:4222"]
    );
    assert_eq!(cluster.stream, "LOGDECK_LOGS");
    assert_eq!(cluster.max_age, Duration::from_secs(2 * 24 * 3600));
    assert_eq!(cluster.max_per_process, Some(5000));
    assert_eq!(cluster.buffer, 64 * 1024 * 1024);
    assert_eq!(cluster.offline_after, Duration::from_secs(10));
    // The token never shows in a debug print (configurations get logged).
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret-token"), "{shown}");

    // Without [cluster] there is no node: nothing changes for one host.
    let single = parse("node = \"media-1\"\n").expect("valid");
    assert!(single.node.is_none() && single.cluster.is_none());

    // The host name when `node` is not set.
    let unnamed = parse("[cluster]\nurl = \"nats://a:4222\"\n").expect("valid");
    assert!(unnamed.node.is_some_and(|n| !n.is_empty()));
}

#[test]
fn cluster_settings_come_from_the_environment_too() {
    let config = with_env(
        "",
        &[
            ("LOGDECK_CLUSTER_URL", "nats://10.0.0.5:4222"),
            ("LOGDECK_CLUSTER_TOKEN", "12345"),
            ("LOGDECK_NODE", "box-2"),
        ],
    )
    .expect("valid");
    let cluster = config.cluster.expect("cluster");
    assert_eq!(cluster.urls, ["nats://10.0.0.5:4222"]);
    // A token of digits stays text.
    assert_eq!(cluster.token.as_deref(), Some("12345"));
    assert_eq!(config.node.as_deref(), Some("box-2"));
}

#[test]
fn bad_cluster_settings_name_their_key() {
    for (text, key, message) in [
        (
            "[cluster]\nurl = \"nats://user:pass@host:4222\"\n",
            "cluster.url",
            "credentials",
        ),
        (
            "[cluster]\nurl = \"http://host\"\n",
            "cluster.url",
            "not a NATS server address",
        ),
        ("[cluster]\nurl = []\n", "cluster.url", "no NATS server"),
        (
            "[cluster]\nurl = \"a:1\"\nstream = \"logs.all\"\n",
            "cluster.stream",
            "letters, digits",
        ),
        (
            "[cluster]\nurl = \"a:1\"\ncreds = \"missing.creds\"\n",
            "cluster.creds",
            "not a readable file",
        ),
        (
            "[cluster]\nurl = \"a:1\"\nbuffer = \"1KiB\"\n",
            "cluster.buffer",
            "at least 1 MiB",
        ),
        (
            "[cluster]\nurl = \"a:1\"\nofline_after = \"3s\"\n",
            "cluster.ofline_after",
            "unknown field",
        ),
        (
            "node = \"../x\"\n[cluster]\nurl = \"a:1\"\n",
            "node",
            "contains `/`",
        ),
        (
            "name = \"deck\"\nnode = \"deck\"\n[cluster]\nurl = \"a:1\"\n",
            "node",
            "the server's own name",
        ),
    ] {
        let error = error(text);
        assert!(error.contains(&format!("{key}: ")), "{text}: {error}");
        assert!(error.contains(message), "{text}: {error}");
    }
}

const ALERT_BASE: &str = r#"
[[process]]
name = "api"
command = "true"

[[notifier]]
name = "ops"
kind = "webhook"
url = "https://hooks.example/T000"
headers = { Authorization = "Bearer abc" }
"#;

#[test]
fn alerts_and_notifiers_are_read() {
    let config = parse(&format!(
        r#"public_url = "https://logs.example.com/"
{ALERT_BASE}
[[notifier]]
name = "phone"
kind = "ntfy"
url = "https://ntfy.sh/logdeck"
timeout = "2s"

[[alert]]
name = "api errors"
when = {{ process = "api", level = "ERROR", match = "timeout|refused", count = 5, within = "1m" }}
notify = ["ops", "phone"]
cooldown = "10m"

[[alert]]
name = "crash loop"
when = {{ event = "backoff" }}
notify = ["ops"]
"#
    ))
    .expect("valid");
    assert_eq!(
        config.public_url.as_deref(),
        Some("https://logs.example.com")
    );
    let [ops, phone] = &config.alerts.notifiers[..] else {
        panic!("two notifiers");
    };
    assert_eq!(ops.kind, alerts::NotifierKind::Webhook);
    assert_eq!(ops.headers, [("Authorization".into(), "Bearer abc".into())]);
    assert_eq!(ops.timeout, Duration::from_secs(10));
    assert_eq!(phone.timeout, Duration::from_secs(2));
    let [errors, crash] = &config.alerts.rules[..] else {
        panic!("two rules");
    };
    assert_eq!((errors.count, errors.within), (5, Duration::from_secs(60)));
    assert_eq!(errors.cooldown, Duration::from_secs(600));
    assert_eq!(errors.notify, [0, 1]);
    let alerts::Trigger::Lines {
        processes,
        level,
        pattern,
    } = &errors.trigger
    else {
        panic!("a line rule");
    };
    assert_eq!(processes.as_ref().map(|p| p.len()), Some(1));
    assert_eq!(*level, Some(Level::Error));
    assert!(pattern
        .as_ref()
        .is_some_and(|p| p.is_match("connection refused")));
    assert!(matches!(
        crash.trigger,
        alerts::Trigger::Event {
            event: alerts::EventKind::Backoff,
            processes: None
        }
    ));
    assert_eq!((crash.count, crash.cooldown), (1, Duration::from_secs(300)));
    // Without rules, nothing.
    assert!(parse("").expect("empty").alerts.rules.is_empty());
}

#[test]
fn alert_mistakes_name_file_line_and_key() {
    let cases = [
        (
            "[[alert]]\nname = \"x\"\nwhen = { event = \"backoff\" }\nnotify = [\"pager\"]\n",
            "alert[0].notify: no notifier named `pager`",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { match = \"(unclosed\" }\n",
            "alert[0].when.match: invalid regex",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { match = \"a\", count = 3, within = \"500ms\" }\n",
            "alert[0].when.within: the window is too short",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { process = \"nope\" }\n",
            "alert[0].when.process: no process named `nope`",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { event = \"exploded\" }\n",
            "alert[0].when.event: unknown event `exploded`",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { event = \"failed\", level = \"ERROR\" }\n",
            "alert[0].when.event: an event rule has no `level` or `match`",
        ),
        (
            "[[alert]]\nname = \"x\"\nwhen = { }\n",
            "alert[0].when: say what to watch",
        ),
        (
            "[[notifier]]\nname = \"s\"\nkind = \"slack\"\nurl = \"https://hooks.slack.com/x\"\nheaders = { A = \"b\" }\n",
            "notifier[1].headers: headers are for kind = \"webhook\" only",
        ),
        (
            "[[notifier]]\nname = \"s\"\nkind = \"pager\"\nurl = \"https://x\"\n",
            "notifier[1].kind: unknown kind `pager`",
        ),
        (
            "[[notifier]]\nname = \"s\"\nkind = \"webhook\"\nurl = \"https://x/${LOGDECK_TEST_SURELY_UNSET}\"\n",
            "notifier[1].url: the environment variable LOGDECK_TEST_SURELY_UNSET is not set",
        ),
        (
            "[[notifier]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"https://x\"\n",
            "notifier[1].name: duplicate notifier name `ops`",
        ),
        ("[metrics]\ntoken = \"short\"\n", "metrics.token: must be at least 16 characters"),
        (
            "[metrics]\nenabled = false\ntoken = \"the-scrape-token-0123456789\"\n",
            "metrics.token: is set but metrics.enabled is false",
        ),
    ];
    let base_lines = ALERT_BASE.lines().count();
    for (text, expected) in cases {
        let message = error(&format!("{ALERT_BASE}{text}"));
        assert!(message.contains(expected), "{message}\nwanted: {expected}");
        // The line is the case's own (after the shared part).
        let line: usize = message
            .split(':')
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("a line number");
        assert!(line > base_lines, "{message}");
    }
    let message = error("public_url = \"logs.example.com\"\n");
    assert!(message.starts_with("test.toml:1:"), "{message}");
    assert!(message.contains("public_url: must be an http"), "{message}");
}

#[test]
fn metrics_are_on_unless_turned_off() {
    let base = "[[process]]\nname = \"a\"\ncommand = \"x\"\n";
    let on = parse(base).expect("valid");
    assert!(on.metrics);
    assert_eq!(on.auth.metrics_token, None);
    let token = parse(&format!(
        "[metrics]\ntoken = \"the-scrape-token-0123456789\"\n{base}"
    ))
    .expect("valid");
    assert!(token.metrics);
    assert_eq!(
        token.auth.metrics_token.as_deref(),
        Some("the-scrape-token-0123456789")
    );
    let off = parse(&format!("[metrics]\nenabled = false\n{base}")).expect("valid");
    assert!(!off.metrics);
    let from_env = with_env(base, &[("LOGDECK_METRICS__ENABLED", "false")]).expect("valid");
    assert!(!from_env.metrics);
}

#[test]
fn one_look_finds_every_error_in_the_order_of_the_file() {
    let text = r#"name = "two words"
memory_entries = 0

[[process]]
name = "a"
command = "x"
restart = "sometimes"
colour = "blue"

[[process]]
name = "a"
command = "y"
stop_timeout = "soon"
"#;
    let error = Config::parse(text, "test.toml", Path::new("/srv")).expect_err("rejected");
    let lines: Vec<String> = error.each().iter().map(ToString::to_string).collect();
    let expected = [
        ("test.toml:1:", "name: "),
        ("test.toml:2:", "memory_entries: "),
        (
            "test.toml:7:",
            "process[0].restart: unknown variant `sometimes`",
        ),
        ("test.toml:8:", "process[0].colour: unknown field `colour`"),
        (
            "test.toml:11:",
            "process[1].name: duplicate process name `a`",
        ),
        ("test.toml:13:", "process[1].stop_timeout: "),
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, (place, what)) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(place) && line.contains(what),
            "{line} ≠ {place}…{what}"
        );
    }
    // The whole error says each on its own line.
    assert_eq!(error.to_string().lines().count(), expected.len());
}

#[test]
fn a_field_taken_out_for_its_error_is_not_reported_again_as_missing() {
    let text = "[[process]]\nname = \"a\"\ncommand = 5\n";
    let error = Config::parse(text, "test.toml", Path::new("/srv")).expect_err("rejected");
    let lines: Vec<String> = error.each().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].starts_with("test.toml:3:"), "{}", lines[0]);
}
