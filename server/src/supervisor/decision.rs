//! What a runner does with each request, by the phase it is in: one pure
//! table, tested pair by pair, that the runner's loops follow.

use app::protocol::ProcessAction;

/// What a runner is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunnerAction {
    Control(ProcessAction),
    /// Stop for good; the reply comes once the process has exited.
    Shutdown,
}

/// Where a runner is when a request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not running; only a start gets it going.
    Idle,
    /// Waiting for its dependencies before the first start.
    Waiting,
    /// Exited; an automatic restart is scheduled.
    Backoff,
    /// The child runs.
    Running,
    /// The child was signalled and is on its way out.
    Stopping,
}

/// How the request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// At once, with the status after the change.
    Now,
    /// Once the child has exited, with the final status.
    WhenStopped,
    /// Refused: the request does not fit the phase.
    Refuse(Refusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotRunning,
    AlreadyRunning,
    AlreadyStopping,
}

impl Refusal {
    pub fn message(self, name: &str) -> String {
        match self {
            Refusal::NotRunning => format!("{name} is not running"),
            Refusal::AlreadyRunning => format!("{name} is already running"),
            Refusal::AlreadyStopping => format!("{name} is already stopping"),
        }
    }
}

/// Where the runner goes once a stop or a cancel is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Stay stopped, waiting for requests.
    Idle,
    /// Start again at once.
    Start,
    /// End the runner (server shutdown).
    Exit,
}

/// What the runner does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing changes.
    Stay,
    /// Start now (manual starts also reset the restart count).
    Start,
    /// Drop what was pending (the wait for dependencies, a scheduled
    /// restart): stopped, then `Then`.
    Cancel(Then),
    /// Signal the child and wait for it to exit, then `Then`.
    Stop(Then),
    /// End the runner; while stopping, once the child has exited.
    Exit,
}

/// The table: what `action` does in `phase`.
pub fn decide(phase: Phase, action: RunnerAction) -> (Reply, Next) {
    use ProcessAction::{Restart, Start, Stop};
    use RunnerAction::{Control, Shutdown};
    match (phase, action) {
        (Phase::Idle, Control(Start | Restart)) => (Reply::Now, Next::Start),
        (Phase::Idle, Control(Stop)) => (Reply::Refuse(Refusal::NotRunning), Next::Stay),
        (Phase::Idle, Shutdown) => (Reply::Now, Next::Exit),

        (Phase::Waiting | Phase::Backoff, Control(Start | Restart)) => (Reply::Now, Next::Start),
        (Phase::Waiting | Phase::Backoff, Control(Stop)) => (Reply::Now, Next::Cancel(Then::Idle)),
        (Phase::Waiting | Phase::Backoff, Shutdown) => (Reply::Now, Next::Cancel(Then::Exit)),

        (Phase::Running, Control(Start)) => (Reply::Refuse(Refusal::AlreadyRunning), Next::Stay),
        (Phase::Running, Control(Stop)) => (Reply::Now, Next::Stop(Then::Idle)),
        (Phase::Running, Control(Restart)) => (Reply::Now, Next::Stop(Then::Start)),
        (Phase::Running, Shutdown) => (Reply::WhenStopped, Next::Stop(Then::Exit)),

        (Phase::Stopping, Control(_)) => (Reply::Refuse(Refusal::AlreadyStopping), Next::Stay),
        (Phase::Stopping, Shutdown) => (Reply::WhenStopped, Next::Exit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHASES: [Phase; 5] = [
        Phase::Idle,
        Phase::Waiting,
        Phase::Backoff,
        Phase::Running,
        Phase::Stopping,
    ];

    fn actions() -> Vec<RunnerAction> {
        ProcessAction::ALL
            .into_iter()
            .map(RunnerAction::Control)
            .chain([RunnerAction::Shutdown])
            .collect()
    }

    #[test]
    fn every_pair_has_its_answer() {
        use ProcessAction::{Restart, Start, Stop};
        use RunnerAction::{Control, Shutdown};
        let expected = [
            (Phase::Idle, Control(Start), Reply::Now, Next::Start),
            (
                Phase::Idle,
                Control(Stop),
                Reply::Refuse(Refusal::NotRunning),
                Next::Stay,
            ),
            (Phase::Idle, Control(Restart), Reply::Now, Next::Start),
            (Phase::Idle, Shutdown, Reply::Now, Next::Exit),
            (Phase::Waiting, Control(Start), Reply::Now, Next::Start),
            (
                Phase::Waiting,
                Control(Stop),
                Reply::Now,
                Next::Cancel(Then::Idle),
            ),
            (Phase::Waiting, Control(Restart), Reply::Now, Next::Start),
            (
                Phase::Waiting,
                Shutdown,
                Reply::Now,
                Next::Cancel(Then::Exit),
            ),
            (Phase::Backoff, Control(Start), Reply::Now, Next::Start),
            (
                Phase::Backoff,
                Control(Stop),
                Reply::Now,
                Next::Cancel(Then::Idle),
            ),
            (Phase::Backoff, Control(Restart), Reply::Now, Next::Start),
            (
                Phase::Backoff,
                Shutdown,
                Reply::Now,
                Next::Cancel(Then::Exit),
            ),
            (
                Phase::Running,
                Control(Start),
                Reply::Refuse(Refusal::AlreadyRunning),
                Next::Stay,
            ),
            (
                Phase::Running,
                Control(Stop),
                Reply::Now,
                Next::Stop(Then::Idle),
            ),
            (
                Phase::Running,
                Control(Restart),
                Reply::Now,
                Next::Stop(Then::Start),
            ),
            (
                Phase::Running,
                Shutdown,
                Reply::WhenStopped,
                Next::Stop(Then::Exit),
            ),
            (
                Phase::Stopping,
                Control(Start),
                Reply::Refuse(Refusal::AlreadyStopping),
                Next::Stay,
            ),
            (
                Phase::Stopping,
                Control(Stop),
                Reply::Refuse(Refusal::AlreadyStopping),
                Next::Stay,
            ),
            (
                Phase::Stopping,
                Control(Restart),
                Reply::Refuse(Refusal::AlreadyStopping),
                Next::Stay,
            ),
            (Phase::Stopping, Shutdown, Reply::WhenStopped, Next::Exit),
        ];
        assert_eq!(expected.len(), PHASES.len() * actions().len());
        for (phase, action, reply, next) in expected {
            assert_eq!(
                decide(phase, action),
                (reply, next),
                "{phase:?} × {action:?}"
            );
        }
    }

    #[test]
    fn a_shutdown_always_ends_the_runner_and_a_refusal_changes_nothing() {
        for phase in PHASES {
            for action in actions() {
                let (reply, next) = decide(phase, action);
                if action == RunnerAction::Shutdown {
                    assert!(
                        matches!(
                            next,
                            Next::Exit | Next::Stop(Then::Exit) | Next::Cancel(Then::Exit)
                        ),
                        "{phase:?}: {next:?}"
                    );
                    assert!(!matches!(reply, Reply::Refuse(_)), "{phase:?}");
                }
                if matches!(reply, Reply::Refuse(_)) {
                    assert_eq!(next, Next::Stay, "{phase:?} × {action:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_name_the_process() {
        assert_eq!(Refusal::NotRunning.message("web"), "web is not running");
        assert_eq!(
            Refusal::AlreadyStopping.message("db"),
            "db is already stopping"
        );
    }
}
