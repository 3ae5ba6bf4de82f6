//! The server's memory over a long run: VmRSS every few seconds (with the
//! machine's load next to it), and whether it stayed flat.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::load::{builds_running, load1};
use crate::procfs;

/// One reading, `t_s` seconds after the stream started.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    pub t_s: f64,
    pub rss_kib: u64,
    pub cpu_ticks: u64,
    pub load1: f64,
    /// Build and browser processes running on the machine.
    pub builds: usize,
}

/// Samples `pid` every `every` until finished or the process is gone.
#[derive(Debug)]
pub struct RssSampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Sample>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration, t0: Instant) -> RssSampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let Some(reading) = procfs::read(pid) else {
                    break;
                };
                samples.push(Sample {
                    t_s: t0.elapsed().as_secs_f64(),
                    rss_kib: reading.rss_kib,
                    cpu_ticks: reading.cpu_ticks,
                    load1: load1(),
                    builds: builds_running(),
                });
            }
            samples
        });
        RssSampler { stop, task }
    }

    pub async fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The bounds memory must stay within after warm-up.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Bounds {
    /// Readings before this are warm-up (the 100 000-entry ring and the
    /// clients' lag windows filling).
    pub warmup_s: f64,
    /// Length of the first and last stretch whose averages are compared.
    pub window_s: f64,
    /// End − start must stay below this.
    pub growth_kib: u64,
    /// Last window's average − first window's must stay below this.
    pub trend_kib: u64,
}

/// What the readings say.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct RssVerdict {
    /// The first reading after warm-up, and when.
    pub start_kib: u64,
    pub start_s: f64,
    /// The last reading.
    pub end_kib: u64,
    pub end_s: f64,
    /// Highest reading after warm-up, and when.
    pub max_kib: u64,
    pub max_s: f64,
    /// Highest reading, warm-up included.
    pub max_all_kib: u64,
    pub first_window_avg_kib: f64,
    pub last_window_avg_kib: f64,
    /// Least-squares slope after warm-up.
    pub slope_kib_per_min: f64,
    /// Readings after warm-up.
    pub samples: usize,
    pub growth_ok: bool,
    pub trend_ok: bool,
}

impl RssVerdict {
    pub fn flat(&self) -> bool {
        self.growth_ok && self.trend_ok
    }

    pub fn growth_kib(&self) -> i64 {
        signed(self.end_kib) - signed(self.start_kib)
    }

    pub fn trend_kib(&self) -> f64 {
        self.last_window_avg_kib - self.first_window_avg_kib
    }
}

fn signed(kib: u64) -> i64 {
    i64::try_from(kib).unwrap_or(i64::MAX)
}

/// The verdict over `samples`, or `None` with fewer than two readings
/// after warm-up.
#[allow(clippy::cast_precision_loss)]
pub fn verdict(samples: &[Sample], bounds: &Bounds) -> Option<RssVerdict> {
    let steady: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t_s >= bounds.warmup_s)
        .collect();
    let (first, last) = (*steady.first()?, *steady.last()?);
    if steady.len() < 2 {
        return None;
    }
    let max = steady
        .iter()
        .max_by_key(|s| s.rss_kib)
        .copied()
        .unwrap_or(first);
    let average = |from: f64, to: f64| {
        let within: Vec<f64> = steady
            .iter()
            .filter(|s| s.t_s >= from && s.t_s <= to)
            .map(|s| s.rss_kib as f64)
            .collect();
        if within.is_empty() {
            0.0
        } else {
            within.iter().sum::<f64>() / within.len() as f64
        }
    };
    let first_window_avg_kib = average(first.t_s, first.t_s + bounds.window_s);
    let last_window_avg_kib = average(last.t_s - bounds.window_s, last.t_s);
    let n = steady.len() as f64;
    let mean_t = steady.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_r = steady.iter().map(|s| s.rss_kib as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for s in &steady {
        num += (s.t_s - mean_t) * (s.rss_kib as f64 - mean_r);
        den += (s.t_s - mean_t).powi(2);
    }
    let slope_per_s = if den > 0.0 { num / den } else { 0.0 };
    let mut verdict = RssVerdict {
        start_kib: first.rss_kib,
        start_s: first.t_s,
        end_kib: last.rss_kib,
        end_s: last.t_s,
        max_kib: max.rss_kib,
        max_s: max.t_s,
        max_all_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        first_window_avg_kib,
        last_window_avg_kib,
        slope_kib_per_min: slope_per_s * 60.0,
        samples: steady.len(),
        growth_ok: false,
        trend_ok: false,
    };
    verdict.growth_ok = verdict.growth_kib() < signed(bounds.growth_kib);
    verdict.trend_ok = verdict.trend_kib() < bounds.trend_kib as f64;
    Some(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rss: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..=120)
            .map(|i| {
                let t_s = f64::from(i) * 5.0;
                Sample {
                    t_s,
                    rss_kib: rss(t_s),
                    ..Sample::default()
                }
            })
            .collect()
    }

    const BOUNDS: Bounds = Bounds {
        warmup_s: 60.0,
        window_s: 60.0,
        growth_kib: 10 * 1024,
        trend_kib: 5 * 1024,
    };

    #[test]
    fn flat_memory_passes_after_warm_up() {
        // Grows during warm-up, then wobbles by 1 MiB.
        let samples = series(|t| {
            if t < 30.0 {
                20_000 + (t as u64) * 2_000
            } else {
                80_000
                    + if (t as u64 / 5).is_multiple_of(2) {
                        1024
                    } else {
                        0
                    }
            }
        });
        let v = verdict(&samples, &BOUNDS).expect("enough samples");
        assert!(v.flat(), "{v:?}");
        assert_eq!(v.start_s, 60.0);
        assert_eq!(v.max_all_kib, 81_024);
        assert!(v.slope_kib_per_min.abs() < 100.0);
    }

    #[test]
    fn a_steady_leak_fails() {
        // 2 MiB a minute: 18 MiB over the nine minutes after warm-up.
        let samples = series(|t| 80_000 + (t / 60.0 * 2048.0) as u64);
        let v = verdict(&samples, &BOUNDS).expect("enough samples");
        assert!(!v.growth_ok && !v.trend_ok, "{v:?}");
        assert!((v.slope_kib_per_min - 2048.0).abs() < 1.0);
    }

    #[test]
    fn too_few_readings_give_no_verdict() {
        let samples = series(|_| 1);
        let bounds = Bounds {
            warmup_s: 600.0,
            ..BOUNDS
        };
        assert!(verdict(&samples, &bounds).is_none());
    }
}
