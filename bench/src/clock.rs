//! The one clock every party reads: CLOCK_MONOTONIC in nanoseconds.
//!
//! The generator stamps each line with it and every client (Rust, Node's
//! `process.hrtime.bigint()`, Python's `time.monotonic_ns()`) reads the same
//! clock on receipt, so line→client latency is a plain subtraction.
//! `std::time::Instant` uses this clock too but cannot be converted to a
//! number, hence nix.

use nix::time::{clock_gettime, ClockId};

/// Nanoseconds on CLOCK_MONOTONIC (0 if the clock cannot be read, which
/// Linux never does for this clock).
pub fn mono_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}
