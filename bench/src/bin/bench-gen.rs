//! The log generator: prints lines at a fixed rate or flat out, each
//! stamped with its seq and CLOCK_MONOTONIC send time (see `bench::line`).
//!
//! It waits for `--go-file` to exist before printing, so every client can
//! connect first and the window is the same for every system; it writes a
//! JSON report (`--report`) when done, and with `--linger` then sleeps
//! until killed, so a supervisor does not see it exit (and restart it).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::clock::mono_ns;
use bench::line::write_line;
use bench::GenReport;
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// As fast as the pipe takes them.
    Flat,
    /// `--rate` lines per second.
    Rate,
    /// Prints nothing: a process that is merely running.
    Idle,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "rate")]
    mode: Mode,
    /// Lines per second in `rate` mode.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds to print for.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes per line, without the newline.
    #[arg(long, default_value_t = 110)]
    size: usize,
    /// Start when this file exists (at once without it).
    #[arg(long)]
    go_file: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long)]
    report: Option<PathBuf>,
    /// After printing, sleep until killed instead of exiting.
    #[arg(long)]
    linger: bool,
}

/// Flat-out writes go out in pieces this big.
const FLAT_CHUNK: usize = 64 * 1024;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.mode == Mode::Idle {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if let Some(go) = &args.go_file {
        while !go.exists() {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    // A closed pipe (the reader went away) ends the run early, not in error.
    let report = match args.mode {
        Mode::Flat => flat(&args),
        Mode::Rate => rate(&args),
        Mode::Idle => unreachable!("returned above"),
    };
    write_report(&args, &report).context("writing the report")?;
    if args.linger {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    Ok(())
}

/// Writes the report atomically (the runner may read it at any time).
fn write_report(args: &Args, report: &GenReport) -> std::io::Result<()> {
    let Some(path) = &args.report else {
        return Ok(());
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(report).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

/// Progress reports go out this often while printing.
const PROGRESS_NS: u64 = 1_000_000_000;

fn duration_ns(args: &Args) -> u64 {
    // Seconds to ns; the value is a few seconds, far from overflow.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ns = (args.duration * 1e9) as u64;
    ns
}

fn flat(args: &Args) -> GenReport {
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(FLAT_CHUNK + 256);
    let start = mono_ns();
    let end = start + duration_ns(args);
    let mut seq = 0;
    let mut now = start;
    let mut last_progress = start;
    while now < end {
        buf.clear();
        while buf.len() < FLAT_CHUNK {
            seq += 1;
            write_line(&mut buf, seq, now, args.size);
        }
        if out.write_all(&buf).is_err() {
            break;
        }
        now = mono_ns();
        if now - last_progress >= PROGRESS_NS {
            last_progress = now;
            let _ = write_report(args, &report(seq, start, 0, 0, false));
        }
    }
    let _ = out.flush();
    report(seq, start, 0, 0, true)
}

fn rate(args: &Args) -> GenReport {
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(64 * 1024);
    let total = (args.duration * args.rate as f64).round().max(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let total = total as u64;
    let interval_ns = 1e9 / args.rate.max(1) as f64;
    let due_at = |seq: u64| {
        // seq is 1-based; line 1 is due at the start.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let offset = ((seq - 1) as f64 * interval_ns) as u64;
        offset
    };
    let start = mono_ns();
    let mut sent = 0;
    let mut max_slip = 0;
    let mut last_progress = start;
    while sent < total {
        let now = mono_ns();
        if now - last_progress >= PROGRESS_NS {
            last_progress = now;
            let due = total.min(((now - start) as f64 / interval_ns) as u64 + 1);
            let _ = write_report(args, &report(sent, start, max_slip, due, false));
        }
        buf.clear();
        // Every line due by now, stamped with the time it is written: the
        // latency measured is write→client; falling behind schedule (a
        // blocked pipe) shows up as slip.
        while sent < total && start + due_at(sent + 1) <= now {
            sent += 1;
            max_slip = max_slip.max(now - (start + due_at(sent)));
            write_line(&mut buf, sent, now, args.size);
            if buf.len() >= 64 * 1024 {
                break;
            }
        }
        if !buf.is_empty() && out.write_all(&buf).is_err() {
            break;
        }
        if sent < total {
            let next = start + due_at(sent + 1);
            let now = mono_ns();
            if next > now {
                std::thread::sleep(Duration::from_nanos(next - now));
            }
        }
    }
    let _ = out.flush();
    report(sent, start, max_slip, total, true)
}

#[allow(clippy::cast_precision_loss)]
fn report(lines: u64, start: u64, max_slip_ns: u64, due: u64, done: bool) -> GenReport {
    GenReport {
        lines,
        elapsed_s: (mono_ns() - start) as f64 / 1e9,
        max_slip_ms: max_slip_ns as f64 / 1e6,
        done,
        due: due.max(lines),
    }
}
