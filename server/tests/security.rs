//! Authentication, origin checks and limits over a real socket.

mod support;

use support::{http, TestServer};

const TOKEN: &str = "correct-horse-battery-staple";

fn config() -> String {
    format!(
        r#"
        [auth]
        token = "{TOKEN}"
        [limits]
        max_body = "4KiB"
        [[process]]
        name = "web"
        command = "sleep 30"
        "#
    )
}

fn bearer() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test]
async fn with_a_token_every_route_needs_it() {
    let server = TestServer::start(&config()).await;
    for path in [
        "/api/processes",
        "/api/logs",
        "/api/info",
        "/health",
        "/process/processes",
        "/logs?process_name=web",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status, 401, "{path}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer realm=\"logdeck\"")
        );
    }
    let (name, value) = bearer();
    let ok = http(
        server.addr,
        "GET",
        "/api/processes",
        &[(name, &value)],
        None,
    )
    .await;
    assert_eq!(ok.status, 200);
    let wrong = http(
        server.addr,
        "GET",
        "/api/processes",
        &[("Authorization", "Bearer nope-nope-nope")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    // ?token= is for WebSocket clients only.
    assert_eq!(
        server
            .get(&format!("/api/processes?token={TOKEN}"))
            .await
            .status,
        401
    );
    // Control routes too, and they stay POST-only.
    assert_eq!(
        server.post("/api/processes/web/stop", None).await.status,
        401
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_upgrades_are_refused_before_they_open() {
    let server = TestServer::start(&config()).await;
    assert_eq!(server.upgrade_status("/ws/logs", &[]).await, 401);
    assert_eq!(server.upgrade_status("/ws/status", &[]).await, 401);
    assert_eq!(
        server
            .upgrade_status(&format!("/ws/logs?token={TOKEN}"), &[])
            .await,
        101
    );
    let (name, value) = bearer();
    assert_eq!(
        server.upgrade_status("/ws/status", &[(name, &value)]).await,
        101
    );
    assert_eq!(
        server
            .upgrade_status("/ws/logs?token=wrong-token-here", &[])
            .await,
        401
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pages_redirect_to_the_login_form_which_sets_a_strict_cookie() {
    let server = TestServer::start(&config()).await;
    let page = http(
        server.addr,
        "GET",
        "/?level=ERROR",
        &[("Accept", "text/html")],
        None,
    )
    .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        Some("/login?next=%2F%3Flevel%3DERROR")
    );
    let form = server.get("/login?next=/processes/web").await;
    assert_eq!(form.status, 200);
    assert!(form
        .text()
        .contains(r#"name="next" value="/processes/web""#));

    let form_headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let wrong = raw_post(&server, "/login", &form_headers, "token=guess&next=%2F").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("That token is not right."));

    let right = raw_post(
        &server,
        "/login",
        &form_headers,
        &format!("token={TOKEN}&next=%2Fprocesses%2Fweb"),
    )
    .await;
    assert_eq!(right.status, 303);
    assert_eq!(right.header("location"), Some("/processes/web"));
    let set_cookie = right
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();

    let with_cookie = http(
        server.addr,
        "GET",
        "/api/processes",
        &[("Cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(with_cookie.status, 200);
    // A cookie-carrying POST from another site is refused (CSRF)...
    let forged = http(
        server.addr,
        "POST",
        "/api/processes/web/restart",
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(forged.status, 403);
    // ...one from the page itself goes through.
    let host = server.addr.to_string();
    let origin = format!("http://{host}");
    let own = http(
        server.addr,
        "POST",
        "/api/processes/web/restart",
        &[("Cookie", &cookie), ("Origin", &origin)],
        None,
    )
    .await;
    assert_eq!(own.status, 202);

    let logout = http(
        server.addr,
        "POST",
        "/logout",
        &[("Cookie", &cookie), ("Origin", &origin)],
        None,
    )
    .await;
    assert_eq!(logout.status, 303);
    assert_eq!(
        http(
            server.addr,
            "GET",
            "/api/processes",
            &[("Cookie", &cookie)],
            None
        )
        .await
        .status,
        401
    );
    server.shutdown().await;
}

async fn raw_post(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> support::HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    support::within(stream.read_to_end(&mut raw))
        .await
        .expect("read");
    support::parse_response(&raw)
}

#[tokio::test]
async fn websockets_from_other_sites_are_refused_even_without_a_token() {
    let server = TestServer::start("[[process]]\nname = \"web\"\ncommand = \"sleep 30\"\n").await;
    let host = server.addr.to_string();
    let own = format!("http://{host}");
    assert_eq!(
        server.upgrade_status("/ws/logs", &[("Origin", &own)]).await,
        101
    );
    assert_eq!(
        server
            .upgrade_status("/ws/logs", &[("Origin", "https://evil.example")])
            .await,
        403
    );
    assert_eq!(
        server
            .upgrade_status("/ws/status", &[("Origin", "https://evil.example")])
            .await,
        403
    );
    // Without an Origin (not a browser) the socket opens.
    assert_eq!(server.upgrade_status("/ws/logs", &[]).await, 101);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = TestServer::start(&config()).await;
    let (name, value) = bearer();
    let body = format!("{{\"process_name\": \"{}\"}}", "x".repeat(10_000));
    let response = http(
        server.addr,
        "POST",
        "/process/start-service",
        &[(name, &value)],
        Some(body),
    )
    .await;
    assert_eq!(response.status, 413);
    server.shutdown().await;
}

#[tokio::test]
async fn a_public_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server::config::Config::parse("", "t.toml", dir.path()).expect("valid");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let site = leptos::config::LeptosOptions::builder()
        .output_name("logdeck")
        .build();
    let error = server::run(listener, config, site, async {})
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("refusing to listen on 0.0.0.0:"),
        "{error}"
    );

    let open = server::config::Config::parse(
        "[auth]\nallow_unauthenticated = true\n",
        "t.toml",
        dir.path(),
    )
    .expect("valid");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let site = leptos::config::LeptosOptions::builder()
        .output_name("logdeck")
        .build();
    server::run(listener, open, site, async {})
        .await
        .expect("explicitly allowed");
}

#[tokio::test]
async fn websocket_clients_beyond_the_limit_get_503() {
    let server = TestServer::start("[limits]\nmax_clients = 2\n").await;
    let first = server.connect("/ws/logs").await;
    let _second = server.connect("/ws/status").await;
    assert_eq!(server.upgrade_status("/ws/logs", &[]).await, 503);
    drop(first);
    support::eventually("a place to free up", || async {
        (server.get("/api/info").await.json()["websocket_clients"] == 1).then_some(())
    })
    .await;
    assert_eq!(server.upgrade_status("/ws/logs", &[]).await, 101);
    server.shutdown().await;
}

#[tokio::test]
async fn secrets_are_masked_everywhere_entries_go() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let logs = dir.path().join("logs");
    let server = TestServer::start(&format!(
        r#"
        log_dir = '{logs}'
        log_files = true
        [redact]
        patterns = ['(?P<prefix>card )\d{{4}}-\d{{4}}-\d{{4}}-\d{{4}}']
        [[process]]
        name = "leaky"
        command = """
        while [ ! -e '{gate}' ]; do sleep 0.02; done
        echo 'connecting to postgres://riven:Sup3rS3cret@db:5432/riven with token=abcdef123456'
        echo 'paid with card 1234-5678-9012-3456'
        sleep 30
        """
        "#,
        logs = logs.display(),
        gate = gate.display()
    ))
    .await;
    let mut client = server.connect("/ws/logs?process=leaky").await;
    std::fs::write(&gate, b"").expect("gate");
    let first = support::next_json(&mut client).await;
    let second = support::next_json(&mut client).await;
    assert_eq!(
        first["message"],
        "connecting to postgres://riven:***@db:5432/riven with token=***"
    );
    assert_eq!(second["message"], "paid with card ***");
    let history = server.get("/api/logs?process=leaky").await.text();
    assert!(
        !history.contains("Sup3rS3cret")
            && !history.contains("abcdef123456")
            && !history.contains("9012")
    );
    let file = support::eventually("the log file", || async {
        std::fs::read_to_string(logs.join("leaky.jsonl"))
            .ok()
            .filter(|t| t.lines().count() >= 2)
    })
    .await;
    assert!(
        !file.contains("Sup3rS3cret") && !file.contains("abcdef123456") && !file.contains("9012")
    );
    server.shutdown().await;
}
