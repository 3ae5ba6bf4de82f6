//! The soak (issue #6): Logdeck for minutes at a steady rate, with many
//! clients that read everything and one that reads a few frames a second.
//!
//! What it holds Logdeck to: every fast client sees every entry exactly
//! once and in order (Logdeck's `seq` and the generator's own counter both
//! go up by exactly one), none is told it fell behind, and each gets every
//! line printed; the slow client is told it fell behind, and every entry
//! it misses is announced by a notice whose count matches the jump in
//! `seq`; the server survives and stops cleanly; and its memory stays flat
//! once warm (the 100 000-entry ring and the lag windows full).
//!
//! `bench soak` runs it: ten minutes for `make soak` (writes
//! `bench/SOAK.md`), twenty seconds for `make soak-smoke`.
//!
//! # Layout
//! - [`seq_client`]: the fast and slow clients and their checks.
//! - [`rss`]: the memory readings and the flatness verdict.
//! - [`report`]: `SOAK.md` and the short summary.

pub mod report;
pub mod rss;
pub mod seq_client;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::histogram::Histogram;
use crate::load::LoadNote;
use crate::scenario::{generator_args, wait_for_report};
use crate::system::{Running, SystemKind, Tools};
use crate::GenReport;
use rss::{Bounds, RssSampler, RssVerdict, Sample};
use seq_client::{FastResult, Progress, SlowPace, SlowResult};

/// The shape of a soak.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoakSpec {
    /// `full` or `smoke`.
    pub profile: String,
    /// Lines per second from the generator.
    pub rate: u64,
    /// Seconds the generator prints for.
    pub duration_s: f64,
    pub fast_clients: usize,
    pub slow_clients: usize,
    /// Bursts per second, and frames per burst, the slow client reads.
    pub slow_frames_per_s: f64,
    pub slow_burst: usize,
    pub slow_recv_buffer: usize,
    /// Seconds between memory readings.
    pub sample_every_s: f64,
    pub bounds: Bounds,
    /// Seconds between progress lines.
    pub progress_every_s: f64,
}

impl SoakSpec {
    /// The soak: ten minutes at 10 000 lines/s, 20 fast clients
    /// and a slow one.
    pub fn full() -> SoakSpec {
        SoakSpec {
            profile: "full".into(),
            rate: 10_000,
            duration_s: 600.0,
            fast_clients: 20,
            slow_clients: 1,
            slow_frames_per_s: 5.0,
            slow_burst: 200,
            slow_recv_buffer: 4096,
            sample_every_s: 5.0,
            bounds: Bounds {
                // The ring fills in 10 s at 10 000 lines/s; the allocator
                // settles after that.
                warmup_s: 60.0,
                window_s: 60.0,
                growth_kib: 10 * 1024,
                trend_kib: 5 * 1024,
            },
            progress_every_s: 30.0,
        }
    }

    /// The same checks in twenty seconds, for `make test`.
    pub fn smoke() -> SoakSpec {
        SoakSpec {
            profile: "smoke".into(),
            duration_s: 20.0,
            sample_every_s: 1.0,
            bounds: Bounds {
                warmup_s: 12.0,
                window_s: 3.0,
                growth_kib: 10 * 1024,
                trend_kib: 5 * 1024,
            },
            progress_every_s: 5.0,
            ..SoakSpec::full()
        }
    }
}

/// Everything a soak measured: `soak.json`, and from it SOAK.md.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SoakResult {
    pub spec: Option<SoakSpec>,
    pub load_before: LoadNote,
    pub gen: Option<GenReport>,
    pub fast: Vec<FastResult>,
    pub slow: Vec<SlowResult>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub samples: Vec<Sample>,
    pub rss: Option<RssVerdict>,
    /// Server CPU after warm-up, in cores.
    pub cpu_cores: Option<f64>,
    /// The server was still running at the end of the stream.
    pub server_alive: bool,
    /// It then exited with 0 on SIGTERM.
    pub server_exit_ok: bool,
    /// Wall time of the whole soak.
    pub elapsed_s: f64,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
}

impl SoakResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Waiting for lines still on their way after the generator stopped:
/// at most this long, and no longer than this without progress.
const DRAIN: Duration = Duration::from_secs(15);
const DRAIN_QUIET: Duration = Duration::from_secs(3);
/// After connecting, before the stream starts.
const SETTLE: Duration = Duration::from_millis(500);

/// Runs a soak of Logdeck (`tools.server`) with its files in `dir`;
/// `log` hears progress.
pub async fn run(
    tools: &Tools,
    dir: &Path,
    spec: &SoakSpec,
    load_before: LoadNote,
    log: &dyn Fn(&str),
) -> anyhow::Result<SoakResult> {
    let began = Instant::now();
    let duration = Duration::from_secs_f64(spec.duration_s);
    let args = generator_args("rate", Some(spec.rate), duration, dir);
    let mut running = Running::start(SystemKind::Logdeck, tools, dir, &[args]).await?;
    let streamed = stream(&mut running, spec, dir, log).await;
    let server_alive = running.alive();
    let server_exit_ok = running.stop().await;
    let mut result = streamed?;
    result.spec = Some(spec.clone());
    result.load_before = load_before;
    result.server_alive = server_alive;
    result.server_exit_ok = server_exit_ok;
    result.elapsed_s = began.elapsed().as_secs_f64();
    result.failures = failures(&result, spec);
    Ok(result)
}

async fn stream(
    running: &mut Running,
    spec: &SoakSpec,
    dir: &Path,
    log: &dyn Fn(&str),
) -> anyhow::Result<SoakResult> {
    let progress = Arc::new(Progress::default());
    let (stop, stopped) = watch::channel(false);
    let url = running.ws_url();
    let mut fast_tasks: Vec<JoinHandle<FastResult>> = Vec::new();
    for _ in 0..spec.fast_clients {
        let ws = seq_client::connect_fast(&url).await?;
        fast_tasks.push(tokio::spawn(seq_client::fast(
            ws,
            progress.clone(),
            stopped.clone(),
        )));
    }
    let pace = SlowPace {
        frames_per_s: spec.slow_frames_per_s,
        burst: spec.slow_burst,
        recv_buffer: spec.slow_recv_buffer,
    };
    let go_at = Arc::new(OnceLock::new());
    let slow_tasks: Vec<JoinHandle<SlowResult>> = (0..spec.slow_clients)
        .map(|_| {
            tokio::spawn(seq_client::slow(
                running.port,
                pace,
                go_at.clone(),
                progress.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    // Every client connected and subscribed before the lines start.
    tokio::time::sleep(SETTLE).await;
    let t0 = Instant::now();
    let _ = go_at.set(t0);
    let sampler = RssSampler::start(
        running.pid,
        Duration::from_secs_f64(spec.sample_every_s),
        t0,
    );
    std::fs::write(dir.join("go"), b"").context("creating the go file")?;

    let mut next_progress = spec.progress_every_s;
    let mut died = false;
    while t0.elapsed().as_secs_f64() < spec.duration_s {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if !running.alive() {
            log("the server died; stopping the soak");
            died = true;
            break;
        }
        let t = t0.elapsed().as_secs_f64();
        if t >= next_progress {
            next_progress += spec.progress_every_s;
            let rss = crate::procfs::read(running.pid).map_or(0, |r| r.rss_kib);
            log(&format!(
                "{t:.0} s: server RSS {:.1} MiB, {} lines to fast clients, {} anomalies, {} notices to the slow client, load {:.2}",
                kib_mib(rss),
                progress.lines.load(Ordering::Relaxed),
                progress.anomalies.load(Ordering::Relaxed),
                progress.slow_notices.load(Ordering::Relaxed),
                crate::load::load1(),
            ));
        }
    }
    let samples = sampler.finish().await;

    let gen = wait_for_report(&dir.join("gen.json"), Duration::from_secs(5)).await;
    if let (Some(gen), false) = (gen.as_ref().filter(|g| g.done), died) {
        let expected = gen.lines * spec.fast_clients as u64;
        let deadline = Instant::now() + DRAIN;
        let mut last = progress.lines.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        while last < expected && Instant::now() < deadline && last_change.elapsed() < DRAIN_QUIET {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = progress.lines.load(Ordering::Relaxed);
            if now != last {
                last = now;
                last_change = Instant::now();
            }
        }
    }
    let _ = stop.send(true);
    let mut fast = Vec::new();
    for task in fast_tasks {
        fast.push(task.await.context("fast client task")?);
    }
    let mut slow = Vec::new();
    for task in slow_tasks {
        slow.push(task.await.context("slow client task")?);
    }

    let mut latency = Histogram::default();
    for client in &fast {
        latency.merge(&client.latency);
    }
    let rss = rss::verdict(&samples, &spec.bounds);
    let cpu_cores = cpu_after_warmup(&samples, spec.bounds.warmup_s);
    #[allow(clippy::cast_precision_loss)]
    Ok(SoakResult {
        gen,
        fast,
        slow,
        latency_p50_ms: latency.quantile_ns(0.5).map(|ns| ns / 1e6),
        latency_p99_ms: latency.quantile_ns(0.99).map(|ns| ns / 1e6),
        latency_max_ms: (latency.count > 0).then(|| latency.max_ns as f64 / 1e6),
        samples,
        rss,
        cpu_cores,
        ..SoakResult::default()
    })
}

#[allow(clippy::cast_precision_loss)]
fn kib_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[allow(clippy::cast_precision_loss)]
fn cpu_after_warmup(samples: &[Sample], warmup_s: f64) -> Option<f64> {
    let first = samples.iter().find(|s| s.t_s >= warmup_s)?;
    let last = samples.last()?;
    let secs = last.t_s - first.t_s;
    (secs > 0.0).then(|| {
        last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64
            / crate::procfs::ticks_per_second() as f64
            / secs
    })
}

/// Why the soak failed: any gap, duplicate or notice for a fast client, an
/// unannounced gap for the slow one, a dead server, or memory growth.
fn failures(result: &SoakResult, spec: &SoakSpec) -> Vec<String> {
    let mut failures = Vec::new();
    if !result.server_alive {
        failures.push("the server died during the soak".to_owned());
    } else if !result.server_exit_ok {
        failures.push("the server did not exit with 0 on SIGTERM".to_owned());
    }
    let printed = match &result.gen {
        Some(gen) if gen.done => Some(gen.lines),
        Some(gen) => {
            failures.push(format!(
                "the generator did not finish: it printed {} of {} lines (was its pipe drained?)",
                gen.lines, gen.due
            ));
            None
        }
        None => {
            failures.push("the generator wrote no report".to_owned());
            None
        }
    };
    if result.fast.len() != spec.fast_clients {
        failures.push(format!(
            "{} of {} fast clients reported",
            result.fast.len(),
            spec.fast_clients
        ));
    }
    for (i, client) in result.fast.iter().enumerate() {
        for problem in client.problems(printed) {
            failures.push(format!("fast client {}: {problem}", i + 1));
        }
    }
    for (i, client) in result.slow.iter().enumerate() {
        let who = format!("slow client {}", i + 1);
        if client.unannounced_gaps > 0 {
            failures.push(format!(
                "{who}: {} gaps in seq ({} entries) without a notice",
                client.unannounced_gaps, client.unannounced_missing
            ));
        }
        if client.notice_mismatches > 0 {
            failures.push(format!(
                "{who}: {} notices whose count disagrees with the jump in seq",
                client.notice_mismatches
            ));
        }
        if client.repeats > 0 {
            failures.push(format!("{who}: {} duplicates or reorders", client.repeats));
        }
        if client.notices == 0 {
            failures.push(format!(
                "{who}: no drop notice, so falling behind was not exercised"
            ));
        }
        if let Some(error) = &client.error {
            failures.push(format!("{who}: {error}"));
        }
    }
    match &result.rss {
        None => failures.push("too few memory readings after warm-up for a verdict".to_owned()),
        Some(v) => {
            if !v.growth_ok {
                failures.push(format!(
                    "server RSS grew {:.1} MiB from start to end (bound {:.0} MiB)",
                    v.growth_kib() as f64 / 1024.0,
                    kib_mib(spec.bounds.growth_kib)
                ));
            }
            if !v.trend_ok {
                failures.push(format!(
                    "server RSS averaged {:.1} MiB more in the last {:.0} s than in the first (bound {:.0} MiB)",
                    v.trend_kib() / 1024.0,
                    spec.bounds.window_s,
                    kib_mib(spec.bounds.trend_kib)
                ));
            }
        }
    }
    failures
}
