//! The `server` binary as a user runs it: configuration errors, the
//! listening message, and what happens to children when it dies.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use support::{eventually, http, process_gone};

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env_remove("LOGDECK_CONFIG")
        .env_remove("LOGDECK_ADDR")
        .env("LOGDECK_LOG", "info");
    command
}

/// Starts the binary and returns it with the URL it printed.
fn start(config: &std::path::Path) -> (Child, std::net::SocketAddr) {
    let mut child = server()
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("Logdeck listening on http://").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(support::DEADLINE)
        .expect("the server prints its URL")
        .parse()
        .expect("host:port");
    (child, addr)
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
    let (mut child, addr) = start(&path);
    let pid = running_pid(addr, "s").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal server");
    let status = support::within(tokio::task::spawn_blocking(move || child.wait()))
        .await
        .expect("join")
        .expect("wait");
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
    let (mut child, addr) = start(&path);
    let pid = running_pid(addr, "s").await;
    child.kill().expect("SIGKILL the server");
    let _ = child.wait();
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
