//! Starting a child: its command line, environment, pipes and process
//! group.

use std::io;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::config::ProcessConfig;

/// Where coreutils' line-buffering shim lives on common distributions.
const LIBSTDBUF_PATHS: &[&str] = &[
    "/usr/libexec/coreutils/libstdbuf.so",
    "/usr/lib/coreutils/libstdbuf.so",
    "/usr/lib/x86_64-linux-gnu/coreutils/libstdbuf.so",
    "/usr/lib/aarch64-linux-gnu/coreutils/libstdbuf.so",
];

/// Spawns the process in a new process group (it leads it), with stdin
/// closed, stdout and stderr piped, and `marker` in its environment (see
/// [`super::tree`]).
pub fn spawn(spec: &ProcessConfig, marker: &str) -> io::Result<Child> {
    let (program, args) = spec.command.program_and_args();
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Logdeck's own secrets stay Logdeck's: a child inherits the server's
    // environment, but not its access token (or other credentials),
    // unless its own `env` sets them.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_logdeck_secret) {
            command.env_remove(name);
        }
    }
    // Later sources win: the unbuffering defaults, then env_file, then env.
    if spec.unbuffered {
        command.envs(unbuffered_env());
    }
    if let Some(file) = &spec.env_file {
        command.envs(read_env_file(file)?);
    }
    command.envs(&spec.env);
    command.env(super::tree::MARKER_VAR, marker);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    terminate_with_parent(&mut command);
    command.spawn()
}

/// Whether an environment variable holds one of Logdeck's own credentials:
/// `LOGDECK_TOKEN`, and any `LOGDECK_*` variable naming a token, password,
/// secret, key or credentials file (`LOGDECK_AUTH__TOKEN`, and those of
/// settings still to come).
fn is_logdeck_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("LOGDECK_")
        && ["TOKEN", "PASSWORD", "SECRET", "KEY", "CREDS", "CREDENTIALS"]
            .iter()
            .any(|word| upper.contains(word))
}

/// Variables that make common runtimes write each line as it is printed
/// even though their output is a pipe: Python's own switch, and coreutils'
/// `stdbuf` shim (line-buffered stdout for C programs) where installed.
fn unbuffered_env() -> Vec<(String, String)> {
    let mut vars = vec![("PYTHONUNBUFFERED".to_owned(), "1".to_owned())];
    if let Some(shim) = LIBSTDBUF_PATHS.iter().find(|p| Path::new(p).is_file()) {
        let preload = match std::env::var("LD_PRELOAD") {
            Ok(existing) if !existing.is_empty() => format!("{existing}:{shim}"),
            _ => (*shim).to_owned(),
        };
        vars.push(("LD_PRELOAD".to_owned(), preload));
        vars.push(("_STDBUF_O".to_owned(), "L".to_owned()));
    }
    vars
}

/// `KEY=value` lines; blank lines and `#` comments are skipped, an
/// `export ` prefix and matching quotes around the value are removed.
pub fn read_env_file(path: &Path) -> io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("env_file {}: {e}", path.display())))?;
    Ok(parse_env_file(&text))
}

fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|&q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
                .unwrap_or(value);
            Some((key.trim().to_owned(), unquoted.to_owned()))
        })
        .collect()
}

/// Asks Linux to send the child SIGTERM if the server dies without
/// stopping it (SIGKILL, a crash), so a supervised process is not left
/// running unsupervised.
#[allow(unsafe_code)]
fn terminate_with_parent(command: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only
    // makes the prctl and getppid system calls, which are async-signal-
    // safe, and builds an io::Error from a raw errno without allocating.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The server may have died between fork and prctl.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_files_like_docker_and_systemd() {
        let vars = parse_env_file(
            "# comment\n\nA=1\nexport B=two words\nC=\"quoted value\"\nD='single'\nE=\nnot a pair\n",
        );
        let get = |k: &str| {
            vars.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("quoted value"));
        assert_eq!(get("D"), Some("single"));
        assert_eq!(get("E"), Some(""));
        assert_eq!(vars.len(), 5);
    }

    #[test]
    fn logdecks_credentials_are_recognised() {
        for secret in [
            "LOGDECK_TOKEN",
            "LOGDECK_AUTH__TOKEN",
            "logdeck_auth__token",
            "LOGDECK_CLUSTER__TOKEN",
            "LOGDECK_CLUSTER__CREDS",
            "LOGDECK_METRICS__TOKEN",
        ] {
            assert!(is_logdeck_secret(secret), "{secret}");
        }
        for plain in [
            "LOGDECK_LOG",
            "LOGDECK_CONFIG",
            "LOGDECK_NAME",
            "TOKEN",
            "MY_TOKEN",
        ] {
            assert!(!is_logdeck_secret(plain), "{plain}");
        }
    }

    #[test]
    fn python_is_always_told_not_to_buffer() {
        assert!(unbuffered_env().contains(&("PYTHONUNBUFFERED".into(), "1".into())));
    }
}
