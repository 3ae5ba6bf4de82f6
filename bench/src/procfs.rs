//! CPU time and memory of a process, read from `/proc/<pid>/stat` and
//! `/proc/<pid>/status`, and a sampler that tracks them during a run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Reading {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_kib: u64,
    /// Peak resident set since the process started.
    pub hwm_kib: u64,
}

/// Clock ticks per second for `cpu_ticks`.
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

pub fn read(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last `)`. Field 3 (state) is the first there; utime and stime are
    // fields 14 and 15.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(Reading {
        cpu_ticks: utime + stime,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// What the sampler saw over a window.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Average CPU over the window, in cores.
    pub cpu_cores: f64,
    pub rss_peak_kib: u64,
    pub rss_end_kib: u64,
    pub hwm_kib: u64,
}

/// Samples a process every 100 ms until stopped.
#[derive(Debug)]
pub struct Sampler {
    pid: u32,
    start: Option<Reading>,
    started_at: std::time::Instant,
    peak_rss: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let peak_rss = Arc::new(Mutex::new(0));
        let peak = peak_rss.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let Some(reading) = read(pid) else { break };
                let mut peak = peak.lock().unwrap_or_else(|e| e.into_inner());
                *peak = (*peak).max(reading.rss_kib);
            }
        });
        Sampler {
            pid,
            start: read(pid),
            started_at: std::time::Instant::now(),
            peak_rss,
            task,
        }
    }

    /// Stops sampling; CPU is averaged from start to now.
    pub fn finish(self) -> Usage {
        self.task.abort();
        let end = read(self.pid).unwrap_or_default();
        let start = self.start.unwrap_or_default();
        let secs = self.started_at.elapsed().as_secs_f64().max(1e-3);
        #[allow(clippy::cast_precision_loss)]
        let cpu_cores =
            end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / ticks_per_second() as f64 / secs;
        let peak = *self.peak_rss.lock().unwrap_or_else(|e| e.into_inner());
        Usage {
            cpu_cores,
            rss_peak_kib: peak.max(end.rss_kib),
            rss_end_kib: end.rss_kib,
            hwm_kib: end.hwm_kib,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let reading = read(std::process::id()).expect("own /proc entry");
        assert!(reading.rss_kib > 0 && reading.hwm_kib >= reading.rss_kib);
        assert!(ticks_per_second() >= 100);
    }
}
