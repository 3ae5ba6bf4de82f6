//! The cluster scenario: two Logdeck nodes, each running one generator at a
//! fixed rate, publish through a real nats-server; two viewer nodes read
//! the stream and serve their WebSocket clients. Every client should get
//! every line of both generators: its lines per second, the latency from
//! the generator's write to the client, what it lost, and the CPU and
//! memory of the NATS server and of each node.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};

use crate::client::{ClientResult, Clients};
use crate::clock::mono_ns;
use crate::histogram::Histogram;
use crate::load::LoadNote;
use crate::procfs::{Sampler, Usage};
use crate::scenario::{generator_args, summarise_clients, wait_for_report, Env, KeptUp, RunResult};
use crate::system::{Running, SystemKind};

/// The shape of a cluster run.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Lines per second of each of the two generators.
    pub rate: u64,
    pub duration: Duration,
    /// WebSocket clients of each of the two viewer nodes: one run per
    /// count.
    pub clients_per_viewer: Vec<usize>,
    /// After the window, how long to wait for lines still on their way.
    pub drain: Duration,
}

/// CPU and memory of one process of the cluster over the window.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub usage: Usage,
}

const TOKEN: &str = "bench-cluster-token";
/// Lines still arriving after the window: stop waiting after this long
/// without progress.
const DRAIN_QUIET: Duration = Duration::from_secs(3);

/// nats-server with JetStream on a free port, in its own group.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Nats> {
        if !binary.is_file() {
            bail!(
                "{} is missing: run scripts/bootstrap.sh --nats",
                binary.display()
            );
        }
        let ports = dir.join("nats-ports");
        std::fs::create_dir_all(&ports)?;
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(dir.join("nats-store"))
            .args(["--auth", TOKEN, "--ports_file_dir"])
            .arg(&ports)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nats.err"))?)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("spawning nats-server")?;
        let pid = child.id().context("nats-server's pid")?;
        let file = ports.join(format!("nats-server_{pid}.ports"));
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let ports: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(url) = ports["nats"][0].as_str() {
                    return Ok(Nats {
                        url: url.to_owned(),
                        child,
                    });
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("nats-server did not start; see {}", dir.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A node's configuration.
fn node_config(name: &str, nats: &str, process: Option<(&str, &[String])>) -> String {
    let mut config = format!(
        "name = \"logdeck\"\nnode = \"{name}\"\n\n[limits]\nmax_clients = 2000\nmax_clients_per_address = 2000\n\n[cluster]\nurl = \"{nats}\"\ntoken = \"{TOKEN}\"\n"
    );
    if let Some((gen, args)) = process {
        let mut argv = vec![gen.to_owned()];
        argv.extend(args.iter().cloned());
        let argv = serde_json::to_string(&argv).unwrap_or_default();
        config.push_str(&format!(
            "\n[[process]]\nname = \"gen\"\ncommand = {argv}\nrestart = \"no\"\n"
        ));
    }
    config
}

fn subdir(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub)?;
    Ok(sub)
}

/// One run with `clients_per_viewer` clients on each viewer node.
pub async fn run(
    env: &Env,
    spec: &ClusterSpec,
    clients_per_viewer: usize,
    rep: u32,
    load: LoadNote,
) -> anyhow::Result<RunResult> {
    let dir = env.work.join(format!("cluster-{clients_per_viewer}-{rep}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let nats = Nats::start(&env.tools.nats, &dir).await?;
    let gen = env.tools.gen.display().to_string();
    let mut nodes: Vec<(String, Running)> = Vec::new();
    let started = async {
        for name in ["node-a", "node-b"] {
            let node_dir = subdir(&dir, name)?;
            let args = generator_args("rate", Some(spec.rate), spec.duration, &node_dir);
            let config = node_config(name, &nats.url, Some((&gen, &args)));
            nodes.push((
                name.to_owned(),
                Running::logdeck_with(&env.tools, &node_dir, &config).await?,
            ));
        }
        for name in ["viewer-1", "viewer-2"] {
            let node_dir = subdir(&dir, name)?;
            let config = node_config(name, &nats.url, None);
            nodes.push((
                name.to_owned(),
                Running::logdeck_with(&env.tools, &node_dir, &config).await?,
            ));
        }
        anyhow::Ok(())
    }
    .await;
    let measured = match started {
        Ok(()) => measure(spec, clients_per_viewer, &dir, &nats, &nodes).await,
        Err(error) => Err(error),
    };
    let mut exit_ok = true;
    for (_, node) in nodes {
        exit_ok &= node.stop().await;
    }
    nats.stop().await;
    let (mut result, clients, members) = measured?;
    result.scenario = "cluster".into();
    result.system = Some(SystemKind::Logdeck);
    result.rep = rep;
    result.load = load;
    result.exit_ok = Some(exit_ok);
    result.members = members;
    summarise(&mut result, &clients, spec);
    Ok(result)
}

type Measured = (RunResult, Vec<ClientResult>, Vec<Member>);

async fn measure(
    spec: &ClusterSpec,
    clients_per_viewer: usize,
    dir: &Path,
    nats: &Nats,
    nodes: &[(String, Running)],
) -> anyhow::Result<Measured> {
    // Every node connected and the viewers reading before anything is
    // printed.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (name, node) in nodes {
        while !cluster_connected(node.port).await {
            if Instant::now() > deadline {
                bail!("{name} did not connect to NATS");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let viewers: Vec<&Running> = nodes
        .iter()
        .filter(|(name, _)| name.starts_with("viewer"))
        .map(|(_, node)| node)
        .collect();
    let mut clients = Vec::new();
    for viewer in &viewers {
        clients.push(Clients::connect(&viewer.ws_url(), None, clients_per_viewer, 0).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut samplers: Vec<(String, Sampler)> = vec![(
        "nats-server".to_owned(),
        Sampler::start(nats.child.id().context("nats-server's pid")?),
    )];
    for (name, node) in nodes {
        samplers.push((name.clone(), Sampler::start(node.pid)));
    }
    let start = mono_ns();
    let window = u64::try_from(spec.duration.as_nanos()).unwrap_or(u64::MAX);
    for set in &mut clients {
        set.window(start, start + window).await?;
    }
    for name in ["node-a", "node-b"] {
        std::fs::write(dir.join(name).join("go"), b"").context("creating a go file")?;
    }
    tokio::time::sleep(spec.duration).await;
    let members: Vec<Member> = samplers
        .into_iter()
        .map(|(name, sampler)| Member {
            name,
            usage: sampler.finish(),
        })
        .collect();
    let mut printed = 0;
    let mut reports = Vec::new();
    for name in ["node-a", "node-b"] {
        let report =
            wait_for_report(&dir.join(name).join("gen.json"), Duration::from_secs(5)).await;
        printed += report.as_ref().map_or(0, |r| r.lines);
        reports.push(report);
    }
    let readers = (clients_per_viewer * viewers.len()) as u64;
    let drain_until = Instant::now() + spec.drain;
    let received = |clients: &[Clients]| clients.iter().map(Clients::received).sum::<u64>();
    let mut last = received(&clients);
    let mut last_change = Instant::now();
    while last < printed * readers && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = received(&clients);
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > DRAIN_QUIET {
            break;
        }
    }
    let mut results = Vec::new();
    for set in clients {
        results.extend(set.finish().await?);
    }
    let done = reports.iter().all(|r| r.as_ref().is_some_and(|r| r.done));
    let result = RunResult {
        clients: results.len(),
        rate: Some(spec.rate * 2),
        duration_s: spec.duration.as_secs_f64(),
        gen: reports.into_iter().flatten().next().map(|mut r| {
            r.lines = printed;
            r.done = done;
            r
        }),
        ..RunResult::default()
    };
    Ok((result, results, members))
}

/// Whether the node at `port` says its cluster link is up.
async fn cluster_connected(port: u16) -> bool {
    crate::system::http_get(port, "/api/info")
        .await
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .is_some_and(|info| info["cluster"]["status"] == "connected")
}

fn summarise(result: &mut RunResult, clients: &[ClientResult], spec: &ClusterSpec) {
    let all: Vec<&ClientResult> = clients.iter().collect();
    summarise_clients(result, &all, spec.duration);
    // A client that fell behind is told so (a drop notice) and skips ahead;
    // the others must have got everything.
    if let Some(gen) = result.gen.as_ref().filter(|g| g.done) {
        let kept_up: Vec<&ClientResult> = clients.iter().filter(|c| c.notices == 0).collect();
        let mut kept_latency = Histogram::default();
        for client in &kept_up {
            kept_latency.merge(&client.latency);
        }
        result.kept_up = Some(KeptUp {
            clients: kept_up.len(),
            lost_lines: kept_up
                .iter()
                .map(|c| gen.lines.saturating_sub(c.received))
                .sum(),
            p99_ms: kept_latency.quantile_ns(0.99).map(|ns| ns / 1e6),
        });
    }
    result.errors.sort();
    result.errors.dedup();
}
