//! One task per configured process, owning its whole lifecycle: waiting
//! for dependencies, spawning, readiness, exits and restarts with backoff,
//! and stopping on request. What each request does in each phase is
//! [`decide`]'s table; the loops here carry it out. Every transition is
//! published as a status update and as one of Logdeck's own log entries.

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

use super::decision::{decide, Next, Phase, Reply, RunnerAction, Then};
use super::dependencies::{satisfaction, Satisfaction};
use super::restart_policy::{Decision, RestartHistory};
use super::stop::{describe_exit, group_alive, signal_group, signal_name};
use super::{ready_probe, spawn, tree, ProcessStatus};
use crate::capture::{capture, LineTrigger, Source};
use crate::config::{Dependency, ProcessConfig, ReadyCheck};
use crate::hub::LogHub;
use crate::redact::Redactor;

/// How long the pipes may stay open after the process itself exited
/// (something it started still holds them) before the group, and anything
/// else it left behind, is killed...
const PIPE_DRAIN_GRACE: Duration = Duration::from_secs(2);
/// ...and how long after that the readers are given before they are
/// abandoned (a pipe held by something that could not be killed).
const PIPE_DRAIN_LAST_CHANCE: Duration = Duration::from_secs(2);
/// How long a child may take to exit after SIGKILL (it may be stuck in the
/// kernel) before the stop gives up waiting for it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Where a request's answer goes: the status after the request took
/// effect, or why it could not.
pub type ReplyTx = oneshot::Sender<Result<ProcessStatus, String>>;

/// What a runner is asked to do, and where the answer goes.
#[derive(Debug)]
pub struct Request {
    pub action: RunnerAction,
    pub reply: ReplyTx,
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
    pub counters: Option<Arc<crate::capture::LineCounters>>,
}

/// What woke a runner waiting for its dependencies.
enum Woke {
    Dependency { gone: bool },
    Request(Option<Request>),
}

/// The runner's loops, one per phase it can wait in.
enum Step {
    Idle,
    WaitForDependencies,
    Launch,
    Backoff(Instant),
    Exit,
}

impl Step {
    /// Where a runner that is not running goes after `next` (`None`: it
    /// stays where it is).
    fn after(next: Next) -> Option<Step> {
        match next {
            Next::Stay => None,
            Next::Start | Next::Cancel(Then::Start) | Next::Stop(Then::Start) => Some(Step::Launch),
            Next::Cancel(Then::Idle) | Next::Stop(Then::Idle) => Some(Step::Idle),
            Next::Cancel(Then::Exit) | Next::Stop(Then::Exit) | Next::Exit => Some(Step::Exit),
        }
    }
}

impl Runner {
    pub async fn run(mut self) {
        let mut step = if self.spec.autostart {
            Step::WaitForDependencies
        } else {
            Step::Idle
        };
        loop {
            step = match step {
                Step::Idle => self.idle().await,
                Step::WaitForDependencies => self.wait_for_dependencies().await,
                Step::Launch => self.launch().await,
                Step::Backoff(until) => self.backoff(until).await,
                Step::Exit => return,
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

    /// Answers `request` as the table says for `phase`, making the change
    /// that happens at once (starting, stopping, stopped). Returns what
    /// comes next, and the reply when it is owed only once the child has
    /// exited.
    fn answer(&mut self, phase: Phase, request: Request) -> (Next, Option<ReplyTx>) {
        let (reply, next) = decide(phase, request.action);
        let status = match next {
            Next::Stay | Next::Exit => None,
            Next::Start => {
                self.history.clear();
                Some(self.starting(if phase == Phase::Waiting {
                    "starting without waiting for dependencies"
                } else {
                    "starting"
                }))
            }
            Next::Cancel(then) => {
                let how = match (phase, then) {
                    (Phase::Waiting, Then::Idle) => "stopped while waiting",
                    (Phase::Waiting, _) => "stopped",
                    _ => "stopped (restart cancelled)",
                };
                Some(self.transition(Level::Info, how, |s| s.state = ProcessState::Stopped))
            }
            Next::Stop(_) => Some(self.transition(Level::Info, "stopping", |s| {
                s.state = ProcessState::Stopping;
            })),
        };
        match reply {
            Reply::Now => {
                let _ = request
                    .reply
                    .send(Ok(status.unwrap_or_else(|| self.current())));
            }
            Reply::Refuse(refusal) => {
                let _ = request.reply.send(Err(refusal.message(&self.spec.name)));
            }
            Reply::WhenStopped => return (next, Some(request.reply)),
        }
        (next, None)
    }

    /// Not running: only a start (or restart) gets it going again.
    async fn idle(&mut self) -> Step {
        loop {
            let Some(request) = self.requests.recv().await else {
                return Step::Exit;
            };
            if let Some(step) = Step::after(self.answer(Phase::Idle, request).0) {
                return step;
            }
        }
    }

    async fn wait_for_dependencies(&mut self) -> Step {
        if self.dependencies.is_empty() {
            self.starting("starting");
            return Step::Launch;
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
                        return Step::Idle;
                    }
                }
            }
            if !pending {
                return Step::Launch;
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
                Woke::Request(None) => return Step::Exit,
                Woke::Request(Some(request)) => request,
            };
            if let Some(step) = Step::after(self.answer(Phase::Waiting, request).0) {
                return step;
            }
        }
    }

    async fn backoff(&mut self, until: Instant) -> Step {
        loop {
            let request = tokio::select! {
                _ = sleep_until(until) => {
                    self.starting("restarting");
                    return Step::Launch;
                }
                request = self.requests.recv() => request,
            };
            let Some(request) = request else {
                return Step::Exit;
            };
            if let Some(step) = Step::after(self.answer(Phase::Backoff, request).0) {
                return step;
            }
        }
    }

    async fn launch(&mut self) -> Step {
        // Everything this run prints gets a seq from here on.
        let start_seq = self.hub.next_seq();
        let marker = tree::marker(self.hub.run_id(), &self.spec.name);
        let mut child = match spawn::spawn(&self.spec, &marker) {
            Ok(child) => child,
            Err(error) => {
                let reason = error.to_string();
                self.transition(Level::Error, format!("cannot start: {reason}"), |s| {
                    s.state = ProcessState::Failed { reason };
                    s.pid = None;
                    s.ready = false;
                });
                return Step::Idle;
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            tree::register(pid);
        }
        // Should this task be dropped mid-run (the runtime torn down), the
        // whole group goes with it, not only the direct child.
        let _group = GroupGuard(pid);
        let leftovers = Leftovers {
            pgid: pid,
            marker,
            pipes: [
                child.stdout.as_ref().and_then(tree::pipe_of),
                child.stderr.as_ref().and_then(tree::pipe_of),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
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
                    self.drain_readers(&mut readers, &leftovers).await;
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
                    let (next, mut owed) = match request {
                        Some(request) => self.answer(Phase::Running, request),
                        // The supervisor is gone: stop for good.
                        None => {
                            self.transition(Level::Info, "stopping", |s| s.state = ProcessState::Stopping);
                            (Next::Stop(Then::Exit), None)
                        }
                    };
                    let Next::Stop(mut then) = next else {
                        continue;
                    };
                    probe_task.abort_all();
                    let status = self.stop_child(&mut child, &leftovers, &mut owed).await;
                    self.drain_readers(&mut readers, &leftovers).await;
                    if owed.is_some() {
                        then = Then::Exit;
                    }
                    let how = match &status {
                        Ok(status) => describe_exit(*status),
                        Err(error) => format!("lost track of it: {error}"),
                    };
                    let stopped = self.transition(Level::Info, format!("stopped ({how})"), |s| {
                        s.state = ProcessState::Stopped;
                        s.pid = None;
                        s.ready = false;
                    });
                    if let Some(reply) = owed {
                        let _ = reply.send(Ok(stopped));
                    }
                    return match then {
                        Then::Idle => Step::Idle,
                        Then::Exit => Step::Exit,
                        Then::Start => {
                            self.history.clear();
                            self.starting("restarting");
                            Step::Launch
                        }
                    };
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
            counters: self.counters.clone(),
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
    /// meanwhile are answered as the table says for a stopping process: a
    /// shutdown's reply joins `owed`, to be sent once it is gone.
    async fn stop_child(
        &mut self,
        child: &mut Child,
        leftovers: &Leftovers,
        owed: &mut Option<ReplyTx>,
    ) -> io::Result<ExitStatus> {
        let Some(pgid) = leftovers.pgid else {
            return child.wait().await;
        };
        signal_group(pgid, self.spec.stop_signal);
        let deadline = sleep(self.spec.stop_timeout);
        tokio::pin!(deadline);
        let give_up = sleep(self.spec.stop_timeout + KILL_WAIT);
        tokio::pin!(give_up);
        let mut killed = false;
        let mut requests_open = true;
        loop {
            tokio::select! {
                status = child.wait() => {
                    // The leader is gone; nothing it started may linger.
                    leftovers.kill();
                    return status;
                }
                _ = &mut give_up, if killed => {
                    leftovers.kill();
                    return Err(io::Error::other(format!(
                        "it did not exit within {KILL_WAIT:?} of SIGKILL"
                    )));
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
                    leftovers.kill();
                }
                request = self.requests.recv(), if requests_open => match request {
                    Some(request) => {
                        if let (_, Some(reply)) = self.answer(Phase::Stopping, request) {
                            // A second shutdown request replaces the first;
                            // both only wait for the same exit.
                            *owed = Some(reply);
                        }
                    }
                    None => requests_open = false,
                },
            }
        }
    }

    fn after_exit(&mut self, status: io::Result<ExitStatus>) -> Step {
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
                return Step::Idle;
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
                Step::Idle
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
                Step::Backoff(Instant::now() + delay)
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
                Step::Idle
            }
        }
    }
}

/// Where a run's leftovers are: its process group, the marker its
/// descendants carry, and its output pipes.
#[derive(Debug)]
struct Leftovers {
    pgid: Option<u32>,
    marker: String,
    pipes: Vec<String>,
}

impl Leftovers {
    /// SIGKILL to the group and to every marked descendant, wherever it
    /// went (its own session, another parent).
    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, Signal::SIGKILL);
        }
        tree::kill_all(&tree::marked(&self.marker, false));
    }

    /// [`Leftovers::kill`], and whatever still holds the pipes open, marked
    /// or not.
    fn kill_pipe_holders(&self) {
        self.kill();
        tree::kill_all(&tree::pipe_holders(&self.pipes));
    }
}

/// Kills a child's process group when dropped. On every normal path the
/// group is gone by then and this does nothing.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            tree::unregister(pgid);
            if group_alive(pgid) {
                signal_group(pgid, Signal::SIGKILL);
            }
        }
    }
}

impl Runner {
    /// Waits until the readers have published everything left in the
    /// pipes. Something the process started may keep them open: after a
    /// grace period it is killed (its group, its marked descendants, and
    /// any process holding the pipes); readers still not done after a last
    /// chance are abandoned, so this always ends.
    async fn drain_readers(&self, readers: &mut JoinSet<()>, leftovers: &Leftovers) {
        let drained = tokio::time::timeout(PIPE_DRAIN_GRACE, async {
            while readers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_ok() {
            // Nothing holds the pipes; still, nothing it started may stay.
            leftovers.kill();
            return;
        }
        leftovers.kill_pipe_holders();
        let finished = tokio::time::timeout(PIPE_DRAIN_LAST_CHANCE, async {
            while readers.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            readers.abort_all();
            while readers.join_next().await.is_some() {}
            self.hub.publish_system(
                Level::Warning,
                format!(
                    "{}: stopped reading its output: the pipes are held open by a process that could not be stopped",
                    self.spec.name
                ),
            );
        }
    }
}
