//! The attacks of the security review, each performed for real against a
//! running server; every one must get the safe answer.

mod support;

use std::time::Duration;

use nix::sys::signal::Signal;
use support::{http, printed_number, process_gone, ServerProcess, TestServer};
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "correct-horse-battery-staple";

/// A server without a token (the default), with one long-running process.
const OPEN: &str = "[[process]]\nname = \"web\"\ncommand = \"sleep 300\"\n";

#[tokio::test]
async fn cross_site_requests_cannot_control_processes_without_a_token() {
    let server = TestServer::start(OPEN).await;
    server.wait_state("web", "running").await;
    let stop = |headers: Vec<(&'static str, String)>| {
        let addr = server.addr;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http(
                addr,
                "POST",
                "/api/processes/web/stop",
                &headers,
                Some("x".into()),
            )
            .await
        }
    };
    // A form or fetch from a page of another site: a "simple" request.
    for attack in [
        vec![
            ("Content-Type", "text/plain".to_owned()),
            ("Origin", "https://evil.example".to_owned()),
        ],
        vec![
            ("Content-Type", "text/plain".to_owned()),
            ("Origin", "null".to_owned()),
        ],
        vec![
            ("Content-Type", "text/plain".to_owned()),
            ("Referer", "https://evil.example/page".to_owned()),
        ],
        vec![
            ("Content-Type", "text/plain".to_owned()),
            ("Sec-Fetch-Site", "cross-site".to_owned()),
        ],
    ] {
        let response = stop(attack.clone()).await;
        assert_eq!(response.status, 403, "{attack:?}: {}", response.text());
        assert!(
            response.text().contains("auth.allowed_origins"),
            "{}",
            response.text()
        );
    }
    // DMB's routes too.
    let dmb = http(
        server.addr,
        "POST",
        "/process/stop-service",
        &[("Origin", "https://evil.example")],
        Some(r#"{"process_name":"web"}"#.into()),
    )
    .await;
    assert_eq!(dmb.status, 403);
    assert_eq!(server.process("web").await["state"], "running");
    // The server's own page, and programs (no Origin), still may.
    let own = stop(vec![("Origin", format!("http://{}", server.addr))]).await;
    assert_eq!(own.status, 202, "{}", own.text());
    server.shutdown().await;
}

#[tokio::test]
async fn a_rebound_host_name_reads_nothing_and_opens_no_socket() {
    let server = TestServer::start(OPEN).await;
    let rebound = [
        ("Host", "rebind.attacker.example:3000"),
        ("Origin", "http://rebind.attacker.example:3000"),
    ];
    for path in ["/api/logs", "/api/processes", "/", "/logs?process_name=web"] {
        let response = http(server.addr, "GET", path, &rebound, None).await;
        assert_eq!(response.status, 403, "{path}: {}", response.text());
        assert!(
            response.text().contains("auth.allowed_hosts"),
            "{}",
            response.text()
        );
    }
    for path in ["/ws/logs", "/ws/status"] {
        assert_eq!(server.upgrade_status(path, &rebound).await, 403, "{path}");
    }
    // Loopback names and addresses are this server.
    for host in ["localhost:3000", "127.0.0.1:3000", "[::1]:3000"] {
        let response = http(
            server.addr,
            "GET",
            "/api/processes",
            &[("Host", host)],
            None,
        )
        .await;
        assert_eq!(response.status, 200, "{host}");
    }
    server.shutdown().await;

    // A name of one's own is allowed once listed.
    let server = TestServer::start(&format!(
        "[auth]\nallowed_hosts = [\"logs.example.com\"]\n{OPEN}"
    ))
    .await;
    let named = http(
        server.addr,
        "GET",
        "/api/processes",
        &[("Host", "logs.example.com")],
        None,
    )
    .await;
    assert_eq!(named.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn process_names_in_queries_are_never_paths() {
    let root = tempfile::tempdir().expect("temp dir");
    let logs = root.path().join("logs");
    let victim = root.path().join("victim");
    std::fs::create_dir_all(&victim).expect("victim dir");
    std::fs::write(
        victim.join("secret.jsonl"),
        r#"{"message":"the victim's secret","level":"INFO","process_name":"secret","timestamp":"2025-04-01T12:34:56.789Z","seq":1,"stream":"stdout"}"#,
    )
    .expect("victim file");
    let server = TestServer::start(&format!("log_dir = '{}'\n{OPEN}", logs.display())).await;
    for path in [
        "/api/logs?process=../victim/secret,x",
        "/api/logs?process=..%2Fvictim%2Fsecret",
        "/api/logs/download?process=../victim/secret&format=jsonl",
        "/api/logs?process=/etc/passwd",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert!(!response.text().contains("the victim's secret"));
    }
    // DMB's form answers a name it has no output for with an empty log.
    let dmb = server.get("/logs?process_name=../victim/secret").await;
    assert_eq!(dmb.status, 200);
    assert_eq!(dmb.json()["log"], "");
    let dumb = server
        .get("/logs?process_name=../victim/secret&cursor=0")
        .await;
    assert_eq!(dumb.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn many_spellings_of_one_process_are_refused_or_counted_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&format!(
        "log_dir = '{}'\n[[process]]\nname = \"web\"\ncommand = \"seq 1 2000\"\nrestart = \"no\"\n",
        dir.path().display()
    ))
    .await;
    server.wait_state("web", "exited").await;
    // Aliases are not names: `./web`, `web/`, `web/../web`.
    let aliases: Vec<String> = (0..257)
        .map(|i| match i % 3 {
            0 => "./web".to_owned(),
            1 => "web/".to_owned(),
            _ => format!("web/{}../web", "./".repeat(i % 7)),
        })
        .collect();
    let response = server
        .get(&format!("/api/logs?process={}", aliases.join(",")))
        .await;
    assert_eq!(response.status, 400, "{}", response.text());
    // The same name many times is one name: the answer is the log once.
    let repeated = vec!["web"; 257].join(",");
    let once = server
        .get(&format!(
            "/api/logs/download?format=jsonl&process={repeated}"
        ))
        .await;
    assert_eq!(once.status, 200);
    let lines = once.text().lines().count();
    assert!((2000..2100).contains(&lines), "{lines} lines");
    // More than 100 different names is too many.
    let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
    assert_eq!(
        server
            .get(&format!("/api/logs?process={}", many.join(",")))
            .await
            .status,
        400
    );
    server.shutdown().await;
}

/// Sends a download request and never reads the answer.
async fn stalled_download(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/logs/download?format=jsonl HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    stream
}

fn threads_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn downloads_that_are_never_read_cost_little_and_do_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    let config = dir.path().join("logdeck.toml");
    // About 40 MB of history, far more than socket buffers hold.
    std::fs::write(
        &config,
        format!(
            "log_dir = '{}'\nlog_size = \"1GiB\"\n[[process]]\nname = \"bulk\"\nrestart = \"no\"\ncommand = \"seq 1 300000 | sed 's/$/ padding padding padding padding padding padding padding padding padding padding padding/'\"\n",
            logs.display()
        ),
    )
    .expect("config");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_logdeck"));
    command
        .env_remove("LOGDECK_CONFIG")
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(&config);
    let server = ServerProcess::start(command);
    let addr = server.addr;
    support::eventually("the history to be written", || async {
        let bulk = http(addr, "GET", "/api/processes/bulk", &[], None)
            .await
            .json();
        let info = http(addr, "GET", "/api/info", &[], None).await.json();
        (bulk["state"] == "exited" && info["store"]["written"].as_u64() > Some(300_000))
            .then_some(())
    })
    .await;
    let threads_before = threads_of(server.pid());
    let mut stalled = Vec::new();
    for _ in 0..60 {
        stalled.push(stalled_download(addr).await);
    }
    // Downloads beyond the limit are refused at once, not queued...
    let refused = http(addr, "GET", "/api/logs/download?format=jsonl", &[], None).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    // ...and everything else still answers.
    let page = http(addr, "GET", "/api/logs?limit=5", &[], None).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(http(addr, "GET", "/health", &[], None).await.status, 200);
    // Blocking threads come from the download places (16: one to open
    // each, one per piece it produces) and the history readers (4), and
    // linger idle for a while after; a stalled download holds none, so
    // the count is bounded by the places, not by the 60 clients (each of
    // which used to pin a thread of its own).
    let threads = threads_of(server.pid());
    assert!(
        threads < threads_before + 2 * 16 + 4 + 4,
        "{threads_before} threads before, {threads} with 60 stalled downloads"
    );
    // Shutdown does not wait for them.
    let started = std::time::Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "SIGTERM took {:?} with stalled downloads",
        started.elapsed()
    );
    drop(stalled);
}

#[tokio::test]
async fn after_login_only_paths_on_this_site_are_followed() {
    let server = TestServer::start(&format!("[auth]\ntoken = \"{TOKEN}\"\n{OPEN}")).await;
    for next in [
        "%2F%09%2Fevil.example%2Fphish",
        "%2F%0A%2Fevil.example",
        "%2F%0D%0ASet-Cookie%3A%20x%3Dy",
        "%2F%5Cevil.example",
        "https%3A%2F%2Fevil.example",
    ] {
        let response = http(
            server.addr,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(format!("token={TOKEN}&next={next}")),
        )
        .await;
        assert_eq!(response.status, 303, "{next}: {}", response.text());
        assert_eq!(response.header("location"), Some("/"), "{next}");
    }
    let form = server.get("/login?next=%2F%09%2Fevil.example").await;
    assert_eq!(form.status, 200);
    assert!(
        form.text().contains(r#"name="next" value="/""#),
        "{}",
        form.text()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn children_never_see_the_token_and_it_never_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("logdeck.toml");
    std::fs::write(
        &config,
        r#"
        [[process]]
        name = "nosy"
        restart = "no"
        command = "echo the variable is ${LOGDECK_TOKEN:-unset}; tr '\\0' '\\n' < /proc/$$/environ | grep -c LOGDECK_TOKEN || true"
        [[process]]
        name = "leaky"
        restart = "no"
        env = { APP_SECRET = "correct-horse-battery-staple" }
        command = "echo the app said $APP_SECRET out loud"
        "#,
    )
    .expect("config");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_logdeck"));
    command
        .env_remove("LOGDECK_CONFIG")
        .env("LOGDECK_TOKEN", TOKEN)
        .args(["--addr", "127.0.0.1:0", "--config"])
        .arg(&config);
    let server = ServerProcess::start(command);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let lines = support::eventually("both processes to print", || async {
        let page = http(
            server.addr,
            "GET",
            "/api/logs?stream=stdout&limit=50",
            &auth,
            None,
        )
        .await
        .json();
        let lines: Vec<String> = page
            .as_array()?
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect();
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    assert!(
        lines.contains(&"the variable is unset".to_owned()),
        "{lines:?}"
    );
    assert!(lines.contains(&"0".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"the app said *** out loud".to_owned()),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains(TOKEN)), "{lines:?}");
}

#[tokio::test]
async fn an_escaped_grandchild_does_not_wedge_the_supervisor() {
    let server = TestServer::start(
        "[[process]]\nname = \"escape\"\nrestart = \"no\"\ncommand = \"echo pid=$$; setsid sleep 300 & echo grandchild=$!; exit 0\"\n",
    )
    .await;
    let mut logs = server.connect("/ws/logs?tail=100").await;
    let grandchild = printed_number(&mut logs, "escape", "grandchild=").await;
    // The state follows the main process, which exited at once.
    let exited = server.wait_state("escape", "exited").await;
    assert_eq!(exited["exit_code"], 0);
    assert!(
        process_gone(grandchild),
        "the escaped grandchild still runs"
    );
    // Requests are answered (the runner is not stuck draining pipes).
    let start = server.post("/api/processes/escape/start", None).await;
    assert_eq!(start.status, 202, "{}", start.text());
    server.wait_state("escape", "exited").await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_escaped_grandchild_of_a_running_process_is_stopped_with_it() {
    let server = TestServer::start(
        "[[process]]\nname = \"parent\"\ncommand = \"setsid sleep 300 >/dev/null 2>&1 & echo grandchild=$!; exec sleep 300\"\n",
    )
    .await;
    let mut logs = server.connect("/ws/logs?tail=100").await;
    let grandchild = printed_number(&mut logs, "parent", "grandchild=").await;
    assert!(!process_gone(grandchild));
    let stop = server.post("/api/processes/parent/stop", None).await;
    assert_eq!(stop.status, 202);
    server.wait_state("parent", "stopped").await;
    support::eventually("the grandchild to be stopped", || async {
        process_gone(grandchild).then_some(())
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_tokens_are_slowed_down_per_address() {
    let server = TestServer::start(&format!("[auth]\ntoken = \"{TOKEN}\"\n{OPEN}")).await;
    let wrong = [("Authorization", "Bearer guess-guess-guess")];
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(http(server.addr, "GET", "/api/processes", &wrong, None).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    assert_eq!(&codes[..5], &[401; 5], "{codes:?}");
    assert_eq!(codes[6], 429, "{codes:?}");
    assert!(statuses[6].header("retry-after").is_some());
    // Even the right token waits its turn while the address is held back.
    let bearer = format!("Bearer {TOKEN}");
    let right = http(
        server.addr,
        "GET",
        "/api/processes",
        &[("Authorization", bearer.as_str())],
        None,
    )
    .await;
    assert_eq!(right.status, 429);
    // The login form counts too.
    let login = http(
        server.addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("token=another-wrong-guess&next=%2F".into()),
    )
    .await;
    assert_eq!(login.status, 429);
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_query_values_get_400_not_a_panic() {
    let server = TestServer::start(OPEN).await;
    for path in [
        "/api/logs?since=1e13",
        "/api/logs?until=1e13",
        "/api/logs?since=1e19s1e19s",
        "/api/logs?since=99999999999999999h",
        "/api/logs?q=%5B%5Cw%5Cs%5D%7B200%7Dzzzq&regex=1",
        "/api/logs/download?until=1e13",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text());
    }
    // The same heavy regex on the live stream: refused with the reason.
    let mut client = server
        .connect("/ws/logs?q=%5B%5Cw%5Cs%5D%7B200%7Dzzzq&regex=1")
        .await;
    use futures::StreamExt;
    let frame = support::within(client.next()).await;
    match frame {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1008);
            assert!(close.reason.contains("size limit"), "{}", close.reason);
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert_eq!(server.get("/health").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_page_of_huge_lines_is_bounded_in_bytes() {
    let server = TestServer::start(
        "[[process]]\nname = \"wide\"\nrestart = \"no\"\ncommand = \"head -c 40000000 /dev/zero | tr '\\\\0' x | fold -w 65536\"\n",
    )
    .await;
    server.wait_state_while_publishing("wide", "exited").await;
    let page = server.get("/api/logs?process=wide&limit=10000").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.len() < 17 * 1024 * 1024,
        "{} bytes",
        page.body.len()
    );
    let entries = page.json().as_array().map(Vec::len).unwrap_or(0);
    assert!((200..610).contains(&entries), "{entries} entries");
    server.shutdown().await;
}

#[tokio::test]
async fn the_status_socket_refuses_oversized_frames() {
    let server = TestServer::start(OPEN).await;
    let mut client = server.connect("/ws/status").await;
    use futures::{SinkExt, StreamExt};
    let big = "x".repeat(16 * 1024);
    let _ = client
        .send(tokio_tungstenite::tungstenite::Message::Text(big.into()))
        .await;
    let closed = support::within(async {
        loop {
            match client.next().await {
                None | Some(Err(_)) => return true,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed);
    server.shutdown().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_websocket_place() {
    let server = TestServer::start(&format!(
        "[limits]\nmax_clients = 10\nmax_clients_per_address = 3\n{OPEN}"
    ))
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(server.connect("/ws/logs").await);
    }
    assert_eq!(server.upgrade_status("/ws/status", &[]).await, 503);
    drop(open.pop());
    support::eventually("a place to free up", || async {
        (server.get("/api/info").await.json()["websocket_clients"] == 2).then_some(())
    })
    .await;
    assert_eq!(server.upgrade_status("/ws/status", &[]).await, 101);
    server.shutdown().await;
}

#[tokio::test]
async fn the_text_download_holds_no_terminal_escapes_unless_asked() {
    let server = TestServer::start(
        "[[process]]\nname = \"tty\"\nrestart = \"no\"\ncommand = \"printf 'a\\\\033]0;pwned\\\\007b \\\\033[2Jc \\\\033]52;c;ZXZpbA==\\\\007d\\\\n'\"\n",
    )
    .await;
    server.wait_state("tty", "exited").await;
    let text = server.get("/api/logs/download?process=tty").await;
    assert_eq!(text.status, 200);
    let body = text.text();
    assert!(body.contains("tty: ab c d\n"), "{body:?}");
    assert!(
        !body.contains('\u{1b}') && !body.contains('\u{7}'),
        "{body:?}"
    );
    let raw = server.get("/api/logs/download?process=tty&raw=1").await;
    assert!(
        raw.text().contains("\u{1b}]0;pwned\u{7}"),
        "{:?}",
        raw.text()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_secret_across_a_split_line_is_still_masked() {
    // A 1 KiB limit splits this line; the password sits across the limit.
    let filler = "w ".repeat(500);
    let server = TestServer::start(&format!(
        "max_line_bytes = 1024\n[[process]]\nname = \"long\"\nrestart = \"no\"\ncommand = \"echo '{filler}password=hunter2hunter2 end'\"\n"
    ))
    .await;
    server.wait_state("long", "exited").await;
    let page = server.get("/api/logs?process=long&limit=10").await.json();
    let text: String = page
        .as_array()
        .expect("array")
        .iter()
        .rev()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(text.contains("password=***"), "{text}");
    assert!(!text.contains("hunter"), "{text}");
    server.shutdown().await;
}
