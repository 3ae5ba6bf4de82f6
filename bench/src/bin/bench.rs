//! The benchmark runner: `bench suite` runs every scenario against every
//! system and writes RESULTS.md; `bench suite --profile smoke` is the
//! seconds-long check that the harness still works; `bench report`
//! re-renders RESULTS.md from a results directory (with the browser
//! scenario's `browser.json` when there is one); `bench soak` is the soak
//! of issue #6; `bench quiet` waits out other people's builds for scripts
//! that measure something else (the browser scenario).

// A command-line tool: its progress goes to stderr.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::cluster::{self, ClusterSpec};
use bench::load::wait_for_quiet;
use bench::load::{builds_running, load1, LoadNote};
use bench::report::{render, BrowserResult, Machine};
use bench::scenario::{self, Env, IdleSettle, RunResult, Stream};
use bench::soak::{self, SoakResult, SoakSpec};
use bench::store::{self as store_scenario, StoreSpec};
use bench::system::{SystemKind, Tools};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the scenarios and writes the report.
    Suite(Box<Suite>),
    /// Writes the report from an earlier suite's results.
    Report {
        #[arg(long, default_value = "bench/results-full")]
        results: PathBuf,
        #[arg(long, default_value = "bench/RESULTS.md")]
        out: PathBuf,
    },
    /// Soaks Logdeck: a steady stream, many clients checking every `seq`,
    /// one slow client, the server's memory over time.
    Soak(Box<Soak>),
    /// Waits (up to `--budget` seconds) while other builds load the
    /// machine, then prints the load seen as JSON.
    Quiet {
        #[arg(long, default_value_t = 600)]
        budget: u64,
        /// Also write the JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Profile {
    /// The sizes; about 10 minutes.
    Full,
    /// A tiny version, with assertions: a few seconds for the suite,
    /// twenty for the soak.
    Smoke,
}

#[derive(Debug, Parser)]
struct Soak {
    /// `full`: 10 minutes, writes SOAK.md; `smoke`: 20 seconds.
    #[arg(long, value_enum, default_value = "full")]
    profile: Profile,
    /// Seconds the generator prints for.
    #[arg(long)]
    duration: Option<f64>,
    /// Lines per second.
    #[arg(long)]
    rate: Option<u64>,
    /// Fast clients.
    #[arg(long)]
    clients: Option<usize>,
    /// Bursts per second the slow client reads.
    #[arg(long)]
    slow_fps: Option<f64>,
    /// Frames in each of the slow client's bursts.
    #[arg(long)]
    slow_burst: Option<usize>,
    /// The slow client's socket receive buffer, in bytes.
    #[arg(long)]
    slow_recv_buffer: Option<usize>,
    /// Seconds of warm-up before memory must stay flat.
    #[arg(long)]
    warmup: Option<f64>,
    /// Where soak.json, rss.csv and the server's files go (default
    /// bench/results-soak-<profile>, git-ignored).
    #[arg(long)]
    results: Option<PathBuf>,
    /// Where to write SOAK.md (default: bench/SOAK.md for the full
    /// profile; none for smoke).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = ".")]
    root: PathBuf,
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    #[arg(long, default_value = "")]
    commit: String,
    #[arg(long, default_value = "")]
    rustc: String,
}

#[derive(Debug, Parser)]
struct Suite {
    #[arg(long, value_enum, default_value = "full")]
    profile: Profile,
    /// Systems to measure (default: all four; smoke: logdeck,limit).
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Scenarios to run (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Client counts of the fan-out scenario (default: 1,10,100; smoke: 10).
    #[arg(long, value_delimiter = ',')]
    fanout_clients: Vec<usize>,
    /// Repetitions of each figure; the median is reported.
    #[arg(long, default_value_t = 1)]
    reps: u32,
    /// Where runs.jsonl, machine.json and each run's files go.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Where to write RESULTS.md (full profile only).
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
    /// The repository root (Logdeck runs from there).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    #[arg(long, default_value = ".tools/bench")]
    tools_dir: PathBuf,
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// `name=version` lines for the report.
    #[arg(long = "version-note")]
    versions: Vec<String>,
    #[arg(long, default_value = "")]
    commit: String,
    #[arg(long, default_value = "")]
    rustc: String,
}

const SCENARIOS: [&str; 8] = [
    "fanout",
    "latency",
    "isolation",
    "idle",
    "startup",
    "cluster",
    "store",
    "metrics",
];

/// Sizes per profile.
struct Sizes {
    fanout_clients: Vec<usize>,
    fanout_duration: Duration,
    /// Fan-out figures vary most from run to run: each is the median of
    /// this many runs, alternating the systems.
    fanout_reps: u32,
    latency: Stream,
    isolation: Stream,
    idle_clients: usize,
    idle_settle: IdleSettle,
    startup_processes: usize,
    startup_samples: usize,
    cluster: ClusterSpec,
    store: StoreSpec,
    /// The fan-out with the store on and off: clients, window, runs of
    /// each (alternating).
    store_fanout: (usize, Duration, u32),
    /// The fan-out with `/metrics` on and off (the store off): clients
    /// (each a set of runs), window, runs of each (alternating).
    metrics_fanout: (Vec<usize>, Duration, u32),
}

fn sizes(profile: Profile) -> Sizes {
    match profile {
        Profile::Full => Sizes {
            fanout_clients: vec![1, 10, 100],
            fanout_duration: Duration::from_secs(10),
            fanout_reps: 3,
            latency: Stream {
                scenario: "latency",
                rate: Some(10_000),
                duration: Duration::from_secs(30),
                clients: 100,
                stalled: 0,
                drain: Duration::from_secs(15),
            },
            isolation: Stream {
                scenario: "isolation",
                rate: Some(10_000),
                duration: Duration::from_secs(20),
                clients: 10,
                stalled: 1,
                drain: Duration::from_secs(10),
            },
            idle_clients: 1000,
            idle_settle: IdleSettle {
                before: Duration::from_secs(1),
                after: Duration::from_secs(2),
            },
            startup_processes: 10,
            startup_samples: 5,
            cluster: ClusterSpec {
                rate: 5_000,
                duration: Duration::from_secs(20),
                clients_per_viewer: vec![5, 50, 500],
                drain: Duration::from_secs(20),
            },
            store: StoreSpec {
                ingest_rate: 110_000,
                ingest_duration: Duration::from_secs(20),
                ingest_clients: 10,
                fill_lines: 10_000_000,
                fill_generators: 4,
                fill_rate: 100_000,
                query_reps: 5,
                rare: "seq=12345",
            },
            store_fanout: (10, Duration::from_secs(10), 3),
            metrics_fanout: (vec![1, 10], Duration::from_secs(6), 9),
        },
        Profile::Smoke => Sizes {
            fanout_clients: vec![10],
            fanout_duration: Duration::from_millis(300),
            fanout_reps: 1,
            latency: Stream {
                scenario: "latency",
                rate: Some(2_000),
                duration: Duration::from_millis(300),
                clients: 10,
                stalled: 0,
                drain: Duration::from_secs(3),
            },
            isolation: Stream {
                scenario: "isolation",
                rate: Some(2_000),
                duration: Duration::from_millis(300),
                clients: 3,
                stalled: 1,
                drain: Duration::from_secs(3),
            },
            idle_clients: 50,
            idle_settle: IdleSettle {
                before: Duration::from_millis(200),
                after: Duration::from_millis(300),
            },
            startup_processes: 10,
            startup_samples: 1,
            cluster: ClusterSpec {
                rate: 500,
                duration: Duration::from_millis(500),
                clients_per_viewer: vec![5],
                drain: Duration::from_secs(10),
            },
            store: StoreSpec {
                ingest_rate: 5_000,
                ingest_duration: Duration::from_millis(500),
                ingest_clients: 3,
                fill_lines: 20_000,
                fill_generators: 2,
                fill_rate: 20_000,
                query_reps: 1,
                rare: "seq=1234",
            },
            store_fanout: (3, Duration::from_millis(300), 1),
            metrics_fanout: (vec![3], Duration::from_millis(300), 1),
        },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Suite(suite) => run_suite(*suite).await,
        Command::Report { results, out } => {
            let (machine, runs) = load_results(&results)?;
            let browser = load_browser(&results)?;
            write_report(&out, &machine, &runs, browser.as_ref())
        }
        Command::Soak(args) => run_soak(*args).await,
        Command::Quiet { budget, out } => {
            let note = wait_for_quiet(Duration::from_secs(budget), |msg| {
                eprintln!("bench: {msg}");
            })
            .await;
            let json = serde_json::to_string(&note)?;
            if let Some(out) = out {
                std::fs::write(&out, &json)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}")?;
            Ok(())
        }
    }
}

/// Where the programs are, for a repository root, the peers' install
/// folder and the folder of the built binaries.
fn tools_at(root: &Path, tools_dir: &Path, bin_dir: &Path) -> Tools {
    Tools {
        root: root.to_owned(),
        server: bin_dir.join("logdeck"),
        limit: bin_dir.join("bench-limit"),
        gen: bin_dir.join("bench-gen"),
        python: tools_dir.join("venv/bin/python"),
        dmb_model: root.join("bench/peers/dmb_model.py"),
        node: PathBuf::from("node"),
        frontail: tools_dir.join("npm/node_modules/frontail/index.js"),
        frontail_client: root.join("bench/peers/frontail_client.js"),
        node_modules: tools_dir.join("npm/node_modules"),
        nats: root.join(".tools/nats/bin/nats-server"),
        logdeck_env: Vec::new(),
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// 1000 clients need more descriptors than the usual soft limit of 1024;
/// the systems under test inherit the raised limit.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(1 << 20), hard);
    }
}

async fn run_suite(suite: Suite) -> anyhow::Result<()> {
    let began = Instant::now();
    raise_fd_limit();
    let root = absolute(&suite.root)?;
    let tools_dir = root.join(&suite.tools_dir);
    let bin_dir = root.join(&suite.bin_dir);
    let tools = tools_at(&root, &tools_dir, &bin_dir);
    let smoke = suite.profile == Profile::Smoke;
    let systems: Vec<SystemKind> = if suite.systems.is_empty() {
        if smoke {
            vec![SystemKind::Logdeck, SystemKind::Limit]
        } else {
            SystemKind::ALL.to_vec()
        }
    } else {
        suite
            .systems
            .iter()
            .map(|s| SystemKind::parse(s).with_context(|| format!("unknown system {s}")))
            .collect::<anyhow::Result<_>>()?
    };
    let scenarios: Vec<&str> = if suite.scenarios.is_empty() {
        SCENARIOS.to_vec()
    } else {
        for s in &suite.scenarios {
            if !SCENARIOS.contains(&s.as_str()) {
                bail!("unknown scenario {s}; known: {}", SCENARIOS.join(", "));
            }
        }
        SCENARIOS
            .iter()
            .copied()
            .filter(|s| suite.scenarios.iter().any(|x| x == s))
            .collect()
    };
    for (what, path) in [
        ("logdeck", &tools.server),
        ("bench-limit", &tools.limit),
        ("bench-gen", &tools.gen),
    ] {
        if !path.exists() {
            bail!(
                "{what} not found at {}: build with `make build` and `cargo build --release -p bench`",
                path.display()
            );
        }
    }
    let results = absolute(&suite.results.clone().unwrap_or_else(|| {
        PathBuf::from(if smoke {
            "bench/results-smoke"
        } else {
            "bench/results-full"
        })
    }))?;
    if results.exists() {
        std::fs::remove_dir_all(&results)?;
    }
    std::fs::create_dir_all(&results)?;
    let env = Env {
        tools,
        work: results.join("runs"),
    };
    let mut sizes = sizes(suite.profile);
    if !suite.fanout_clients.is_empty() {
        sizes.fanout_clients.clone_from(&suite.fanout_clients);
    }
    let mut machine = Machine::probe();
    machine.profile = format!("{:?}", suite.profile).to_lowercase();
    machine.reps = suite.reps;
    machine.fanout_reps = sizes.fanout_reps;
    machine.commit.clone_from(&suite.commit);
    machine.rustc.clone_from(&suite.rustc);
    machine.versions = suite
        .versions
        .iter()
        .filter_map(|v| v.split_once('=').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let runs_file = results.join("runs.jsonl");
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    // At most this long waiting for other people's builds, in all.
    let mut wait_budget = Duration::from_secs(600);

    for rep in 0..suite.reps {
        for &scenario in &scenarios {
            let mut plans: Vec<(SystemKind, Option<Stream>, u32)> = Vec::new();
            let once = |stream: Option<&Stream>| {
                systems
                    .iter()
                    .map(|&s| (s, stream.cloned(), rep))
                    .collect::<Vec<_>>()
            };
            match scenario {
                "fanout" => {
                    for &clients in &sizes.fanout_clients {
                        for inner in 0..sizes.fanout_reps {
                            for &system in &systems {
                                let stream = Stream {
                                    scenario: "fanout",
                                    rate: None,
                                    duration: sizes.fanout_duration,
                                    clients,
                                    stalled: 0,
                                    drain: Duration::ZERO,
                                };
                                plans.push((system, Some(stream), rep * sizes.fanout_reps + inner));
                            }
                        }
                    }
                }
                "latency" => plans.extend(once(Some(&sizes.latency))),
                // Logdeck's alone: the others have no cluster.
                "cluster" => {
                    if systems.contains(&SystemKind::Logdeck) {
                        for &per_viewer in &sizes.cluster.clients_per_viewer {
                            let stream = Stream {
                                scenario: "cluster",
                                rate: Some(sizes.cluster.rate * 2),
                                duration: sizes.cluster.duration,
                                clients: per_viewer * 2,
                                stalled: 0,
                                drain: sizes.cluster.drain,
                            };
                            plans.push((SystemKind::Logdeck, Some(stream), rep));
                        }
                    }
                }
                // Logdeck's alone: fan-out with the store off and on
                // (alternating), then ingest, fill and queries.
                "store" => {
                    if systems.contains(&SystemKind::Logdeck) {
                        let (clients, duration, reps) = sizes.store_fanout;
                        for inner in 0..reps {
                            for scenario in [scenario::STORE_OFF, scenario::STORE_ON] {
                                let stream = Stream {
                                    scenario,
                                    rate: None,
                                    duration,
                                    clients,
                                    stalled: 0,
                                    drain: Duration::ZERO,
                                };
                                plans.push((SystemKind::Logdeck, Some(stream), rep * reps + inner));
                            }
                        }
                        plans.push((SystemKind::Logdeck, None, rep));
                    }
                }
                // Logdeck's alone: the same fan-out with `/metrics` on and
                // off, the order swapped every other run.
                "metrics" => {
                    if systems.contains(&SystemKind::Logdeck) {
                        let (clients, duration, reps) = &sizes.metrics_fanout;
                        for &clients in clients {
                            for inner in 0..*reps {
                                let mut pair = [scenario::METRICS_ON, scenario::METRICS_OFF];
                                if inner % 2 == 1 {
                                    pair.reverse();
                                }
                                for scenario in pair {
                                    let stream = Stream {
                                        scenario,
                                        rate: None,
                                        duration: *duration,
                                        clients,
                                        stalled: 0,
                                        drain: Duration::ZERO,
                                    };
                                    plans.push((
                                        SystemKind::Logdeck,
                                        Some(stream),
                                        rep * reps + inner,
                                    ));
                                }
                            }
                        }
                    }
                }
                "isolation" => plans.extend(once(Some(&sizes.isolation))),
                _ => plans.extend(once(None)),
            }
            for (system, stream, rep) in plans {
                // A test does not wait for other builds; a measurement does.
                let load = if smoke {
                    LoadNote::default()
                } else {
                    let note = wait_for_quiet(wait_budget, |msg| eprintln!("bench: {msg}")).await;
                    wait_budget =
                        wait_budget.saturating_sub(Duration::from_secs_f64(note.waited_s));
                    note
                };
                // The run's own name where it has one (store-fanout-on, …).
                let label = format!(
                    "{} {}{} (rep {})",
                    stream.as_ref().map_or(scenario, |s| s.scenario),
                    system.label(),
                    stream
                        .as_ref()
                        .map_or(String::new(), |s| format!(", {} clients", s.clients)),
                    rep + 1
                );
                eprint!("bench: {label} … ");
                let started = Instant::now();
                let outcome = match (scenario, &stream) {
                    ("cluster", Some(stream)) => {
                        cluster::run(&env, &sizes.cluster, stream.clients / 2, rep, load).await
                    }
                    ("store" | "metrics", Some(stream)) => {
                        // The same fan-out as the suite's, one setting changed.
                        let mut tools = env.tools.clone();
                        tools
                            .logdeck_env
                            .extend(scenario::settings(stream.scenario));
                        let env = Env {
                            tools,
                            work: env.work.clone(),
                        };
                        scenario::stream(&env, system, stream, rep, load).await
                    }
                    ("store", None) => store_scenario::run(&env, &sizes.store, rep, load).await,
                    (_, Some(stream)) => scenario::stream(&env, system, stream, rep, load).await,
                    ("idle", None) => {
                        scenario::idle(
                            &env,
                            system,
                            sizes.idle_clients,
                            sizes.idle_settle,
                            rep,
                            load,
                        )
                        .await
                    }
                    _ => {
                        scenario::startup(
                            &env,
                            system,
                            sizes.startup_processes,
                            sizes.startup_samples,
                            load,
                        )
                        .await
                    }
                };
                match outcome {
                    Ok(run) => {
                        eprintln!(
                            "{} ({:.1} s)",
                            one_line(&run),
                            started.elapsed().as_secs_f64()
                        );
                        if smoke {
                            failures.extend(
                                smoke_failures(&run)
                                    .into_iter()
                                    .map(|f| format!("{label}: {f}")),
                            );
                        }
                        let mut file = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&runs_file)?;
                        writeln!(file, "{}", serde_json::to_string(&run)?)?;
                        runs.push(run);
                    }
                    Err(error) => {
                        eprintln!("failed: {error:#}");
                        failures.push(format!("{label}: {error:#}"));
                    }
                }
            }
        }
    }
    machine.suite_s = began.elapsed().as_secs_f64();
    std::fs::write(
        results.join("machine.json"),
        serde_json::to_vec_pretty(&machine)?,
    )?;
    if smoke {
        if failures.is_empty() {
            eprintln!(
                "bench smoke: {} runs passed, 0 failed ({:.1} s)",
                runs.len(),
                machine.suite_s
            );
            return Ok(());
        }
        for failure in &failures {
            eprintln!("bench smoke: FAILED {failure}");
        }
        bail!("{} smoke checks failed", failures.len());
    }
    for failure in &failures {
        eprintln!("bench: run failed: {failure}");
    }
    write_report(&absolute(&suite.out)?, &machine, &runs, None)?;
    Ok(())
}

fn one_line(run: &RunResult) -> String {
    let mut parts = Vec::new();
    if let Some(rate) = run.per_client_rate {
        parts.push(format!("{rate:.0} lines/s per client"));
    }
    if let Some(p99) = run.p99_ms {
        parts.push(format!(
            "p50 {:.2} ms p99 {p99:.2} ms",
            run.p50_ms.unwrap_or(0.0)
        ));
    }
    if let Some(lost) = run.lost_lines {
        parts.push(format!("{lost} lost"));
    }
    if let Some(usage) = run.usage {
        parts.push(format!("cpu {:.2}", usage.cpu_cores));
    }
    for member in &run.members {
        parts.push(format!(
            "{} cpu {:.2} rss {} MiB",
            member.name,
            member.usage.cpu_cores,
            member.usage.rss_peak_kib / 1024
        ));
    }
    if let Some(kib) = run.idle_kib_per_client {
        parts.push(format!("{kib:.1} KiB per idle client"));
    }
    if !run.startup_ms.is_empty() {
        parts.push(format!(
            "start-up {:?} ms",
            run.startup_ms.iter().map(|m| m.round()).collect::<Vec<_>>()
        ));
    }
    if !run.errors.is_empty() {
        parts.push(format!("errors: {}", run.errors.join("; ")));
    }
    parts.join(", ")
}

/// What the smoke test insists on: the system survived and stopped
/// cleanly, every client connected and read lines, none saw an error.
fn smoke_failures(run: &RunResult) -> Vec<String> {
    let mut failures = Vec::new();
    if run.exit_ok != Some(true) {
        failures.push("the server did not survive the run and exit cleanly on SIGTERM".to_owned());
    }
    if !run.errors.is_empty() {
        failures.push(format!("errors: {}", run.errors.join("; ")));
    }
    match run.scenario.as_str() {
        "idle" => {
            if run.idle_kib_per_client.is_none() {
                failures.push("no idle memory figure".into());
            }
        }
        "startup" => {
            if run.startup_ms.is_empty() {
                failures.push("no start-up time".into());
            }
        }
        "store" => match &run.store {
            None => failures.push("no store figures".into()),
            Some(store) => {
                if store.stored == 0 || store.search_hits == 0 || store.page_lines == 0 {
                    failures.push(format!("the store answered nothing: {store:?}"));
                }
                if store.grep_count == 0 {
                    failures.push("grep found nothing in the log files".into());
                }
            }
        },
        "cluster" => {
            if !run.gen.as_ref().is_some_and(|g| g.done) {
                failures.push("a generator did not finish".into());
            }
            if run.lost_lines != Some(0) {
                failures.push(format!(
                    "clients lost {:?} lines through the cluster",
                    run.lost_lines
                ));
            }
        }
        _ => {
            if !run.gen.as_ref().is_some_and(|g| g.done) {
                failures.push("the generator did not finish".into());
            }
            if !run.per_client_rate_min.is_some_and(|r| r > 0.0) {
                failures.push("a client received no lines".into());
            }
        }
    }
    failures
}

fn load_results(dir: &Path) -> anyhow::Result<(Machine, Vec<RunResult>)> {
    let machine = serde_json::from_slice(&std::fs::read(dir.join("machine.json"))?)?;
    let runs = std::fs::read_to_string(dir.join("runs.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    Ok((machine, runs))
}

/// The browser scenario's figures (`end2end/bench/`, `scripts/bench-browser.sh`), if it ran.
fn load_browser(dir: &Path) -> anyhow::Result<Option<BrowserResult>> {
    let path = dir.join("browser.json");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path)?;
    let browser =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(browser))
}

fn write_report(
    out: &Path,
    machine: &Machine,
    runs: &[RunResult],
    browser: Option<&BrowserResult>,
) -> anyhow::Result<()> {
    std::fs::write(out, render(machine, runs, browser))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

async fn run_soak(args: Soak) -> anyhow::Result<()> {
    raise_fd_limit();
    let root = absolute(&args.root)?;
    let tools = tools_at(&root, &root.join(".tools/bench"), &root.join(&args.bin_dir));
    for (what, path) in [("logdeck", &tools.server), ("bench-gen", &tools.gen)] {
        if !path.exists() {
            bail!(
                "{what} not found at {}: build with `make build` and `cargo build --release -p bench`",
                path.display()
            );
        }
    }
    let smoke = args.profile == Profile::Smoke;
    let mut spec = if smoke {
        SoakSpec::smoke()
    } else {
        SoakSpec::full()
    };
    if let Some(d) = args.duration {
        spec.duration_s = d;
    }
    if let Some(r) = args.rate {
        spec.rate = r;
    }
    if let Some(c) = args.clients {
        spec.fast_clients = c;
    }
    if let Some(f) = args.slow_fps {
        spec.slow_frames_per_s = f;
    }
    if let Some(b) = args.slow_burst {
        spec.slow_burst = b;
    }
    if let Some(b) = args.slow_recv_buffer {
        spec.slow_recv_buffer = b;
    }
    if let Some(w) = args.warmup {
        spec.bounds.warmup_s = w;
    }
    let results = absolute(
        &args
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("bench/results-soak-{}", spec.profile))),
    )?;
    if results.exists() {
        std::fs::remove_dir_all(&results)?;
    }
    let run_dir = results.join("run");
    std::fs::create_dir_all(&run_dir)?;
    // A test records the load it ran under; a measurement first waits
    // for other people's builds.
    let load = if smoke {
        LoadNote {
            load1: load1(),
            waited_s: 0.0,
            builds_running: builds_running(),
        }
    } else {
        wait_for_quiet(Duration::from_secs(600), |msg| eprintln!("soak: {msg}")).await
    };
    eprintln!(
        "soak: {:.0} s at {} lines/s, {} fast clients and {} slow one(s) reading {} bursts of {} frames/s; load {:.2}",
        spec.duration_s,
        spec.rate,
        spec.fast_clients,
        spec.slow_clients,
        spec.slow_frames_per_s,
        spec.slow_burst,
        load.load1
    );
    let result: SoakResult = soak::run(&tools, &run_dir, &spec, load, &|msg| {
        eprintln!("soak: {msg}")
    })
    .await?;
    std::fs::write(
        results.join("soak.json"),
        serde_json::to_vec_pretty(&result)?,
    )?;
    let mut csv = String::from("t_s,rss_kib,cpu_ticks,load1,builds\n");
    for s in &result.samples {
        csv.push_str(&format!(
            "{:.1},{},{},{:.2},{}\n",
            s.t_s, s.rss_kib, s.cpu_ticks, s.load1, s.builds
        ));
    }
    std::fs::write(results.join("rss.csv"), csv)?;
    eprint!("{}", soak::report::summary(&result));
    let out = args
        .out
        .clone()
        .or_else(|| (!smoke).then(|| PathBuf::from("bench/SOAK.md")));
    if let Some(out) = out {
        let mut machine = Machine::probe();
        machine.profile.clone_from(&spec.profile);
        machine.commit.clone_from(&args.commit);
        machine.rustc.clone_from(&args.rustc);
        let out = absolute(&out)?;
        std::fs::write(&out, soak::report::render(&machine, &result))
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("soak: wrote {}", out.display());
    }
    if result.passed() {
        eprintln!("soak: passed ({:.0} s)", result.elapsed_s);
        return Ok(());
    }
    for failure in &result.failures {
        eprintln!("soak: FAILED {failure}");
    }
    bail!("the soak failed {} check(s)", result.failures.len())
}
