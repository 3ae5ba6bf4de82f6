//! Alerts: rules on lines and on process (and node) events, sent to
//! webhooks, Slack, Discord or ntfy.
//!
//! A consumer like the others: one task reads this node's entries from
//! the hub and the supervisor's state changes, keeps each rule's state
//! (`rules`) and hands notifications to each notifier's bounded queue
//! (`notify`), whose task delivers them with retries. Without `[[alert]]`
//! rules nothing is started and nothing subscribes.
//!
//! # Layout
//! - this file: the engine and the handle the web layer reads.
//! - `rules`: one rule's state, pure (time passed in).
//! - `notify`: delivery and the notifiers' payloads.

pub mod notify;
pub mod rules;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::ansi::strip_ansi;
use app::protocol::{AlertInfo, AlertsInfo, NotifierInfo};
use app::ProcessState;
use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cluster::Directory;
use crate::config::alerts::{AlertRule, AlertsConfig, EventKind, Trigger};
use crate::hub::{Frame, LogHub, Subscription};
use crate::supervisor::SupervisorHandle;
use notify::NotifierState;
use rules::{describe_duration, LineRef, Match, Notification, RuleState, Status};

/// How often firing rules are looked at for resolution.
const TICK: Duration = Duration::from_secs(1);

/// What the web layer reads: the rules, their state, the notifiers.
#[derive(Clone, Debug)]
pub struct AlertsHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    rules: Vec<AlertRule>,
    states: Mutex<Vec<RuleState>>,
    notifiers: Vec<Arc<NotifierState>>,
}

/// The running tasks; stopped with the server.
#[derive(Debug, Default)]
pub struct AlertsRunning {
    tasks: Vec<JoinHandle<()>>,
}

impl AlertsRunning {
    pub fn shutdown(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Where the rules' inputs come from, and where links point.
#[derive(Debug)]
pub struct Sources {
    /// This node's hub: its lines, and where delivery failures are told.
    pub hub: Arc<LogHub>,
    pub supervisor: SupervisorHandle,
    /// In a cluster: the nodes, for `node_offline`.
    pub directory: Option<Directory>,
    /// This node's name in a cluster.
    pub node: Option<String>,
    /// Where people open the viewer (`public_url`, else the address the
    /// server listens on).
    pub base_url: String,
}

/// Starts the engine and the notifiers' tasks (nothing without rules).
pub fn start(config: &AlertsConfig, sources: Sources) -> (AlertsRunning, AlertsHandle) {
    let notifiers: Vec<Arc<NotifierState>> = config
        .notifiers
        .iter()
        .map(|n| Arc::new(NotifierState::new(n.clone())))
        .collect();
    let shared = Arc::new(Shared {
        rules: config.rules.clone(),
        states: Mutex::new(vec![RuleState::default(); config.rules.len()]),
        notifiers,
    });
    let handle = AlertsHandle {
        shared: shared.clone(),
    };
    if config.rules.is_empty() {
        return (AlertsRunning::default(), handle);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("logdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let mut queues = Vec::new();
    for notifier in &shared.notifiers {
        let (queue, receiver) = mpsc::channel(notify::QUEUE);
        queues.push(queue);
        tasks.push(tokio::spawn(notify::deliver(
            client.clone(),
            notifier.clone(),
            receiver,
            sources.hub.clone(),
            outcomes_tx.clone(),
        )));
    }
    let watches_lines = config
        .rules
        .iter()
        .any(|r| matches!(r.trigger, Trigger::Lines { .. }));
    let entries = watches_lines.then(|| sources.hub.subscribe());
    let statuses = sources.supervisor.subscribe();
    let previous = sources
        .supervisor
        .list()
        .into_iter()
        .map(|p| (p.name, p.state))
        .collect();
    let engine = Engine {
        shared,
        queues,
        previous,
        nodes_online: HashMap::new(),
        sources,
    };
    tasks.push(tokio::spawn(engine.run(entries, statuses, outcomes)));
    (AlertsRunning { tasks }, handle)
}

struct Engine {
    shared: Arc<Shared>,
    /// One per notifier, in their order.
    queues: Vec<mpsc::Sender<Arc<Notification>>>,
    /// Each process's last state, to tell what changed.
    previous: HashMap<String, ProcessState>,
    nodes_online: HashMap<String, bool>,
    sources: Sources,
}

impl Engine {
    async fn run(
        mut self,
        mut entries: Option<Subscription>,
        mut statuses: crate::supervisor::StatusEvents,
        mut outcomes: mpsc::UnboundedReceiver<notify::Outcome>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut skipped = 0u64;
        loop {
            tokio::select! {
                entry = next_entry(&mut entries) => match entry {
                    Ok(frame) => self.on_entry(&frame),
                    Err(RecvError::Lagged(missed)) => {
                        skipped += missed;
                        tracing::warn!("alerts fell behind the log and skipped {missed} entries ({skipped} in all)");
                    }
                    Err(RecvError::Closed) => entries = None,
                },
                status = statuses.recv() => match status {
                    Ok(info) => self.on_status(&info),
                    Err(_) => break,
                },
                Some((rule, error)) = outcomes.recv() => {
                    if let Some(state) = self.lock().get_mut(rule) {
                        state.last_delivery_error = error;
                    }
                }
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RuleState>> {
        self.shared.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_entry(&self, frame: &Frame) {
        let entry = &frame.entry;
        let mut plain = None;
        for (index, rule) in self.shared.rules.iter().enumerate() {
            let Trigger::Lines {
                processes,
                level,
                pattern,
            } = &rule.trigger
            else {
                continue;
            };
            if processes
                .as_ref()
                .is_some_and(|p| !p.contains(&entry.process_name))
                || level.is_some_and(|l| entry.level < l)
            {
                continue;
            }
            if let Some(pattern) = pattern {
                let text = plain.get_or_insert_with(|| strip_ansi(&entry.message));
                if !pattern.is_match(text) {
                    continue;
                }
            }
            let found = Match {
                process: Some(entry.process_name.clone()),
                node: entry.node.clone().or_else(|| self.sources.node.clone()),
                line: Some(LineRef::new(
                    entry.seq,
                    entry.timestamp,
                    entry.level,
                    &entry.process_name,
                    &entry.message,
                )),
                event: None,
            };
            self.matched(index, found);
        }
    }

    fn on_status(&mut self, info: &app::ProcessInfo) {
        let previous = self.previous.insert(info.name.clone(), info.state.clone());
        for event in events_of(previous.as_ref(), info) {
            self.event(event, Some(info.name.clone()), self.sources.node.clone());
        }
    }

    fn event(&self, event: EventKind, process: Option<String>, node: Option<String>) {
        for (index, rule) in self.shared.rules.iter().enumerate() {
            let Trigger::Event {
                event: watched,
                processes,
            } = &rule.trigger
            else {
                continue;
            };
            let for_process = match (&process, processes) {
                (Some(name), Some(list)) => list.contains(name),
                _ => true,
            };
            if *watched != event || !for_process {
                continue;
            }
            let found = Match {
                process: process.clone(),
                node: node.clone(),
                line: None,
                event: Some(event),
            };
            self.matched(index, found);
        }
    }

    fn matched(&self, index: usize, found: Match) {
        let rule = &self.shared.rules[index];
        let fired = self.lock()[index].matched(rule, index, found, Instant::now(), Utc::now());
        if let Some(notification) = fired {
            self.send(notification);
        }
    }

    fn on_tick(&mut self) {
        if let Some(directory) = &self.sources.directory {
            let mut went_offline = Vec::new();
            for node in directory.nodes() {
                let was = self.nodes_online.insert(node.name.clone(), node.online);
                if was == Some(true) && !node.online {
                    went_offline.push(node.name);
                }
            }
            for node in went_offline {
                self.event(EventKind::NodeOffline, None, Some(node));
            }
        }
        let now = Instant::now();
        let wall = Utc::now();
        let mut resolved = Vec::new();
        {
            let mut states = self.lock();
            for (index, (rule, state)) in
                self.shared.rules.iter().zip(states.iter_mut()).enumerate()
            {
                if !state.is_firing() {
                    continue;
                }
                let recovered = self.recovered(rule, state);
                if let Some(notification) = state.tick(rule, index, recovered, now, wall) {
                    resolved.push(notification);
                }
            }
        }
        for notification in resolved {
            self.send(notification);
        }
    }

    /// Whether what fired an event rule is well again (line rules need
    /// only the quiet window).
    fn recovered(&self, rule: &AlertRule, state: &RuleState) -> bool {
        let Trigger::Event { event, .. } = &rule.trigger else {
            return true;
        };
        match (event, state.subject()) {
            (EventKind::NodeOffline, (_, Some(node))) => self.nodes_online.get(node) == Some(&true),
            (event, (Some(process), _)) => {
                let Some(state) = self.sources.supervisor.state(process) else {
                    return true;
                };
                match event {
                    EventKind::NotReady => state == ProcessState::Ready,
                    _ => matches!(
                        state,
                        ProcessState::Running | ProcessState::Ready | ProcessState::Stopped
                    ),
                }
            }
            _ => true,
        }
    }

    /// Words and a link for `notification`, then to each of the rule's
    /// notifiers' queues (a full queue drops it, counted).
    fn send(&self, mut notification: Notification) {
        notification.url = Some(self.link(&notification));
        notification.text = describe(&notification);
        let notification = Arc::new(notification);
        let rule = &self.shared.rules[notification.rule_index];
        for &target in &rule.notify {
            let (Some(queue), Some(notifier)) =
                (self.queues.get(target), self.shared.notifiers.get(target))
            else {
                continue;
            };
            if queue.try_send(notification.clone()).is_err() {
                notifier.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    notifier = notifier.config.name,
                    "alert `{}`: the notifier's queue is full; this notification is dropped",
                    notification.rule
                );
            }
        }
    }

    fn link(&self, notification: &Notification) -> String {
        let base = &self.sources.base_url;
        match (notification.lines.last(), &notification.process) {
            (Some(line), _) => format!("{base}/?seq={}", line.seq),
            (None, Some(process)) if notification.event.is_some() => format!(
                "{base}/processes/{}",
                form_urlencoded::byte_serialize(process.as_bytes()).collect::<String>()
            ),
            _ => format!("{base}/"),
        }
    }
}

async fn next_entry(entries: &mut Option<Subscription>) -> Result<Arc<Frame>, RecvError> {
    match entries {
        Some(entries) => entries.recv().await,
        None => std::future::pending().await,
    }
}

/// The events a change from `previous` to `now` is.
pub fn events_of(previous: Option<&ProcessState>, now: &app::ProcessInfo) -> Vec<EventKind> {
    if previous.is_some_and(|p| p.name() == now.state.name()) {
        return Vec::new();
    }
    let crashed = |code: Option<i32>| code != Some(0);
    let mut events = Vec::new();
    match &now.state {
        ProcessState::Backoff { .. } => {
            events.push(EventKind::Backoff);
            if crashed(now.last_exit_code) {
                events.push(EventKind::Crashed);
            }
        }
        ProcessState::Exited { exit_code, signal } => {
            events.push(EventKind::Exited);
            if crashed(*exit_code) || signal.is_some() {
                events.push(EventKind::Crashed);
            }
        }
        ProcessState::Failed { .. } => events.push(EventKind::Failed),
        _ => {}
    }
    let left_ready = previous == Some(&ProcessState::Ready)
        && !matches!(
            now.state,
            ProcessState::Ready | ProcessState::Stopping | ProcessState::Stopped
        );
    if left_ready {
        events.push(EventKind::NotReady);
    }
    events
}

/// The notification in words: a first line, then the lines that matched,
/// then the link.
pub fn describe(n: &Notification) -> String {
    let within = describe_duration(Duration::from_secs_f64(n.within_secs));
    let mut subject = n.process.clone().unwrap_or_default();
    if let Some(node) = &n.node {
        subject = if subject.is_empty() {
            format!("node {node}")
        } else {
            format!("{subject} on {node}")
        };
    }
    let mut text = match (n.status, n.event) {
        (Status::Firing, Some(event)) => {
            format!("[FIRING] {}: {subject} {}", n.rule, event.replace('_', " "))
        }
        (Status::Firing, None) => format!(
            "[FIRING] {}: {} matching line{} from {subject} within {within}",
            n.rule,
            n.count,
            if n.count == 1 { "" } else { "s" }
        ),
        (Status::Resolved, Some(_)) => {
            format!("[RESOLVED] {}: {subject} is well again", n.rule)
        }
        (Status::Resolved, None) => {
            format!("[RESOLVED] {}: no matching line for {within}", n.rule)
        }
    };
    for line in &n.lines {
        text.push_str(&format!(
            "\n{} {} {}: {}",
            line.timestamp.format("%H:%M:%S%.3fZ"),
            line.level.as_str(),
            line.process,
            line.message
        ));
    }
    if let Some(url) = &n.url {
        text.push('\n');
        text.push_str(url);
    }
    text
}

impl AlertsHandle {
    /// `GET /api/alerts`.
    pub fn info(&self) -> AlertsInfo {
        let states = self.shared.states.lock().unwrap_or_else(|e| e.into_inner());
        let notifier_name = |i: &usize| {
            self.shared
                .notifiers
                .get(*i)
                .map(|n| n.config.name.clone())
                .unwrap_or_default()
        };
        AlertsInfo {
            alerts: self
                .shared
                .rules
                .iter()
                .zip(states.iter())
                .map(|(rule, state)| AlertInfo {
                    name: rule.name.clone(),
                    when: describe_rule(rule),
                    notify: rule.notify.iter().map(notifier_name).collect(),
                    state: if state.is_firing() { "firing" } else { "ok" }.into(),
                    firing_since: state.firing_since,
                    last_fired: state.last_fired,
                    fired: state.fired,
                    process: state.process.clone(),
                    node: state.node.clone(),
                    seq: state.seq,
                    last_delivery_error: state.last_delivery_error.clone(),
                })
                .collect(),
            notifiers: self
                .shared
                .notifiers
                .iter()
                .map(|n| NotifierInfo {
                    name: n.config.name.clone(),
                    kind: n.config.kind.as_str().into(),
                    sent: n.sent.load(Ordering::Relaxed),
                    failed: n.failed.load(Ordering::Relaxed),
                    dropped: n.dropped.load(Ordering::Relaxed),
                    last_error: n.last_error(),
                })
                .collect(),
        }
    }
}

/// A rule's condition in words.
pub fn describe_rule(rule: &AlertRule) -> String {
    let processes = |p: &Option<std::collections::BTreeSet<String>>| match p {
        Some(list) => list.iter().cloned().collect::<Vec<_>>().join(","),
        None => "*".into(),
    };
    let mut text = match &rule.trigger {
        Trigger::Lines {
            processes: p,
            level,
            pattern,
        } => {
            let mut text = processes(p);
            if let Some(level) = level {
                text.push_str(&format!(" {}+", level.as_str()));
            }
            if let Some(pattern) = pattern {
                text.push_str(&format!(" /{}/", pattern.as_str()));
            }
            text
        }
        Trigger::Event {
            event,
            processes: p,
        } => format!("{} {}", processes(p), event.as_str()),
    };
    if rule.count > 1 {
        text.push_str(&format!(
            " ×{} in {}",
            rule.count,
            describe_duration(rule.within)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(state: ProcessState, code: Option<i32>) -> app::ProcessInfo {
        app::ProcessInfo {
            name: "api".into(),
            state,
            pid: None,
            started_at: None,
            uptime_secs: None,
            start_seq: None,
            restarts: 0,
            last_exit_code: code,
            ready: false,
            cpu_percent: None,
            rss_bytes: None,
            node: None,
            offline_since: None,
        }
    }

    #[test]
    fn state_changes_become_events() {
        let backoff = ProcessState::Backoff { until: Utc::now() };
        assert_eq!(
            events_of(
                Some(&ProcessState::Running),
                &info(backoff.clone(), Some(1))
            ),
            [EventKind::Backoff, EventKind::Crashed]
        );
        // `restart = "always"` after a clean exit: a backoff, no crash.
        assert_eq!(
            events_of(
                Some(&ProcessState::Running),
                &info(backoff.clone(), Some(0))
            ),
            [EventKind::Backoff]
        );
        // The same state again is no news.
        assert!(events_of(Some(&backoff), &info(backoff.clone(), Some(1))).is_empty());
        let killed = ProcessState::Exited {
            exit_code: None,
            signal: Some("SIGSEGV".into()),
        };
        assert_eq!(
            events_of(Some(&ProcessState::Ready), &info(killed, None)),
            [EventKind::Exited, EventKind::Crashed, EventKind::NotReady]
        );
        let clean = ProcessState::Exited {
            exit_code: Some(0),
            signal: None,
        };
        assert_eq!(
            events_of(Some(&ProcessState::Running), &info(clean, Some(0))),
            [EventKind::Exited]
        );
        let failed = ProcessState::Failed {
            reason: "restarted too often".into(),
        };
        assert_eq!(
            events_of(Some(&ProcessState::Starting), &info(failed, Some(1))),
            [EventKind::Failed]
        );
        // Asked to stop: not "not ready".
        assert!(events_of(
            Some(&ProcessState::Ready),
            &info(ProcessState::Stopping, None)
        )
        .is_empty());
    }

    #[test]
    fn notifications_read_as_sentences() {
        let line = LineRef::new(7, Utc::now(), app::Level::Error, "api", "timeout");
        let mut n = Notification {
            status: Status::Firing,
            rule: "api errors".into(),
            process: Some("api".into()),
            node: None,
            event: None,
            count: 5,
            within_secs: 60.0,
            lines: vec![line],
            time: Utc::now(),
            url: Some("http://logs/?seq=7".into()),
            text: String::new(),
            rule_index: 0,
        };
        let text = describe(&n);
        assert!(
            text.starts_with("[FIRING] api errors: 5 matching lines from api within 1m\n"),
            "{text}"
        );
        assert!(text.contains("ERROR api: timeout"), "{text}");
        assert!(text.ends_with("http://logs/?seq=7"), "{text}");
        n.status = Status::Resolved;
        n.event = Some("backoff");
        n.node = Some("box-2".into());
        n.lines.clear();
        assert!(describe(&n).starts_with("[RESOLVED] api errors: api on box-2 is well again"));
    }
}
