//! One task per configured process, owning its whole lifecycle: waiting
//! for dependencies, spawning, readiness, exits and restarts with backoff,
//! and stopping on request. Every transition is published as a status
//! update and as one of Logdeck's own log entries.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use app::{Level, ProcessState, Stream};
use chrono::Utc;
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, Instant};

use super::dependencies::{satisfaction, Satisfaction};
use super::restart_policy::{Decision, RestartHistory};
use super::stop::{describe_exit, group_alive, signal_group, signal_name};
use super::{ready_probe, spawn, Action, ProcessStatus};
use crate::capture::{capture, LineTrigger, Source};
use crate::config::{Dependency, ProcessConfig, ReadyCheck};
use crate::hub::LogHub;
use crate::redact::Redactor;

/// How long the pipes may stay open after the process itself exited
/// (something it started still holds them) before the group is killed.
const PIPE_DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a runner is asked to do, and where the answer goes: the status
/// after the request took effect, or why it could not.
#[derive(Debug)]
pub struct Request {
    pub action: RunnerAction,
    pub reply: oneshot::Sender<Result<ProcessStatus, String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunnerAction {
    Control(Action),
    /// Stop for good; the reply comes once the process has exited.
    Shutdown,
}

pub struct Runner {
    pub index: usize,
    pub spec: Arc<ProcessConfig>,
    pub hub: Arc<LogHub>,
    pub status: watch::Sender<ProcessStatus>,
    pub events: broadcast::Sender<(usize, ProcessStatus)>,
    pub requests: mpsc::Receiver<Request>,
    pub dependencies: Vec<(Dependency, watch::Receiver<ProcessStatus>)>,
    pub history: RestartHistory,
    pub max_line_bytes: usize,
    pub redactor: Arc<Redactor>,
}

/// What woke a runner waiting for its dependencies.
enum Woke {
    Dependency { gone: bool },
    Request(Option<Request>),
}

enum Next {
    Idle,
    WaitForDependencies,
    Launch,
    Backoff(Instant),
    Exit,
}

impl Runner {
    pub async fn run(mut self) {
        let mut next = if self.spec.autostart {
            Next::WaitForDependencies
        } else {
            Next::Idle
        };
        loop {
            next = match next {
                Next::Idle => self.idle().await,
                Next::WaitForDependencies => self.wait_for_dependencies().await,
                Next::Launch => self.launch().await,
                Next::Backoff(until) => self.backoff(until).await,
                Next::Exit => return,
            };
        }
    }

    fn current(&self) -> ProcessStatus {
        self.status.borrow().clone()
    }

    /// Applies `change`, publishes the new status, and logs `message` as
    /// one of Logdeck's own entries.
    fn transition(
        &self,
        level: Level,
        message: impl AsRef<str>,
        change: impl FnOnce(&mut ProcessStatus),
    ) -> ProcessStatus {
        self.status.send_modify(change);
        let status = self.current();
        let _ = self.events.send((self.index, status.clone()));
        self.hub
            .publish_system(level, format!("{}: {}", self.spec.name, message.as_ref()));
        status
    }

    fn starting(&mut self, message: &str) -> ProcessStatus {
        self.transition(Level::Info, message, |s| s.state = ProcessState::Starting)
    }

    /// Not running: only a start (or restart) gets it going again.
    async fn idle(&mut self) -> Next {
        loop {
            let Some(request) = self.requests.recv().await else {
                return Next::Exit;
            };
            match request.action {
                RunnerAction::Control(Action::Start | Action::Restart) => {
                    self.history.clear();
                    let status = self.starting("starting");
                    let _ = request.reply.send(Ok(status));
                    return Next::Launch;
                }
                RunnerAction::Control(Action::Stop) => {
                    let _ = request
                        .reply
                        .send(Err(format!("{} is not running", self.spec.name)));
                }
                RunnerAction::Shutdown => {
                    let _ = request.reply.send(Ok(self.current()));
                    return Next::Exit;
                }
            }
        }
    }

    async fn wait_for_dependencies(&mut self) -> Next {
        if self.dependencies.is_empty() {
            self.starting("starting");
            return Next::Launch;
        }
        let waiting_for: Vec<String> = self
            .dependencies
            .iter()
            .map(|(d, _)| format!("{} ({})", d.process, d.condition.as_str()))
            .collect();
        self.starting(&format!("waiting for {}", waiting_for.join(", ")));
        let mut dependencies_gone = false;
        loop {
            let mut pending = false;
            for (dependency, status) in &self.dependencies {
                match satisfaction(dependency.condition, &status.borrow()) {
                    Satisfaction::Yes => {}
                    Satisfaction::NotYet => pending = true,
                    Satisfaction::Never(why) => {
                        let reason = format!(
                            "dependency {} will not be {}: {why}",
                            dependency.process,
                            dependency.condition.as_str()
                        );
                        self.transition(Level::Error, format!("not started: {reason}"), |s| {
                            s.state = ProcessState::Failed { reason }
                        });
                        return Next::Idle;
                    }
                }
            }
            if !pending {
                return Next::Launch;
            }
            let woke = {
                let changes = futures::future::select_all(
                    self.dependencies
                        .iter_mut()
                        .map(|(_, status)| Box::pin(status.changed())),
                );
                tokio::select! {
                    (changed, _, _) = changes, if !dependencies_gone => Woke::Dependency { gone: changed.is_err() },
                    request = self.requests.recv() => Woke::Request(request),
                }
            };
            let request = match woke {
                // A dependency's runner only ends at shutdown; then wait
                // for this one's own shutdown request.
                Woke::Dependency { gone } => {
                    dependencies_gone = gone;
                    continue;
                }
                Woke::Request(None) => return Next::Exit,
                Woke::Request(Some(request)) => request,
            };
            match request.action {
                RunnerAction::Control(Action::Stop) => {
                    let status = self.transition(Level::Info, "stopped while waiting", |s| {
                        s.state = ProcessState::Stopped
                    });
                    let _ = request.reply.send(Ok(status));
                    return Next::Idle;
                }
                RunnerAction::Control(Action::Start | Action::Restart) => {
                    let status = self.starting("starting without waiting for dependencies");
                    let _ = request.reply.send(Ok(status));
                    return Next::Launch;
                }
                RunnerAction::Shutdown => {
                    let status = self
                        .transition(Level::Info, "stopped", |s| s.state = ProcessState::Stopped);
                    let _ = request.reply.send(Ok(status));
                    return Next::Exit;
                }
            }
        }
    }

    async fn backoff(&mut self, until: Instant) -> Next {
        let request = tokio::select! {
            _ = sleep_until(until) => {
                self.starting("restarting");
                return Next::Launch;
            }
            request = self.requests.recv() => request,
        };
        let Some(request) = request else {
            return Next::Exit;
        };
        match request.action {
            RunnerAction::Control(Action::Stop) | RunnerAction::Shutdown => {
                let status = self.transition(Level::Info, "stopped (restart cancelled)", |s| {
                    s.state = ProcessState::Stopped
                });
                let shutdown = request.action == RunnerAction::Shutdown;
                let _ = request.reply.send(Ok(status));
                if shutdown {
                    Next::Exit
                } else {
                    Next::Idle
                }
            }
            RunnerAction::Control(Action::Start | Action::Restart) => {
                self.history.clear();
                let status = self.starting("starting");
                let _ = request.reply.send(Ok(status));
                Next::Launch
            }
        }
    }

    async fn launch(&mut self) -> Next {
        // Everything this run prints gets a seq from here on.
        let start_seq = self.hub.next_seq();
        let mut child = match spawn::spawn(&self.spec) {
            Ok(child) => child,
            Err(error) => {
                let reason = error.to_string();
                self.transition(Level::Error, format!("cannot start: {reason}"), |s| {
                    s.state = ProcessState::Failed { reason };
                    s.pid = None;
                    s.ready = false;
                });
                return Next::Idle;
            }
        };
        let pid = child.id();
        let probe = self.spec.ready.clone();
        self.transition(
            Level::Info,
            format!(
                "running (pid {})",
                pid.map_or_else(|| "?".into(), |p| p.to_string())
            ),
            |s| {
                s.state = ProcessState::Running;
                s.pid = pid;
                s.started_at = Some(Utc::now());
                s.start_seq = Some(start_seq);
                s.ever_started = true;
                s.exited_ok = false;
                // Without a probe, running is as ready as it gets.
                s.ready = probe.is_none();
            },
        );

        let (ready_tx, mut ready_rx) = mpsc::channel::<()>(1);
        let trigger = match probe.as_ref().map(|p| &p.check) {
            Some(ReadyCheck::LogLine(regex)) => Some(LineTrigger {
                regex: regex.clone(),
                fired: ready_tx.clone(),
            }),
            _ => None,
        };
        let mut readers = self.start_readers(&mut child, pid, trigger);
        let mut probe_task = JoinSet::new();
        if let Some(probe) = probe.clone() {
            let ready_tx = ready_tx.clone();
            probe_task.spawn(async move {
                ready_probe::wait_until_ready(&probe).await;
                let _ = ready_tx.send(()).await;
            });
        }
        drop(ready_tx);
        let mut waiting_for_ready = probe.is_some();

        loop {
            tokio::select! {
                status = child.wait() => {
                    probe_task.abort_all();
                    drain_readers(&mut readers, pid).await;
                    return self.after_exit(status);
                }
                Some(()) = ready_rx.recv(), if waiting_for_ready => {
                    waiting_for_ready = false;
                    probe_task.abort_all();
                    self.transition(Level::Info, "ready", |s| {
                        s.state = ProcessState::Ready;
                        s.ready = true;
                    });
                }
                request = self.requests.recv() => {
                    let (action, reply) = match request {
                        Some(request) => (request.action, Some(request.reply)),
                        // The supervisor is gone: stop for good.
                        None => (RunnerAction::Shutdown, None),
                    };
                    if action == RunnerAction::Control(Action::Start) {
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(format!("{} is already running", self.spec.name)));
                        }
                        continue;
                    }
                    probe_task.abort_all();
                    let stopping = self.transition(Level::Info, "stopping", |s| {
                        s.state = ProcessState::Stopping;
                    });
                    // Start and stop requests are answered at once; a
                    // shutdown is answered once the process is gone.
                    let mut pending_shutdown = None;
                    match (action, reply) {
                        (RunnerAction::Shutdown, reply) => pending_shutdown = reply,
                        (_, Some(reply)) => {
                            let _ = reply.send(Ok(stopping));
                        }
                        (_, None) => {}
                    }
                    let (status, shutdown_reply) = self.stop_child(&mut child, pid).await;
                    drain_readers(&mut readers, pid).await;
                    let pending_shutdown = pending_shutdown.or(shutdown_reply);
                    let how = match &status {
                        Ok(status) => describe_exit(*status),
                        Err(error) => format!("lost track of it: {error}"),
                    };
                    let stopped = self.transition(Level::Info, format!("stopped ({how})"), |s| {
                        s.state = ProcessState::Stopped;
                        s.pid = None;
                        s.ready = false;
                    });
                    if let Some(reply) = pending_shutdown {
                        let _ = reply.send(Ok(stopped));
                        return Next::Exit;
                    }
                    if action == RunnerAction::Shutdown {
                        return Next::Exit;
                    }
                    if action == RunnerAction::Control(Action::Restart) {
                        self.history.clear();
                        self.starting("restarting");
                        return Next::Launch;
                    }
                    return Next::Idle;
                }
            }
        }
    }

    fn start_readers(
        &self,
        child: &mut Child,
        pid: Option<u32>,
        trigger: Option<LineTrigger>,
    ) -> JoinSet<()> {
        let mut readers = JoinSet::new();
        let process_name: Arc<str> = self.spec.name.as_str().into();
        let rules = Arc::new(self.spec.capture.clone());
        let source = |stream| Source {
            process_name: process_name.clone(),
            stream,
            pid,
            rules: rules.clone(),
            max_line_bytes: self.max_line_bytes,
            redactor: self.redactor.clone(),
        };
        if let Some(stdout) = child.stdout.take() {
            readers.spawn(capture(
                stdout,
                source(Stream::Stdout),
                self.hub.clone(),
                trigger.clone(),
            ));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.spawn(capture(
                stderr,
                source(Stream::Stderr),
                self.hub.clone(),
                trigger,
            ));
        }
        readers
    }

    /// Sends the stop signal to the group, escalates to SIGKILL after the
    /// stop timeout, and waits for the process to exit. Requests arriving
    /// meanwhile are refused, except a shutdown, whose reply is returned.
    async fn stop_child(
        &mut self,
        child: &mut Child,
        pid: Option<u32>,
    ) -> (
        io::Result<ExitStatus>,
        Option<oneshot::Sender<Result<ProcessStatus, String>>>,
    ) {
        let Some(pgid) = pid else {
            return (child.wait().await, None);
        };
        signal_group(pgid, self.spec.stop_signal);
        let deadline = sleep(self.spec.stop_timeout);
        tokio::pin!(deadline);
        let mut killed = false;
        let mut requests_open = true;
        let mut shutdown_reply = None;
        loop {
            tokio::select! {
                status = child.wait() => {
                    // The leader is gone; nothing it started may linger.
                    signal_group(pgid, Signal::SIGKILL);
                    return (status, shutdown_reply);
                }
                _ = &mut deadline, if !killed => {
                    killed = true;
                    self.hub.publish_system(
                        Level::Warning,
                        format!(
                            "{}: still running {:?} after {}; sending SIGKILL",
                            self.spec.name,
                            self.spec.stop_timeout,
                            self.spec.stop_signal.as_str()
                        ),
                    );
                    signal_group(pgid, Signal::SIGKILL);
                }
                request = self.requests.recv(), if requests_open => match request {
                    Some(Request { action: RunnerAction::Shutdown, reply }) => shutdown_reply = Some(reply),
                    Some(request) => {
                        let _ = request.reply.send(Err(format!("{} is already stopping", self.spec.name)));
                    }
                    None => requests_open = false,
                },
            }
        }
    }

    fn after_exit(&mut self, status: io::Result<ExitStatus>) -> Next {
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                let reason = format!("lost track of the process: {error}");
                self.transition(Level::Error, &reason, |s| {
                    s.state = ProcessState::Failed {
                        reason: reason.clone(),
                    };
                    s.pid = None;
                    s.ready = false;
                });
                return Next::Idle;
            }
        };
        let ok = status.success();
        let exit_code = status.code();
        let signal = status.signal().map(signal_name);
        let how = describe_exit(status);
        let ended = |s: &mut ProcessStatus| {
            s.pid = None;
            s.ready = false;
            s.last_exit_code = exit_code;
            s.exited_ok = ok;
        };
        match self
            .history
            .decide(&self.spec, ok, Instant::now(), fastrand::f64())
        {
            Decision::Stay => {
                let level = if ok { Level::Info } else { Level::Warning };
                self.transition(level, &how, |s| {
                    ended(s);
                    s.state = ProcessState::Exited { exit_code, signal };
                });
                Next::Idle
            }
            Decision::RestartIn { delay, attempt } => {
                let until = Utc::now() + delay;
                let limit = match self.spec.max_restarts {
                    0 => String::new(),
                    max => format!(" of {max} within {:?}", self.spec.restart_window),
                };
                self.transition(
                    Level::Warning,
                    format!(
                        "{how}; restarting in {:.1}s (restart {attempt}{limit})",
                        delay.as_secs_f64()
                    ),
                    |s| {
                        ended(s);
                        s.state = ProcessState::Backoff { until };
                        s.restarts += 1;
                    },
                );
                Next::Backoff(Instant::now() + delay)
            }
            Decision::GiveUp { restarts } => {
                let reason = format!(
                    "{how} after {restarts} restarts within {:?}; not restarting again",
                    self.spec.restart_window
                );
                self.transition(Level::Error, &reason, |s| {
                    ended(s);
                    s.state = ProcessState::Failed {
                        reason: reason.clone(),
                    };
                });
                Next::Idle
            }
        }
    }
}

/// Waits until the readers have published everything left in the pipes.
/// Something the process started may keep them open; after a grace period
/// the whole group is killed so the readers, and the process table, end
/// clean.
async fn drain_readers(readers: &mut JoinSet<()>, pid: Option<u32>) {
    let drained = tokio::time::timeout(PIPE_DRAIN_GRACE, async {
        while readers.join_next().await.is_some() {}
    })
    .await;
    if let Some(pgid) = pid {
        if drained.is_err() || group_alive(pgid) {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
    while readers.join_next().await.is_some() {}
}
