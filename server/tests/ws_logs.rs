//! `/ws/logs` end to end: real child processes, a real socket, a real
//! WebSocket client.

mod support;

use chrono::{DateTime, Utc};
use support::{next_json_where, TestServer};

/// A config whose child waits for `gate` to exist, so the client is
/// connected before anything is printed (no timing guesses).
fn gated_config(gate: &std::path::Path, script: &str) -> String {
    format!(
        r#"
        [[process]]
        name = "greeter"
        command = """
        while [ ! -e '{gate}' ]; do sleep 0.02; done
        {script}
        sleep 30
        """
        "#,
        gate = gate.display()
    )
}

fn open_gate(gate: &std::path::Path) {
    std::fs::write(gate, b"").expect("create gate file");
}

#[tokio::test]
async fn child_output_reaches_a_websocket_client_as_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&gated_config(
        &gate,
        r#"echo "[INFO] hello"; echo "ERROR: boom" >&2"#,
    ))
    .await;
    let mut client = server.connect("/ws/logs").await;
    open_gate(&gate);

    let from_child = |json: &serde_json::Value| json["process_name"] == "greeter";
    let first = next_json_where(&mut client, from_child).await;
    let second = next_json_where(&mut client, from_child).await;
    // stdout and stderr are read by separate tasks; either may win.
    let (hello, boom) = if first["message"] == "[INFO] hello" {
        (first, second)
    } else {
        (second, first)
    };

    assert_eq!(hello["message"], "[INFO] hello");
    assert_eq!(hello["level"], "INFO");
    assert_eq!(hello["process_name"], "greeter");
    assert_eq!(hello["stream"], "stdout");
    assert_eq!(boom["message"], "ERROR: boom");
    assert_eq!(boom["level"], "ERROR");
    assert_eq!(boom["process_name"], "greeter");
    assert_eq!(boom["stream"], "stderr");

    for entry in [&hello, &boom] {
        let timestamp = entry["timestamp"].as_str().expect("timestamp is a string");
        assert_eq!(
            timestamp.len(),
            "2025-04-01T12:34:56.789Z".len(),
            "{timestamp}"
        );
        assert!(timestamp.ends_with('Z'), "{timestamp}");
        let parsed: DateTime<Utc> = timestamp.parse().expect("RFC 3339 timestamp");
        let age = Utc::now() - parsed;
        assert!(
            age.num_seconds().abs() < 60,
            "timestamp {timestamp} is not now"
        );
        assert!(entry["seq"].as_u64().is_some());
        assert!(entry["pid"].as_u64().is_some());
    }
    assert_ne!(hello["seq"], boom["seq"]);

    server.shutdown().await;
}

#[tokio::test]
async fn every_client_receives_every_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&gated_config(
        &gate,
        "for i in 1 2 3 4 5; do echo \"line $i\"; done",
    ))
    .await;
    let mut clients = vec![
        server.connect("/ws/logs").await,
        server.connect("/ws/logs").await,
        server.connect("/ws/logs").await,
    ];
    open_gate(&gate);

    for client in &mut clients {
        for i in 1..=5 {
            let entry = next_json_where(client, |json| json["process_name"] == "greeter").await;
            assert_eq!(entry["message"], format!("line {i}"));
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_is_replayed_to_a_client_that_connects_later() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let late_gate = dir.path().join("late");
    let script = format!(
        "echo early; while [ ! -e '{}' ]; do sleep 0.02; done; echo late",
        late_gate.display()
    );
    let server = TestServer::start(&gated_config(&gate, &script)).await;
    let mut first = server.connect("/ws/logs").await;
    open_gate(&gate);
    next_json_where(&mut first, |json| json["message"] == "early").await;

    let mut late = server.connect("/ws/logs").await;
    open_gate(&late_gate);
    let entry = next_json_where(&mut late, |json| json["process_name"] == "greeter").await;
    assert_eq!(entry["message"], "late", "the late client saw an old entry");
    server.shutdown().await;
}
