//! Logdeck's benchmark harness (issue #7): the same scenarios run against
//! Logdeck and its peers in one go, every figure a ratio against a peer
//! measured in the same run.
//!
//! `scripts/bench.sh` installs the peers and builds the binaries, then
//! `bench suite` runs every scenario and writes `bench/RESULTS.md`;
//! `bench suite --profile smoke` is the five-second version `make test`
//! runs so the harness cannot rot.
//!
//! # Layout
//! - [`clock`]: CLOCK_MONOTONIC, read by the generator and every client.
//! - [`line`]: the generator's line format and finding its stamps in any
//!   server's frames.
//! - [`histogram`]: log-bucket latency histograms shared with the Node client.
//! - [`procfs`]: CPU and memory of the server under test, from `/proc`.
//! - [`load`]: waiting out other people's builds before measuring.
//! - [`system`]: starting and stopping each system under test.
//! - [`client`]: the Rust WebSocket clients, and the Node socket.io one.
//! - [`scenario`]: the five scenarios.
//! - [`report`]: `RESULTS.md` from the runs' JSON (and the browser
//!   scenario's, `end2end/bench/`).
//! - [`soak`]: the soak of issue #6 (`bench soak`, `make soak`).
//!
//! Binaries: `bench-gen` (the generator), `bench-limit` (the bare
//! broadcast server) and `bench` (the runner).

pub mod client;
pub mod clock;
pub mod cluster;
pub mod histogram;
pub mod line;
pub mod load;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod soak;
pub mod store;
pub mod system;

use serde::{Deserialize, Serialize};

/// What the generator did, written to its `--report` file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GenReport {
    /// Lines printed.
    pub lines: u64,
    /// Seconds from the first line to the last.
    pub elapsed_s: f64,
    /// In rate mode: how far behind schedule it fell at worst (a reader
    /// that does not drain the pipe blocks it).
    pub max_slip_ms: f64,
    /// False in the progress reports written while it still prints: a
    /// generator whose reader stopped draining the pipe never finishes.
    #[serde(default)]
    pub done: bool,
    /// Lines it should have printed by now (rate mode).
    #[serde(default)]
    pub due: u64,
}
