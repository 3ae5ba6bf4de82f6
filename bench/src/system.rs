//! Starting and stopping each system under test.
//!
//! Every system runs the same generator (`bench-gen`) and is reached on a
//! loopback port picked for it:
//! - **Logdeck**: `target/release/logdeck` with a generated config, one
//!   `[[process]]` per generator;
//! - **limit**: `bench-limit`, the bare tokio-tungstenite broadcast;
//! - **DMB model**: `peers/dmb_model.py` under the venv's Python (FastAPI +
//!   uvicorn), which runs the generators itself;
//! - **frontail**: `frontail -` reading the generator's output on stdin (or
//!   tailing files when there are several "processes", since it cannot run
//!   any).
//!
//! Each system leads its own process group, so whatever it leaves behind
//! is killed with it.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Where every program the harness runs lives.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The repository root: Logdeck runs from here (it reads Leptos.toml).
    pub root: PathBuf,
    pub server: PathBuf,
    pub limit: PathBuf,
    pub gen: PathBuf,
    pub python: PathBuf,
    pub dmb_model: PathBuf,
    pub node: PathBuf,
    pub frontail: PathBuf,
    pub frontail_client: PathBuf,
    /// The `node_modules` that holds socket.io-client@2.
    pub node_modules: PathBuf,
    /// nats-server, for the cluster scenario.
    pub nats: PathBuf,
    /// Extra environment for Logdeck (`LOGDECK_STORE=false`: the store
    /// scenario's run without a store).
    pub logdeck_env: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemKind {
    Logdeck,
    Limit,
    Frontail,
    Dmb,
}

impl SystemKind {
    pub const ALL: [SystemKind; 4] = [
        SystemKind::Logdeck,
        SystemKind::Limit,
        SystemKind::Frontail,
        SystemKind::Dmb,
    ];

    pub fn id(self) -> &'static str {
        match self {
            SystemKind::Logdeck => "logdeck",
            SystemKind::Limit => "limit",
            SystemKind::Frontail => "frontail",
            SystemKind::Dmb => "dmb",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SystemKind::Logdeck => "Logdeck",
            SystemKind::Limit => "bare limit",
            SystemKind::Frontail => "frontail",
            SystemKind::Dmb => "DMB model",
        }
    }

    pub fn parse(id: &str) -> Option<SystemKind> {
        SystemKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The path that answers 200 once the system serves.
    fn health_path(self) -> &'static str {
        match self {
            // frontail has no health route; its page is the closest thing.
            SystemKind::Frontail => "/",
            _ => "/health",
        }
    }
}

/// A system under test, serving.
#[derive(Debug)]
pub struct Running {
    pub kind: SystemKind,
    pub pid: u32,
    pub port: u16,
    /// From spawning it to its health answering 200.
    pub startup: Duration,
    child: Child,
    /// frontail's generator, piped into its stdin.
    feeder: Option<Child>,
}

/// How long a system may take to answer its health check.
const START_DEADLINE: Duration = Duration::from_secs(60);

impl Running {
    /// Starts `kind` running one generator per entry of `generators` (the
    /// generator's arguments), in `dir`, and waits until it serves.
    pub async fn start(
        kind: SystemKind,
        tools: &Tools,
        dir: &Path,
        generators: &[Vec<String>],
    ) -> anyhow::Result<Running> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let out = std::fs::File::create(dir.join(format!("{}.out", kind.id())))?;
        let err = std::fs::File::create(dir.join(format!("{}.err", kind.id())))?;
        let gen = tools.gen.display().to_string();
        let mut feeder = None;
        let mut command = match kind {
            SystemKind::Logdeck => {
                let config = dir.join("logdeck.toml");
                std::fs::write(&config, logdeck_config(&gen, generators))?;
                let mut c = Command::new(&tools.server);
                c.arg("--addr").arg(&addr).arg("--config").arg(&config);
                c.current_dir(&tools.root).env("LOGDECK_LOG", "warn");
                c.envs(tools.logdeck_env.iter().cloned());
                c
            }
            SystemKind::Limit => {
                let mut c = Command::new(&tools.limit);
                c.arg("--addr").arg(&addr);
                for args in generators {
                    c.arg("--command").arg(format!("{gen} {}", args.join(" ")));
                }
                c
            }
            SystemKind::Dmb => {
                let processes: Vec<(String, Vec<String>)> = generators
                    .iter()
                    .enumerate()
                    .map(|(i, args)| {
                        let mut argv = vec![gen.clone()];
                        argv.extend(args.iter().cloned());
                        (format!("gen{i}"), argv)
                    })
                    .collect();
                let mut c = Command::new(&tools.python);
                c.arg(&tools.dmb_model)
                    .arg("--port")
                    .arg(port.to_string())
                    .arg("--processes")
                    .arg(serde_json::to_string(&processes)?)
                    .arg("--log-file")
                    .arg(dir.join("dmb.log"));
                c
            }
            SystemKind::Frontail => {
                let mut c = Command::new(&tools.node);
                c.arg(&tools.frontail)
                    .args(["--disable-usage-stats", "-h", "127.0.0.1", "-p"])
                    .arg(port.to_string());
                if let [args] = generators {
                    let mut gen_child = Command::new(&tools.gen)
                        .args(args)
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .kill_on_drop(true)
                        .spawn()
                        .context("spawning the generator for frontail")?;
                    let pipe: Stdio = gen_child
                        .stdout
                        .take()
                        .context("generator stdout")?
                        .try_into()
                        .context("generator stdout as stdin")?;
                    c.arg("-").stdin(pipe);
                    feeder = Some(gen_child);
                } else {
                    for i in 0..generators.len().max(1) {
                        let file = dir.join(format!("process{i}.log"));
                        std::fs::write(&file, b"")?;
                        c.arg(file);
                    }
                }
                c
            }
        };
        if kind != SystemKind::Frontail {
            command.stdin(Stdio::null());
        }
        Running::launch(kind, command, port, feeder, out, err, dir).await
    }

    /// Starts Logdeck with `config` (a whole configuration file) in `dir`.
    pub async fn logdeck_with(tools: &Tools, dir: &Path, config: &str) -> anyhow::Result<Running> {
        let port = free_port()?;
        let out = std::fs::File::create(dir.join("logdeck.out"))?;
        let err = std::fs::File::create(dir.join("logdeck.err"))?;
        let path = dir.join("logdeck.toml");
        std::fs::write(&path, config)?;
        let mut command = Command::new(&tools.server);
        command
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(&path)
            .current_dir(&tools.root)
            .env("LOGDECK_LOG", "warn")
            .envs(tools.logdeck_env.iter().cloned())
            .stdin(Stdio::null());
        Running::launch(SystemKind::Logdeck, command, port, None, out, err, dir).await
    }

    /// Spawns `command` (which serves `kind` on `port`) and waits until it
    /// answers its health check.
    async fn launch(
        kind: SystemKind,
        mut command: Command,
        port: u16,
        feeder: Option<Child>,
        out: std::fs::File,
        err: std::fs::File,
        dir: &Path,
    ) -> anyhow::Result<Running> {
        let started = Instant::now();
        let child = command
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", kind.label()))?;
        let pid = child.id().context("the child's pid")?;
        let mut running = Running {
            kind,
            pid,
            port,
            startup: Duration::ZERO,
            child,
            feeder,
        };
        loop {
            if http_ok(port, kind.health_path()).await {
                running.startup = started.elapsed();
                return Ok(running);
            }
            if let Some(status) = running.child.try_wait()? {
                bail!(
                    "{} exited during start-up ({status}); see {}",
                    kind.label(),
                    dir.display()
                );
            }
            if started.elapsed() > START_DEADLINE {
                running.stop().await;
                bail!("{} did not answer within {START_DEADLINE:?}", kind.label());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Where log clients connect.
    pub fn ws_url(&self) -> String {
        match self.kind {
            SystemKind::Logdeck | SystemKind::Dmb => {
                format!("ws://127.0.0.1:{}/ws/logs", self.port)
            }
            SystemKind::Limit => format!("ws://127.0.0.1:{}/", self.port),
            SystemKind::Frontail => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, up to 10 s to exit, then SIGKILL to its whole group.
    /// Returns whether it exited cleanly: 0 for Logdeck and the limit; the
    /// peers may also end by the SIGTERM itself (uvicorn re-raises it after
    /// its graceful shutdown).
    pub async fn stop(self) -> bool {
        let kind = self.kind;
        let status = self.stop_status().await;
        status.is_some_and(|s| {
            s.success()
                || (matches!(kind, SystemKind::Dmb | SystemKind::Frontail)
                    && s.signal() == Some(Signal::SIGTERM as i32))
        })
    }

    async fn stop_status(mut self) -> Option<ExitStatus> {
        let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // The leader is gone (or hung); nothing of its group may outlive it.
        let _ = killpg(pid, Signal::SIGKILL);
        if status.is_none() {
            let _ = self.child.wait().await;
        }
        if let Some(mut feeder) = self.feeder.take() {
            let _ = feeder.kill().await;
        }
        status
    }
}

fn logdeck_config(gen: &str, generators: &[Vec<String>]) -> String {
    // The idle scenario holds 1 000 clients; the default limit is 256.
    // Every client of the benchmark connects from 127.0.0.1.
    let mut config = String::from(
        "name = \"logdeck\"\n\n[limits]\nmax_clients = 2000\nmax_clients_per_address = 2000\n",
    );
    for (i, args) in generators.iter().enumerate() {
        let mut argv = vec![gen.to_owned()];
        argv.extend(args.iter().cloned());
        // JSON strings of these plain arguments are valid TOML strings.
        let argv = serde_json::to_string(&argv).unwrap_or_default();
        config.push_str(&format!(
            "\n[[process]]\nname = \"gen{i}\"\ncommand = {argv}\nrestart = \"no\"\n"
        ));
    }
    config
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The body of `GET path` when it answers 200 (`Connection: close`, a
/// plain body).
pub async fn http_get(port: u16, path: &str) -> Option<Vec<u8>> {
    http_get_within(port, path, Duration::from_secs(2)).await
}

/// The body of `GET path` when it answers 200 within `limit` (for
/// queries that may take long).
pub async fn http_get_within(port: u16, path: &str, limit: Duration) -> Option<Vec<u8>> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]);
        (head.starts_with("HTTP/1.1 200") && !head.to_ascii_lowercase().contains("chunked"))
            .then(|| raw[split + 4..].to_vec())
    };
    tokio::time::timeout(limit, attempt).await.ok().flatten()
}

/// Whether `GET path` answers 200.
pub async fn http_ok(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
