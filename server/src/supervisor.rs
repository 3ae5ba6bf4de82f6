//! The supervisor: one runner task per configured process, and the handle
//! through which the rest of the server starts, stops, restarts and
//! observes them.
//!
//! Every child leads its own process group, so a stop signal reaches the
//! shell and whatever it started, not only the direct child. Shutdown stops
//! dependents before the processes they depend on.
//!
//! # Layout
//! - `process_runner`: one process's lifecycle, a task each.
//! - `decision`: the table of what each request does in each phase.
//! - `restart_policy`: whether and when an exited process restarts.
//! - `dependencies`: start conditions and the order of stopping.
//! - `spawn`, `stop`, `ready_probe`: starting a child, signalling its
//!   group, telling when it is ready.
//! - `resources`: CPU and memory of each process group.
//! - `tree`: what a process left behind (descendants that left its group,
//!   holders of its pipes), and reaping the orphans given to us.

mod decision;
mod dependencies;
mod process_runner;
mod ready_probe;
mod resources;
#[cfg(test)]
pub(crate) use resources::StatFields;
mod restart_policy;
mod spawn;
mod stop;
mod tree;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::protocol::ProcessAction;
use app::{ProcessInfo, ProcessState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::config::{Command, Config, ProcessConfig};
use crate::hub::LogHub;
use crate::redact::Redactor;
use decision::RunnerAction;
use process_runner::{Request, Runner};
use resources::ResourceSampler;

pub use spawn::read_env_file;

/// What a client may see of a process's configuration.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessSummary {
    pub command: Command,
    pub cwd: Option<PathBuf>,
    pub autostart: bool,
    /// The names of the variables it sets; values may hold secrets.
    pub env: Vec<String>,
    /// The processes it waits for.
    pub depends_on: Vec<String>,
    /// How long a stop may take before SIGKILL.
    #[serde(skip)]
    pub stop_timeout: Duration,
}

impl ProcessSummary {
    fn of(spec: &ProcessConfig) -> ProcessSummary {
        ProcessSummary {
            command: spec.command.clone(),
            cwd: spec.cwd.clone(),
            autostart: spec.autostart,
            env: spec.env.keys().cloned().collect(),
            depends_on: spec.depends_on.iter().map(|d| d.process.clone()).collect(),
            stop_timeout: spec.stop_timeout,
        }
    }
}

/// A process's status as its runner keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessStatus {
    pub state: ProcessState,
    pub pid: Option<u32>,
    pub started_at: Option<DateTime<Utc>>,
    /// The first `seq` the current (or last) run could have produced.
    pub start_seq: Option<u64>,
    pub restarts: u32,
    pub last_exit_code: Option<i32>,
    pub ready: bool,
    /// It has been spawned at least once.
    pub ever_started: bool,
    /// Its last run ended by itself with exit code 0.
    pub exited_ok: bool,
}

impl Default for ProcessStatus {
    fn default() -> Self {
        Self {
            state: ProcessState::Stopped,
            pid: None,
            started_at: None,
            start_seq: None,
            restarts: 0,
            last_exit_code: None,
            ready: false,
            ever_started: false,
            exited_ok: false,
        }
    }
}

/// Why a request about a process was refused. Serialisable: in a cluster
/// a node sends it to the node that asked.
#[derive(Debug, thiserror::Error, Serialize, serde::Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum ControlError {
    #[error("no process named `{name}`")]
    NotFound { name: String },
    /// The request does not fit the process's state (stopping a stopped
    /// process, starting a running one).
    #[error("{message}")]
    Conflict {
        message: String,
        current: Box<ProcessInfo>,
    },
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Owns the runner tasks; dropped or shut down with the server.
pub struct Supervisor {
    handle: SupervisorHandle,
    /// Runners not launched yet: nothing runs (and nothing is printed)
    /// until every consumer of the hub has subscribed.
    waiting: Vec<Runner>,
    tasks: JoinSet<()>,
    stop_waves: Vec<Vec<usize>>,
    /// Reaps the orphans given to this process as subreaper.
    reaper: tokio::task::JoinHandle<()>,
    /// Marks this run's processes and everything they started.
    run_id: String,
}

/// How often exited orphans are reaped.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("processes", &self.handle.shared.slots.len())
            .field("launched", &self.waiting.is_empty())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A runner per configured process, ready to [`launch`](Self::launch):
    /// its handle can be given out first, to the consumers that must
    /// subscribe to the hub before any process prints.
    pub fn new(config: &Config, hub: Arc<LogHub>) -> Supervisor {
        // Descendants orphaned by a process that exits come to us, not to
        // init: they can still be found (and stopped at shutdown).
        tree::become_subreaper();
        let reaper = tokio::spawn(async {
            let mut every = tokio::time::interval(REAP_INTERVAL);
            loop {
                every.tick().await;
                tokio::task::spawn_blocking(tree::reap_adopted).await.ok();
            }
        });
        let run_id = hub.run_id().to_owned();
        let (events, _) = broadcast::channel(256);
        let channels: Vec<_> = config
            .processes
            .iter()
            .map(|_| (watch::channel(ProcessStatus::default()), mpsc::channel(16)))
            .collect();
        let index_of = config.index_by_name();
        // The server's own token is masked wherever a process prints it.
        let redactor = Arc::new(
            Redactor::new(config.redact.builtin, &config.redact.patterns)
                .with_literals(config.auth.token.clone()),
        );

        let mut slots = Vec::new();
        let mut runners = Vec::new();
        let mut specs = Vec::new();
        for (index, (spec, ((status_tx, status_rx), (request_tx, request_rx)))) in
            config.processes.iter().zip(channels).enumerate()
        {
            slots.push(Slot {
                name: spec.name.clone(),
                summary: ProcessSummary::of(spec),
                requests: request_tx,
                status: status_rx,
                counters: config.metrics.then(Arc::default),
            });
            specs.push(Arc::new(spec.clone()));
            runners.push((index, spec, status_tx, request_rx));
        }
        let mut waiting = Vec::new();
        for (index, spec, status, requests) in runners {
            let dependencies = spec
                .depends_on
                .iter()
                .map(|d| {
                    (
                        d.clone(),
                        slots[index_of[d.process.as_str()]].status.clone(),
                    )
                })
                .collect();
            waiting.push(Runner {
                index,
                spec: specs[index].clone(),
                hub: hub.clone(),
                status,
                events: events.clone(),
                requests,
                dependencies,
                history: Default::default(),
                max_line_bytes: config.max_line_bytes,
                redactor: redactor.clone(),
                counters: slots[index].counters.clone(),
            });
        }
        Supervisor {
            handle: SupervisorHandle {
                shared: Arc::new(Shared {
                    slots,
                    node: config.node.clone(),
                    events,
                    sampler: Mutex::new(ResourceSampler::default()),
                }),
            },
            waiting,
            tasks: JoinSet::new(),
            stop_waves: dependencies::stop_waves(config),
            reaper,
            run_id,
        }
    }

    /// Starts the runners; those with `autostart` start their process once
    /// their dependencies allow.
    pub fn launch(&mut self) {
        for runner in self.waiting.drain(..) {
            self.tasks.spawn(runner.run());
        }
    }

    pub fn handle(&self) -> SupervisorHandle {
        self.handle.clone()
    }

    /// Stops every process, dependents first, and waits for all of them
    /// (and everything they started) to exit.
    pub async fn shutdown(mut self) {
        // Runners never launched have nothing to stop.
        self.waiting.clear();
        for wave in &self.stop_waves {
            let stops = wave
                .iter()
                .map(|&index| self.handle.request(index, RunnerAction::Shutdown));
            futures::future::join_all(stops).await;
        }
        // Runners exit after their shutdown request; dropping the last
        // request senders ends any that did not get one.
        drop(self.handle);
        while self.tasks.join_next().await.is_some() {}
        // Nothing this run started may outlive it: descendants that left
        // their process group (and kept the marker) are stopped too.
        let run = self.run_id;
        let _ = tokio::task::spawn_blocking(move || {
            tree::kill_all(&tree::marked(&format!("{run}/"), true));
        })
        .await;
        self.reaper.abort();
    }
}

/// A cheap, cloneable way to reach the processes.
#[derive(Clone, Debug)]
pub struct SupervisorHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    slots: Vec<Slot>,
    /// In a cluster, this node's name, reported with every process.
    node: Option<String>,
    events: broadcast::Sender<(usize, ProcessStatus)>,
    /// A std mutex: sampling is synchronous file reading, rate-limited to
    /// once a second, and never held across an await.
    sampler: Mutex<ResourceSampler>,
}

#[derive(Debug)]
struct Slot {
    name: String,
    summary: ProcessSummary,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<ProcessStatus>,
    /// What its capture counted (with `metrics.enabled`).
    counters: Option<Arc<crate::capture::LineCounters>>,
}

impl SupervisorHandle {
    fn index(&self, name: &str) -> Option<usize> {
        self.shared.slots.iter().position(|slot| slot.name == name)
    }

    /// Every configured process, in configuration order.
    pub fn list(&self) -> Vec<ProcessInfo> {
        (0..self.shared.slots.len())
            .map(|i| self.info(i, &self.shared.slots[i].status.borrow().clone()))
            .collect()
    }

    /// What clients may see of `name`'s configuration.
    pub fn summary(&self, name: &str) -> Option<ProcessSummary> {
        Some(self.shared.slots[self.index(name)?].summary.clone())
    }

    /// How often CPU and memory figures are refreshed.
    pub fn sample_interval(&self) -> Duration {
        resources::SAMPLE_INTERVAL
    }

    pub fn get(&self, name: &str) -> Option<ProcessInfo> {
        let index = self.index(name)?;
        Some(self.info(index, &self.shared.slots[index].status.borrow().clone()))
    }

    /// Starts, stops or restarts `name`; returns its state once the request
    /// took effect (`starting`, `stopping`).
    pub async fn control(
        &self,
        name: &str,
        action: ProcessAction,
    ) -> Result<ProcessInfo, ControlError> {
        let index = self.index(name).ok_or_else(|| ControlError::NotFound {
            name: name.to_owned(),
        })?;
        match self.request(index, RunnerAction::Control(action)).await {
            Some(Ok(status)) => Ok(self.info(index, &status)),
            Some(Err(message)) => Err(ControlError::Conflict {
                message,
                current: Box::new(
                    self.info(index, &self.shared.slots[index].status.borrow().clone()),
                ),
            }),
            None => Err(ControlError::ShuttingDown),
        }
    }

    /// Waits until `name`'s state satisfies `done`, for at most `timeout`;
    /// returns the last state seen.
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(&ProcessState) -> bool,
    ) -> Option<ProcessInfo> {
        let index = self.index(name)?;
        let mut status = self.shared.slots[index].status.clone();
        let _ = tokio::time::timeout(timeout, status.wait_for(|s| done(&s.state))).await;
        let last = status.borrow().clone();
        Some(self.info(index, &last))
    }

    /// Every status change from now on, as the API reports processes.
    pub fn subscribe(&self) -> StatusEvents {
        StatusEvents {
            handle: self.clone(),
            events: self.shared.events.subscribe(),
        }
    }

    /// Each process's capture counts, in configuration order (none
    /// without `metrics.enabled`).
    pub fn line_counters(&self) -> Vec<(&str, &crate::capture::LineCounters)> {
        self.shared
            .slots
            .iter()
            .filter_map(|slot| Some((slot.name.as_str(), &**slot.counters.as_ref()?)))
            .collect()
    }

    /// CPU seconds of `info`'s live processes (from the last sample).
    pub fn cpu_seconds(&self, info: &ProcessInfo) -> Option<f64> {
        let pgid = info.pid?;
        self.shared
            .sampler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .usage(pgid, tokio::time::Instant::now())
            .map(|u| u.cpu_seconds)
    }

    /// `name`'s state (without sampling its CPU and memory, as `get` does).
    pub fn state(&self, name: &str) -> Option<ProcessState> {
        Some(
            self.shared.slots[self.index(name)?]
                .status
                .borrow()
                .state
                .clone(),
        )
    }

    /// The first `seq` of `name`'s current or last run.
    pub fn start_seq(&self, name: &str) -> Option<u64> {
        self.shared.slots[self.index(name)?]
            .status
            .borrow()
            .start_seq
    }

    /// Processes that are `failed`, with the reason.
    pub fn failed(&self) -> Vec<(String, String)> {
        self.shared
            .slots
            .iter()
            .filter_map(|slot| match &slot.status.borrow().state {
                ProcessState::Failed { reason } => Some((slot.name.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    async fn request(
        &self,
        index: usize,
        action: RunnerAction,
    ) -> Option<Result<ProcessStatus, String>> {
        let (reply, answer) = oneshot::channel();
        self.shared.slots[index]
            .requests
            .send(Request { action, reply })
            .await
            .ok()?;
        answer.await.ok()
    }

    fn info(&self, index: usize, status: &ProcessStatus) -> ProcessInfo {
        let alive = status.state.is_alive();
        let usage = match (alive, status.pid) {
            (true, Some(pgid)) => self
                .shared
                .sampler
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .usage(pgid, tokio::time::Instant::now()),
            _ => None,
        };
        let uptime_secs = match (alive, status.started_at) {
            (true, Some(started)) => {
                Some(((Utc::now() - started).num_milliseconds().max(0) as f64) / 1000.0)
            }
            _ => None,
        };
        ProcessInfo {
            name: self.shared.slots[index].name.clone(),
            state: status.state.clone(),
            pid: if alive { status.pid } else { None },
            started_at: status.started_at,
            uptime_secs,
            start_seq: status.start_seq,
            restarts: status.restarts,
            last_exit_code: status.last_exit_code,
            ready: status.ready,
            cpu_percent: usage.and_then(|u| u.cpu_percent),
            rss_bytes: usage.map(|u| u.rss_bytes),
            node: self.shared.node.clone(),
            offline_since: None,
        }
    }
}

/// A subscription to process status changes.
#[derive(Debug)]
pub struct StatusEvents {
    handle: SupervisorHandle,
    events: broadcast::Receiver<(usize, ProcessStatus)>,
}

impl StatusEvents {
    /// The next change. A subscriber that fell behind skips to the oldest
    /// change still kept; `Err` means the supervisor is gone.
    pub async fn recv(&mut self) -> Result<ProcessInfo, broadcast::error::RecvError> {
        loop {
            match self.events.recv().await {
                Ok((index, status)) => return Ok(self.handle.info(index, &status)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(closed) => return Err(closed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Arc<LogHub> {
        Arc::new(crate::hub::test_hub(1000, 1000))
    }

    fn config(processes: &str) -> Config {
        Config::parse(processes, "test.toml", std::path::Path::new(".")).expect("valid config")
    }

    #[tokio::test]
    async fn nothing_runs_before_launch_so_a_late_subscriber_misses_nothing() {
        let config =
            config("[[process]]\nname = \"early\"\ncommand = \"echo first line; sleep 30\"\n");
        let hub = hub();
        let mut supervisor = Supervisor::new(&config, hub.clone());
        let handle = supervisor.handle();
        // Given time to run, a runner that is not launched does nothing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(hub.kept_after(0).is_empty(), "nothing printed yet");
        assert_eq!(handle.list()[0].state, ProcessState::Stopped);
        // What subscribes now (as the cluster's publisher and the alert
        // rules do) sees every line from the first.
        let mut entries = hub.subscribe();
        supervisor.launch();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !seen.iter().any(|m: &String| m == "first line") {
            let frame = tokio::time::timeout_at(deadline, entries.recv())
                .await
                .expect("the process's line within the deadline")
                .expect("hub open");
            seen.push(frame.entry.message.clone());
        }
        assert!(
            seen[0].starts_with("early: "),
            "the supervisor's own entry about the start comes first: {seen:?}"
        );
        supervisor.shutdown().await;
    }

    #[tokio::test]
    async fn a_supervisor_never_launched_shuts_down_at_once() {
        let config = config("[[process]]\nname = \"idle\"\ncommand = \"sleep 30\"\n");
        let supervisor = Supervisor::new(&config, hub());
        tokio::time::timeout(Duration::from_secs(60), supervisor.shutdown())
            .await
            .expect("shut down");
    }
}
