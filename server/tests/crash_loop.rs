//! A crash loop costs little: backoff spaces the restarts out. Its own
//! test binary, so the CPU figure is the crash loop's alone.

mod support;

use std::time::Duration;

use support::TestServer;

/// CPU seconds this test process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

#[tokio::test]
async fn a_crash_loop_is_slowed_down_by_backoff() {
    let server = TestServer::start(
        r#"
        [[process]]
        name = "crasher"
        command = "exit 1"
        backoff = { initial = "50ms", max = "400ms", multiplier = 2 }
        max_restarts = 0
        "#,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cpu_before, restarts_before) = (
        cpu_seconds(),
        server.process("crasher").await["restarts"]
            .as_u64()
            .expect("n"),
    );
    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let (cpu_after, restarts_after) = (
        cpu_seconds(),
        server.process("crasher").await["restarts"]
            .as_u64()
            .expect("n"),
    );
    let restarts = restarts_after - restarts_before;
    // At the 400 ms cap (drawn from 200-400 ms) three seconds hold at most 15 restarts.
    assert!(
        (3..=16).contains(&restarts),
        "{restarts} restarts in {window:?}"
    );
    let cpu = (cpu_after - cpu_before) / window.as_secs_f64();
    assert!(cpu < 0.5, "the server used {cpu:.2} cores on a crash loop");
    server.shutdown().await;
}
