//! One rule's state: matches counted in its window, firing or not, when it
//! last notified. Pure (time is passed in), so every transition is tested
//! without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use app::Level;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::alerts::{AlertRule, EventKind};

/// Lines a notification carries, at most (the newest).
pub const MAX_LINES: usize = 5;
/// Characters of one line a notification carries, at most.
pub const MAX_LINE_CHARS: usize = 500;

/// A line that matched a rule, as a notification shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineRef {
    pub seq: u64,
    #[serde(with = "app::log_entry::rfc3339_millis")]
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    pub process: String,
    /// The message (already redacted as every entry is), cut to
    /// [`MAX_LINE_CHARS`].
    pub message: String,
}

impl LineRef {
    pub fn new(
        seq: u64,
        timestamp: DateTime<Utc>,
        level: Level,
        process: &str,
        message: &str,
    ) -> LineRef {
        let message = match message.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &message[..cut]),
            None => message.to_owned(),
        };
        LineRef {
            seq,
            timestamp,
            level,
            process: process.to_owned(),
            message,
        }
    }
}

/// What matched: a line, or an event of a process (or a node).
#[derive(Clone, Debug)]
pub struct Match {
    pub process: Option<String>,
    pub node: Option<String>,
    pub line: Option<LineRef>,
    pub event: Option<EventKind>,
}

/// Firing, or resolved again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// What a rule has to say: one message to its notifiers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    pub status: Status,
    pub rule: String,
    pub process: Option<String>,
    pub node: Option<String>,
    /// The event, for event rules.
    pub event: Option<&'static str>,
    /// Matches within the window when it fired.
    pub count: usize,
    pub within_secs: f64,
    /// The newest matching lines (line rules).
    pub lines: Vec<LineRef>,
    #[serde(with = "app::log_entry::rfc3339_millis")]
    pub time: DateTime<Utc>,
    /// The viewer at the line (or the process) that fired it.
    pub url: Option<String>,
    /// The message in words, as chat notifiers show it.
    pub text: String,
    /// Which rule (its place in the configuration).
    #[serde(skip)]
    pub rule_index: usize,
}

/// A rule's state as `GET /api/alerts` shows it.
#[derive(Clone, Debug, Default)]
pub struct RuleState {
    /// When the matches still in the window happened.
    recent: VecDeque<Instant>,
    lines: VecDeque<LineRef>,
    pub firing_since: Option<DateTime<Utc>>,
    /// When the firing condition last held.
    last_met: Option<Instant>,
    /// When the last firing notification went out.
    last_sent: Option<Instant>,
    pub last_fired: Option<DateTime<Utc>>,
    pub fired: u64,
    pub process: Option<String>,
    pub node: Option<String>,
    pub seq: Option<u64>,
    event: Option<EventKind>,
    pub last_delivery_error: Option<String>,
}

impl RuleState {
    pub fn is_firing(&self) -> bool {
        self.firing_since.is_some()
    }

    /// The process (or node, for `node_offline`) whose recovery resolves
    /// this rule.
    pub fn subject(&self) -> (Option<&str>, Option<&str>) {
        (self.process.as_deref(), self.node.as_deref())
    }

    /// A match at `now`: a notification when the rule fires (the count is
    /// reached within the window, and the last notification is at least
    /// `cooldown` old).
    pub fn matched(
        &mut self,
        rule: &AlertRule,
        index: usize,
        found: Match,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<Notification> {
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > rule.within)
        {
            self.recent.pop_front();
        }
        if let Some(line) = &found.line {
            if self.lines.len() == MAX_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(line.clone());
            self.seq = Some(line.seq);
        }
        if self.recent.len() < rule.count as usize {
            return None;
        }
        self.last_met = Some(now);
        self.process = found.process;
        self.node = found.node;
        self.event = found.event;
        if self.firing_since.is_none() {
            self.firing_since = Some(wall);
        }
        let due = self
            .last_sent
            .is_none_or(|sent| now.duration_since(sent) >= rule.cooldown);
        if !due {
            return None;
        }
        self.last_sent = Some(now);
        self.last_fired = Some(wall);
        self.fired += 1;
        Some(self.notification(rule, index, Status::Firing, wall))
    }

    /// Looked at once a second: a firing rule whose condition has not held
    /// for its window, and whose subject has `recovered`, is resolved.
    pub fn tick(
        &mut self,
        rule: &AlertRule,
        index: usize,
        recovered: bool,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<Notification> {
        let quiet = self
            .last_met
            .is_some_and(|met| now.duration_since(met) >= rule.within);
        if !self.is_firing() || !quiet || !recovered {
            return None;
        }
        let notification = self.notification(rule, index, Status::Resolved, wall);
        self.firing_since = None;
        self.recent.clear();
        self.lines.clear();
        // The next firing is news: no cooldown after a resolution.
        self.last_sent = None;
        Some(notification)
    }

    fn notification(
        &self,
        rule: &AlertRule,
        index: usize,
        status: Status,
        wall: DateTime<Utc>,
    ) -> Notification {
        Notification {
            status,
            rule: rule.name.clone(),
            process: self.process.clone(),
            node: self.node.clone(),
            event: self.event.map(EventKind::as_str),
            count: self.recent.len(),
            within_secs: rule.within.as_secs_f64(),
            lines: match status {
                Status::Firing => self.lines.iter().cloned().collect(),
                Status::Resolved => Vec::new(),
            },
            time: wall,
            url: None,
            text: String::new(),
            rule_index: index,
        }
    }
}

/// `90s` → "1m30s", for messages.
pub fn describe_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let mut out = String::new();
    for (value, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerts::Trigger;

    fn rule(count: u32, within: u64, cooldown: u64) -> AlertRule {
        AlertRule {
            name: "api errors".into(),
            trigger: Trigger::Lines {
                processes: None,
                level: None,
                pattern: None,
            },
            count,
            within: Duration::from_secs(within),
            cooldown: Duration::from_secs(cooldown),
            notify: vec![0],
        }
    }

    fn line(seq: u64) -> Match {
        Match {
            process: Some("api".into()),
            node: None,
            line: Some(LineRef::new(
                seq,
                Utc::now(),
                Level::Error,
                "api",
                "timeout",
            )),
            event: None,
        }
    }

    #[test]
    fn the_count_must_be_reached_within_the_window() {
        let rule = rule(5, 60, 600);
        let mut state = RuleState::default();
        let t0 = Instant::now();
        let wall = Utc::now();
        // Four within the window: nothing.
        for i in 0..4 {
            let at = t0 + Duration::from_secs(i * 10);
            assert_eq!(state.matched(&rule, 0, line(i), at, wall), None);
        }
        // The fifth, 65 s after the first: the first left the window.
        let late = t0 + Duration::from_secs(65);
        assert_eq!(state.matched(&rule, 0, line(4), late, wall), None);
        assert!(!state.is_firing());
        // The sixth: five within 60 s.
        let fired = state
            .matched(&rule, 0, line(5), late + Duration::from_secs(1), wall)
            .expect("fires");
        assert_eq!(fired.status, Status::Firing);
        assert_eq!(fired.count, 5);
        assert_eq!(
            fired.lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(state.seq, Some(5));
        assert!(state.is_firing());
    }

    #[test]
    fn cooldown_bounds_repeats_and_resolution_comes_once_after_a_quiet_window() {
        let rule = rule(1, 60, 600);
        let mut state = RuleState::default();
        let t0 = Instant::now();
        let wall = Utc::now();
        assert!(state.matched(&rule, 0, line(1), t0, wall).is_some());
        // More matches within the cooldown: no new message.
        for i in 1..10 {
            let at = t0 + Duration::from_secs(i * 30);
            assert_eq!(state.matched(&rule, 0, line(i + 1), at, wall), None);
        }
        // Past the cooldown, still matching: one more.
        let at = t0 + Duration::from_secs(600);
        assert!(state.matched(&rule, 0, line(20), at, wall).is_some());
        assert_eq!(state.fired, 2);
        // Quiet for less than the window: still firing.
        let later = at + Duration::from_secs(59);
        assert_eq!(state.tick(&rule, 0, true, later, wall), None);
        // Quiet for the window but not recovered: still firing.
        let later = at + Duration::from_secs(61);
        assert_eq!(state.tick(&rule, 0, false, later, wall), None);
        let resolved = state.tick(&rule, 0, true, later, wall).expect("resolved");
        assert_eq!(resolved.status, Status::Resolved);
        assert!(!state.is_firing());
        // Once.
        assert_eq!(
            state.tick(&rule, 0, true, later + Duration::from_secs(5), wall),
            None
        );
        // A new match after the resolution fires at once.
        let again = later + Duration::from_secs(10);
        assert!(state.matched(&rule, 0, line(30), again, wall).is_some());
    }

    #[test]
    fn long_lines_are_cut_and_durations_read_well() {
        let long = "x".repeat(MAX_LINE_CHARS + 10);
        let line = LineRef::new(1, Utc::now(), Level::Info, "api", &long);
        assert_eq!(line.message.chars().count(), MAX_LINE_CHARS + 1);
        assert!(line.message.ends_with('…'));
        assert_eq!(describe_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(describe_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(describe_duration(Duration::from_millis(500)), "500ms");
    }
}
