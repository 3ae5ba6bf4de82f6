//! A child that writes a gigabyte without a newline: split into bounded
//! entries, memory stays flat. Its own test binary, so nothing else runs
//! beside it and the memory figure is its own.

mod support;

use support::TestServer;

/// The peak resident memory of this test process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_without_a_newline_is_split_and_memory_stays_bounded() {
    let server = TestServer::start(
        r#"
        memory_entries = 64
        # What a slow subscriber (the store's writer, under the flood) may
        # hold of long lines: at most this much, not its 16,384 entries.
        memory_bytes = "64MiB"
        [[process]]
        name = "blob"
        command = "head -c 1073741824 /dev/zero | tr '\\0' x"
        restart = "no"
        "#,
    )
    .await;
    let before = server.get("/api/info").await.json()["next_seq"]
        .as_u64()
        .expect("seq");
    let exited = server.wait_state_while_publishing("blob", "exited").await;
    assert_eq!(exited["exit_code"], 0);
    let after = server.get("/api/info").await.json()["next_seq"]
        .as_u64()
        .expect("seq");
    // 1 GiB in 64 KiB pieces, plus the state-change entries.
    assert!(after - before >= 16_384, "{} entries", after - before);
    let peak = peak_rss();
    assert!(peak < 512 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
    let page = server.get("/api/logs?process=blob&limit=2").await.json();
    assert!(page[0]["continued"] == true);
    assert_eq!(page[0]["message"].as_str().map(str::len), Some(64 * 1024));
    server.shutdown().await;
}
