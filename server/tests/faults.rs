//! Misbehaving children and clients: the server keeps serving, memory
//! stays bounded, nothing is left behind.

mod support;

use support::{eventually, next_json_where, process_gone, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_garbage_becomes_valid_entries() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "noise"
        command = "head -c 2000000 /dev/urandom"
        restart = "no"
        "#,
    )
    .await;
    server.wait_state_while_publishing("noise", "exited").await;
    let page = server.get("/api/logs?process=noise&limit=5000").await;
    assert_eq!(page.status, 200);
    let entries = page.json();
    let entries = entries.as_array().expect("array");
    assert!(entries.len() > 100);
    assert!(entries.iter().any(|e| e["message"]
        .as_str()
        .is_some_and(|m| m.contains('\u{fffd}'))));
    assert_eq!(server.get("/health").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_child_that_closes_its_output_is_still_supervised() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "mute"
        command = "echo going quiet; exec >&- 2>&-; exec sleep 300"
        "#,
    )
    .await;
    let running = server.wait_state("mute", "running").await;
    let pid = running["pid"].as_i64().expect("pid") as i32;
    // Its pipes are closed, it is still alive, and it still stops.
    assert!(!process_gone(pid));
    assert_eq!(
        server.post("/api/processes/mute/stop", None).await.status,
        202
    );
    server.wait_state("mute", "stopped").await;
    assert!(process_gone(pid));
    server.shutdown().await;
}

#[tokio::test]
async fn an_unwritable_log_dir_is_reported_and_streaming_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&format!(
        r#"
        log_dir = "/dev/null/logs"
        log_files = true
        [[process]]
        name = "talker"
        command = "while [ ! -e '{gate}' ]; do sleep 0.02; done; echo still streaming; sleep 30"
        "#,
        gate = gate.display()
    ))
    .await;
    let mut logs = server.connect("/ws/logs").await;
    std::fs::write(&gate, b"").expect("gate");
    let line = next_json_where(&mut logs, |e| e["process_name"] == "talker").await;
    assert_eq!(line["message"], "still streaming");
    let report = eventually("the write error report", || async {
        let page = server
            .get("/api/logs?process=logdeck&q=cannot%20write%20log%20files&limit=1")
            .await
            .json();
        page.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert_eq!(report["level"], "ERROR");
    assert!(report["message"]
        .as_str()
        .is_some_and(|m| m.contains("/dev/null/logs")));
    let store_report = eventually("the store's report", || async {
        let page = server
            .get("/api/logs?process=logdeck&q=cannot%20write%20the%20store&limit=1")
            .await
            .json();
        page.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    assert!(store_report["message"].as_str().is_some_and(|m| m
        .contains("/dev/null/logs/logdeck.db")
        && m.contains("streaming goes on")));
    let info = server.get("/api/info").await.json();
    assert!(info["log_files"]["errors"].as_u64() > Some(0));
    // Every entry published so far was counted as not stored; none was
    // stored.
    let store = &info["store"];
    assert_eq!(store["written"], 0);
    assert!(store["lost"].as_u64() >= Some(1), "{store}");
    assert!(info["next_seq"].as_u64() > store["lost"].as_u64(), "{info}");
    // Without its store the server still answers from memory, and says
    // why the store's own questions cannot be answered.
    let page = server.get("/api/logs?process=talker").await;
    assert_eq!(page.status, 200);
    let histogram = server.get("/api/logs/histogram").await;
    assert_eq!(histogram.status, 503, "{}", histogram.text());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_connections_dropped_abruptly_leave_nothing_behind() {
    let server = TestServer::start(
        "[limits]\nmax_clients = 600\nmax_clients_per_address = 600\n[[process]]\nname = \"ticker\"\ncommand = \"while :; do echo tick; sleep 0.01; done\"\n",
    )
    .await;
    let mut clients = Vec::new();
    for i in 0..500 {
        let path = if i % 5 == 0 { "/ws/status" } else { "/ws/logs" };
        clients.push(server.connect(path).await);
    }
    eventually("500 open connections", || async {
        (server.get("/api/info").await.json()["websocket_clients"] == 500).then_some(())
    })
    .await;
    // No close handshake: the sockets just go away.
    drop(clients);
    eventually("every connection task to end", || async {
        (server.get("/api/info").await.json()["websocket_clients"] == 0).then_some(())
    })
    .await;
    assert_eq!(server.get("/health").await.status, 200);
    server.shutdown().await;
}
