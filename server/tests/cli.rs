//! The `server` binary as a user runs it: configuration errors, the
//! listening message, and what happens to children when it dies.

mod support;

use std::process::Command;

use nix::sys::signal::Signal;
use support::{eventually, http, process_gone, ServerProcess};

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logdeck"));
    command
        .env_remove("LOGDECK_CONFIG")
        .env_remove("LOGDECK_ADDR")
        .env("LOGDECK_LOG", "info");
    command
}

/// Starts the binary on `config` and a free port; stopped when dropped.
fn start(config: &std::path::Path) -> ServerProcess {
    let mut command = server();
    command
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(config);
    ServerProcess::start(command)
}

#[test]
fn a_bad_config_stops_start_up_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        "[[process]]\nname = \"a\"\ncommand = \"x\"\nrestart = \"sometimes\"\n",
    )
    .expect("write");
    let output = server()
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run server");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:4:11: process[0].restart: unknown variant `sometimes`",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let output = server()
        .args(["--config", "/nonexistent/logdeck.toml"])
        .output()
        .expect("run server");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/logdeck.toml"));
}

#[tokio::test]
async fn sigterm_stops_every_process_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        "[[process]]\nname = \"s\"\ncommand = \"sleep 300\"\n",
    )
    .expect("write");
    let server = start(&path);
    let pid = running_pid(server.addr, "s").await;
    server.signal(Signal::SIGTERM);
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0));
    assert!(process_gone(pid), "child {pid} survived the server");
}

#[tokio::test]
async fn children_get_sigterm_when_the_server_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        "[[process]]\nname = \"s\"\ncommand = [\"sleep\", \"300\"]\n",
    )
    .expect("write");
    let server = start(&path);
    let pid = running_pid(server.addr, "s").await;
    server.signal(Signal::SIGKILL);
    server.wait().await;
    eventually("the orphan to get SIGTERM", || async {
        process_gone(pid).then_some(())
    })
    .await;
}

async fn running_pid(addr: std::net::SocketAddr, name: &str) -> i32 {
    eventually("the process to run", || async {
        let response = http(addr, "GET", &format!("/api/processes/{name}"), &[], None).await;
        response.json()["pid"].as_i64().map(|p| p as i32)
    })
    .await
}

#[test]
fn help_names_the_options() {
    let output = server().arg("--help").output().expect("run server");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("--config") && help.contains("--addr"),
        "{help}"
    );
}

fn rss_of(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn a_client_that_never_reads_cannot_grow_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    // 200 000 lines (36 MB; a debug build takes several seconds) while one
    // client reads nothing at all: far more than its queue and the ring.
    std::fs::write(
        &path,
        "memory_entries = 10000\n[[process]]\nname = \"flood\"\nrestart = \"no\"\ncommand = \"seq 1 200000 | sed 's/$/ padding padding padding padding padding padding padding padding padding padding padding padding/'\"\n",
    )
    .expect("write");
    let server = start(&path);
    let addr = server.addr;
    // A WebSocket handshake, then silence: never read a byte.
    let mut stuck = tokio::net::TcpStream::connect(addr).await.expect("connect");
    {
        use tokio::io::AsyncWriteExt;
        let request = format!(
            "GET /ws/logs HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stuck
            .write_all(request.as_bytes())
            .await
            .expect("handshake");
    }
    let server_pid = server.pid();
    // However long the flood takes on this machine: only a stall (nothing
    // published for the deadline) fails the wait.
    let mut peak = 0;
    let mut progress = (0, std::time::Instant::now());
    loop {
        peak = peak.max(rss_of(server_pid));
        let flood = http(addr, "GET", "/api/processes/flood", &[], None)
            .await
            .json();
        if flood["state"] == "exited" {
            break;
        }
        let published = http(addr, "GET", "/api/info", &[], None).await.json()["next_seq"]
            .as_u64()
            .expect("next_seq");
        if published > progress.0 {
            progress = (published, std::time::Instant::now());
        }
        assert!(
            progress.1.elapsed() < support::DEADLINE,
            "the flood stalled: {flood}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let peak = peak.max(rss_of(server_pid));
    assert!(
        peak < 200 * 1024 * 1024,
        "server RSS peaked at {} MiB",
        peak >> 20
    );
    server.signal(Signal::SIGTERM);
    let status = server.wait().await;
    assert_eq!(
        status.code(),
        Some(0),
        "a stuck client must not block shutdown"
    );
    drop(stuck);
}

#[tokio::test]
async fn sigterm_during_heavy_output_flushes_the_log_files_and_leaves_no_process() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        format!(
            "log_dir = '{}'\nlog_files = true\nlog_size = \"1GiB\"\n[[process]]\nname = \"flood\"\ncommand = \"seq 1 100000000\"\n",
            logs.display()
        ),
    )
    .expect("write");
    let server = start(&path);
    let addr = server.addr;
    let pid = running_pid(addr, "flood").await;
    let (mut client, _) = support::within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/ws/logs?process=flood"
    )))
    .await
    .expect("connect");
    let mut last_seen = 0;
    for _ in 0..20_000 {
        let message = support::within(client.next())
            .await
            .expect("open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let entry: serde_json::Value = serde_json::from_str(&text).expect("json");
            last_seen = entry["seq"].as_u64().expect("seq");
        }
    }
    server.signal(Signal::SIGTERM);
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0));
    assert!(process_gone(pid), "the flooding child survived");
    // Every entry a client saw is in the files, which hold only whole lines.
    let text = std::fs::read_to_string(logs.join("flood.jsonl")).expect("log file");
    assert!(text.ends_with('\n'));
    let mut max_seq = 0;
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines only");
        max_seq = max_seq.max(entry["seq"].as_u64().expect("seq"));
    }
    assert!(
        max_seq >= last_seen,
        "files end at {max_seq}, a client saw {last_seen}"
    );
}

#[tokio::test]
async fn a_child_flooding_binary_garbage_does_not_delay_health() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        "[[process]]\nname = \"noise\"\ncommand = \"cat /dev/urandom\"\n",
    )
    .expect("write");
    // The binary: the runtime main.rs builds, as in production.
    let server = start(&path);
    let addr = server.addr;
    running_pid(addr, "noise").await;
    // The flood is under way: entries are being published.
    let published = || async {
        http(addr, "GET", "/api/info", &[], None).await.json()["next_seq"]
            .as_u64()
            .expect("next_seq")
    };
    let before = published().await;
    eventually("the flood to be captured", || async {
        (published().await > before + 10_000).then_some(())
    })
    .await;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let health = http(addr, "GET", "/health", &[], None).await;
        latencies.push(started.elapsed());
        assert_eq!(health.status, 200, "{}", health.text());
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // A starved server answers in seconds; a busy machine may delay any
    // one request, so the middle answer is held to the tight bound.
    latencies.sort();
    let (middle, slowest) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    assert!(
        middle < std::time::Duration::from_millis(100)
            && slowest < std::time::Duration::from_secs(2),
        "/health took {middle:?} (median), up to {slowest:?}, while a child flooded the server: {latencies:?}"
    );
}

#[tokio::test]
async fn kill_9_during_heavy_writes_leaves_a_store_the_next_start_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(
        &path,
        "[[process]]\nname = \"flood\"\ncommand = \"seq 1 100000000\"\n",
    )
    .expect("write");
    let server = start(&path);
    let addr = server.addr;
    let pid = running_pid(addr, "flood").await;
    // Heavy writes under way: at least 100 000 entries committed.
    let committed = eventually("100 000 entries in the store", || async {
        let info = http(addr, "GET", "/api/info", &[], None).await.json();
        info["store"]["written"]
            .as_u64()
            .filter(|written| *written >= 100_000)
    })
    .await;
    server.signal(Signal::SIGKILL);
    let status = server.wait().await;
    assert_eq!(status.code(), None, "killed by the signal");
    eventually("the orphaned flood to die", || async {
        process_gone(pid).then_some(())
    })
    .await;

    // The file as the crash left it: intact, and every entry committed
    // before the kill still there. (A flood outruns the store, which then
    // loses entries, counted, rather than hold the live path up; so `seq`
    // may have holes, but what was committed stays.)
    let db = dir.path().join("logdeck-data/logdeck.db");
    let (stored, last) = {
        let conn = rusqlite::Connection::open(&db).expect("open the store");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity check");
        assert_eq!(check, "ok");
        // The search index agrees with the entries.
        conn.execute(
            "INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')",
            [],
        )
        .expect("the search index is intact");
        conn.query_row("SELECT count(*), max(seq) FROM entries", [], |row| {
            let number = |i: usize| row.get::<_, i64>(i).map(|n| n as u64);
            Ok((number(0)?, number(1)?))
        })
        .expect("counts")
    };
    assert!(
        stored >= committed,
        "{stored} stored, {committed} committed"
    );

    // The next start opens it, numbers on from it, and reads it.
    std::fs::write(
        &path,
        "[[process]]\nname = \"once\"\ncommand = \"echo after the crash\"\nrestart = \"no\"\n",
    )
    .expect("write");
    let server = start(&path);
    let addr = server.addr;
    let after = eventually("the new line", || async {
        let page = http(addr, "GET", "/api/logs?process=once&q=after", &[], None)
            .await
            .json();
        page.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert!(after["seq"].as_u64() > Some(last), "{after}");
    let old = http(
        addr,
        "GET",
        &format!("/api/logs?process=flood&before_seq={}&limit=2", last + 1),
        &[],
        None,
    )
    .await
    .json();
    let old: Vec<u64> = old
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(
        old.len() == 2 && old[0] <= last && old[1] < old[0],
        "{old:?} (the store ends at {last})"
    );
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().await.code(), Some(0));
}

/// Runs `logdeck check` on a config file of `text`: the directory it is
/// in, its path and what the command did.
fn check(text: &str) -> (tempfile::TempDir, std::path::PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logdeck.toml");
    std::fs::write(&path, text).expect("write");
    let output = server()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run check");
    (dir, path, output)
}

#[test]
fn check_prints_a_line_per_process_and_exits_0() {
    let (dir, _, output) = check(
        "[[process]]\nname = \"db\"\ncommand = [\"sleep\", \"1\"]\nready = { tcp = \"127.0.0.1:5432\" }\n\n\
         [[process]]\nname = \"api\"\ncommand = \"echo hi\"\ndepends_on = [{ process = \"db\", condition = \"ready\" }]\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("ok, 2 processes"), "{stdout}");
    assert!(
        lines[1].starts_with("  db: sleep 1 · restarted on failure")
            && lines[1].ends_with("ready when 127.0.0.1:5432 accepts a connection"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("  api: sh -c 'echo hi'") && lines[2].contains("after db (ready)"),
        "{stdout}"
    );
    // Nothing was started or created (no store beside the config): check
    // only reads.
    let files = std::fs::read_dir(dir.path()).expect("read dir").count();
    assert_eq!(files, 1);
}

#[test]
fn check_prints_every_error_and_exits_1() {
    let (_dir, path, output) = check(
        "memory_entries = 0\n\n[[process]]\nname = \"a\"\ncommand = \"x\"\nrestart = \"sometimes\"\n\n\
         [[process]]\nname = \"b\"\ncommand = \"y\"\ndepends_on = [{ process = \"nobody\" }]\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display();
    for expected in [
        format!("error: {file}:1:18: memory_entries: "),
        format!("error: {file}:6:11: process[0].restart: unknown variant `sometimes`"),
        format!("error: {file}:11:"),
        "3 errors found".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected} not in:\n{stderr}");
    }
    assert!(stderr.contains("nobody"), "{stderr}");
}

#[test]
fn version_names_the_commit() {
    let output = server().arg("--version").output().expect("run --version");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    assert_eq!(
        stdout.trim(),
        format!("logdeck {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}
