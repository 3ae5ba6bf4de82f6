//! Start-up order: when a process's dependencies are satisfied, and the
//! order in which to stop everything.

use std::collections::HashMap;

use app::ProcessState;

use super::ProcessStatus;
use crate::config::{Condition, Config};

/// Where a dependency stands for the process waiting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Satisfaction {
    Yes,
    NotYet,
    /// It will not happen without someone stepping in.
    Never(String),
}

/// Whether `status` meets `condition`.
pub fn satisfaction(condition: Condition, status: &ProcessStatus) -> Satisfaction {
    if let ProcessState::Failed { reason } = &status.state {
        return Satisfaction::Never(format!("it failed: {reason}"));
    }
    match condition {
        Condition::Started if status.ever_started => Satisfaction::Yes,
        Condition::Ready if status.ready => Satisfaction::Yes,
        Condition::ExitedOk if status.exited_ok => Satisfaction::Yes,
        Condition::ExitedOk => match &status.state {
            ProcessState::Exited { exit_code, signal } => {
                Satisfaction::Never(match (exit_code, signal) {
                    (Some(code), _) => format!("it exited with code {code}"),
                    (None, Some(signal)) => format!("it was killed by {signal}"),
                    (None, None) => "it exited unsuccessfully".into(),
                })
            }
            _ => Satisfaction::NotYet,
        },
        _ => Satisfaction::NotYet,
    }
}

/// Groups of process indices to stop one after the other: dependents
/// before the processes they depend on; each group can stop concurrently.
pub fn stop_waves(config: &Config) -> Vec<Vec<usize>> {
    let index_of = config.index_by_name();
    // depth = 1 + the deepest dependency; the config has no cycles.
    fn depth(
        i: usize,
        config: &Config,
        index_of: &HashMap<&str, usize>,
        memo: &mut Vec<Option<usize>>,
    ) -> usize {
        if let Some(d) = memo[i] {
            return d;
        }
        let d = config.processes[i]
            .depends_on
            .iter()
            .filter_map(|dep| index_of.get(dep.process.as_str()))
            .map(|&j| depth(j, config, index_of, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[i] = Some(d);
        d
    }
    let mut memo = vec![None; config.processes.len()];
    let depths: Vec<usize> = (0..config.processes.len())
        .map(|i| depth(i, config, &index_of, &mut memo))
        .collect();
    let deepest = depths.iter().copied().max().unwrap_or(0);
    (0..=deepest)
        .rev()
        .map(|level| {
            depths
                .iter()
                .enumerate()
                .filter(|&(_, &d)| d == level)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        })
        .filter(|wave| !wave.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn status(state: ProcessState) -> ProcessStatus {
        ProcessStatus {
            state,
            ..ProcessStatus::default()
        }
    }

    #[test]
    fn started_ready_and_exited_ok() {
        let mut running = status(ProcessState::Running);
        running.ever_started = true;
        assert_eq!(
            satisfaction(Condition::Started, &running),
            Satisfaction::Yes
        );
        assert_eq!(
            satisfaction(Condition::Ready, &running),
            Satisfaction::NotYet
        );
        running.ready = true;
        assert_eq!(satisfaction(Condition::Ready, &running), Satisfaction::Yes);

        let mut done = status(ProcessState::Exited {
            exit_code: Some(0),
            signal: None,
        });
        done.exited_ok = true;
        assert_eq!(satisfaction(Condition::ExitedOk, &done), Satisfaction::Yes);
        let failed_job = status(ProcessState::Exited {
            exit_code: Some(3),
            signal: None,
        });
        assert!(matches!(
            satisfaction(Condition::ExitedOk, &failed_job),
            Satisfaction::Never(reason) if reason.contains("code 3")
        ));
    }

    #[test]
    fn a_failed_dependency_is_never_satisfied() {
        let failed = status(ProcessState::Failed {
            reason: "no such file".into(),
        });
        for condition in [Condition::Started, Condition::Ready, Condition::ExitedOk] {
            assert!(matches!(
                satisfaction(condition, &failed),
                Satisfaction::Never(_)
            ));
        }
    }

    #[test]
    fn dependents_stop_before_their_dependencies() {
        let config = Config::parse(
            r#"
            [[process]]
            name = "db"
            command = "x"
            [[process]]
            name = "api"
            command = "x"
            depends_on = ["db"]
            [[process]]
            name = "web"
            command = "x"
            depends_on = [{ process = "api", condition = "ready" }, "db"]
            [[process]]
            name = "loner"
            command = "x"
            "#,
            "t.toml",
            Path::new("."),
        )
        .expect("valid");
        assert_eq!(stop_waves(&config), vec![vec![2], vec![1], vec![0, 3]]);
    }
}
