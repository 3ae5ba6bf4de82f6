//! The process API, its DMB-compatible twin, `/health`, `/ws/status` and
//! the OpenAPI document, over a real socket.

mod support;

use serde_json::json;
use support::{eventually, next_json, TestServer};

const CONFIG: &str = r#"
[[process]]
name = "web"
command = "echo hi; sleep 30"

[[process]]
name = "idle"
command = "sleep 30"
autostart = false
env = { SECRET_TOKEN = "hunter2" }
"#;

#[tokio::test]
async fn lists_and_shows_processes_with_their_details() {
    let server = TestServer::start(CONFIG).await;
    server.wait_state("web", "running").await;

    let list = server.get("/api/processes").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("content-type"), Some("application/json"));
    let list = list.json();
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "idle"]);

    // A process caught in its first milliseconds (between fork and the
    // pages its new program touches) has no resident memory yet; once it
    // has some, the details must report it.
    let web = eventually("web's resident memory", || async {
        let web = server.get("/api/processes/web").await.json();
        web["rss_bytes"]
            .as_u64()
            .is_some_and(|rss| rss > 0)
            .then_some(web)
    })
    .await;
    for key in [
        "name",
        "state",
        "pid",
        "started_at",
        "uptime_secs",
        "restarts",
        "last_exit_code",
        "ready",
        "cpu_percent",
        "rss_bytes",
    ] {
        assert!(web.get(key).is_some(), "missing {key}: {web}");
    }
    assert!(web["pid"].as_u64().is_some());
    assert_eq!(web["ready"], true);
    assert!(web["started_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let idle = server.get("/api/processes/idle").await.json();
    assert_eq!(idle["state"], "stopped");
    assert!(idle["pid"].is_null());

    let missing = server.get("/api/processes/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("nope")));
    server.shutdown().await;
}

#[tokio::test]
async fn start_stop_restart_answer_202_404_and_409() {
    let server = TestServer::start(CONFIG).await;
    server.wait_state("web", "running").await;

    let conflict = server.post("/api/processes/web/start", None).await;
    assert_eq!(conflict.status, 409);
    let conflict = conflict.json();
    assert!(conflict["error"]
        .as_str()
        .is_some_and(|e| e.contains("already running")));
    assert_eq!(conflict["process"]["name"], "web");

    let stop = server.post("/api/processes/web/stop", None).await;
    assert_eq!(stop.status, 202);
    assert_eq!(stop.json()["state"], "stopping");
    server.wait_state("web", "stopped").await;
    assert_eq!(
        server.post("/api/processes/web/stop", None).await.status,
        409
    );

    let start = server.post("/api/processes/web/start", None).await;
    assert_eq!(start.status, 202);
    assert_eq!(start.json()["state"], "starting");
    server.wait_state("web", "running").await;
    let first_pid = server.get("/api/processes/web").await.json()["pid"].clone();

    let restart = server.post("/api/processes/web/restart", None).await;
    assert_eq!(restart.status, 202);
    eventually("a new pid", || async {
        let web = server.get("/api/processes/web").await.json();
        (web["state"] == "running" && web["pid"] != first_pid).then_some(())
    })
    .await;

    assert_eq!(
        server.post("/api/processes/nope/start", None).await.status,
        404
    );
    assert_eq!(
        server.post("/api/processes/web/explode", None).await.status,
        404
    );
    // Control is POST only: a GET (a link, an image tag) changes nothing.
    assert_eq!(server.get("/api/processes/web/stop").await.status, 405);
    server.shutdown().await;
}

#[tokio::test]
async fn dmb_compatible_routes_keep_dmb_shapes() {
    let server = TestServer::start(CONFIG).await;
    server.wait_state("web", "running").await;

    let list = server.get("/process/processes").await.json();
    let processes = list["processes"].as_array().expect("processes array");
    assert_eq!(processes.len(), 2);
    let idle = &processes[1];
    assert_eq!(idle["name"], "idle");
    assert_eq!(idle["process_name"], "idle");
    assert_eq!(idle["enabled"], false);
    assert_eq!(idle["config"]["command"], "sleep 30");
    assert!(
        !list.to_string().contains("hunter2"),
        "environment values must not leak"
    );

    let status = server
        .get("/process/service-status?process_name=web")
        .await
        .json();
    assert_eq!(
        status,
        json!({ "process_name": "web", "status": "running" })
    );
    let status = server
        .get("/process/service-status?process_name=idle")
        .await
        .json();
    assert_eq!(
        status,
        json!({ "process_name": "idle", "status": "stopped" })
    );

    let started = server
        .post(
            "/process/start-service",
            Some(json!({ "process_name": "idle" })),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(
        started.json(),
        json!({ "status": "Service started successfully", "process_name": "idle" })
    );
    // DMB's start answers once the service runs.
    assert_eq!(server.process("idle").await["state"], "running");

    let restarted = server
        .post(
            "/process/restart-service",
            Some(json!({ "process_name": "idle" })),
        )
        .await;
    assert_eq!(
        restarted.json(),
        json!({ "status": "Service restarted successfully", "process_name": "idle" })
    );
    assert_eq!(server.process("idle").await["state"], "running");

    let stopped = server
        .post(
            "/process/stop-service",
            Some(json!({ "process_name": "idle" })),
        )
        .await;
    assert_eq!(
        stopped.json(),
        json!({ "status": "Service stopped successfully", "process_name": "idle" })
    );
    assert_eq!(server.process("idle").await["state"], "stopped");

    let unknown = server
        .post(
            "/process/start-service",
            Some(json!({ "process_name": "nope" })),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json(),
        json!({ "detail": "Service not enabled or found" })
    );
    let malformed = server
        .post("/process/start-service", Some(json!({ "name": "web" })))
        .await;
    assert_eq!(malformed.status, 422);
    server.shutdown().await;
}

#[tokio::test]
async fn health_is_healthy_while_nothing_failed() {
    let server = TestServer::start(CONFIG).await;
    let health = server.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({ "status": "healthy" }));
    server.shutdown().await;
}

#[tokio::test]
async fn status_socket_sends_the_table_then_each_change() {
    let server = TestServer::start(CONFIG).await;
    let mut status = server.connect("/ws/status").await;
    let snapshot = next_json(&mut status).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["processes"].as_array().map(Vec::len), Some(2));

    assert_eq!(
        server.post("/api/processes/idle/start", None).await.status,
        202
    );
    let mut seen = Vec::new();
    while !seen.contains(&"running".to_owned()) {
        let message = next_json(&mut status).await;
        assert_eq!(message["type"], "process");
        if message["process"]["name"] == "idle" {
            seen.push(
                message["process"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("starting"),
        "{seen:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let server = TestServer::start(CONFIG).await;
    let doc = server.get("/api/openapi.json").await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/processes",
        "/api/processes/{name}",
        "/api/processes/{name}/start",
        "/api/processes/{name}/stop",
        "/api/processes/{name}/restart",
        "/health",
        "/process/start-service",
        "/process/service-status",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["schemas"].get("ProcessInfo").is_some());
    server.shutdown().await;
}

/// The app's two pages by path, the process's name percent-decoded, and
/// "not found" (404) for any other path.
#[tokio::test]
async fn pages_are_chosen_by_their_path() {
    let server = TestServer::start(CONFIG).await;
    let logs = server.get("/?process=web").await;
    assert_eq!(logs.status, 200);
    assert!(logs
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let logs = logs.text();
    assert!(logs.contains(r#"data-testid="process-panel""#), "{logs}");
    assert!(logs.contains(r#"data-testid="log-table""#), "{logs}");

    // A page whose first connection is the stream alone opens it from its
    // head; one with filters (or a process page) loads history first.
    let plain = server.get("/").await.text();
    let head = plain.split("</head>").next().unwrap_or_default();
    assert!(
        head.contains(
            r#"window.__logdeckLiveSocket=e}catch(_){}})("/ws/logs?format=json&batch=1&tail=2000")"#
        ),
        "{head}"
    );
    assert!(!logs.contains("__logdeckLiveSocket"), "{logs}");

    let web = server.get("/processes/web?node=").await;
    assert_eq!(web.status, 200);
    let web = web.text();
    assert!(web.contains(r#"data-testid="process-header""#), "{web}");
    assert!(web.contains(r#"data-testid="process-start-web""#), "{web}");
    assert!(!web.contains(r#"data-testid="process-panel""#), "{web}");
    assert!(!web.contains("__logdeckLiveSocket"), "{web}");

    let spaced = server.get("/processes/my%20app").await;
    assert_eq!(spaced.status, 200);
    assert!(spaced
        .text()
        .contains(r#"data-testid="process-start-my app""#));

    for path in ["/nowhere", "/processes", "/processes/", "/processes/a/b"] {
        let missing = server.get(path).await;
        assert_eq!(missing.status, 404, "{path}");
        assert!(missing.text().contains("Page not found."), "{path}");
    }
    server.shutdown().await;
}
