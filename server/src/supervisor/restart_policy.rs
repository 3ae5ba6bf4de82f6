//! Whether, and when, a process that ended on its own is started again.
//! Pure logic: times are passed in, so it is tested without processes.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ProcessConfig, RestartPolicy};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Leave it exited.
    Stay,
    /// Start it again after this delay; `attempt` counts the restarts in
    /// the current window, this one included.
    RestartIn { delay: Duration, attempt: u32 },
    /// It restarted `max_restarts` times within the window: give up.
    GiveUp { restarts: u32 },
}

/// When the recent automatic restarts happened.
#[derive(Clone, Debug, Default)]
pub struct RestartHistory {
    restarts: VecDeque<Instant>,
}

impl RestartHistory {
    /// Forgets the history, as a manual start does.
    pub fn clear(&mut self) {
        self.restarts.clear();
    }

    /// Decides what happens after an exit at `now`. `random` in `[0, 1)`
    /// jitters the delay.
    pub fn decide(
        &mut self,
        spec: &ProcessConfig,
        exit_ok: bool,
        now: Instant,
        random: f64,
    ) -> Decision {
        let wanted = match spec.restart {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => !exit_ok,
            RestartPolicy::Always => true,
        };
        if !wanted {
            return Decision::Stay;
        }
        while self
            .restarts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= spec.restart_window)
        {
            self.restarts.pop_front();
        }
        let recent = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        // `max_restarts = 0` means no limit.
        if spec.max_restarts > 0 && recent >= spec.max_restarts {
            return Decision::GiveUp { restarts: recent };
        }
        self.restarts.push_back(now);
        let attempt = recent + 1;
        Decision::RestartIn {
            delay: spec.backoff.delay(attempt, random),
            attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn spec(extra: &str) -> ProcessConfig {
        let text = format!(
            "[[process]]\nname = \"p\"\ncommand = \"false\"\nbackoff = {{ initial = \"1s\", max = \"8s\", multiplier = 2 }}\n{extra}"
        );
        Config::parse(&text, "t.toml", std::path::Path::new("."))
            .expect("valid")
            .processes
            .remove(0)
    }

    #[test]
    fn on_failure_restarts_only_failures() {
        let spec = spec("");
        let mut history = RestartHistory::default();
        let now = Instant::now();
        assert_eq!(history.decide(&spec, true, now, 1.0), Decision::Stay);
        assert!(matches!(
            history.decide(&spec, false, now, 1.0),
            Decision::RestartIn { attempt: 1, .. }
        ));
    }

    #[test]
    fn no_never_restarts_and_always_always_does() {
        let mut history = RestartHistory::default();
        let now = Instant::now();
        assert_eq!(
            history.decide(&spec("restart = \"no\""), false, now, 1.0),
            Decision::Stay
        );
        assert!(matches!(
            history.decide(&spec("restart = \"always\""), true, now, 1.0),
            Decision::RestartIn { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_grow_then_it_gives_up_within_the_window() {
        let spec = spec("max_restarts = 4\nrestart_window = \"60s\"");
        let mut history = RestartHistory::default();
        let mut delays = Vec::new();
        for _ in 0..4 {
            match history.decide(&spec, false, Instant::now(), 1.0) {
                Decision::RestartIn { delay, .. } => {
                    delays.push(delay);
                    tokio::time::advance(delay).await;
                }
                other => panic!("expected a restart, got {other:?}"),
            }
        }
        assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
        assert_eq!(
            history.decide(&spec, false, Instant::now(), 1.0),
            Decision::GiveUp { restarts: 4 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_older_than_the_window_are_forgotten() {
        let spec = spec("max_restarts = 2\nrestart_window = \"10s\"");
        let mut history = RestartHistory::default();
        history.decide(&spec, false, Instant::now(), 1.0);
        history.decide(&spec, false, Instant::now(), 1.0);
        assert!(matches!(
            history.decide(&spec, false, Instant::now(), 1.0),
            Decision::GiveUp { .. }
        ));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            history.decide(&spec, false, Instant::now(), 1.0),
            Decision::RestartIn {
                delay: Duration::from_secs(1),
                attempt: 1
            }
        );
    }

    #[test]
    fn zero_max_restarts_means_unlimited() {
        let spec = spec("max_restarts = 0");
        let mut history = RestartHistory::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert!(matches!(
                history.decide(&spec, false, now, 0.0),
                Decision::RestartIn { .. }
            ));
        }
    }

    #[test]
    fn a_manual_start_clears_the_history() {
        let spec = spec("max_restarts = 1");
        let mut history = RestartHistory::default();
        let now = Instant::now();
        history.decide(&spec, false, now, 1.0);
        assert!(matches!(
            history.decide(&spec, false, now, 1.0),
            Decision::GiveUp { .. }
        ));
        history.clear();
        assert!(matches!(
            history.decide(&spec, false, now, 1.0),
            Decision::RestartIn { attempt: 1, .. }
        ));
    }
}
