//! Starts a real Logdeck server in-process on 127.0.0.1:0 for tests.

#![allow(dead_code)] // each test binary uses a different part of this

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use leptos::config::LeptosOptions;
use server::config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests ends by this deadline. It only catches a
/// hang: each wait is for a condition, never for an amount of time, and
/// the suite runs on loaded two-core machines (CI, newcomers), where a
/// correct server may take seconds to do what it does in milliseconds on
/// an idle one.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::ServerError>>>,
    /// Where the configuration "is": what it holds without a `log_dir`
    /// (the store) goes here.
    pub dir: std::sync::Arc<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(config_toml: &str) -> TestServer {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        TestServer::start_in(config_toml, dir).await
    }

    /// A server whose configuration lies in `dir` (so a second server on
    /// the same `dir` finds the first one's store).
    pub async fn start_in(config_toml: &str, dir: std::sync::Arc<tempfile::TempDir>) -> TestServer {
        let config =
            Config::parse(config_toml, "test.toml", dir.path()).expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let site = LeptosOptions::builder().output_name("logdeck").build();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, site, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The status of a WebSocket upgrade of `path` with these extra
    /// headers (101 when it opened).
    pub async fn upgrade_status(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let mut request = self.url(path).into_client_request().expect("request");
        for (name, value) in headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        match within(tokio_tungstenite::connect_async(request)).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }

    pub async fn connect(&self, path: &str) -> Client {
        let (client, _) = within(tokio_tungstenite::connect_async(self.url(path)))
            .await
            .expect("websocket handshake");
        client
    }

    /// Ends the server at once, as SIGKILL would end its process: no
    /// shutdown, nothing flushed (its children die with their runners).
    pub async fn kill(mut self) {
        // Held until the task is gone: dropping it would start a shutdown.
        let _stop = self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Shuts the server down as SIGTERM would and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within(task)
                .await
                .expect("server task joins")
                .expect("server exits cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Awaits `future`, failing the test when it takes longer than [`DEADLINE`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("deadline passed")
}

/// The next text frame parsed as JSON.
pub async fn next_json(client: &mut Client) -> serde_json::Value {
    loop {
        let message = within(client.next())
            .await
            .expect("stream still open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("frame is one JSON object");
        }
    }
}

/// Reads frames until one satisfies `wanted`, returning it.
pub async fn next_json_where(
    client: &mut Client,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    within(async {
        loop {
            let json = next_json(client).await;
            if wanted(&json) {
                return json;
            }
        }
    })
    .await
}

/// The number a process printed as `<prefix><number>` (a pid it reports).
pub async fn printed_number(logs: &mut Client, process: &str, prefix: &str) -> i32 {
    let line = next_json_where(logs, |e| {
        e["process_name"] == process && e["message"].as_str().is_some_and(|m| m.starts_with(prefix))
    })
    .await;
    line["message"]
        .as_str()
        .and_then(|m| m.strip_prefix(prefix))
        .and_then(|n| n.trim().parse().ok())
        .expect("a number")
}

/// A time in the protocol's format.
pub fn time(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .to_utc()
}

/// Watches a process's status messages for restarts, checking that none
/// comes before the time its backoff announced (however late a busy
/// machine makes it come).
#[derive(Debug, Default)]
pub struct RestartWatch {
    scheduled: Option<chrono::DateTime<chrono::Utc>>,
    pub restarts: u32,
}

impl RestartWatch {
    /// Takes one status of the process (`/ws/status`'s `process`).
    pub fn observe(&mut self, process: &serde_json::Value) {
        match process["state"].as_str() {
            Some("backoff") => self.scheduled = Some(time(&process["until"])),
            Some("running") => {
                if let Some(until) = self.scheduled.take() {
                    let started = time(&process["started_at"]);
                    assert!(
                        started >= until - chrono::Duration::milliseconds(5),
                        "restarted at {started}, before its backoff ended at {until}"
                    );
                    self.restarts += 1;
                }
            }
            _ => {}
        }
    }
}

/// A plain HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl TestServer {
    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[], None).await
    }

    pub async fn post(&self, path: &str, json: Option<serde_json::Value>) -> HttpResponse {
        http(self.addr, "POST", path, &[], json.map(|j| j.to_string())).await
    }

    /// `GET /api/processes/{name}`, which must answer 200.
    pub async fn process(&self, name: &str) -> serde_json::Value {
        let response = self.get(&format!("/api/processes/{name}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    }

    /// Waits until process `name` is in `state`, and returns it then.
    pub async fn wait_state(&self, name: &str, state: &str) -> serde_json::Value {
        eventually(&format!("{name} to be {state}"), || async {
            let p = self.process(name).await;
            (p["state"] == state).then_some(p)
        })
        .await
    }

    /// Waits until process `name` is in `state` while it floods the server
    /// with output: however long that takes on this machine, as long as
    /// entries keep being published (it fails only when none was for
    /// [`DEADLINE`]).
    pub async fn wait_state_while_publishing(&self, name: &str, state: &str) -> serde_json::Value {
        let mut progress = (0, tokio::time::Instant::now());
        loop {
            let p = self.process(name).await;
            if p["state"] == state {
                return p;
            }
            let published = self.get("/api/info").await.json()["next_seq"]
                .as_u64()
                .expect("next_seq");
            if published > progress.0 {
                progress = (published, tokio::time::Instant::now());
            }
            assert!(
                progress.1.elapsed() < DEADLINE,
                "{name} never reached {state}, and nothing was published for {DEADLINE:?}: {p}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A minimal HTTP/1.1 client (`Connection: close`, content-length or
/// chunked bodies), enough to test the API without another dependency.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let has = |wanted: &str| {
            headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(wanted))
        };
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        // The defaults, unless the caller sends its own.
        if !has("host") {
            request.push_str(&format!("Host: {addr}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &body {
            if !has("content-type") {
                request.push_str("Content-Type: application/json\r\n");
            }
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        if let Some(body) = &body {
            request.push_str(body);
        }
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        parse_response(&raw)
    })
    .await
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Polls `check` until it returns `Some`, failing at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("deadline passed waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server binary, started by a test; dropping it (the test ended, or
/// panicked) stops it as SIGTERM would, and kills it if that takes too
/// long, so no server and none of its processes outlive the test.
pub struct ServerProcess {
    child: Option<std::process::Child>,
    pid: i32,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `command` (the server binary with its arguments; `--addr
    /// 127.0.0.1:0` among them) and waits for the URL it prints.
    pub fn start(mut command: std::process::Command) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        use std::os::unix::process::CommandExt;
        // Its own process group, so a kill reaches anything it left behind
        // in it.
        command
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("spawn server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Logdeck listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut server = ServerProcess {
            pid: i32::try_from(child.id()).expect("pid fits"),
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        // Should this panic, dropping `server` stops the child.
        server.addr = rx
            .recv_timeout(DEADLINE)
            .expect("the server prints its URL")
            .parse()
            .expect("host:port");
        server
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal);
    }

    /// Waits for the server to exit (after a signal) and returns how.
    pub async fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("not waited for yet");
        within(tokio::task::spawn_blocking(move || child.wait()))
            .await
            .expect("join")
            .expect("wait")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
    }
}

/// Whether `pid` no longer runs (gone, or a zombie nobody reaped yet).
pub fn process_gone(pid: i32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    if kill(Pid::from_raw(pid), None).is_err() {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// A real `nats-server` with JetStream, on a free loopback port with a
/// store directory of its own; stopped (by its pid) when dropped.
pub struct NatsServer {
    child: Option<std::process::Child>,
    pub url: String,
    port: u16,
    token: String,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Where the project's bootstrap installs the server.
    fn binary() -> std::path::PathBuf {
        if let Ok(path) = std::env::var("NATS_SERVER") {
            return path.into();
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/nats/bin/nats-server");
        assert!(
            path.is_file(),
            "{} is missing: run scripts/bootstrap.sh --test (or make test)",
            path.display()
        );
        path
    }

    /// Starts a server that wants `token`.
    pub fn start(token: &str) -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = NatsServer {
            child: None,
            url: String::new(),
            port: 0,
            token: token.to_owned(),
            dir,
        };
        server.spawn(None);
        server
    }

    /// A port nothing listens on now, for a server started later.
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    }

    /// Starts a server on `port` (not yet listening).
    pub fn start_on(port: u16, token: &str) -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = NatsServer {
            child: None,
            url: String::new(),
            port,
            token: token.to_owned(),
            dir,
        };
        server.spawn(Some(port));
        server
    }

    fn spawn(&mut self, port: Option<u16>) {
        use std::os::unix::process::CommandExt;
        let ports = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports);
        std::fs::create_dir_all(&ports).expect("ports dir");
        let child = std::process::Command::new(Self::binary())
            .args(["-a", "127.0.0.1", "-p"])
            .arg(port.map_or_else(|| "-1".to_owned(), |p| p.to_string()))
            .args(["-js", "-sd"])
            .arg(self.dir.path().join("store"))
            .args(["--auth", &self.token, "--ports_file_dir"])
            .arg(&ports)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start nats-server");
        let pid = child.id();
        self.child = Some(child);
        // It writes its address once it listens.
        let file = ports.join(format!("nats-server_{pid}.ports"));
        let started = std::time::Instant::now();
        let text = loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if text.contains("nats://") {
                    break text;
                }
            }
            assert!(started.elapsed() < DEADLINE, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let ports: serde_json::Value = serde_json::from_str(&text).expect("ports file");
        self.url = ports["nats"][0].as_str().expect("nats url").to_owned();
        self.port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
    }

    /// Kills the server (SIGKILL, nothing flushed)...
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// ...and starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        self.spawn(Some(port));
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
