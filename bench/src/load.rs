//! Other people's builds on the machine: the runner waits for them before
//! measuring, and records the load it measured under.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Above this 1-minute load a foreign build disturbs a 2-core machine.
const BUSY_LOAD: f64 = 1.5;
const POLL: Duration = Duration::from_secs(30);
/// Process names of builds and browser tests (none of ours runs between
/// two runs, when this is checked).
const BUILDERS: [&str; 9] = [
    "rustc",
    "cargo",
    "cargo-leptos",
    "cc1",
    "ld",
    "wasm-opt",
    "node",
    "chromium",
    "chrome",
];

/// The machine's state when a run started.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoadNote {
    /// 1-minute load average when the run started.
    pub load1: f64,
    /// Seconds spent waiting for foreign builds to finish.
    pub waited_s: f64,
    /// Build processes still running when the run started (after waiting).
    pub builds_running: usize,
}

pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

/// How many build processes run on the machine right now.
pub fn builds_running() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|comm| BUILDERS.contains(&comm.trim()))
        .count()
}

/// Waits (polling every 30 s, for at most `budget`) while the load is
/// high because of builds or browser tests; returns what it saw. `log`
/// hears about each wait. The suite shares one budget across its runs, so
/// a machine that never quietens delays it once, not once per run.
pub async fn wait_for_quiet(budget: Duration, mut log: impl FnMut(&str)) -> LoadNote {
    let started = Instant::now();
    loop {
        let load = load1();
        let builds = builds_running();
        if load <= BUSY_LOAD || builds == 0 || started.elapsed() >= budget {
            return LoadNote {
                load1: load,
                waited_s: started.elapsed().as_secs_f64(),
                builds_running: builds,
            };
        }
        log(&format!(
            "load {load:.2} with {builds} build processes running; waiting 30 s"
        ));
        tokio::time::sleep(POLL).await;
    }
}
