//! Process supervision with real child processes: restarts and backoff,
//! dependencies and readiness, stop escalation, clean-up of everything a
//! process started, and spawn failures.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    eventually, next_json, next_json_where, printed_number, process_gone, within, Client,
    RestartWatch, TestServer,
};

/// The next `/ws/status` message about `name`.
async fn next_status(status: &mut Client, name: &str) -> Value {
    let message = next_json_where(status, |m| {
        m["type"] == "process" && m["process"]["name"] == name
    })
    .await;
    message["process"].clone()
}

#[tokio::test]
async fn a_crashing_process_restarts_with_growing_backoff_then_fails() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "crasher"
        command = "echo boom; exit 3"
        autostart = false
        backoff = { initial = "200ms", max = "5s", multiplier = 4 }
        max_restarts = 3
        restart_window = "1m"
        "#,
    )
    .await;
    let mut status = server.connect("/ws/status").await;
    let mut logs = server.connect("/ws/logs").await;
    let snapshot = next_json(&mut status).await;
    assert_eq!(snapshot["type"], "snapshot");
    // Started only now, so the status client sees every transition.
    assert_eq!(
        server
            .post("/api/processes/crasher/start", None)
            .await
            .status,
        202
    );

    let mut watch = RestartWatch::default();
    let failed = within(async {
        loop {
            let process = next_status(&mut status, "crasher").await;
            watch.observe(&process);
            if process["state"] == "failed" {
                return process;
            }
        }
    })
    .await;
    assert_eq!(watch.restarts, 3);
    // The delays the server chose: drawn from [d/2, d] with d = 200ms,
    // 800ms, 3.2s (announced to 0.1 s).
    let mut delays = Vec::new();
    for _ in 0..3 {
        let entry = next_json_where(&mut logs, |e| {
            e["stream"] == "system"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("restarting in "))
        })
        .await;
        let message = entry["message"].as_str().expect("message");
        let seconds: f64 = message
            .split("restarting in ")
            .nth(1)
            .and_then(|rest| rest.split('s').next())
            .and_then(|n| n.parse().ok())
            .expect("a delay in seconds");
        delays.push(seconds);
    }
    for (delay, nominal) in delays.iter().zip([0.2, 0.8, 3.2]) {
        assert!(
            (nominal / 2.0 - 0.05..=nominal + 0.05).contains(delay),
            "{delays:?}"
        );
    }
    assert!(delays[0] < delays[1] && delays[1] < delays[2], "{delays:?}");

    assert_eq!(failed["restarts"], 3);
    assert_eq!(failed["last_exit_code"], 3);
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("exited with code 3")),
        "{failed}"
    );

    let health = server.get("/health").await;
    assert_eq!(health.status, 503);
    let health = health.json();
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["failed"][0]["name"], "crasher");
    server.shutdown().await;
}

#[tokio::test]
async fn restart_no_leaves_the_process_exited() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "job"
        command = "exit 7"
        restart = "no"
        "#,
    )
    .await;
    let exited = server.wait_state("job", "exited").await;
    assert_eq!(exited["exit_code"], 7);
    assert_eq!(exited["last_exit_code"], 7);
    assert_eq!(exited["restarts"], 0);

    // No restart is scheduled: nothing changes for a while.
    let mut status = server.connect("/ws/status").await;
    next_json(&mut status).await;
    let change = tokio::time::timeout(Duration::from_millis(700), next_json(&mut status)).await;
    assert!(change.is_err(), "unexpected change: {change:?}");
    assert_eq!(server.get("/health").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_dependent_waits_for_its_dependency_to_log_that_it_is_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let config = format!(
        r#"
        [[process]]
        name = "db"
        command = """
        echo booting
        while [ ! -e '{gate}' ]; do sleep 0.02; done
        echo "database system is ready to accept connections"
        sleep 30
        """
        ready = {{ log_line = "ready to accept connections" }}

        [[process]]
        name = "api"
        command = "echo api up; sleep 30"
        depends_on = [{{ process = "db", condition = "ready" }}]
        "#,
        gate = gate.display()
    );
    let server = TestServer::start(&config).await;
    let mut logs = server.connect("/ws/logs").await;

    eventually("db running and api waiting", || async {
        let db = server.process("db").await;
        let api = server.process("api").await;
        (db["state"] == "running" && db["ready"] == false && api["state"] == "starting")
            .then_some(())
    })
    .await;
    std::fs::write(&gate, b"").expect("open gate");

    let ready_line = next_json_where(&mut logs, |e| {
        e["process_name"] == "db"
            && e["message"] == "database system is ready to accept connections"
    })
    .await;
    let api_line = next_json_where(&mut logs, |e| e["process_name"] == "api").await;
    assert_eq!(api_line["message"], "api up");
    assert!(api_line["seq"].as_u64() > ready_line["seq"].as_u64());
    let db = server.process("db").await;
    assert_eq!(db["state"], "ready");
    assert_eq!(db["ready"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn a_dependent_waits_for_a_tcp_readiness_probe() {
    // A port bound but not listening: connections to it are refused until
    // the test listens, and no other socket (another test's server) can
    // take it meanwhile.
    let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
    reserved
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = reserved.local_addr().expect("addr").port();
    let config = format!(
        r#"
        [[process]]
        name = "svc"
        command = "sleep 30"
        ready = {{ tcp = "127.0.0.1:{port}", interval = "50ms", timeout = "1s" }}

        [[process]]
        name = "web"
        command = "sleep 30"
        depends_on = [{{ process = "svc", condition = "ready" }}]
        "#
    );
    let server = TestServer::start(&config).await;
    eventually("svc running, web waiting", || async {
        let svc = server.process("svc").await;
        let web = server.process("web").await;
        (svc["state"] == "running" && web["state"] == "starting").then_some(())
    })
    .await;

    let listener = reserved.listen(16).expect("listen on the reserved port");
    let web = server.wait_state("web", "running").await;
    assert!(web["pid"].as_u64().is_some());
    assert_eq!(server.process("svc").await["state"], "ready");
    drop(listener);
    server.shutdown().await;
}

#[tokio::test]
async fn a_set_up_job_that_must_exit_ok_gates_the_service() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "migrate"
        command = "echo migrating; exit 0"
        restart = "no"

        [[process]]
        name = "app"
        command = "sleep 30"
        depends_on = [{ process = "migrate", condition = "exited_ok" }]

        [[process]]
        name = "broken_job"
        command = "exit 1"
        restart = "no"

        [[process]]
        name = "never"
        command = "sleep 30"
        depends_on = [{ process = "broken_job", condition = "exited_ok" }]
        "#,
    )
    .await;
    server.wait_state("app", "running").await;
    let never = server.wait_state("never", "failed").await;
    assert!(
        never["reason"]
            .as_str()
            .is_some_and(|r| r.contains("broken_job")),
        "{never}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_a_process_that_ignores_sigterm() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "stubborn"
        command = "trap '' TERM; echo started; while true; do sleep 0.05; done"
        stop_timeout = "300ms"
        "#,
    )
    .await;
    // With the entries kept so far: on a busy machine the line may be out
    // before the client connects.
    let mut logs = server.connect("/ws/logs?tail=1000").await;
    // Once it printed, its shell ignores SIGTERM (before, the signal could
    // beat the trap on a busy machine).
    next_json_where(&mut logs, |e| {
        e["process_name"] == "stubborn" && e["message"] == "started"
    })
    .await;

    let response = server.post("/api/processes/stubborn/stop", None).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.json()["state"], "stopping");

    let kill_notice = next_json_where(&mut logs, |e| {
        e["stream"] == "system" && e["message"].as_str().is_some_and(|m| m.contains("SIGKILL"))
    })
    .await;
    assert_eq!(kill_notice["process_name"], "logdeck");
    assert_eq!(kill_notice["level"], "WARNING");
    server.wait_state("stubborn", "stopped").await;
    server.shutdown().await;
}

/// A `sh` that forks a long `sleep` and reports its pid once `gate`
/// exists (so the test's client is connected by then).
fn forking(gate: &std::path::Path) -> String {
    format!(
        r#"
        [[process]]
        name = "forker"
        command = "sleep 300 & while [ ! -e '{}' ]; do sleep 0.02; done; echo grandchild=$!; wait"
        "#,
        gate.display()
    )
}

#[tokio::test]
async fn stopping_a_process_leaves_none_of_its_children_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&forking(&gate)).await;
    let mut logs = server.connect("/ws/logs").await;
    std::fs::write(&gate, b"").expect("open gate");
    let grandchild = printed_number(&mut logs, "forker", "grandchild=").await;
    let child = server.process("forker").await["pid"].as_i64().expect("pid") as i32;
    assert!(!process_gone(grandchild));

    let response = server.post("/api/processes/forker/stop", None).await;
    assert_eq!(response.status, 202);
    eventually("child and grandchild gone", || async {
        (process_gone(child) && process_gone(grandchild)).then_some(())
    })
    .await;
    assert_eq!(server.process("forker").await["state"], "stopped");
    server.shutdown().await;
}

#[tokio::test]
async fn server_shutdown_leaves_no_process_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&forking(&gate)).await;
    let mut logs = server.connect("/ws/logs").await;
    std::fs::write(&gate, b"").expect("open gate");
    let grandchild = printed_number(&mut logs, "forker", "grandchild=").await;
    let child = server.process("forker").await["pid"].as_i64().expect("pid") as i32;
    server.shutdown().await;
    // shutdown() returns once the server has stopped every process.
    assert!(process_gone(child), "child {child} survived");
    assert!(process_gone(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn a_spawn_failure_is_a_failed_state_not_a_crash() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "ghost"
        command = ["/nonexistent/program", "--flag"]

        [[process]]
        name = "lost"
        command = "true"
        cwd = "/nonexistent/dir"

        [[process]]
        name = "fine"
        command = "sleep 30"
        "#,
    )
    .await;
    let mut logs = server.connect("/ws/logs").await;
    for name in ["ghost", "lost"] {
        let failed = server.wait_state(name, "failed").await;
        assert!(
            failed["reason"]
                .as_str()
                .is_some_and(|r| r.contains("No such file or directory")),
            "{failed}"
        );
    }
    assert!(
        server.process("fine").await["pid"].is_u64()
            || server.process("fine").await["state"] == "starting"
    );
    // The failure is also in the log stream for a client that asks again.
    let restart = server.post("/api/processes/ghost/start", None).await;
    assert_eq!(restart.status, 202);
    let entry = next_json_where(&mut logs, |e| {
        e["stream"] == "system"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ghost: cannot start"))
    })
    .await;
    assert_eq!(entry["level"], "ERROR");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_drains_a_flood_with_nobody_connected() {
    // About 100 MB in one million lines, with no WebSocket client at all.
    let server = TestServer::start(
        r#"
        [[process]]
        name = "flood"
        command = "head -c 100000000 /dev/zero | tr '\\0' x | fold -w 100"
        restart = "no"
        "#,
    )
    .await;
    let exited = server.wait_state_while_publishing("flood", "exited").await;
    assert_eq!(exited["exit_code"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn transitions_are_log_entries_from_the_server() {
    let server = TestServer::start(
        "name = \"deck\"\n[[process]]\nname = \"w\"\ncommand = \"sleep 30\"\nautostart = false\n",
    )
    .await;
    let mut logs = server.connect("/ws/logs").await;
    assert_eq!(server.process("w").await["state"], "stopped");
    let response = server.post("/api/processes/w/start", None).await;
    assert_eq!(response.status, 202);
    assert_eq!(response.json()["state"], "starting");
    let entry = next_json_where(&mut logs, |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("w: running (pid "))
    })
    .await;
    assert_eq!(entry["process_name"], "deck");
    assert_eq!(entry["stream"], "system");
    assert_eq!(entry["level"], "INFO");
    server.shutdown().await;
}
