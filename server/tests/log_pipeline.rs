//! The log pipeline over real sockets: replay and resume, filters, batches,
//! slow-client isolation, heartbeat, persistence and the history endpoints.

mod support;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use support::{eventually, next_json, next_json_where, within, Client, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// A process that prints `count` numbered lines once `gate` exists.
fn counter(gate: &std::path::Path, count: u32, extra: &str) -> String {
    format!(
        r#"
        {extra}
        [[process]]
        name = "counter"
        command = """
        while [ ! -e '{gate}' ]; do sleep 0.02; done
        i=1; while [ $i -le {count} ]; do
            echo "line $i"
            [ $((i % 50)) -eq 0 ] && sleep 0.01
            i=$((i + 1))
        done
        sleep 30
        """
        "#,
        gate = gate.display()
    )
}

/// Entries from `counter` until `line N`, with their seqs.
/// Waits until the store has every entry published so far (its writer
/// commits a batch at a time, after the live path); how many that is.
async fn stored(server: &TestServer) -> u64 {
    eventually("the store to have every entry", || async {
        let info = server.get("/api/info").await.json();
        let published = info["next_seq"].as_u64().unwrap_or(0).saturating_sub(1);
        (info["store"]["written"].as_u64() >= Some(published)).then_some(published)
    })
    .await
}

async fn read_counter(client: &mut Client, last: u32) -> Vec<Value> {
    let mut seen = Vec::new();
    within(async {
        loop {
            let entry = next_json(client).await;
            if entry["process_name"] == "counter" {
                let done = entry["message"] == format!("line {last}");
                seen.push(entry);
                if done {
                    return;
                }
            }
        }
    })
    .await;
    seen
}

async fn close_reason(client: &mut Client) -> (u16, String) {
    within(async {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test]
async fn tail_replays_the_newest_entries_then_goes_live() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&counter(&gate, 20, "")).await;
    let mut first = server.connect("/ws/logs").await;
    std::fs::write(&gate, b"").expect("gate");
    read_counter(&mut first, 20).await;

    let mut late = server.connect("/ws/logs?tail=5&process=counter").await;
    let replayed: Vec<String> = [
        next_json(&mut late).await,
        next_json(&mut late).await,
        next_json(&mut late).await,
        next_json(&mut late).await,
        next_json(&mut late).await,
    ]
    .iter()
    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
    .collect();
    assert_eq!(
        replayed,
        ["line 16", "line 17", "line 18", "line 19", "line 20"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn since_resumes_after_a_reconnect_with_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&counter(&gate, 3000, "")).await;
    let mut client = server.connect("/ws/logs?process=counter").await;
    std::fs::write(&gate, b"").expect("gate");

    // Read part of the stream, then drop the connection mid-flow.
    let mut seqs = Vec::new();
    while seqs.len() < 500 {
        let entry = next_json(&mut client).await;
        seqs.push(entry["seq"].as_u64().expect("seq"));
    }
    drop(client);
    let last = *seqs.last().expect("some");

    let mut resumed = server
        .connect(&format!("/ws/logs?process=counter&since={last}"))
        .await;
    let rest = read_counter(&mut resumed, 3000).await;
    seqs.extend(rest.iter().map(|e| e["seq"].as_u64().expect("seq")));
    assert_eq!(seqs.len(), 3000, "every line exactly once");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "no duplicate, in order"
    );
    let messages: Vec<String> = rest
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(messages.first().map(String::as_str), Some("line 501"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_a_drop_notice_while_another_gets_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    // 40 bursts of 1000 lines of 500 bytes (20 MB), about 20 000 lines/s:
    // a reading client keeps up, one that does not overflows its socket
    // buffers and its 2048-entry queue.
    let server = TestServer::start(&format!(
        r#"
        client_queue = 2048
        [[process]]
        name = "flood"
        command = '''
        while [ ! -e "{gate}" ]; do sleep 0.02; done
        line=$(printf '%0499d' 0)
        i=0
        while [ $i -lt 40 ]; do
          yes "$line" | head -n 1000
          sleep 0.05
          i=$((i + 1))
        done
        echo done
        sleep 30
        '''
        "#,
        gate = gate.display()
    ))
    .await;
    let mut fast = server.connect("/ws/logs?process=flood").await;
    let mut slow = server.connect("/ws/logs?process=flood").await;
    std::fs::write(&gate, b"").expect("gate");

    let mut count = 0u64;
    let mut last_seq = 0;
    within(async {
        loop {
            let entry = next_json(&mut fast).await;
            assert!(
                entry.get("dropped").is_none(),
                "the fast client lost entries: {entry}"
            );
            // In order; none lost is the count below (Logdeck's own
            // entries, e.g. a store that falls behind, take seqs between).
            let seq = entry["seq"].as_u64().expect("seq");
            assert!(seq > last_seq, "out of order: {last_seq} -> {seq}");
            last_seq = seq;
            count += 1;
            if entry["message"] == "done" {
                return;
            }
        }
    })
    .await;
    assert_eq!(count, 40 * 1000 + 1);

    // Now the slow client reads what it has: somewhere, a notice.
    let notice = next_json_where(&mut slow, |e| e.get("dropped").is_some()).await;
    assert_eq!(notice["level"], "WARNING");
    assert_eq!(notice["process_name"], "logdeck");
    assert!(notice["dropped"].as_u64().is_some_and(|n| n > 0));
    assert!(notice["message"].as_str().is_some_and(
        |m| m.contains("were dropped for this connection because it could not keep up")
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn filters_and_batches_apply_per_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&format!(
        r#"
        [[process]]
        name = "mixed"
        command = """
        while [ ! -e '{gate}' ]; do sleep 0.02; done
        echo "[INFO] request ok"; echo "[ERROR] request failed"; echo "[WARN] Request slow"
        echo "[ERROR] disk failed"; echo "[ERROR] stderr failed" >&2; echo end
        sleep 30
        """
        "#,
        gate = gate.display()
    ))
    .await;
    let mut errors = server.connect("/ws/logs?level=ERROR").await;
    let mut search = server.connect("/ws/logs?q=request&process=mixed").await;
    let mut regex = server
        .connect("/ws/logs?q=%5E%5C%5BERROR%5C%5D%20%5Cw%2B%20failed&regex=1")
        .await;
    let mut stderr = server.connect("/ws/logs?stream=stderr").await;
    let mut batch = server.connect("/ws/logs?batch=1&process=mixed").await;
    std::fs::write(&gate, b"").expect("gate");

    let messages = |entries: Vec<Value>| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // stdout and stderr are separate pipes: order only within one.
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let e = vec![
        next_json(&mut errors).await,
        next_json(&mut errors).await,
        next_json(&mut errors).await,
    ];
    assert_eq!(
        sorted(messages(e)),
        [
            "[ERROR] disk failed",
            "[ERROR] request failed",
            "[ERROR] stderr failed"
        ]
    );
    let s: Vec<Value> = vec![
        next_json(&mut search).await,
        next_json(&mut search).await,
        next_json(&mut search).await,
    ];
    assert_eq!(
        messages(s),
        [
            "[INFO] request ok",
            "[ERROR] request failed",
            "[WARN] Request slow"
        ]
    );
    let r = vec![
        next_json(&mut regex).await,
        next_json(&mut regex).await,
        next_json(&mut regex).await,
    ];
    assert_eq!(
        sorted(messages(r)),
        [
            "[ERROR] disk failed",
            "[ERROR] request failed",
            "[ERROR] stderr failed"
        ]
    );
    let only_stderr = next_json(&mut stderr).await;
    assert_eq!(only_stderr["message"], "[ERROR] stderr failed");
    assert_eq!(only_stderr["stream"], "stderr");

    // Batches are arrays; together they hold every line.
    let mut batched = Vec::new();
    while batched.len() < 6 {
        let array = next_json(&mut batch).await;
        let items = array.as_array().expect("a batch frame is an array");
        assert!(!items.is_empty());
        batched.extend(items.iter().cloned());
    }
    assert_eq!(batched.len(), 6);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_options_close_with_1008_and_a_reason() {
    let server = TestServer::start("").await;
    for (query, reason) in [
        ("level=LOUD", "invalid level"),
        ("tail=1&since=2", "either tail or since"),
        ("q=(&regex=1", "invalid q regex"),
        ("bogus=1", "unknown option `bogus`"),
    ] {
        let mut client = server.connect(&format!("/ws/logs?{query}")).await;
        let (code, text) = close_reason(&mut client).await;
        assert_eq!(code, 1008, "{query}");
        assert!(text.contains(reason), "{query}: {text}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn text_pings_get_pong_and_oversized_frames_close_the_socket() {
    let server = TestServer::start("").await;
    let mut client = server.connect("/ws/logs").await;
    client
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .expect("send ping");
    let reply = within(client.next()).await.expect("open").expect("frame");
    assert_eq!(reply, Message::text("pong"));
    // Unknown frames are ignored...
    client.send(Message::text("hello")).await.expect("send");
    client.send(Message::text("ping")).await.expect("send");
    let reply = within(client.next()).await.expect("open").expect("frame");
    assert_eq!(reply, Message::text("pong"));
    // ...but one over 4 KiB ends the connection.
    let _ = client.send(Message::text("x".repeat(5000))).await;
    let ended = within(async {
        loop {
            match client.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended);
    server.shutdown().await;
}

#[tokio::test]
async fn entries_are_persisted_paged_downloaded_and_served_dmb_style() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let logs = dir.path().join("logs");
    let server = TestServer::start(&counter(
        &gate,
        300,
        &format!(
            "log_dir = '{}'\nlog_files = true\nlog_size = 8192\nlog_count = 20\nmemory_entries = 50\n",
            logs.display()
        ),
    ))
    .await;
    let mut client = server.connect("/ws/logs").await;
    std::fs::write(&gate, b"").expect("gate");
    read_counter(&mut client, 300).await;

    // Files: rotated by size, JSON lines.
    let files = eventually("log files", || async {
        let n = std::fs::read_dir(&logs).map(|d| d.count()).unwrap_or(0);
        (n > 3).then_some(n)
    })
    .await;
    assert!(files > 3);
    let info = server.get("/api/info").await.json();
    assert_eq!(info["log_dir"], logs.display().to_string());
    assert!(info["run_id"].as_str().is_some_and(|r| r.len() == 16));
    assert!(stored(&server).await >= 300);

    // Paging back through memory into the store.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let page = server
            .get(&format!("/api/logs?process=counter&limit=70{before}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        let entries = page.as_array().expect("array");
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            seen.push(entry["message"].as_str().unwrap_or_default().to_owned());
        }
        before = format!("&before_seq={}", entries.last().expect("entry")["seq"]);
    }
    let expected: Vec<String> = (1..=300).rev().map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);

    // Filters: regex over everything.
    let page = server
        .get("/api/logs?q=%5Eline%2029%5Cd%24&regex=1")
        .await
        .json();
    assert_eq!(page.as_array().map(Vec::len), Some(10));

    // Download: exactly the filtered lines, oldest first.
    let download = server
        .get("/api/logs/download?format=txt&q=line%2015")
        .await;
    assert_eq!(download.status, 200);
    assert!(download
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;")));
    let text = download.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 11, "{text}");
    assert!(
        lines[0].ends_with(" - INFO - counter: line 15"),
        "{}",
        lines[0]
    );
    let jsonl = server
        .get("/api/logs/download?format=jsonl&process=counter")
        .await
        .text();
    assert_eq!(jsonl.lines().count(), 300);
    assert!(jsonl
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));

    // DMB's plain form: everything since the process started, as printed.
    let plain = server.get("/logs?process_name=counter").await.json();
    assert_eq!(plain["process_name"], "counter");
    let log = plain["log"].as_str().expect("log text");
    assert_eq!(log.lines().count(), 300);
    assert_eq!(log.lines().last(), Some("line 300"));

    // DUMB's cursor form: a reset, then nothing new, whole lines only.
    let first = server
        .get("/logs?process_name=counter&tail_bytes=1024")
        .await
        .json();
    assert_eq!(first["reset"], true);
    let chunk = first["chunk"].as_str().expect("chunk");
    assert!(
        chunk.ends_with('\n')
            && chunk
                .lines()
                .all(|l| l.contains(" - INFO - counter: line "))
    );
    assert_eq!(first["log"], first["chunk"]);
    let cursor = first["cursor"].as_u64().expect("cursor");
    assert_eq!(cursor, first["size"].as_u64().expect("size"));
    let file_id = first["file_id"].as_str().expect("file id").to_owned();
    let next = server
        .get(&format!(
            "/logs?process_name=counter&cursor={cursor}&file_id={file_id}"
        ))
        .await
        .json();
    assert_eq!(next["reset"], false);
    assert_eq!(next["chunk"], "");
    assert!(next["log"].is_null());
    let past_end = server
        .get(&format!(
            "/logs?process_name=counter&cursor={}",
            cursor + 999_999
        ))
        .await
        .json();
    assert_eq!(past_end["reset"], true);
    let rotated = server
        .get(&format!(
            "/logs?process_name=counter&cursor={cursor}&file_id=other"
        ))
        .await
        .json();
    assert_eq!(rotated["reset"], true);

    // A name without output: DMB's empty log; DUMB's reads 404.
    let none = server.get("/logs?process_name=nope").await;
    assert_eq!(none.status, 200);
    assert_eq!(
        none.json(),
        serde_json::json!({ "process_name": "nope", "log": "" })
    );
    assert_eq!(
        server.get("/logs?process_name=nope&cursor=0").await.status,
        404
    );
    assert_eq!(
        server
            .get("/logs?process_name=counter&tail_bytes=5")
            .await
            .status,
        422
    );
    assert_eq!(server.get("/api/logs?limit=0").await.status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn numbering_continues_across_server_runs_with_log_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "log_dir = '{}'\nlog_files = true\n[[process]]\nname = \"once\"\ncommand = \"echo hello\"\nrestart = \"no\"\n",
        dir.path().join("logs").display()
    );
    let first = TestServer::start(&config).await;
    let info = first.get("/api/info").await.json();
    eventually("the first run to log", || async {
        let page = first.get("/api/logs?process=once").await.json();
        (!page.as_array().is_none_or(Vec::is_empty)).then_some(())
    })
    .await;
    first.shutdown().await;
    let second = TestServer::start(&config).await;
    let info2 = second.get("/api/info").await.json();
    assert_ne!(info["run_id"], info2["run_id"]);
    assert!(info2["next_seq"].as_u64() > info["next_seq"].as_u64());
    second.shutdown().await;
}

#[tokio::test]
async fn without_log_files_dumb_follows_the_store_by_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&counter(&gate, 2000, "memory_entries = 100\n")).await;
    let mut client = server.connect("/ws/logs?process=counter").await;
    std::fs::write(&gate, b"").expect("gate");
    read_counter(&mut client, 2000).await;
    stored(&server).await;
    // A reset: the newest whole lines, well beyond what memory keeps.
    let first = server
        .get("/logs?process_name=counter&tail_bytes=65536")
        .await
        .json();
    assert_eq!(first["reset"], true);
    assert_eq!(first["file_id"], "store");
    let chunk = first["chunk"].as_str().expect("chunk");
    let lines: Vec<&str> = chunk.lines().collect();
    assert!(
        lines.len() > 100 && chunk.len() <= 65536,
        "{} lines",
        lines.len()
    );
    assert!(lines
        .last()
        .is_some_and(|l| l.ends_with("counter: line 2000")));
    assert!(lines.iter().all(|l| l.contains(" - INFO - counter: line ")));
    let cursor = first["cursor"].as_u64().expect("cursor");
    assert_eq!(cursor, first["size"].as_u64().expect("size"));
    // Following: nothing new yet, then what came since.
    let next = server
        .get(&format!(
            "/logs?process_name=counter&cursor={cursor}&file_id=store"
        ))
        .await
        .json();
    assert_eq!(next["reset"], false);
    assert_eq!(next["chunk"], "");
    assert!(next["log"].is_null());
    let older = server
        .get(&format!(
            "/logs?process_name=counter&cursor={}&file_id=store",
            cursor - 3
        ))
        .await
        .json();
    assert_eq!(older["reset"], false);
    assert_eq!(older["cursor"], cursor);
    assert!(older["chunk"]
        .as_str()
        .is_some_and(|c| c.lines().count() <= 3 && c.ends_with("counter: line 2000\n")));
    // Another numbering, or a cursor past the end: a reset.
    for query in [
        format!("cursor={cursor}&file_id=memory-x"),
        format!("cursor={}&file_id=store", cursor + 1000),
    ] {
        let answer = server
            .get(&format!("/logs?process_name=counter&{query}"))
            .await
            .json();
        assert_eq!(answer["reset"], true, "{query}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_store_answers_searches_ranges_the_histogram_and_context() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("go");
    let server = TestServer::start(&counter(&gate, 300, "memory_entries = 20\n")).await;
    let mut client = server.connect("/ws/logs?process=counter").await;
    std::fs::write(&gate, b"").expect("gate");
    let seen = read_counter(&mut client, 300).await;
    stored(&server).await;
    let messages = |page: &Value| -> Vec<String> {
        page.as_array()
            .expect("array")
            .iter()
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // A substring through the index, newest first, beyond memory.
    let found = server
        .get("/api/logs?process=counter&q=LINE%2012")
        .await
        .json();
    assert_eq!(
        messages(&found),
        [
            "line 129", "line 128", "line 127", "line 126", "line 125", "line 124", "line 123",
            "line 122", "line 121", "line 120", "line 12"
        ]
    );
    let regex = server
        .get("/api/logs?process=counter&q=line%201%5Cd%5Cd%24&regex=1")
        .await
        .json();
    assert_eq!(messages(&regex).len(), 100);
    // A time range: from the 100th line's time to the 110th's.
    let time_of = |i: usize| seen[i - 1]["timestamp"].as_str().expect("time").to_owned();
    let range = server
        .get(&format!(
            "/api/logs?process=counter&from={}&to={}&limit=1000",
            time_of(100),
            time_of(110)
        ))
        .await
        .json();
    // Lines share a millisecond when they are read together: the answer is
    // every line whose time is within the bounds (the pause after every 50th
    // line usually keeps the first and last lines out).
    let mut in_range = messages(&range);
    in_range.sort();
    let mut expected: Vec<String> = seen
        .iter()
        .filter(|e| {
            (time_of(100).as_str()..=time_of(110).as_str())
                .contains(&e["timestamp"].as_str().unwrap_or_default())
        })
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    expected.sort();
    assert_eq!(in_range, expected);
    assert!(in_range.contains(&"line 100".to_owned()) && in_range.contains(&"line 110".to_owned()));
    // A millisecond outside the first or the last line's time: nothing.
    let shifted = |i: usize, ms: i64| {
        let time = chrono::DateTime::parse_from_rfc3339(&time_of(i)).expect("time");
        (time + chrono::Duration::milliseconds(ms))
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    for (from, to) in [
        (shifted(1, -60_000), shifted(1, -1)),
        (shifted(300, 1), shifted(300, 60_000)),
    ] {
        let outside = server
            .get(&format!("/api/logs?process=counter&from={from}&to={to}"))
            .await
            .json();
        assert!(messages(&outside).is_empty(), "{from}..{to}");
    }
    let future = server
        .get("/api/logs?from=-0s&to=now&process=counter")
        .await
        .json();
    assert!(messages(&future).is_empty());
    assert_eq!(server.get("/api/logs?from=yesterday").await.status, 400);
    // The histogram: every counter line, INFO.
    let histogram = server
        .get("/api/logs/histogram?process=counter&buckets=10")
        .await;
    assert_eq!(histogram.status, 200, "{}", histogram.text());
    let histogram = histogram.json();
    let buckets = histogram["buckets"].as_array().expect("buckets");
    assert!(!buckets.is_empty() && buckets.len() <= 10);
    let info: u64 = buckets
        .iter()
        .map(|b| b["levels"][1].as_u64().unwrap_or(0))
        .sum();
    let all: u64 = buckets
        .iter()
        .flat_map(|b| b["levels"].as_array().expect("levels").iter())
        .map(|n| n.as_u64().unwrap_or(0))
        .sum();
    assert_eq!((info, all), (300, 300));
    assert_eq!(
        server.get("/api/logs/histogram?buckets=0").await.status,
        400
    );
    for refused in [
        "/api/logs/histogram?before_seq=5",
        "/api/logs/histogram?limit=5",
    ] {
        assert_eq!(server.get(refused).await.status, 400, "{refused}");
    }
    assert_eq!(
        server
            .get("/api/logs/histogram?from=now&to=-1h")
            .await
            .status,
        400
    );
    // The lines around one entry.
    let seq = seen[149]["seq"].as_u64().expect("seq");
    let context = server
        .get(&format!("/api/logs/context?seq={seq}&before=2&after=2"))
        .await
        .json();
    assert_eq!(
        messages(&context),
        ["line 148", "line 149", "line 150", "line 151", "line 152"]
    );
    assert_eq!(server.get("/api/logs/context").await.status, 400);
    assert_eq!(
        server
            .get("/api/logs/context?seq=1&before=5000")
            .await
            .status,
        400
    );
    // Documented.
    let openapi = server.get("/api/openapi.json").await.json();
    for path in ["/api/logs/histogram", "/api/logs/context"] {
        assert!(openapi["paths"][path]["get"].is_object(), "{path}");
    }
    server.shutdown().await;
}
