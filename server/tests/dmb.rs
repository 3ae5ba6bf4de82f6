//! Logdeck as the backend of DMB's own frontend: its text frames read by
//! the frontend's exact code (run in Node.js), and the routes it calls.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use futures::StreamExt;
use support::{eventually, within, Client, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// What DMB's frontend does with each frame: strip the colours, split the
/// lines, match each against its regex, read the time with `new Date()`.
/// Copied from its log page; a line that does not match is dropped there,
/// here it is reported.
const FRONTEND: &str = r#"
const frames = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const rows = [];
for (const frame of frames) {
  const clean = frame.replace(/\x1B\[[0-9;]*[mK]/g, '');
  for (const line of clean.split('\n')) {
    const m = line.match(/^(.+?) - (\w+) - (?:(.+?) subprocess: )?(.*)$/);
    if (!m) { rows.push({ unparsed: line }); continue; }
    const time = new Date(m[1]);
    rows.push({
      time: isNaN(time.getTime()) ? null : time.getTime(),
      level: m[2],
      process: m[3] === undefined ? null : m[3],
      message: m[4],
    });
  }
}
process.stdout.write(JSON.stringify(rows));
"#;

/// The rows DMB's frontend makes of `frames`.
fn frontend_rows(frames: &[String]) -> Vec<serde_json::Value> {
    let mut node = Command::new("node")
        .arg("-e")
        .arg(FRONTEND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node.js) must be installed: scripts/bootstrap.sh --test installs it");
    node.stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(frames).expect("json").as_bytes())
        .expect("write frames");
    let out = node.wait_with_output().expect("node ran");
    assert!(out.status.success(), "node failed");
    serde_json::from_slice(&out.stdout).expect("rows")
}

async fn next_text(client: &mut Client) -> String {
    loop {
        match within(client.next()).await.expect("open").expect("frame") {
            Message::Text(text) => return text.to_string(),
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_frames_read_as_dmbs_frontend_reads_them() {
    let server = TestServer::start(
        r#"
        [dmb]
        text_frames = true

        [[process]]
        name = "app"
        cwd = "."
        command = '''
        while [ ! -e go ]; do sleep 0.05; done
        echo "ERROR something failed - badly"
        printf '\033[31mred\033[0m alert\n'
        printf 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: no\n'
        echo "WARNING low disk"
        echo "last line"
        exec sleep 600
        '''
        multiline = { start = '^\S' }
        "#,
    )
    .await;
    let mut dmb = server.connect("/ws/logs").await;
    let mut json = server.connect("/ws/logs?format=json").await;
    std::fs::write(server.dir.path().join("go"), b"").expect("go");
    let mut frames = Vec::new();
    while !frames
        .iter()
        .any(|f: &String| f.ends_with("app subprocess: last line"))
    {
        frames.push(next_text(&mut dmb).await);
    }
    // Logdeck's own line, once the process stops.
    let stopped = server.post("/api/processes/app/stop", None).await;
    assert!((200..300).contains(&stopped.status), "{}", stopped.text());
    while !frames.iter().any(|f| f.contains(" - INFO - app: stopped")) {
        frames.push(next_text(&mut dmb).await);
    }
    let rows = frontend_rows(&frames);
    let unparsed: Vec<_> = rows
        .iter()
        .filter(|r| r.get("unparsed").is_some())
        .collect();
    assert!(
        unparsed.is_empty(),
        "lines the frontend drops: {unparsed:?}"
    );
    let now = chrono::Utc::now().timestamp_millis();
    for row in &rows {
        let time = row["time"].as_i64().expect("new Date() reads the time");
        assert!((now - time).abs() < 10 * 60 * 1000, "{row}");
    }
    let app_rows: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["process"] == "app")
        .map(|r| {
            (
                r["level"].as_str().unwrap_or("").to_owned(),
                r["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("ERROR", "ERROR something failed - badly"),
        ("INFO", "red alert"),
        // One entry of three lines (its level is its first line's).
        ("INFO", "Traceback (most recent call last):"),
        ("INFO", "  File \"x.py\", line 1"),
        ("INFO", "ValueError: no"),
        ("WARNING", "WARNING low disk"),
        ("INFO", "last line"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(l, m)| ((*l).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(app_rows, expected);
    // Logdeck's own lines have no process part, as DMB's own lines.
    assert!(rows.iter().any(|r| r["process"].is_null()
        && r["level"] == "INFO"
        && r["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("app: stopped"))));
    // A client asking for JSON still gets the contract.
    let first = next_text(&mut json).await;
    let entry: serde_json::Value = serde_json::from_str(&first).expect("one JSON object");
    for key in ["message", "level", "process_name", "timestamp"] {
        assert!(entry.get(key).is_some(), "{entry}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_setting_frames_stay_json_and_text_can_be_asked_for() {
    let server = TestServer::start(
        "[[process]]\nname = \"app\"\ncwd = \".\"\ncommand = \"while [ ! -e go ]; do sleep 0.05; done; echo hello; exec sleep 600\"\n",
    )
    .await;
    let mut plain = server.connect("/ws/logs").await;
    let mut text = server.connect("/ws/logs?format=text").await;
    std::fs::write(server.dir.path().join("go"), b"").expect("go");
    let entry: serde_json::Value =
        serde_json::from_str(&next_text(&mut plain).await).expect("JSON by default");
    assert_eq!(entry["message"], "hello");
    let line = next_text(&mut text).await;
    assert!(line.ends_with(" - INFO - app subprocess: hello"), "{line}");
    let mut refused = server.connect("/ws/logs?format=xml").await;
    match within(refused.next()).await {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1008);
            assert!(close.reason.contains("format"), "{}", close.reason);
        }
        other => panic!("expected a close, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_routes_dmbs_frontend_calls_answer_in_its_shapes() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "riven_backend"
        command = "echo '2025-04-01 12:00:00 | INFO | riven: started'; exec sleep 600"
        env = { SECRET = "hunter2" }

        [[process]]
        name = "job"
        autostart = false
        command = "true"
        "#,
    )
    .await;
    let onboarding = server.get("/config/onboarding-status").await;
    assert_eq!(onboarding.status, 200);
    assert_eq!(
        onboarding.json(),
        serde_json::json!({ "needs_onboarding": false })
    );

    let list = server.get("/process/processes").await.json();
    let processes = list["processes"].as_array().expect("processes");
    let enabled: Vec<(&str, bool)> = processes
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["config"]["enabled"].as_bool().expect("config.enabled"),
            )
        })
        .collect();
    assert_eq!(enabled, [("riven_backend", true), ("job", false)]);

    for path in [
        "/process/?process_name=riven_backend",
        "/process?process_name=riven_backend",
    ] {
        let one = server.get(path).await;
        assert_eq!(one.status, 200, "{path}: {}", one.text());
        let one = one.json();
        assert_eq!(one["process_name"], "riven_backend");
        assert_eq!(one["config_key"], "riven_backend");
        assert_eq!(one["config"]["enabled"], true);
        assert!(one.get("version").is_some());
        assert!(
            !one.to_string().contains("hunter2"),
            "no environment values: {one}"
        );
    }
    let missing = server.get("/process/?process_name=nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        serde_json::json!({ "detail": "Service not enabled or found" })
    );

    // The process's own output, as printed.
    let log = eventually("the line in the log", || async {
        let log = server.get("/logs?process_name=riven_backend").await.json();
        (log["log"] != "").then_some(log)
    })
    .await;
    assert_eq!(log["log"], "2025-04-01 12:00:00 | INFO | riven: started\n");
    // DMB asks for its own log at start: empty, not an error.
    let own = server.get("/logs?process_name=DMB").await;
    assert_eq!(own.status, 200);
    assert_eq!(
        own.json(),
        serde_json::json!({ "process_name": "DMB", "log": "" })
    );
    server.shutdown().await;
}
