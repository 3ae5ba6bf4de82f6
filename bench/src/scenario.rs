//! The five scenarios of issue #7, each run against one system at a time.
//!
//! Streaming runs (fan-out, latency, isolation) share one shape: start the
//! system with a generator that waits for a go file, connect every client,
//! open the measurement window and create the go file, let the generator
//! print for the window, then give the clients a bounded time to receive
//! what is still on its way, and compare what each client got with what the
//! generator printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::client::{ClientResult, Clients};
use crate::clock::mono_ns;
use crate::histogram::Histogram;
use crate::load::LoadNote;
use crate::procfs::{self, Sampler, Usage};
use crate::system::{Running, SystemKind, Tools};
use crate::GenReport;

/// One run of one scenario against one system: what goes into
/// `runs.jsonl` and from there into RESULTS.md.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunResult {
    pub scenario: String,
    pub system: Option<SystemKind>,
    pub rep: u32,
    pub clients: usize,
    pub stalled: usize,
    /// Lines per second asked of the generator; `None` is flat out.
    pub rate: Option<u64>,
    pub duration_s: f64,
    pub gen: Option<GenReport>,
    /// Lines per second received inside the window, per reading client.
    pub per_client_rate: Option<f64>,
    pub per_client_rate_min: Option<f64>,
    /// The same, summed over the reading clients.
    pub total_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Lines printed but never received, summed over reading clients.
    pub lost_lines: Option<u64>,
    pub loss_pct: Option<f64>,
    pub notices: u64,
    pub usage: Option<Usage>,
    pub idle_rss_before_kib: Option<u64>,
    pub idle_rss_after_kib: Option<u64>,
    pub idle_kib_per_client: Option<f64>,
    pub startup_ms: Vec<f64>,
    /// The system exited cleanly when asked to stop.
    pub exit_ok: Option<bool>,
    pub errors: Vec<String>,
    pub load: LoadNote,
    /// The cluster scenario: CPU and memory of NATS and of each node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<crate::cluster::Member>,
    /// The cluster scenario: the clients that kept up (got no drop
    /// notice), what they lost and their p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_up: Option<KeptUp>,
    /// The store scenario's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::store::StoreResult>,
    /// A stream with the store on: what the store kept of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_kept: Option<crate::store::StoreKept>,
}

/// What the clients that kept up got.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeptUp {
    pub clients: usize,
    pub lost_lines: u64,
    pub p99_ms: Option<f64>,
}

/// Where runs keep their files, and the programs.
#[derive(Debug)]
pub struct Env {
    pub tools: Tools,
    pub work: PathBuf,
}

impl Env {
    pub(crate) fn run_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The Node client is frontail's; everyone else gets the Rust one.
    fn node_for(&self, kind: SystemKind) -> Option<&Tools> {
        (kind == SystemKind::Frontail).then_some(&self.tools)
    }
}

/// The shape of a streaming run.
#[derive(Clone, Debug)]
pub struct Stream {
    pub scenario: &'static str,
    /// `None`: flat out.
    pub rate: Option<u64>,
    pub duration: Duration,
    pub clients: usize,
    pub stalled: usize,
    /// After the window, how long to wait for lines still on their way
    /// (0: count only the window, as fan-out does).
    pub drain: Duration,
}

/// Lines still arriving after the window: stop waiting after this long
/// without progress.
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// Before the window: let subscriptions settle.
const SETTLE: Duration = Duration::from_millis(200);

/// The generator's arguments for a streaming run whose files live in `dir`.
pub fn generator_args(
    mode: &str,
    rate: Option<u64>,
    duration: Duration,
    dir: &Path,
) -> Vec<String> {
    let mut args = vec!["--mode".to_owned(), mode.to_owned()];
    if let Some(rate) = rate {
        args.extend(["--rate".to_owned(), rate.to_string()]);
    }
    args.extend([
        "--duration".to_owned(),
        format!("{}", duration.as_secs_f64()),
        "--go-file".to_owned(),
        dir.join("go").display().to_string(),
        "--report".to_owned(),
        dir.join("gen.json").display().to_string(),
        "--linger".to_owned(),
    ]);
    args
}

/// The fan-out runs that change one setting: the store off and on, and
/// (the store off) `/metrics` on and off.
pub const STORE_OFF: &str = "store-fanout-off";
pub const STORE_ON: &str = "store-fanout-on";
pub const METRICS_ON: &str = "metrics-fanout-on";
pub const METRICS_OFF: &str = "metrics-fanout-off";

/// The environment Logdeck runs with in `scenario` (its settings as
/// `LOGDECK_*` variables).
pub fn settings(scenario: &str) -> Vec<(String, String)> {
    let store_off = ("LOGDECK_STORE".to_owned(), "false".to_owned());
    let metrics_off = ("LOGDECK_METRICS__ENABLED".to_owned(), "false".to_owned());
    match scenario {
        STORE_OFF | METRICS_ON => vec![store_off],
        METRICS_OFF => vec![store_off, metrics_off],
        _ => Vec::new(),
    }
}

pub async fn stream(
    env: &Env,
    kind: SystemKind,
    spec: &Stream,
    rep: u32,
    load: LoadNote,
) -> anyhow::Result<RunResult> {
    let dir = env.run_dir(&format!(
        "{}-{}-{}c-{}",
        spec.scenario,
        kind.id(),
        spec.clients,
        rep
    ))?;
    let mode = if spec.rate.is_some() { "rate" } else { "flat" };
    let args = generator_args(mode, spec.rate, spec.duration, &dir);
    let mut running = Running::start(kind, &env.tools, &dir, &[args]).await?;
    let mut outcome = stream_with(&mut running, env, spec, &dir).await;
    if spec.scenario == STORE_ON {
        if let Ok((result, _)) = &mut outcome {
            if let Some(printed) = result.gen.as_ref().map(|g| g.lines) {
                result.store_kept = crate::store::kept(running.port, printed).await;
            }
        }
    }
    let alive = running.alive();
    let clean = running.stop().await;
    let (mut result, clients) = outcome?;
    result.scenario = spec.scenario.to_owned();
    result.system = Some(kind);
    result.rep = rep;
    result.load = load;
    result.exit_ok = Some(alive && clean);
    if !alive {
        result
            .errors
            .push(format!("{} died during the run", kind.label()));
    }
    summarise(&mut result, &clients, spec);
    Ok(result)
}

async fn stream_with(
    running: &mut Running,
    env: &Env,
    spec: &Stream,
    dir: &Path,
) -> anyhow::Result<(RunResult, Vec<ClientResult>)> {
    let mut clients = Clients::connect(
        &running.ws_url(),
        env.node_for(running.kind),
        spec.clients,
        spec.stalled,
    )
    .await?;
    tokio::time::sleep(SETTLE).await;
    let sampler = Sampler::start(running.pid);
    let start = mono_ns();
    let window = u64::try_from(spec.duration.as_nanos()).unwrap_or(u64::MAX);
    clients.window(start, start + window).await?;
    std::fs::write(dir.join("go"), b"").context("creating the go file")?;
    tokio::time::sleep(spec.duration).await;
    let usage = sampler.finish();

    // The generator reports when done; one blocked by its reader never does.
    let report_path = dir.join("gen.json");
    let gen = wait_for_report(&report_path, Duration::from_secs(3)).await;
    if let (Some(gen), false) = (gen.as_ref().filter(|g| g.done), spec.drain.is_zero()) {
        let expected = gen.lines * spec.clients as u64;
        let deadline = Instant::now() + spec.drain;
        let mut last = clients.received();
        let mut last_change = Instant::now();
        while clients.received() < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = clients.received();
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > DRAIN_QUIET {
                break;
            }
        }
    }
    let results = clients.finish().await?;
    Ok((
        RunResult {
            clients: spec.clients,
            stalled: spec.stalled,
            rate: spec.rate,
            duration_s: spec.duration.as_secs_f64(),
            gen,
            usage: Some(usage),
            ..RunResult::default()
        },
        results,
    ))
}

/// The generator's final report, or after `wait` its latest progress
/// report (a generator blocked by an undrained pipe never finishes).
pub async fn wait_for_report(path: &Path, wait: Duration) -> Option<GenReport> {
    let deadline = Instant::now() + wait;
    loop {
        let report: Option<GenReport> = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if report.as_ref().is_some_and(|r| r.done) || Instant::now() > deadline {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summarise(result: &mut RunResult, clients: &[ClientResult], spec: &Stream) {
    let reading: Vec<&ClientResult> = clients.iter().filter(|c| !c.stalled).collect();
    summarise_clients(result, &reading, spec.duration);
    result.errors.sort();
    result.errors.dedup();
}

/// Fills `result` from what `clients` received over a window of
/// `duration`: their rates, merged latency, notices, errors and, once the
/// generator has finished, the lines each of them did not get of all it
/// printed (gaps in `seq` would say nothing when several generators
/// interleave).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn summarise_clients(
    result: &mut RunResult,
    clients: &[&ClientResult],
    duration: Duration,
) {
    let secs = duration.as_secs_f64();
    if !clients.is_empty() {
        let rates: Vec<f64> = clients.iter().map(|c| c.in_window as f64 / secs).collect();
        result.total_rate = Some(rates.iter().sum());
        result.per_client_rate = Some(rates.iter().sum::<f64>() / rates.len() as f64);
        result.per_client_rate_min = rates.iter().copied().reduce(f64::min);
    }
    let mut latency = Histogram::default();
    for client in clients {
        latency.merge(&client.latency);
        result.notices += client.notices;
        if let Some(error) = &client.error {
            result.errors.push(error.clone());
        }
    }
    result.p50_ms = latency.quantile_ns(0.5).map(|ns| ns / 1e6);
    result.p99_ms = latency.quantile_ns(0.99).map(|ns| ns / 1e6);
    result.max_ms = (latency.count > 0).then(|| latency.max_ns as f64 / 1e6);
    if let Some(gen) = result.gen.as_ref().filter(|g| g.done) {
        let lost: u64 = clients
            .iter()
            .map(|c| gen.lines.saturating_sub(c.received))
            .sum();
        result.lost_lines = Some(lost);
        let printed = gen.lines * clients.len() as u64;
        result.loss_pct = (printed > 0).then(|| lost as f64 * 100.0 / printed as f64);
    }
}

/// Idle memory: RSS with no client, then with `clients` idle ones.
/// How long idle runs let memory settle before and after the clients connect.
#[derive(Clone, Copy, Debug)]
pub struct IdleSettle {
    pub before: Duration,
    pub after: Duration,
}

pub async fn idle(
    env: &Env,
    kind: SystemKind,
    clients: usize,
    settle: IdleSettle,
    rep: u32,
    load: LoadNote,
) -> anyhow::Result<RunResult> {
    let dir = env.run_dir(&format!("idle-{}-{clients}c-{rep}", kind.id()))?;
    let args = vec!["--mode".to_owned(), "idle".to_owned()];
    let mut running = Running::start(kind, &env.tools, &dir, &[args]).await?;
    let mut result = RunResult {
        scenario: "idle".into(),
        system: Some(kind),
        rep,
        clients,
        load,
        ..RunResult::default()
    };
    let measured = async {
        tokio::time::sleep(settle.before).await;
        let before = steady_rss(running.pid).await;
        let connected = Clients::connect(&running.ws_url(), env.node_for(kind), clients, 0).await?;
        tokio::time::sleep(settle.after).await;
        let after = steady_rss(running.pid).await;
        let results = connected.finish().await?;
        anyhow::Ok((before, after, results))
    }
    .await;
    let alive = running.alive();
    let clean = running.stop().await;
    let (before, after, results) = measured?;
    result.idle_rss_before_kib = Some(before);
    result.idle_rss_after_kib = Some(after);
    #[allow(clippy::cast_precision_loss)]
    {
        result.idle_kib_per_client =
            Some(after.saturating_sub(before) as f64 / clients.max(1) as f64);
    }
    result.errors = results.iter().filter_map(|c| c.error.clone()).collect();
    result.errors.dedup();
    result.exit_ok = Some(alive && clean);
    Ok(result)
}

/// The median of three readings 100 ms apart.
async fn steady_rss(pid: u32) -> u64 {
    let mut readings = Vec::new();
    for _ in 0..3 {
        readings.push(procfs::read(pid).map_or(0, |r| r.rss_kib));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    readings.sort_unstable();
    readings[1]
}

/// Start-up: from exec to a 200 from the health route, with `processes`
/// idle processes configured; `samples` starts.
pub async fn startup(
    env: &Env,
    kind: SystemKind,
    processes: usize,
    samples: usize,
    load: LoadNote,
) -> anyhow::Result<RunResult> {
    let mut result = RunResult {
        scenario: "startup".into(),
        system: Some(kind),
        clients: processes,
        load,
        exit_ok: Some(true),
        ..RunResult::default()
    };
    let args = vec!["--mode".to_owned(), "idle".to_owned()];
    let generators = vec![args; processes];
    for sample in 0..samples {
        let dir = env.run_dir(&format!("startup-{}-{sample}", kind.id()))?;
        let running = Running::start(kind, &env.tools, &dir, &generators).await?;
        result.startup_ms.push(running.startup.as_secs_f64() * 1e3);
        if !running.stop().await {
            result.exit_ok = Some(false);
        }
        // Let the previous instance's port and processes go.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(result)
}
