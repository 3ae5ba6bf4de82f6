//! The cluster, with a real nats-server (installed by the bootstrap): two
//! nodes that run processes and two viewer nodes, all in this process.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{eventually, http, next_json_where, NatsServer, TestServer};

const NATS_TOKEN: &str = "cluster-test-token-0123";

/// A node's configuration: `node`, joined to `nats`, with `processes`.
fn node(name: &str, nats: &str, processes: &str) -> String {
    format!(
        "node = \"{name}\"\n[cluster]\nurl = \"{nats}\"\ntoken = \"{NATS_TOKEN}\"\noffline_after = \"3s\"\n{processes}"
    )
}

/// A process printing `lines` numbered lines `<prefix> <n>` then idling.
fn printer(name: &str, prefix: &str, lines: u32) -> String {
    format!(
        "[[process]]\nname = \"{name}\"\ncommand = \"i=1; while [ $i -le {lines} ]; do echo {prefix} $i; i=$((i+1)); done; sleep 300\"\n"
    )
}

/// The entries of `/api/logs` on `server` (newest first) matching `query`.
async fn logs(server: &TestServer, query: &str) -> Vec<Value> {
    let page = server.get(&format!("/api/logs?{query}")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    page.json().as_array().cloned().unwrap_or_default()
}

/// Waits until `server` holds `count` entries for `query`; returns them,
/// oldest first.
async fn wait_for_entries(server: &TestServer, query: &str, count: usize) -> Vec<Value> {
    eventually(&format!("{count} entries for {query}"), || async {
        let mut found = logs(server, query).await;
        found.reverse();
        (found.len() >= count).then_some(found)
    })
    .await
}

fn seqs(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_every_nodes_entries_in_one_order_and_resume_anywhere() {
    let nats = NatsServer::start(NATS_TOKEN);
    let a = TestServer::start(&node("node-a", &nats.url, &printer("alpha", "a", 150))).await;
    let b = TestServer::start(&node("node-b", &nats.url, &printer("beta", "b", 150))).await;
    let v1 = TestServer::start(&node("viewer-1", &nats.url, "")).await;
    let v2 = TestServer::start(&node("viewer-2", &nats.url, "")).await;

    let query = "process=alpha,beta&stream=stdout&limit=1000";
    let on_v1 = wait_for_entries(&v1, query, 300).await;
    // One order for all: strictly increasing stream sequences, each node's
    // own lines in the order printed, and every entry says its node.
    let order = seqs(&on_v1);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    for (process, prefix, node) in [("alpha", "a", "node-a"), ("beta", "b", "node-b")] {
        let lines: Vec<&Value> = on_v1
            .iter()
            .filter(|e| e["process_name"] == process)
            .collect();
        assert_eq!(lines.len(), 150, "{process}");
        for (i, entry) in lines.iter().enumerate() {
            assert_eq!(entry["message"], format!("{prefix} {}", i + 1));
            assert_eq!(entry["node"], node);
        }
    }
    // The other viewer numbers them the same way.
    let on_v2 = wait_for_entries(&v2, query, 300).await;
    assert_eq!(seqs(&on_v2), order);

    // A client of viewer 1 that moves to viewer 2 (behind a load balancer)
    // resumes there with `since` and gets exactly the rest.
    let middle = order[149];
    let mut moved = v2
        .connect(&format!(
            "/ws/logs?since={middle}&process=alpha,beta&stream=stdout"
        ))
        .await;
    let mut rest = Vec::new();
    while rest.len() < 150 {
        let entry = next_json_where(&mut moved, |e| e["stream"] == "stdout").await;
        rest.push(entry["seq"].as_u64().expect("seq"));
    }
    assert_eq!(rest, order[150..].to_vec());

    // Processes of every node, each with its node (they arrive apart from
    // the entries).
    eventually("both nodes' processes on viewer 1", || async {
        let processes = v1.get("/api/processes").await.json();
        let names: BTreeSet<(String, String)> = processes
            .as_array()
            .expect("array")
            .iter()
            .map(|p| {
                (
                    p["node"].as_str().unwrap_or_default().to_owned(),
                    p["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let wanted: BTreeSet<(String, String)> = [
            ("node-a".to_owned(), "alpha".to_owned()),
            ("node-b".to_owned(), "beta".to_owned()),
        ]
        .into();
        (names == wanted).then_some(())
    })
    .await;
    let info = v1.get("/api/info").await.json();
    assert_eq!(info["node"], "viewer-1");
    assert_eq!(info["cluster"]["status"], "connected");

    for server in [a, b, v1, v2] {
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_controls_any_nodes_processes() {
    let nats = NatsServer::start(NATS_TOKEN);
    let both = "[[process]]\nname = \"web\"\ncommand = \"sleep 300\"\n";
    let a = TestServer::start(&node(
        "node-a",
        &nats.url,
        &format!("{both}[[process]]\nname = \"worker\"\ncommand = \"sleep 300\"\n"),
    ))
    .await;
    let b = TestServer::start(&node("node-b", &nats.url, both)).await;
    let viewer = TestServer::start(&node("viewer", &nats.url, "")).await;
    let running_on = |server: &TestServer, path: &'static str| {
        let addr = server.addr;
        async move {
            let response = http(addr, "GET", path, &[], None).await;
            (response.status == 200 && response.json()["state"] == "running")
                .then_some(response.json())
        }
    };
    eventually("worker to be seen running on the viewer", || {
        running_on(&viewer, "/api/processes/worker")
    })
    .await;
    eventually("both webs to be seen running", || async {
        let a = running_on(&viewer, "/api/processes/web?node=node-a").await;
        let b = running_on(&viewer, "/api/processes/web?node=node-b").await;
        a.zip(b)
    })
    .await;

    // A name on two nodes needs its node, except on a node that has it:
    // there it means its own.
    let own = a.process("web").await;
    assert_eq!(own["node"], "node-a");
    // `seq` numbers the stream in a cluster: no node's own start_seq is
    // shown, the start time is.
    assert!(
        own["start_seq"].is_null() && own["started_at"].is_string(),
        "{own}"
    );
    let ambiguous = viewer.get("/api/processes/web").await;
    assert_eq!(ambiguous.status, 409, "{}", ambiguous.text());
    assert!(
        ambiguous.text().contains("node-a") && ambiguous.text().contains("node-b"),
        "{}",
        ambiguous.text()
    );
    assert_eq!(
        viewer.post("/api/processes/web/stop", None).await.status,
        409
    );

    // A stop through the viewer stops the process on its node.
    let stop = viewer.post("/api/processes/worker/stop", None).await;
    assert_eq!(stop.status, 202, "{}", stop.text());
    assert_eq!(stop.json()["state"], "stopping");
    a.wait_state("worker", "stopped").await;
    let stop_b = viewer
        .post("/api/processes/web/stop?node=node-b", None)
        .await;
    assert_eq!(stop_b.status, 202, "{}", stop_b.text());
    b.wait_state("web", "stopped").await;
    assert_eq!(a.process("web").await["state"], "running");
    assert_eq!(viewer.process("web?node=node-a").await["state"], "running");
    // The same answers as the local API: stopping a stopped process.
    let again = viewer.post("/api/processes/worker/stop", None).await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(
        viewer
            .post("/api/processes/nothing/stop", None)
            .await
            .status,
        404
    );
    for server in [a, b, viewer] {
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_nothing() {
    let mut nats = NatsServer::start(NATS_TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let a = TestServer::start(&node(
        "node-a",
        &nats.url,
        &format!(
            "[[process]]\nname = \"ticker\"\ncommand = \"while [ ! -e '{}' ]; do sleep 0.02; done; i=1; while [ $i -le 600 ]; do echo tick $i; i=$((i+1)); sleep 0.005; done; sleep 300\"\n",
            gate.display()
        ),
    ))
    .await;
    let viewer = TestServer::start(&node("viewer", &nats.url, "")).await;
    eventually("both nodes connected", || async {
        let a = a.get("/api/info").await.json();
        let v = viewer.get("/api/info").await.json();
        (a["cluster"]["status"] == "connected" && v["cluster"]["status"] == "connected")
            .then_some(())
    })
    .await;
    std::fs::write(&gate, b"").expect("gate");
    // Kill the NATS server while the ticker prints, and bring it back.
    eventually("the first ticks on the node", || async {
        (logs(&a, "process=ticker&stream=stdout&limit=1").await.len() == 1).then_some(())
    })
    .await;
    nats.kill();
    eventually("the node to notice", || async {
        (a.get("/api/info").await.json()["cluster"]["status"] == "disconnected").then_some(())
    })
    .await;
    nats.restart();
    let ticks = wait_for_entries(&viewer, "process=ticker&stream=stdout&limit=1000", 600).await;
    let numbers: Vec<String> = ticks
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (1..=600).map(|i| format!("tick {i}")).collect();
    assert_eq!(numbers, expected, "lost, repeated or reordered ticks");
    let order = seqs(&ticks);
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        a.get("/api/info").await.json()["cluster"]["dropped"],
        0,
        "nothing overflowed the buffer"
    );
    for server in [a, viewer] {
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_overflows_the_buffer_while_nats_is_away_is_counted_and_announced() {
    const LINES: usize = 3000;
    let mut nats = NatsServer::start(NATS_TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let done = dir.path().join("done");
    // About 3 MB of lines against a 1 MiB buffer.
    let filler = format!(
        "[[process]]\nname = \"filler\"\ncommand = \"while [ ! -e '{gate}' ]; do sleep 0.02; done; x=$(printf '%0990d' 0); i=1; while [ $i -le {LINES} ]; do echo fill $i $x; i=$((i+1)); done; touch '{done}'; sleep 300\"\n",
        gate = gate.display(),
        done = done.display(),
    );
    let a = TestServer::start(&format!(
        "{}buffer = \"1MiB\"\n{filler}",
        node("node-a", &nats.url, "")
    ))
    .await;
    // Everything before the outage is in the stream (the node reads it
    // back): what the buffer then holds are the filler's lines only.
    eventually("the filler's start in the stream", || async {
        logs(&a, "limit=100")
            .await
            .iter()
            .any(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("filler: running"))
            })
            .then_some(())
    })
    .await;
    nats.kill();
    eventually("the node to notice", || async {
        (a.get("/api/info").await.json()["cluster"]["status"] == "disconnected").then_some(())
    })
    .await;
    std::fs::write(&gate, b"").expect("gate");
    eventually("the filler to finish", || async {
        done.exists().then_some(())
    })
    .await;
    // The loss is counted while it happens.
    eventually("losses counted", || async {
        let dropped = a.get("/api/info").await.json()["cluster"]["dropped"].as_u64();
        dropped.filter(|d| *d > 0)
    })
    .await;
    nats.restart();
    let viewer = TestServer::start(&node("viewer", &nats.url, "")).await;
    let last = format!("fill {LINES} ");
    let entries = eventually("the newest line on the viewer", || async {
        let entries = logs(&viewer, "limit=10000").await;
        entries
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.starts_with(&last)))
            .then_some(entries)
    })
    .await;
    let mut entries = entries;
    entries.reverse();
    let notice_at = entries
        .iter()
        .position(|e| e["dropped"].is_u64() && e["level"] == "WARNING")
        .expect("one WARNING entry with `dropped`");
    let notice = &entries[notice_at];
    assert_eq!(notice["node"], "node-a");
    assert_eq!(notice["process_name"], "logdeck");
    let numbers: Vec<usize> = entries
        .iter()
        .filter(|e| e["process_name"] == "filler" && e["stream"] == "stdout")
        .map(|e| {
            let message = e["message"].as_str().unwrap_or_default();
            message
                .split(' ')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .expect("numbered")
        })
        .collect();
    // Kept: the newest lines, in order, after the notice; lost: the rest,
    // exactly as many as the notice says.
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "reordered or repeated"
    );
    assert!(
        entries[..notice_at]
            .iter()
            .all(|e| e["process_name"] != "filler" || e["stream"] != "stdout"),
        "the notice comes before what was kept: {:?}",
        &entries[..notice_at]
    );
    let dropped = notice["dropped"].as_u64().expect("dropped") as usize;
    assert_eq!(numbers.len() + dropped, LINES, "{dropped} dropped");
    assert!(dropped > 0 && numbers.len() > 100, "{dropped} dropped");
    assert_eq!(
        a.get("/api/info").await.json()["cluster"]["dropped"].as_u64(),
        Some(dropped as u64)
    );
    for server in [a, viewer] {
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_turns_offline_and_its_history_stays() {
    let nats = NatsServer::start(NATS_TOKEN);
    let a = TestServer::start(&node("node-a", &nats.url, &printer("alpha", "a", 20))).await;
    let viewer = TestServer::start(&node("viewer", &nats.url, "")).await;
    wait_for_entries(&viewer, "process=alpha&stream=stdout", 20).await;
    eventually("alpha to be seen running", || async {
        let alpha = viewer.get("/api/processes/alpha").await;
        (alpha.status == 200 && alpha.json()["state"] == "running").then_some(())
    })
    .await;
    a.kill().await;
    let offline = eventually("alpha to be offline", || async {
        let alpha = viewer.get("/api/processes/alpha").await.json();
        alpha["offline_since"].is_string().then_some(alpha)
    })
    .await;
    assert_eq!(offline["node"], "node-a");
    let nodes = viewer.get("/api/info").await.json()["cluster"]["nodes"].clone();
    let node_a = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == "node-a")
        .cloned()
        .expect("node-a listed");
    assert_eq!(node_a["online"], false);
    // Its entries are still there.
    assert_eq!(logs(&viewer, "process=alpha&stream=stdout").await.len(), 20);
    viewer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nats_at_start_is_waited_for_and_a_wrong_token_is_an_error() {
    // Nothing listens yet: the node starts, serves its own processes, and
    // says it is connecting.
    let port = NatsServer::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let a = TestServer::start(&node("node-a", &url, &printer("alpha", "a", 5))).await;
    a.wait_state("alpha", "running").await;
    assert_eq!(
        a.get("/api/info").await.json()["cluster"]["status"],
        "connecting"
    );
    let _nats = NatsServer::start_on(port, NATS_TOKEN);
    eventually("the node to connect", || async {
        (a.get("/api/info").await.json()["cluster"]["status"] == "connected").then_some(())
    })
    .await;
    wait_for_entries(&a, "process=alpha&stream=stdout", 5).await;
    a.shutdown().await;

    // A token the server refuses stops start-up, and is not in the error.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server::config::Config::parse(
        &node("node-b", &url, "").replace(NATS_TOKEN, "the-wrong-token-here"),
        "test.toml",
        dir.path(),
    )
    .expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let site = leptos::config::LeptosOptions::builder()
        .output_name("logdeck")
        .build();
    let result = support::within(server::run(listener, config, site, std::future::pending())).await;
    let error = result.expect_err("refused").to_string();
    assert!(error.contains("cluster.token"), "{error}");
    assert!(!error.contains("the-wrong-token-here"), "{error}");
}
