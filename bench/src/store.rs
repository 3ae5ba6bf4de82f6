//! The store scenario (issue #14), Logdeck's alone:
//! - **ingest**: a generator at a fixed rate (100 000 lines/s) while
//!   clients stream; how many lines per second the store took, what it
//!   could not keep, what the clients got;
//! - **fill and query**: several generators fill the store (10 million
//!   lines), then the questions a user asks of it over HTTP, timed (median
//!   of several): a rare substring's newest 100 hits, the histogram over
//!   everything in 120 buckets, a page of 500 older lines; the store's size
//!   against the raw message bytes; and the same search with `grep -c` over
//!   the JSON Lines files written beside it (`log_files = true`).
//!
//! The fan-out with the store on and off is measured apart (the suite's
//! `store-fanout-on` / `store-fanout-off` runs).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::client::Clients;
use crate::clock::mono_ns;
use crate::load::LoadNote;
use crate::procfs::Sampler;
use crate::scenario::{generator_args, summarise_clients, wait_for_report, Env, RunResult};
use crate::system::{http_get_within, Running, SystemKind};

/// The shape of a store run.
#[derive(Clone, Debug)]
pub struct StoreSpec {
    /// Ingest: the generator's lines per second, for how long, with how
    /// many clients streaming meanwhile.
    pub ingest_rate: u64,
    pub ingest_duration: Duration,
    pub ingest_clients: usize,
    /// Fill: lines to store, by this many generators together at this
    /// many lines per second.
    pub fill_lines: u64,
    pub fill_generators: u64,
    pub fill_rate: u64,
    /// Each query is timed this many times (the median is reported).
    pub query_reps: usize,
    /// A substring the generators print rarely: `seq=12345` begins about
    /// 111 of every 2.5 million lines a generator prints (`seq=1234`
    /// suits a smaller fill).
    pub rare: &'static str,
}

/// What the store scenario measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StoreResult {
    pub ingest_rate: u64,
    /// Lines the store committed per second during the ingest window.
    pub ingest_stored_per_s: f64,
    /// Lines it could not keep during the ingest run (`store.lost`).
    pub ingest_lost: u64,
    /// From the end of the window until everything printed was stored.
    pub ingest_catch_up_s: Option<f64>,
    /// Entries the search index had not reached at the end of the window,
    /// and how long it took to catch up from then.
    #[serde(default)]
    pub ingest_unindexed: u64,
    #[serde(default)]
    pub index_catch_up_s: Option<f64>,
    /// Lines in the store after the fill, and how long the fill took
    /// until the store had them all.
    pub stored: u64,
    pub fill_lost: u64,
    pub fill_s: f64,
    pub size_bytes: u64,
    /// The messages' bytes (what the generators printed, without the
    /// newlines).
    pub message_bytes: u64,
    pub search: String,
    pub search_hits: usize,
    pub search_ms: Option<f64>,
    pub histogram_buckets: usize,
    pub histogram_total: u64,
    pub histogram_ms: Option<f64>,
    pub page_lines: usize,
    pub page_ms: Option<f64>,
    pub grep_count: u64,
    pub grep_ms: Option<f64>,
}

/// Bytes per generator line without its newline (`bench-gen --size`).
const LINE_BYTES: u64 = 110;
/// How long the store may take to catch up after the generators stop.
const CATCH_UP: Duration = Duration::from_secs(600);
/// A query gets this long before it counts as failed.
const QUERY_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(
    env: &Env,
    spec: &StoreSpec,
    rep: u32,
    load: LoadNote,
) -> anyhow::Result<RunResult> {
    let mut result = RunResult {
        scenario: "store".into(),
        system: Some(SystemKind::Logdeck),
        rep,
        load,
        clients: spec.ingest_clients,
        rate: Some(spec.ingest_rate),
        duration_s: spec.ingest_duration.as_secs_f64(),
        ..RunResult::default()
    };
    let mut store = StoreResult {
        ingest_rate: spec.ingest_rate,
        search: spec.rare.into(),
        ..StoreResult::default()
    };
    let ingest_ok = ingest(env, spec, rep, &mut result, &mut store).await?;
    let fill_ok = fill_and_query(env, spec, rep, &mut store).await?;
    result.exit_ok = Some(ingest_ok && fill_ok);
    result.store = Some(store);
    Ok(result)
}

/// What the store kept of a stream: lines printed, entries written (the
/// server's own included) and entries counted as not stored.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct StoreKept {
    pub printed: u64,
    pub written: u64,
    pub lost: u64,
}

/// Once the store has written or lost `printed` entries (or after
/// [`CATCH_UP`]), what it kept of them.
pub async fn kept(port: u16, printed: u64) -> Option<StoreKept> {
    caught_up(port, printed).await;
    let (written, lost, _) = store_counts(port).await?;
    Some(StoreKept {
        printed,
        written,
        lost,
    })
}

/// `/api/info`'s store counts: (written, lost, size in bytes).
async fn store_counts(port: u16) -> Option<(u64, u64, u64)> {
    let info = info(port).await?;
    let store = &info["store"];
    Some((
        store["written"].as_u64()?,
        store["lost"].as_u64()?,
        store["size_bytes"].as_u64()?,
    ))
}

async fn info(port: u16) -> Option<serde_json::Value> {
    let body = http_get_within(port, "/api/info", Duration::from_secs(5)).await?;
    serde_json::from_slice(&body).ok()
}

/// Entries the search index has not reached yet.
async fn unindexed(port: u16) -> Option<u64> {
    let info = info(port).await?;
    let last = info["next_seq"].as_u64()?.saturating_sub(1);
    Some(last.saturating_sub(info["store"]["indexed_upto"].as_u64()?))
}

/// Waits until the index has caught up; how long it took.
async fn indexed(port: u16) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < CATCH_UP {
        // The server's own entries may follow; a few are fine.
        if unindexed(port).await? <= 10 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until the store has written or lost `lines` entries; how long it
/// took, or `None` past [`CATCH_UP`].
async fn caught_up(port: u16, lines: u64) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < CATCH_UP {
        if let Some((written, lost, _)) = store_counts(port).await {
            if written + lost >= lines {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn generator_process(gen: &str, name: &str, args: &[String]) -> String {
    let mut argv = vec![gen.to_owned()];
    argv.extend(args.iter().cloned());
    // JSON strings of these plain arguments are valid TOML strings.
    let argv = serde_json::to_string(&argv).unwrap_or_default();
    format!("\n[[process]]\nname = \"{name}\"\ncommand = {argv}\nrestart = \"no\"\n")
}

async fn ingest(
    env: &Env,
    spec: &StoreSpec,
    rep: u32,
    result: &mut RunResult,
    store: &mut StoreResult,
) -> anyhow::Result<bool> {
    let dir = env.run_dir(&format!("store-ingest-{rep}"))?;
    let args = generator_args("rate", Some(spec.ingest_rate), spec.ingest_duration, &dir);
    let config = format!(
        "name = \"logdeck\"\nlog_dir = \"{}\"\n[limits]\nmax_clients_per_address = 2000\n{}",
        dir.join("data").display(),
        generator_process(&env.tools.gen.display().to_string(), "gen0", &args)
    );
    let mut running = Running::logdeck_with(&env.tools, &dir, &config).await?;
    let measured = async {
        let mut clients = Clients::connect(&running.ws_url(), None, spec.ingest_clients, 0).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (written_before, _, _) = store_counts(running.port).await.context("store counts")?;
        let sampler = Sampler::start(running.pid);
        let start = mono_ns();
        let window = u64::try_from(spec.ingest_duration.as_nanos()).unwrap_or(u64::MAX);
        clients.window(start, start + window).await?;
        std::fs::write(dir.join("go"), b"").context("creating the go file")?;
        let opened = Instant::now();
        tokio::time::sleep(spec.ingest_duration).await;
        let (written_after, _, _) = store_counts(running.port).await.context("store counts")?;
        let seconds = opened.elapsed().as_secs_f64();
        store.ingest_unindexed = unindexed(running.port).await.unwrap_or(0);
        result.usage = Some(sampler.finish());
        store.ingest_stored_per_s = (written_after - written_before) as f64 / seconds;
        let gen = wait_for_report(&dir.join("gen.json"), Duration::from_secs(5)).await;
        if let Some(gen) = gen.as_ref().filter(|g| g.done) {
            // The server's own entries (process started) are stored too.
            store.ingest_catch_up_s = caught_up(running.port, gen.lines + written_before)
                .await
                .map(|d| d.as_secs_f64());
        }
        store.ingest_lost = store_counts(running.port).await.map_or(0, |c| c.1);
        store.index_catch_up_s = indexed(running.port).await.map(|d| d.as_secs_f64());
        result.gen = gen;
        // Clients get what is still on its way.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let clients = clients.finish().await?;
        let reading: Vec<_> = clients.iter().collect();
        summarise_clients(result, &reading, spec.ingest_duration);
        anyhow::Ok(())
    }
    .await;
    let alive = running.alive();
    let clean = running.stop().await;
    measured?;
    Ok(alive && clean)
}

async fn fill_and_query(
    env: &Env,
    spec: &StoreSpec,
    rep: u32,
    store: &mut StoreResult,
) -> anyhow::Result<bool> {
    let dir = env.run_dir(&format!("store-fill-{rep}"))?;
    let data = dir.join("data");
    let per_generator = spec.fill_rate / spec.fill_generators.max(1);
    let seconds = spec.fill_lines as f64 / spec.fill_rate as f64;
    let gen = env.tools.gen.display().to_string();
    // Every generator waits for the same go file; each reports apart.
    let mut config = format!(
        "name = \"logdeck\"\nlog_dir = \"{}\"\nlog_files = true\nlog_size = \"1GiB\"\nclient_queue = 1000000\n",
        data.display()
    );
    for i in 0..spec.fill_generators {
        let gen_dir = dir.join(format!("gen{i}"));
        std::fs::create_dir_all(&gen_dir)?;
        let mut args = generator_args(
            "rate",
            Some(per_generator),
            Duration::from_secs_f64(seconds),
            &gen_dir,
        );
        // One go file for all.
        if let Some(go) = args.iter().position(|a| a == "--go-file") {
            args[go + 1] = dir.join("go").display().to_string();
        }
        config.push_str(&generator_process(&gen, &format!("gen{i}"), &args));
    }
    let mut running = Running::logdeck_with(&env.tools, &dir, &config).await?;
    let measured = async {
        let (before, _, _) = store_counts(running.port).await.context("store counts")?;
        std::fs::write(dir.join("go"), b"").context("creating the go file")?;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let mut printed = 0;
        for i in 0..spec.fill_generators {
            let report = wait_for_report(
                &dir.join(format!("gen{i}/gen.json")),
                Duration::from_secs(60),
            )
            .await;
            match report.filter(|r| r.done) {
                Some(report) => printed += report.lines,
                None => bail!("generator {i} did not finish"),
            }
        }
        if caught_up(running.port, before + printed).await.is_none() {
            bail!("the store did not catch up within {} s", CATCH_UP.as_secs());
        }
        // The queries are of a store whose index is complete.
        if indexed(running.port).await.is_none() {
            bail!("the index did not catch up within {} s", CATCH_UP.as_secs());
        }
        store.fill_s = started.elapsed().as_secs_f64();
        let (written, lost, size) = store_counts(running.port).await.context("store counts")?;
        store.stored = written;
        store.fill_lost = lost;
        store.size_bytes = size;
        // What was stored of what the generators printed.
        store.message_bytes = written.min(printed) * LINE_BYTES;
        query(running.port, spec, &data, store).await
    }
    .await;
    let alive = running.alive();
    let clean = running.stop().await;
    measured?;
    Ok(alive && clean)
}

/// The median of `times` in milliseconds.
fn median_ms(mut times: Vec<Duration>) -> Option<f64> {
    times.sort_unstable();
    times.get(times.len() / 2).map(|d| d.as_secs_f64() * 1e3)
}

/// Runs `GET path` `reps` times: the median time, and the last answer.
async fn timed(
    port: u16,
    path: &str,
    reps: usize,
) -> anyhow::Result<(Option<f64>, serde_json::Value)> {
    let mut times = Vec::new();
    let mut answer = serde_json::Value::Null;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let body = http_get_within(port, path, QUERY_LIMIT)
            .await
            .with_context(|| format!("GET {path} failed"))?;
        times.push(started.elapsed());
        answer = serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))?;
    }
    Ok((median_ms(times), answer))
}

async fn query(
    port: u16,
    spec: &StoreSpec,
    data: &Path,
    store: &mut StoreResult,
) -> anyhow::Result<()> {
    let reps = spec.query_reps;
    let rare = spec.rare;
    let (search_ms, hits) = timed(
        port,
        &format!("/api/logs?q={}&limit=100", rare.replace('=', "%3D")),
        reps,
    )
    .await?;
    store.search_ms = search_ms;
    store.search_hits = hits.as_array().map_or(0, Vec::len);
    if store.search_hits == 0 {
        bail!("the search for {rare} found nothing");
    }
    store.histogram_buckets = 120;
    let (histogram_ms, histogram) = timed(port, "/api/logs/histogram?buckets=120", reps).await?;
    store.histogram_ms = histogram_ms;
    store.histogram_total = histogram["buckets"]
        .as_array()
        .map(|buckets| {
            buckets
                .iter()
                .flat_map(|b| b["levels"].as_array().into_iter().flatten())
                .filter_map(serde_json::Value::as_u64)
                .sum()
        })
        .unwrap_or(0);
    let middle = store.stored / 2;
    let (page_ms, page) = timed(
        port,
        &format!("/api/logs?before_seq={middle}&limit=500"),
        reps,
    )
    .await?;
    store.page_ms = page_ms;
    store.page_lines = page.as_array().map_or(0, Vec::len);
    // The same search over the JSON Lines files.
    let files: Vec<_> = std::fs::read_dir(data)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".jsonl"))
        .collect();
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let output = tokio::process::Command::new("grep")
            .arg("-c")
            .arg("-h")
            .arg("--")
            .arg(rare)
            .args(&files)
            .output()
            .await
            .context("running grep")?;
        times.push(started.elapsed());
        store.grep_count = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .sum();
    }
    store.grep_ms = median_ms(times);
    Ok(())
}
