//! The supervisor: starts the configured processes, hands their pipes to
//! capture, reports how they end, and stops them (with everything they
//! spawned) on shutdown.
//!
//! Every child leads its own process group, so a stop signal reaches the
//! shell and whatever it started, not only the direct child.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use app::{Level, Stream};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::capture::{capture, Source};
use crate::config::{Config, ProcessConfig};
use crate::hub::LogHub;

/// How long a process gets to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns one task per configured process.
#[derive(Debug)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    stop: CancellationToken,
}

impl Supervisor {
    /// Starts every configured process. A process that cannot be started
    /// is reported as a log entry; the others run regardless.
    pub fn start(config: &Config, hub: Arc<LogHub>, stop_timeout: Duration) -> Supervisor {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for process in &config.processes {
            tasks.spawn(run_process(
                process.clone(),
                hub.clone(),
                stop.clone(),
                stop_timeout,
            ));
        }
        Supervisor { tasks, stop }
    }

    /// Stops every process (SIGTERM to its group, SIGKILL after the stop
    /// timeout) and waits until all have exited.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn run_process(
    process: ProcessConfig,
    hub: Arc<LogHub>,
    stop: CancellationToken,
    stop_timeout: Duration,
) {
    let name = process.name.as_str();
    let mut child = match spawn(&process) {
        Ok(child) => child,
        Err(error) => {
            hub.publish_system(Level::Error, format!("{name}: cannot start: {error}"));
            return;
        }
    };
    let pid = child.id();
    hub.publish_system(
        Level::Info,
        format!(
            "{name}: started (pid {})",
            pid.map_or("?".into(), |p| p.to_string())
        ),
    );
    let readers = start_readers(&mut child, name, pid, &hub);

    let stopped_by_us;
    let status = tokio::select! {
        status = child.wait() => {
            stopped_by_us = false;
            status
        }
        _ = stop.cancelled() => {
            stopped_by_us = true;
            terminate(&mut child, pid, stop_timeout).await
        }
    };
    // Let the readers publish what is still in the pipes before the exit
    // entry, so the log reads in the order things happened.
    drain_readers(readers, pid).await;
    match status {
        Ok(status) => {
            let level = if status.success() || stopped_by_us {
                Level::Info
            } else {
                Level::Warning
            };
            hub.publish_system(
                level,
                format!("{name}: {}", describe_exit(status, stopped_by_us)),
            );
        }
        Err(error) => {
            hub.publish_system(
                Level::Error,
                format!("{name}: lost track of the process: {error}"),
            );
        }
    }
}

fn spawn(process: &ProcessConfig) -> std::io::Result<Child> {
    let (program, args) = process.command.program_and_args();
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(&process.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &process.cwd {
        command.current_dir(cwd);
    }
    command.spawn()
}

fn start_readers(
    child: &mut Child,
    name: &str,
    pid: Option<u32>,
    hub: &Arc<LogHub>,
) -> JoinSet<()> {
    let mut readers = JoinSet::new();
    let process_name: Arc<str> = name.into();
    let source = |stream| Source {
        process_name: process_name.clone(),
        stream,
        pid,
    };
    if let Some(stdout) = child.stdout.take() {
        readers.spawn(capture(stdout, source(Stream::Stdout), hub.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.spawn(capture(stderr, source(Stream::Stderr), hub.clone()));
    }
    readers
}

/// Waits for the readers to reach end of file. Something the child left
/// behind may still hold the pipes open; after a short grace period the
/// group is killed so the readers, and the process table, are left clean.
async fn drain_readers(mut readers: JoinSet<()>, pid: Option<u32>) {
    let drained = tokio::time::timeout(Duration::from_secs(2), async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        if let Some(pid) = pid {
            signal_group(pid, Signal::SIGKILL);
        }
        while readers.join_next().await.is_some() {}
    }
}

/// SIGTERM to the whole group, then SIGKILL if it outlives `timeout`.
async fn terminate(
    child: &mut Child,
    pid: Option<u32>,
    timeout: Duration,
) -> std::io::Result<ExitStatus> {
    let Some(pid) = pid else {
        // Already reaped: `wait` returns the cached status.
        return child.wait().await;
    };
    signal_group(pid, Signal::SIGTERM);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => {
            // The leader is gone; make sure nothing it started lingers.
            signal_group(pid, Signal::SIGKILL);
            status
        }
        Err(_) => {
            signal_group(pid, Signal::SIGKILL);
            child.wait().await
        }
    }
}

fn signal_group(pid: u32, signal: Signal) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    // ESRCH (group already gone) is the expected outcome once it has exited.
    let _ = killpg(Pid::from_raw(pid), signal);
}

fn describe_exit(status: ExitStatus, stopped_by_us: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    let verb = if stopped_by_us { "stopped" } else { "exited" };
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("{verb} with code {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal)
                .map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned());
            format!("{verb} by signal {name}")
        }
        (None, None) => verb.to_owned(),
    }
}
