//! `bench/SOAK.md` and the few lines `make soak-smoke` prints, both from
//! the soak's measurements.

use std::fmt::Write;

use super::rss::RssVerdict;
use super::seq_client::SlowResult;
use super::SoakResult;
use crate::report::Machine;

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn signed_mib(kib: f64) -> String {
    format!("{:+.1} MiB", kib / 1024.0)
}

/// `1234567` as `1,234,567`.
fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x >= 1000.0 => format!("{:.2} s", x / 1000.0),
        Some(x) if x >= 10.0 => format!("{x:.0} ms"),
        Some(x) => format!("{x:.2} ms"),
    }
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        "**yes**"
    } else {
        "**no**"
    }
}

/// The fast clients' counts, summed: (gaps, missing, repeats) per numbering.
fn fast_totals(result: &SoakResult) -> ([u64; 3], [u64; 3], u64) {
    let mut entry = [0; 3];
    let mut line = [0; 3];
    let mut notices = 0;
    for c in &result.fast {
        entry[0] += c.entry_seq.gaps;
        entry[1] += c.entry_seq.missing;
        entry[2] += c.entry_seq.repeats;
        line[0] += c.line_seq.gaps;
        line[1] += c.line_seq.missing;
        line[2] += c.line_seq.repeats;
        notices += c.notices;
    }
    (entry, line, notices)
}

fn lines_range(result: &SoakResult) -> (u64, u64) {
    let min = result.fast.iter().map(|c| c.lines).min().unwrap_or(0);
    let max = result.fast.iter().map(|c| c.lines).max().unwrap_or(0);
    (min, max)
}

fn slow_text(s: &SlowResult) -> String {
    let mut text = format!(
        "read {} frames ({} entries); {} drop notices announcing {} skipped entries; {} unannounced gaps ({} entries); {} notice counts off; {} duplicates",
        int(s.frames),
        int(s.entries),
        int(s.notices),
        int(s.dropped),
        s.unannounced_gaps,
        s.unannounced_missing,
        s.notice_mismatches,
        s.repeats
    );
    if let Some(t) = s.first_notice_s {
        let _ = write!(text, "; first notice read {t:.0} s into the stream");
    }
    let _ = write!(text, "; {} connection(s)", s.connections);
    if !s.closes.is_empty() {
        let _ = write!(text, " (ended: {})", s.closes.join("; "));
    }
    text
}

fn rss_text(v: &RssVerdict) -> String {
    format!(
        "start {} (at {:.0} s), end {} (at {:.0} s): {}; max {} (at {:.0} s)",
        mib(v.start_kib),
        v.start_s,
        mib(v.end_kib),
        v.end_s,
        signed_mib(v.growth_kib() as f64),
        mib(v.max_kib),
        v.max_s
    )
}

/// A few lines for the terminal.
pub fn summary(result: &SoakResult) -> String {
    let mut w = String::new();
    let (entry, line, notices) = fast_totals(result);
    let (min, max) = lines_range(result);
    let printed = result.gen.as_ref().map_or(0, |g| g.lines);
    let _ = writeln!(
        w,
        "fast clients ({}): {}–{} of {} lines each; Logdeck seq {} gaps, {} duplicates; generator seq {} gaps, {} duplicates; {} drop notices; latency p50 {} p99 {} max {}",
        result.fast.len(),
        int(min),
        int(max),
        int(printed),
        entry[0],
        entry[2],
        line[0],
        line[2],
        notices,
        ms(result.latency_p50_ms),
        ms(result.latency_p99_ms),
        ms(result.latency_max_ms),
    );
    for s in &result.slow {
        let _ = writeln!(w, "slow client: {}", slow_text(s));
    }
    match &result.rss {
        Some(v) => {
            let _ = writeln!(
                w,
                "server RSS: {}; first/last window avg {} → {} ({}); slope {:+.0} KiB/min; {}",
                rss_text(v),
                mib(v.first_window_avg_kib as u64),
                mib(v.last_window_avg_kib as u64),
                signed_mib(v.trend_kib()),
                v.slope_kib_per_min,
                if v.flat() { "flat" } else { "NOT flat" }
            );
        }
        None => {
            let _ = writeln!(w, "server RSS: too few readings after warm-up");
        }
    }
    let _ = writeln!(
        w,
        "server: {}; CPU {:.2} cores after warm-up",
        if result.server_alive && result.server_exit_ok {
            "survived, exited 0 on SIGTERM"
        } else if result.server_alive {
            "survived, but did not exit 0 on SIGTERM"
        } else {
            "DIED"
        },
        result.cpu_cores.unwrap_or(0.0)
    );
    w
}

/// The whole of SOAK.md.
#[allow(clippy::cast_precision_loss)]
pub fn render(machine: &Machine, result: &SoakResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let spec = result.spec.clone().unwrap_or_else(super::SoakSpec::full);
    let _ = writeln!(w, "# Soak (issue #6)\n");
    let _ = writeln!(
        w,
        "Generated by `make soak` (`scripts/bench.sh --soak` → `bench soak`) from this run's measurements (kept in `bench/results-soak-full/`, git-ignored: `soak.json`, `rss.csv`, the server's output); edit nothing here by hand.\n"
    );
    if result.passed() {
        let _ = writeln!(w, "**Passed.**\n");
    } else {
        let _ = writeln!(w, "**Failed:**\n");
        for failure in &result.failures {
            let _ = writeln!(w, "- {failure}");
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(w, "## Machine and run\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| date | {} |", machine.date);
    let _ = writeln!(w, "| CPU | {} × {} |", machine.nproc, machine.cpu_model);
    let _ = writeln!(w, "| memory | {} |", mib(machine.mem_total_kib));
    let _ = writeln!(w, "| kernel | {} |", machine.kernel);
    let _ = writeln!(w, "| commit | {} |", machine.commit);
    let _ = writeln!(w, "| rustc | {} |", machine.rustc);
    let _ = writeln!(
        w,
        "| load before the run (1-min avg) | {:.2}; waited {:.0} s for other builds; {} build processes still running |",
        result.load_before.load1, result.load_before.waited_s, result.load_before.builds_running
    );
    let loads: Vec<f64> = result.samples.iter().map(|s| s.load1).collect();
    let busy = result.samples.iter().filter(|s| s.builds > 0).count();
    let _ = writeln!(
        w,
        "| load during the run (1-min avg) | {:.2} – {:.2}; build or browser processes running at {busy} of {} readings |",
        loads.iter().copied().fold(f64::INFINITY, f64::min).min(99.0),
        loads.iter().copied().fold(0.0, f64::max),
        result.samples.len()
    );
    let _ = writeln!(w, "| wall time | {:.0} s |", result.elapsed_s);

    let _ = writeln!(w, "\n## Setup\n");
    let _ = writeln!(
        w,
        "- Logdeck (`target/release/logdeck`, copied by `scripts/bench.sh`) runs one `[[process]]`: `bench-gen` at {} lines/s for {:.0} s (~110-byte lines `LEVEL seq=N t=… gen payload=…`). Everything else is the default: `memory_entries` 100 000, `client_queue` 16 384, no log files.",
        int(spec.rate),
        spec.duration_s
    );
    let _ = writeln!(
        w,
        "- {} fast clients (tokio-tungstenite, in the runner) read `/ws/logs` without options, one entry per frame, and parse each frame: Logdeck's `seq` must be exactly the previous one + 1, and so must the generator's own `seq=` (starting at 1); a `dropped` notice is a failure; after the stream each must have every line printed.",
        spec.fast_clients
    );
    let _ = writeln!(
        w,
        "- {} slow client reads {} bursts of {} frames per second ({} entries/s against the stream's {}) with a {} B receive buffer (SO_RCVBUF, and a small WebSocket read buffer), so its backlog sits in the server. It must get drop notices, and every jump in `seq` it sees must be announced by a notice whose `dropped` equals the jump. If the server closes it, it reconnects.",
        spec.slow_clients, spec.slow_frames_per_s, spec.slow_burst,
        spec.slow_frames_per_s * spec.slow_burst as f64, spec.rate, spec.slow_recv_buffer
    );
    let _ = writeln!(
        w,
        "- Server memory: VmRSS from `/proc/<pid>/status` every {:.0} s. Warm-up is the first {:.0} s (the 100 000-entry ring fills in 10 s); *start* is the first reading after it, *end* the last reading of the stream. Flat means end − start < {:.0} MiB **and** the last {:.0} s average less than {:.0} MiB above the first {:.0} s average after warm-up.",
        spec.sample_every_s,
        spec.bounds.warmup_s,
        spec.bounds.growth_kib as f64 / 1024.0,
        spec.bounds.window_s,
        spec.bounds.trend_kib as f64 / 1024.0,
        spec.bounds.window_s
    );

    let (entry, line, notices) = fast_totals(result);
    let (min, max) = lines_range(result);
    let printed = result.gen.as_ref().filter(|g| g.done).map(|g| g.lines);
    let _ = writeln!(w, "\n## Checks\n");
    let _ = writeln!(w, "| check | measured | passed |\n|---|---|---|");
    let seq_ok = entry[0] + entry[2] + line[0] + line[2] == 0;
    let _ = writeln!(
        w,
        "| fast clients: every `seq` exactly previous + 1 | Logdeck `seq`: {} gaps ({} missing), {} duplicates/reorders; generator `seq`: {} gaps ({} missing), {} duplicates/reorders (all {} clients summed) | {} |",
        entry[0], entry[1], entry[2], line[0], line[1], line[2], result.fast.len(), yes_no(seq_ok)
    );
    let _ = writeln!(
        w,
        "| fast clients: no drop notice | {notices} | {} |",
        yes_no(notices == 0)
    );
    let all_lines = printed.is_some_and(|p| min == p && max == p);
    let _ = writeln!(
        w,
        "| fast clients: every line printed arrived | {} – {} lines per client of {} printed | {} |",
        int(min),
        int(max),
        printed.map_or("– (generator did not finish)".into(), int),
        yes_no(all_lines)
    );
    for s in &result.slow {
        let ok =
            s.notices > 0 && s.unannounced_gaps == 0 && s.notice_mismatches == 0 && s.repeats == 0;
        let _ = writeln!(
            w,
            "| slow client: falls behind and is told about every entry it misses | {} | {} |",
            slow_text(s),
            yes_no(ok)
        );
    }
    let _ = writeln!(
        w,
        "| server survives, exits 0 on SIGTERM | {} | {} |",
        match (result.server_alive, result.server_exit_ok) {
            (true, true) => "alive at the end; exit 0",
            (true, false) => "alive at the end; no clean exit",
            _ => "died",
        },
        yes_no(result.server_alive && result.server_exit_ok)
    );
    match &result.rss {
        Some(v) => {
            let _ = writeln!(
                w,
                "| server RSS: end − start < {:.0} MiB | {} | {} |",
                spec.bounds.growth_kib as f64 / 1024.0,
                rss_text(v),
                yes_no(v.growth_ok)
            );
            let _ = writeln!(
                w,
                "| server RSS: no steady growth (last {:.0} s avg − first {:.0} s avg < {:.0} MiB) | {} → {} ({}); least-squares slope {:+.0} KiB/min over {} readings | {} |",
                spec.bounds.window_s,
                spec.bounds.window_s,
                spec.bounds.trend_kib as f64 / 1024.0,
                mib(v.first_window_avg_kib as u64),
                mib(v.last_window_avg_kib as u64),
                signed_mib(v.trend_kib()),
                v.slope_kib_per_min,
                v.samples,
                yes_no(v.trend_ok)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "| server RSS flat | too few readings after warm-up | **no** |"
            );
        }
    }

    let _ = writeln!(w, "\n## Figures\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    if let Some(gen) = &result.gen {
        let _ = writeln!(
            w,
            "| generator | {} lines in {:.1} s ({:.0} lines/s); at worst {} behind schedule{} |",
            int(gen.lines),
            gen.elapsed_s,
            gen.lines as f64 / gen.elapsed_s.max(1e-9),
            ms(Some(gen.max_slip_ms)),
            if gen.done { "" } else { "; **did not finish**" }
        );
    }
    let frames: u64 = result.fast.iter().map(|c| c.frames).sum();
    let _ = writeln!(
        w,
        "| fast clients | {} frames in all; line→client latency p50 {}, p99 {}, max {} |",
        int(frames),
        ms(result.latency_p50_ms),
        ms(result.latency_p99_ms),
        ms(result.latency_max_ms)
    );
    if let Some(v) = &result.rss {
        let _ = writeln!(
            w,
            "| server RSS | start {}, end {}, max after warm-up {}, max including warm-up {} |",
            mib(v.start_kib),
            mib(v.end_kib),
            mib(v.max_kib),
            mib(v.max_all_kib)
        );
    }
    let _ = writeln!(
        w,
        "| server CPU after warm-up | {} |",
        result
            .cpu_cores
            .map_or("–".into(), |c| format!("{c:.2} cores"))
    );

    let _ = writeln!(w, "\n## Server RSS over time\n");
    let step = if spec.duration_s > 120.0 { 30.0 } else { 1.0 };
    let _ = writeln!(
        w,
        "| t | VmRSS | 1-min load | build processes |\n|---|---|---|---|"
    );
    let mut next = 0.0;
    for (i, s) in result.samples.iter().enumerate() {
        if s.t_s + 1e-6 >= next || i + 1 == result.samples.len() {
            let _ = writeln!(
                w,
                "| {:.0} s | {} | {:.2} | {} |",
                s.t_s,
                mib(s.rss_kib),
                s.load1,
                s.builds
            );
            next = s.t_s + step - spec.sample_every_s / 2.0;
        }
    }
    md
}
