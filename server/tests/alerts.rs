//! Alerts end to end: a real HTTP receiver (axum on port 0) gets what the
//! rules send; and `/metrics` read by an independent Prometheus parser.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use support::{eventually, http, TestServer};
use tokio::net::TcpListener;

/// What the receiver was sent, per path.
#[derive(Clone, Default)]
struct Received {
    calls: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
}

impl Received {
    fn on(&self, path: &str) -> Vec<(HeaderMap, String)> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }

    fn json_on(&self, path: &str) -> Vec<serde_json::Value> {
        self.on(path)
            .into_iter()
            .map(|(_, body)| serde_json::from_str(&body).expect("a JSON body"))
            .collect()
    }
}

/// `/hook` answers 200, `/fail` 500, `/hang` never.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let record = |path: &'static str| {
        move |State(r): State<Received>, headers: HeaderMap, body: String| async move {
            r.calls
                .lock()
                .expect("lock")
                .push((path.to_owned(), headers, body));
        }
    };
    let app = Router::new()
        .route(
            "/hook",
            post({
                let record = record("/hook");
                move |s, h, b| async move {
                    record(s, h, b).await;
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/fail",
            post({
                let record = record("/fail");
                move |s, h, b| async move {
                    record(s, h, b).await;
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        )
        .route(
            "/hang",
            post({
                let record = record("/hang");
                move |s, h, b| async move {
                    record(s, h, b).await;
                    std::future::pending::<StatusCode>().await
                }
            }),
        )
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

async fn alerts(server: &TestServer) -> serde_json::Value {
    let response = server.get("/api/alerts").await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn rule<'a>(alerts: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    alerts["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["name"] == name)
        .expect("the rule is listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_fires_once_per_cooldown_and_resolves_after_it_recovers() {
    let (base, received) = receiver().await;
    let server = TestServer::start(&format!(
        r#"
        [[process]]
        name = "flaky"
        cwd = "."
        # Crashes three times, then stays up.
        command = "n=$(cat runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > runs; if [ $n -le 3 ]; then echo crash $n; exit 1; fi; echo up; exec sleep 600"
        backoff = {{ initial = "100ms", max = "200ms", multiplier = 2 }}
        max_restarts = 10

        [[notifier]]
        name = "hook"
        kind = "webhook"
        url = "{base}/hook"
        headers = {{ Authorization = "Bearer hook-secret" }}

        [[alert]]
        name = "crash loop"
        when = {{ process = "flaky", event = "backoff", within = "2s" }}
        notify = ["hook"]
        cooldown = "1h"
        "#
    ))
    .await;
    let sent = eventually("the resolved message", || async {
        let sent = received.json_on("/hook");
        sent.iter()
            .any(|n| n["status"] == "resolved")
            .then_some(sent)
    })
    .await;
    // Three backoffs, one message while it looped, one when it was well.
    let process = server.process("flaky").await;
    assert!(process["restarts"].as_u64() >= Some(3), "{process}");
    assert_eq!(process["state"], "running");
    let statuses: Vec<&str> = sent
        .iter()
        .map(|n| n["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["firing", "resolved"], "{sent:?}");
    let firing = &sent[0];
    assert_eq!(firing["rule"], "crash loop");
    assert_eq!(firing["process"], "flaky");
    assert_eq!(firing["event"], "backoff");
    assert!(
        firing["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/processes/flaky")),
        "{firing}"
    );
    assert!(firing["text"]
        .as_str()
        .is_some_and(|t| t.contains("[FIRING] crash loop")));
    let (headers, _) = &received.on("/hook")[0];
    assert_eq!(headers["authorization"], "Bearer hook-secret");
    assert_eq!(headers["content-type"], "application/json");
    // The receiver has both; the server counts each once it has the
    // answer.
    let state = eventually("both deliveries counted", || async {
        let state = alerts(&server).await;
        (state["notifiers"][0]["sent"] == 2).then_some(state)
    })
    .await;
    let crash = rule(&state, "crash loop");
    assert_eq!(crash["state"], "ok", "{crash}");
    assert_eq!(crash["fired"], 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_matching_lines_within_the_window_fire_and_four_do_not() {
    let (base, received) = receiver().await;
    let server = TestServer::start(&format!(
        r#"
        [[process]]
        name = "talker"
        command = "for i in 1 2 3 4; do echo alpha timeout $i; done; for i in 1 2 3 4 5; do echo beta timeout $i; done; echo INFO beta but calm; exec sleep 600"

        [[notifier]]
        name = "hook"
        kind = "webhook"
        url = "{base}/hook"

        [[alert]]
        name = "alpha"
        when = {{ process = "talker", match = "alpha timeout", count = 5, within = "1m" }}
        notify = ["hook"]

        [[alert]]
        name = "beta"
        when = {{ process = ["talker"], match = "beta.*timeout", count = 5, within = "1m" }}
        notify = ["hook"]
        "#
    ))
    .await;
    // The rules see the lines in order: by the time beta's message is
    // sent, alpha has seen all four of its lines (and would have gone
    // first to the same queue).
    let sent = eventually("beta's message", || async {
        let sent = received.json_on("/hook");
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let beta = &sent[0];
    assert_eq!(beta["rule"], "beta");
    assert_eq!(beta["status"], "firing");
    assert_eq!(beta["count"], 5);
    let lines = beta["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["message"], "beta timeout 5");
    let seq = lines[4]["seq"].as_u64().expect("seq");
    assert!(
        beta["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/?seq={seq}"))),
        "{beta}"
    );
    let state = alerts(&server).await;
    assert_eq!(rule(&state, "alpha")["state"], "ok");
    assert_eq!(rule(&state, "alpha")["fired"], 0);
    let beta = rule(&state, "beta");
    assert_eq!(beta["state"], "firing");
    assert_eq!(beta["seq"], seq);
    assert_eq!(beta["process"], "talker");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_is_retried_and_then_reported() {
    let (base, received) = receiver().await;
    let server = TestServer::start(&format!(
        r#"
        [[process]]
        name = "api"
        command = "echo ERROR boom; exec sleep 600"

        [[notifier]]
        name = "broken"
        kind = "slack"
        url = "{base}/fail"

        [[alert]]
        name = "api errors"
        when = {{ process = "api", level = "ERROR", within = "10m" }}
        notify = ["broken"]
        "#
    ))
    .await;
    // (The long window: no "resolved" message, whose failed delivery
    // would count a second failure, within the test.)
    // The rule's state hears of the failure just after the notifier's.
    let state = eventually("the notifier to give up", || async {
        let state = alerts(&server).await;
        let told = !rule(&state, "api errors")["last_delivery_error"].is_null();
        (state["notifiers"][0]["failed"] == 1 && told).then_some(state)
    })
    .await;
    // Four attempts, each Slack's shape.
    let attempts = received.json_on("/fail");
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(attempts.iter().all(|a| a["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("[FIRING] api errors") && t.contains("ERROR boom"))));
    let error = rule(&state, "api errors")["last_delivery_error"]
        .as_str()
        .expect("a delivery error")
        .to_owned();
    assert!(
        error.contains("broken") && error.contains("HTTP 500"),
        "{error}"
    );
    assert!(
        !error.contains("/fail"),
        "the URL (a secret for chat hooks) is not shown: {error}"
    );
    // ... and said in the log, as Logdeck's own entry.
    let logged = eventually("the failure in the log", || async {
        let found = server
            .get("/api/logs?q=giving%20up&process=logdeck")
            .await
            .json();
        (found.as_array().is_some_and(|f| !f.is_empty())).then_some(found)
    })
    .await;
    assert!(logged[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("notifier `broken` failed 4 times")));
    assert_eq!(logged[0]["level"], "ERROR");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_never_slows_capture() {
    let (base, received) = receiver().await;
    let server = TestServer::start(&format!(
        r#"
        [[process]]
        name = "ticker"
        command = "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo tick $i; done; echo done; exec sleep 600"

        [[notifier]]
        name = "stuck"
        kind = "webhook"
        url = "{base}/hang"
        timeout = "300ms"

        [[alert]]
        name = "every tick"
        when = {{ process = "ticker", match = "^tick" }}
        notify = ["stuck"]
        cooldown = "0s"
        "#
    ))
    .await;
    // Every line is captured while the receiver holds the first request.
    eventually("every line to be captured", || async {
        let found = server.get("/api/logs?process=ticker&q=done").await.json();
        found.as_array().is_some_and(|f| f.len() == 1).then_some(())
    })
    .await;
    let info = server.get("/api/info").await.json();
    assert!(info["next_seq"].as_u64() > Some(2000), "{info}");
    // The queue is bounded: most notifications were dropped, counted.
    let state = eventually("the first delivery to time out", || async {
        let state = alerts(&server).await;
        (state["notifiers"][0]["failed"].as_u64() >= Some(1)).then_some(state)
    })
    .await;
    let notifier = &state["notifiers"][0];
    assert!(notifier["dropped"].as_u64() > Some(0), "{notifier}");
    assert!(
        notifier["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no answer within")),
        "{notifier}"
    );
    assert!(!received.on("/hang").is_empty());
    server.shutdown().await;
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

async fn scrape(server: &TestServer, headers: &[(&str, &str)]) -> (u16, String) {
    let response = http(server.addr, "GET", "/metrics", headers, None).await;
    (response.status, response.text())
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_as_lines_are_printed() {
    let server = TestServer::start(
        r#"
        [auth]
        token = "the-main-token-0123456789"
        [metrics]
        token = "the-scrape-token-0123456789"

        [[process]]
        name = "printer"
        cwd = "."
        # Three ERROR lines now, two more once the file `go` exists.
        command = "for i in 1 2 3; do echo ERROR first $i; done; while [ ! -e go ]; do sleep 0.05; done; echo ERROR second 1; echo ERROR second 2; exec sleep 600"

        [[alert]]
        name = "printer errors"
        when = { process = "printer", level = "ERROR" }
        "#,
    )
    .await;
    let scraper = [("Authorization", "Bearer the-scrape-token-0123456789")];
    let errors = [
        ("process", "printer"),
        ("stream", "stdout"),
        ("level", "ERROR"),
    ];
    let first = eventually("three lines counted", || async {
        let (status, text) = scrape(&server, &scraper).await;
        assert_eq!(status, 200, "{text}");
        let scrape = parse(&text);
        (sample(&scrape, "logdeck_lines_total", &errors) == Some(3.0)).then_some(scrape)
    })
    .await;
    assert_eq!(
        sample(&first, "logdeck_process_up", &[("process", "printer")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &first,
            "logdeck_process_restarts_total",
            &[("process", "printer")]
        ),
        Some(0.0)
    );
    assert!(sample(&first, "logdeck_line_bytes_total", &errors) >= Some(3.0 * 13.0));
    // The rules read the lines after capture counted them: the alert
    // fires a moment later.
    eventually("the alert to fire", || async {
        let (_, text) = scrape(&server, &scraper).await;
        let firing = sample(
            &parse(&text),
            "logdeck_alert_firing",
            &[("alert", "printer errors")],
        );
        (firing == Some(1.0)).then_some(())
    })
    .await;
    assert!(sample(&first, "logdeck_websocket_clients", &[]).is_some());
    assert!(sample(&first, "logdeck_store_written_total", &[]).is_some());
    std::fs::write(server.dir.path().join("go"), b"").expect("go");
    eventually("five lines counted", || async {
        let (_, text) = scrape(&server, &scraper).await;
        (sample(&parse(&text), "logdeck_lines_total", &errors) == Some(5.0)).then_some(())
    })
    .await;
    // The main token works too; nothing else does, and the scrape token
    // opens nothing but /metrics.
    let main = [("Authorization", "Bearer the-main-token-0123456789")];
    assert_eq!(scrape(&server, &main).await.0, 200);
    assert_eq!(scrape(&server, &[]).await.0, 401);
    assert_eq!(
        scrape(
            &server,
            &[("Authorization", "Bearer wrong-token-0123456789")]
        )
        .await
        .0,
        401
    );
    let api = http(server.addr, "GET", "/api/processes", &scraper, None).await;
    assert_eq!(api.status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let server = TestServer::start(
        "[metrics]\nenabled = false\n[[process]]\nname = \"quiet\"\ncommand = \"echo hello; exec sleep 600\"\n",
    )
    .await;
    let (status, text) = scrape(&server, &[]).await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("metrics.enabled = false"), "{text}");
    // Nothing else changes: the process runs and the API answers.
    let api = http(server.addr, "GET", "/api/processes", &[], None).await;
    assert_eq!(api.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn alerts_are_empty_without_rules() {
    let server =
        TestServer::start("[[process]]\nname = \"quiet\"\ncommand = \"sleep 600\"\n").await;
    let state = alerts(&server).await;
    assert_eq!(state, serde_json::json!({ "alerts": [], "notifiers": [] }));
    server.shutdown().await;
}
