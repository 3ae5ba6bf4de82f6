//! A crash loop costs little: backoff spaces the restarts out, and the
//! server does not spin while it waits. Its own test binary, so the CPU
//! figure is the crash loop's alone.

mod support;

use support::{next_json_where, within, RestartWatch, TestServer};

/// CPU seconds this test process (the server runs in it) has used so far.
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
        backoff = { initial = "100ms", max = "400ms", multiplier = 2 }
        max_restarts = 0
        "#,
    )
    .await;
    let mut status = server.connect("/ws/status").await;
    next_json_where(&mut status, |m| m["type"] == "snapshot").await;
    let cpu_before = cpu_seconds();
    // Twelve restarts, each checked against the time its backoff ended:
    // however slow the machine, none may come early.
    let mut watch = RestartWatch::default();
    within(async {
        while watch.restarts < 12 {
            let message = next_json_where(&mut status, |m| {
                m["type"] == "process" && m["process"]["name"] == "crasher"
            })
            .await;
            watch.observe(&message["process"]);
        }
    })
    .await;
    let restarts = watch.restarts;
    // What the server spent on each restart, in CPU time (which a loaded
    // machine does not inflate): spawning a shell and reporting the
    // transitions, not spinning through the backoff (at the 400 ms cap a
    // spinning wait would cost hundreds of milliseconds per restart).
    let cpu_per_restart = (cpu_seconds() - cpu_before) / f64::from(restarts);
    assert!(
        cpu_per_restart < 0.05,
        "{:.1} ms of CPU per restart",
        cpu_per_restart * 1000.0
    );
    server.shutdown().await;
}
