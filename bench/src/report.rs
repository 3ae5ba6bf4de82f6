//! `bench/RESULTS.md`, written from the runs' JSON: nothing in it is typed
//! by hand.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::load::LoadNote;
use crate::scenario::RunResult;
use crate::system::SystemKind;

/// What the browser scenario (`end2end/bench/browser.spec.ts` via `scripts/bench-browser.sh`) measured,
/// as it writes it to `browser.json` next to the suite's runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserResult {
    pub date: String,
    pub chromium: String,
    pub playwright: String,
    pub node: String,
    /// The load before it started (after waiting for other builds).
    pub load: LoadNote,
    /// 1-minute load when it finished.
    pub load_after: f64,
    /// Lines per second, and seconds of streaming measured.
    pub rate: u64,
    pub stream_s: f64,
    pub lines_printed: u64,
    /// "N of M lines" at the end of the stream: M kept, N shown.
    pub rows_kept: Option<u64>,
    pub rows_shown: Option<u64>,
    /// Main-thread long tasks (> 50 ms) while streaming.
    pub long_tasks: u64,
    pub long_task_max_ms: f64,
    pub long_task_total_ms: f64,
    /// The longest ones, longest first.
    pub long_tasks_top_ms: Vec<f64>,
    /// Long tasks while the page loaded and hydrated, and while filtering
    /// (not part of the streaming target).
    pub long_tasks_load: u64,
    pub long_tasks_filter: u64,
    /// Intervals between animation frames while streaming.
    pub frames: u64,
    pub frame_p50_ms: Option<f64>,
    pub frame_p99_ms: Option<f64>,
    pub frame_max_ms: Option<f64>,
    /// `performance.memory.usedJSHeapSize` at the end of the stream, and
    /// CDP's `JSHeapUsedSize` then.
    pub heap_used_bytes: Option<u64>,
    pub heap_cdp_bytes: Option<u64>,
    /// The wasm module's linear memory (where the kept rows live; not in
    /// the JS heap) and the renderer process's RSS.
    pub wasm_memory_bytes: Option<u64>,
    pub renderer_rss_kib: Option<u64>,
    pub filter_pattern: String,
    /// From the input event to the frame showing the new row count.
    pub filter_ms: Vec<f64>,
    pub filter_rows_text: String,
    /// Clearing it again (back to every row).
    pub clear_ms: Vec<f64>,
    /// Where the main thread's time went (from a CPU profile taken after
    /// the measured window), one line each.
    pub diagnosis: Vec<String>,
    /// The site's files as the server sends them.
    pub bundle: Vec<BundleFile>,
    /// Cold loads: from the start of the navigation to the first row
    /// printed after it began, and to the end of the wasm's download.
    pub first_load_ms: Vec<f64>,
    pub first_load_wasm_ms: Vec<Option<f64>>,
    /// The high-rate stream after the filters.
    pub high: Option<HighRate>,
    pub error: Option<String>,
}

/// The viewer under a stream faster than it can be expected to show
/// (issue #16: 50 000 lines/s).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HighRate {
    pub rate: u64,
    pub stream_s: f64,
    pub lines_printed: u64,
    pub rows_kept: Option<u64>,
    /// Lines the page said it skipped.
    pub skipped: u64,
    pub long_tasks_over_100: u64,
    pub long_task_max_ms: f64,
    pub frame_p99_ms: Option<f64>,
    /// Per click: the longest Event Timing duration of its events; none
    /// when the browser reported none (it reports only 16 ms or more).
    pub input_ms: Vec<Option<f64>>,
    pub heap_start_bytes: Option<u64>,
    pub heap_end_bytes: Option<u64>,
    pub wasm_start_bytes: Option<u64>,
    pub wasm_end_bytes: Option<u64>,
    pub note: Option<String>,
}

/// Issue #16 at 50 000 lines/s: no task over 100 ms, a click answered
/// within 100 ms, the page's memory (JS heap after a garbage collection,
/// and wasm) grown by at most a tenth from before the stream to after it.
const HIGH_TASK_MS: f64 = 100.0;
const HIGH_INPUT_MS: f64 = 100.0;
const HIGH_MEMORY_GROWTH: f64 = 0.10;

impl HighRate {
    /// The slowest click; one the browser did not report took under 16 ms.
    fn input_max_ms(&self) -> Option<f64> {
        if self.input_ms.is_empty() {
            return None;
        }
        Some(
            self.input_ms
                .iter()
                .map(|m| m.unwrap_or(0.0))
                .fold(0.0, f64::max),
        )
    }

    fn memory(start: Option<u64>, end: Option<u64>) -> Option<(u64, u64)> {
        Some((start?, end?))
    }

    /// JS heap and wasm memory together, early and at the end.
    fn memory_total(&self) -> Option<(u64, u64)> {
        let (heap0, heap1) = Self::memory(self.heap_start_bytes, self.heap_end_bytes)?;
        let (wasm0, wasm1) = Self::memory(self.wasm_start_bytes, self.wasm_end_bytes)?;
        Some((heap0 + wasm0, heap1 + wasm1))
    }

    #[allow(clippy::cast_precision_loss)]
    fn memory_flat(&self) -> Option<bool> {
        self.memory_total()
            .map(|(start, end)| end as f64 <= start as f64 * (1.0 + HIGH_MEMORY_GROWTH))
    }

    fn met(&self) -> Option<bool> {
        let input = self.input_max_ms()?;
        let flat = self.memory_flat()?;
        Some(
            self.long_tasks_over_100 == 0
                && self.long_task_max_ms <= HIGH_TASK_MS
                && input < HIGH_INPUT_MS
                && flat,
        )
    }

    fn text(&self) -> String {
        let inputs = self
            .input_ms
            .iter()
            .map(|m| m.map_or("<16".into(), |m| format!("{m:.0}")))
            .collect::<Vec<_>>()
            .join(", ");
        let memory = self
            .memory_total()
            .map_or("memory –".into(), |(start, end)| {
                format!(
                    "heap + wasm {} → {}",
                    bytes_mib(Some(start)),
                    bytes_mib(Some(end))
                )
            });
        format!(
            "{} lines at {} lines/s in {:.0} s; {} tasks over 100 ms (longest {}); clicks answered in {} ms; {}; {} rows kept, {} lines skipped{}",
            int(self.lines_printed as f64),
            int(self.rate as f64),
            self.stream_s,
            self.long_tasks_over_100,
            ms(Some(self.long_task_max_ms)),
            inputs,
            memory,
            self.rows_kept.map_or("–".into(), |r| int(r as f64)),
            int(self.skipped as f64),
            self.note
                .as_ref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        )
    }
}

/// One of the site's files: its bytes as they are, `gzip -9`'d, and as
/// sent to a browser accepting br or only gzip.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BundleFile {
    pub path: String,
    pub bytes: u64,
    pub gzip9_bytes: u64,
    pub br_sent_bytes: Option<u64>,
    pub gzip_sent_bytes: Option<u64>,
}

/// The browser targets of issue #7.
const LONG_TASK_TARGET: &str = "no long task > 50 ms at 10k lines/s";
const HEAP_TARGET_BYTES: f64 = 200.0 * 1024.0 * 1024.0;
const FILTER_TARGET_MS: f64 = 50.0;
/// Issue #16: the wasm ≤ 400 KB gzipped; the first live row < 300 ms.
const WASM_GZIP_TARGET_BYTES: u64 = 400_000;
const FIRST_LOAD_TARGET_MS: f64 = 300.0;

/// The numbers of clients `scenario` ran with, in increasing order.
fn client_counts(runs: &[RunResult], scenario: &str) -> Vec<usize> {
    let mut clients: Vec<usize> = runs
        .iter()
        .filter(|r| r.scenario == scenario)
        .map(|r| r.clients)
        .collect();
    clients.sort_unstable();
    clients.dedup();
    clients
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn max_of(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// Bytes in kB (1000), as the bundle targets are written.
#[allow(clippy::cast_precision_loss)]
fn kb(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{} B ({:.0} KB)", int(b as f64), b as f64 / 1000.0)
    })
}

fn bytes_mib(bytes: Option<u64>) -> String {
    #[allow(clippy::cast_precision_loss)]
    bytes.map_or("–".into(), |b| {
        format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
    })
}

impl BrowserResult {
    fn ran(&self) -> bool {
        self.error.is_none()
    }

    fn long_tasks_met(&self) -> Option<bool> {
        self.ran().then_some(self.long_tasks == 0)
    }

    #[allow(clippy::cast_precision_loss)]
    fn heap_met(&self) -> Option<bool> {
        self.heap_used_bytes
            .filter(|_| self.ran())
            .map(|b| (b as f64) < HEAP_TARGET_BYTES)
    }

    /// Every timed filter, not only the median, must be under the target.
    fn filter_met(&self) -> Option<bool> {
        max_of(&self.filter_ms)
            .filter(|_| self.ran())
            .map(|m| m < FILTER_TARGET_MS)
    }

    fn wasm(&self) -> Option<&BundleFile> {
        self.bundle.iter().find(|f| f.path.ends_with(".wasm"))
    }

    fn bundle_met(&self) -> Option<bool> {
        self.wasm().map(|f| f.gzip9_bytes <= WASM_GZIP_TARGET_BYTES)
    }

    fn bundle_text(&self) -> String {
        self.wasm().map_or("not measured".into(), |f| {
            format!(
                "{} gzipped (`gzip -9`; {} as it is, {} sent as br)",
                kb(Some(f.gzip9_bytes)),
                kb(Some(f.bytes)),
                kb(f.br_sent_bytes)
            )
        })
    }

    fn first_load_met(&self) -> Option<bool> {
        median(&self.first_load_ms).map(|m| m < FIRST_LOAD_TARGET_MS)
    }

    fn first_load_text(&self) -> String {
        if self.first_load_ms.is_empty() {
            return "not measured".into();
        }
        let wasm: Vec<f64> = self.first_load_wasm_ms.iter().flatten().copied().collect();
        format!(
            "median {} of {} cold loads (each: {}); the wasm was downloaded at {} (median)",
            ms(median(&self.first_load_ms)),
            self.first_load_ms.len(),
            self.first_load_ms
                .iter()
                .map(|m| format!("{m:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
                + " ms",
            ms(median(&wasm))
        )
    }

    fn long_task_text(&self) -> String {
        format!(
            "{} long tasks in {:.0} s at {} lines/s{}",
            self.long_tasks,
            self.stream_s,
            int(self.rate as f64),
            if self.long_tasks > 0 {
                format!(
                    " (longest {}, {} in all)",
                    ms(Some(self.long_task_max_ms)),
                    ms(Some(self.long_task_total_ms))
                )
            } else {
                String::new()
            }
        )
    }

    fn filter_text(&self) -> String {
        format!(
            "`{}` over {} rows: median {}, max {} ({} runs)",
            self.filter_pattern,
            self.rows_kept.map_or("–".into(), |r| int(r as f64)),
            ms(median(&self.filter_ms)),
            ms(max_of(&self.filter_ms)),
            self.filter_ms.len()
        )
    }
}

/// The machine and the run, recorded when the suite starts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_kib: u64,
    pub kernel: String,
    pub date: String,
    pub commit: String,
    pub rustc: String,
    /// Peer versions and other tools, as installed by scripts/bench.sh.
    pub versions: Vec<(String, String)>,
    pub profile: String,
    pub reps: u32,
    #[serde(default)]
    pub fanout_reps: u32,
    /// Wall time of the whole suite, filled in at the end.
    pub suite_s: f64,
    /// Scenario sizes that differ from the issue's, and why.
    pub notes: Vec<String>,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name"),
            mem_total_kib: field(&meminfo, "MemTotal")
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            ..Machine::default()
        }
    }
}

const SYSTEMS: [SystemKind; 4] = SystemKind::ALL;

/// Runs of one scenario, one system and one client count; with several
/// repetitions, the run with the median of `key` stands for them.
fn pick<'a>(
    runs: &'a [RunResult],
    scenario: &str,
    system: SystemKind,
    clients: Option<usize>,
    key: impl Fn(&RunResult) -> Option<f64>,
) -> Option<&'a RunResult> {
    let mut matching: Vec<&RunResult> = runs
        .iter()
        .filter(|r| r.scenario == scenario && r.system == Some(system))
        .filter(|r| clients.is_none_or(|c| r.clients == c))
        .collect();
    matching.sort_by(|a, b| {
        key(a)
            .unwrap_or(f64::NAN)
            .total_cmp(&key(b).unwrap_or(f64::NAN))
    });
    matching.get(matching.len() / 2).copied()
}

fn int(x: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn ms(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x >= 1000.0 => format!("{:.2} s", x / 1000.0),
        Some(x) if x >= 10.0 => format!("{x:.0} ms"),
        Some(x) if x >= 1.0 => format!("{x:.1} ms"),
        Some(x) => format!("{x:.2} ms"),
    }
}

fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = kib as f64 / 1024.0;
    format!("{m:.1} MiB")
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn times(r: Option<f64>) -> String {
    match r {
        None => "–".into(),
        Some(r) if r >= 100.0 => format!("{}×", int(r)),
        Some(r) => format!("{r:.2}×"),
    }
}

fn yes_no(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**yes**",
        Some(false) => "**no**",
        None => "not measured",
    }
}

fn gen_note(run: &RunResult) -> String {
    match (&run.gen, run.rate) {
        (None, _) => "generator blocked: no report".into(),
        (Some(gen), _) if !gen.done => format!(
            "**blocked**: had printed {} of {} lines due when the window closed",
            int(gen.lines as f64),
            int(gen.due as f64)
        ),
        (Some(gen), Some(rate)) => {
            #[allow(clippy::cast_precision_loss)]
            let achieved = gen.lines as f64 / gen.elapsed_s.max(1e-9);
            if gen.max_slip_ms > 100.0 {
                format!(
                    "slowed: {}/s of {}/s, up to {} behind",
                    int(achieved),
                    int(rate as f64),
                    ms(Some(gen.max_slip_ms))
                )
            } else {
                format!("on schedule ({} lines)", int(gen.lines as f64))
            }
        }
        #[allow(clippy::cast_precision_loss)]
        (Some(gen), None) => format!(
            "{} lines/s printed",
            int(gen.lines as f64 / gen.elapsed_s.max(1e-9))
        ),
    }
}

fn errors(run: &RunResult) -> String {
    if run.errors.is_empty() {
        String::new()
    } else {
        format!(" ⚠ {}", run.errors.join("; "))
    }
}

fn latency_table<'a>(
    w: &mut String,
    pick_run: &dyn Fn(SystemKind) -> Option<&'a RunResult>,
    stalled: bool,
) {
    let _ = writeln!(
        w,
        "| system | p50 | p99 | max | lines lost{} | drop notices | server CPU | peak RSS | generator | Logdeck p99 ÷ |\n|---|---|---|---|---|---|---|---|---|---|",
        if stalled { " (fast clients)" } else { "" }
    );
    let ours = pick_run(SystemKind::Logdeck).and_then(|r| r.p99_ms);
    for system in SYSTEMS {
        let Some(r) = pick_run(system) else { continue };
        let usage = r.usage.unwrap_or_default();
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {}{} |",
            system.label(),
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            match (r.lost_lines, r.loss_pct) {
                (Some(n), Some(p)) => format!("{} ({p:.2}%)", int(n as f64)),
                _ => "–".into(),
            },
            r.notices,
            usage.cpu_cores,
            mib(usage.rss_peak_kib),
            gen_note(r),
            if system == SystemKind::Logdeck {
                "–".into()
            } else {
                times(ratio(ours, r.p99_ms))
            },
            errors(r),
        );
    }
}

/// The whole of RESULTS.md.
pub fn render(machine: &Machine, runs: &[RunResult], browser: Option<&BrowserResult>) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmark results (issue #7)\n");
    let _ = writeln!(
        w,
        "Generated by `make bench` (`scripts/bench.sh` → `bench suite`) from the measurements in this run (kept in `bench/results-full/`, git-ignored; `bench report` re-renders them); edit nothing here by hand.\n"
    );
    let _ = writeln!(w, "## Machine and run\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| date | {} |", machine.date);
    let _ = writeln!(w, "| CPU | {} × {} |", machine.nproc, machine.cpu_model);
    let _ = writeln!(w, "| memory | {} |", mib(machine.mem_total_kib));
    let _ = writeln!(w, "| kernel | {} |", machine.kernel);
    let _ = writeln!(w, "| commit | {} |", machine.commit);
    let _ = writeln!(w, "| rustc | {} |", machine.rustc);
    for (name, version) in &machine.versions {
        let _ = writeln!(w, "| {name} | {version} |");
    }
    let loads: Vec<f64> = runs.iter().map(|r| r.load.load1).collect();
    let waited: f64 = runs.iter().map(|r| r.load.waited_s).sum();
    let busy = runs.iter().filter(|r| r.load.builds_running > 0).count();
    let _ = writeln!(
        w,
        "| load (1-min avg at the start of each run) | {:.2} – {:.2}; waited {:.0} s for other builds; {busy} of {} runs started with a build still running |",
        loads.iter().copied().fold(f64::INFINITY, f64::min).min(99.0),
        loads.iter().copied().fold(0.0, f64::max),
        waited,
        runs.len()
    );
    let _ = writeln!(
        w,
        "| suite | profile `{}`; fan-out figures are the median of {} runs, the others of {}; {:.0} s in all |",
        machine.profile,
        machine.fanout_reps.max(1) * machine.reps,
        machine.reps,
        machine.suite_s
    );
    for note in &machine.notes {
        let _ = writeln!(w, "| note | {note} |");
    }

    let fan_clients = client_counts(runs, "fanout");
    let fan = |system, clients| pick(runs, "fanout", system, Some(clients), |r| r.per_client_rate);
    let lat = |system| pick(runs, "latency", system, None, |r| r.p99_ms);
    let iso = |system| pick(runs, "isolation", system, None, |r| r.p99_ms);
    let idle = |system| pick(runs, "idle", system, None, |r| r.idle_kib_per_client);
    let start = |system| {
        pick(runs, "startup", system, None, |r| {
            r.startup_ms.first().copied()
        })
    };

    // Targets first: the answer, then the evidence.
    let _ = writeln!(w, "\n## Targets\n");
    let _ = writeln!(w, "| target | measured | met |\n|---|---|---|");
    let fan_target = |peer: SystemKind, min: f64, percent: bool| {
        let mut parts = Vec::new();
        let mut met = None;
        for &clients in &fan_clients {
            let r = ratio(
                fan(SystemKind::Logdeck, clients).and_then(|r| r.per_client_rate),
                fan(peer, clients).and_then(|r| r.per_client_rate),
            );
            if let Some(r) = r {
                met = Some(met.unwrap_or(true) && r >= min);
                parts.push(if percent {
                    format!("{clients} clients: {:.0}%", r * 100.0)
                } else {
                    format!("{clients} clients: {}", times(Some(r)))
                });
            }
        }
        (parts.join(", "), met)
    };
    for (peer, min, label, percent) in [
        (
            SystemKind::Frontail,
            5.0,
            "fan-out ≥ 5× frontail (per-client lines/s)",
            false,
        ),
        (SystemKind::Dmb, 20.0, "fan-out ≥ 20× the DMB model", false),
        (
            SystemKind::Limit,
            0.8,
            "fan-out ≥ 80% of the bare limit",
            true,
        ),
    ] {
        let (text, met) = fan_target(peer, min, percent);
        let _ = writeln!(
            w,
            "| {label} | {} | {} |",
            if text.is_empty() { "–".into() } else { text },
            yes_no(met)
        );
    }
    let lat_run = lat(SystemKind::Logdeck);
    let p99 = lat_run.and_then(|r| r.p99_ms);
    let lat_label = lat_run.map_or_else(String::new, |r| {
        format!(
            " ({} lines/s × {} clients, {:.0} s)",
            int(r.rate.unwrap_or(0) as f64),
            r.clients,
            r.duration_s
        )
    });
    let _ = writeln!(
        w,
        "| p99 < 5 ms at 10k lines/s × 100 clients | p99 {}{lat_label}, {} lines lost | {} |",
        ms(p99),
        lat_run
            .and_then(|r| r.lost_lines)
            .map_or("–".into(), |n| int(n as f64)),
        yes_no(p99.map(|p| p < 5.0))
    );
    // The same load through the least a server can do: how much of the
    // tail is Logdeck's own, whatever the machine's share of it.
    let limit_p99 = lat(SystemKind::Limit).and_then(|r| r.p99_ms);
    let lat_ratio = ratio(p99, limit_p99);
    let _ = writeln!(
        w,
        "| p99 at 10k lines/s × 100 clients within 1.1× of the bare limit's (same run) | {} against {}: {} | {} |",
        ms(p99),
        ms(limit_p99),
        times(lat_ratio),
        yes_no(lat_ratio.map(|r| r <= 1.1))
    );
    let per_idle = idle(SystemKind::Logdeck).and_then(|r| r.idle_kib_per_client);
    let _ = writeln!(
        w,
        "| ≤ 64 KiB RSS per idle client | {} | {} |",
        per_idle.map_or("–".into(), |k| format!("{k:.1} KiB per client")),
        yes_no(per_idle.map(|k| k <= 64.0))
    );
    store_targets(w, runs);
    metrics_target(w, runs);
    match browser {
        Some(b) if b.ran() => {
            let _ = writeln!(
                w,
                "| browser: {LONG_TASK_TARGET} (30 s, 100 000 rows kept) | {} | {} |",
                b.long_task_text(),
                yes_no(b.long_tasks_met())
            );
            let _ = writeln!(
                w,
                "| browser: JS heap < 200 MiB | {} at the end of the stream | {} |",
                bytes_mib(b.heap_used_bytes),
                yes_no(b.heap_met())
            );
            let _ = writeln!(
                w,
                "| browser: regex filter over 100 000 rows < 50 ms | {} | {} |",
                b.filter_text(),
                yes_no(b.filter_met())
            );
            let _ = writeln!(
                w,
                "| viewer: wasm ≤ 400 KB gzipped | {} | {} |",
                b.bundle_text(),
                yes_no(b.bundle_met())
            );
            let _ = writeln!(
                w,
                "| viewer: first live row < 300 ms from navigation, cold cache (median of 5) | {} | {} |",
                b.first_load_text(),
                yes_no(b.first_load_met())
            );
            let _ = writeln!(
                w,
                "| viewer at 50k lines/s: no task > 100 ms, clicks answered < 100 ms, memory flat | {} | {} |",
                b.high.as_ref().map_or("not measured".into(), HighRate::text),
                yes_no(b.high.as_ref().and_then(HighRate::met))
            );
        }
        Some(b) => {
            let _ = writeln!(
                w,
                "| browser: no long task > 50 ms, heap < 200 MiB, filter 100k rows < 50 ms | the browser scenario failed: {} | not measured |",
                b.error.as_deref().unwrap_or("")
            );
        }
        None => {
            let _ = writeln!(
                w,
                "| browser: no long task > 50 ms, heap < 200 MiB, filter 100k rows < 50 ms | not run yet (`make bench` runs it after the suite) | not measured |"
            );
        }
    }

    let _ = writeln!(w, "\n## 1. Fan-out throughput (flat-out generator)\n");
    let _ = writeln!(
        w,
        "Lines per second each client received during the window (mean and slowest client), their sum, and the server process's CPU (cores, averaged over the window) and peak RSS. \"Logdeck ÷\" is Logdeck's per-client rate over this system's.\n"
    );
    let _ = writeln!(
        w,
        "| clients | system | per client | slowest client | total | server CPU | peak RSS | generator | Logdeck ÷ |\n|---|---|---|---|---|---|---|---|---|"
    );
    for &clients in &fan_clients {
        let ours = fan(SystemKind::Logdeck, clients).and_then(|r| r.per_client_rate);
        for system in SYSTEMS {
            let Some(r) = fan(system, clients) else {
                continue;
            };
            let usage = r.usage.unwrap_or_default();
            let _ = writeln!(
                w,
                "| {clients} | {} | {} | {} | {} | {:.2} | {} | {} | {}{} |",
                system.label(),
                int(r.per_client_rate.unwrap_or(0.0)),
                int(r.per_client_rate_min.unwrap_or(0.0)),
                int(r.total_rate.unwrap_or(0.0)),
                usage.cpu_cores,
                mib(usage.rss_peak_kib),
                gen_note(r),
                if system == SystemKind::Logdeck {
                    "–".into()
                } else {
                    times(ratio(ours, r.per_client_rate))
                },
                errors(r),
            );
        }
    }

    if let Some(r) = lat(SystemKind::Logdeck).or_else(|| lat(SystemKind::Limit)) {
        let _ = writeln!(
            w,
            "\n## 2. Latency ({} lines/s, {} clients, {:.0} s)\n",
            int(r.rate.unwrap_or(0) as f64),
            r.clients,
            r.duration_s
        );
        let _ = writeln!(
            w,
            "Line→client latency: from the generator writing the line (its CLOCK_MONOTONIC stamp) to the client reading the frame, over every line every client received. Lines not received by the end of the drain count as lost. A Logdeck p99 ÷ below 1 means Logdeck is faster.\n"
        );
        latency_table(w, &lat, false);
    }
    if let Some(r) = iso(SystemKind::Logdeck).or_else(|| iso(SystemKind::Limit)) {
        let _ = writeln!(
            w,
            "\n## 3. Isolation ({} fast clients + {} that stops reading, {} lines/s, {:.0} s)\n",
            r.clients,
            r.stalled,
            int(r.rate.unwrap_or(0) as f64),
            r.duration_s
        );
        let _ = writeln!(
            w,
            "The stalled client connects and never reads again. Figures are the fast clients'.\n"
        );
        latency_table(w, &iso, true);
    }

    if let Some(r) = idle(SystemKind::Logdeck).or_else(|| idle(SystemKind::Limit)) {
        let _ = writeln!(w, "\n## 4. Idle memory ({} idle clients)\n", r.clients);
        let _ = writeln!(
            w,
            "Server RSS (median of three readings) before the clients connect and 2 s after; the difference divided by the number of clients.\n"
        );
        let _ = writeln!(
            w,
            "| system | RSS before | RSS with clients | per client | \n|---|---|---|---|"
        );
        for system in SYSTEMS {
            let Some(r) = idle(system) else { continue };
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                system.label(),
                mib(r.idle_rss_before_kib.unwrap_or(0)),
                mib(r.idle_rss_after_kib.unwrap_or(0)),
                r.idle_kib_per_client
                    .map_or("–".into(), |k| format!("{k:.1} KiB{}", errors(r))),
            );
        }
    }

    if let Some(r) = start(SystemKind::Logdeck).or_else(|| start(SystemKind::Limit)) {
        let _ = writeln!(w, "\n## 5. Start-up ({} processes)\n", r.clients);
        let _ = writeln!(
            w,
            "From exec to the first 200 from `GET /health` (frontail has no health route: `GET /`, tailing {} empty files since it cannot run processes), polled every 2 ms.\n",
            r.clients
        );
        let _ = writeln!(
            w,
            "| system | median | fastest | slowest | starts |\n|---|---|---|---|---|"
        );
        for system in SYSTEMS {
            let Some(r) = start(system) else { continue };
            let mut samples = r.startup_ms.clone();
            samples.sort_by(f64::total_cmp);
            let median = samples.get(samples.len() / 2).copied();
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} |",
                system.label(),
                ms(median),
                ms(samples.first().copied()),
                ms(samples.last().copied()),
                samples.len()
            );
        }
    }

    let cluster_runs: Vec<&RunResult> = client_counts(runs, "cluster")
        .into_iter()
        .filter_map(|c| pick(runs, "cluster", SystemKind::Logdeck, Some(c), |r| r.p99_ms))
        .collect();
    if !cluster_runs.is_empty() {
        cluster_section(w, &cluster_runs);
    }
    store_section(w, runs);
    metrics_section(w, runs);

    browser_section(w, browser);

    let _ = writeln!(w, "## How it was measured\n");
    for line in METHOD {
        let _ = writeln!(w, "- {line}");
    }
    let others: BTreeMap<&str, usize> =
        runs.iter()
            .filter(|r| !r.errors.is_empty())
            .fold(BTreeMap::new(), |mut m, r| {
                *m.entry(r.scenario.as_str()).or_default() += 1;
                m
            });
    if !others.is_empty() {
        let _ = writeln!(w, "\nRuns with client errors (marked ⚠ above): {others:?}.");
    }
    md
}

/// Section 6, from `browser.json`.
fn browser_section(w: &mut String, browser: Option<&BrowserResult>) {
    let _ = writeln!(
        w,
        "\n## 6. Browser scenario (the viewer at 10,000 lines/s)\n"
    );
    let Some(b) = browser else {
        let _ = writeln!(
            w,
            "Not run yet: `make bench` runs it after the scenarios above (`end2end/bench/browser.spec.ts` via `scripts/bench-browser.sh`), then re-renders this file.\n"
        );
        return;
    };
    if let Some(error) = &b.error {
        let _ = writeln!(w, "The browser scenario failed: {error}\n");
        return;
    }
    let _ = writeln!(
        w,
        "{} (Playwright {}, headless, 1280×800), {}. The release build of the viewer at `/`, Logdeck running `bench-gen` at {} lines/s; {} lines printed in the {:.0} s measured. Load {:.2} at the start (waited {:.0} s for other builds), {:.2} at the end.\n",
        b.chromium,
        b.playwright,
        b.node,
        int(b.rate as f64),
        int(b.lines_printed as f64),
        b.stream_s,
        b.load.load1,
        b.load.waited_s,
        b.load_after
    );
    let _ = writeln!(w, "| | measured | target | met |\n|---|---|---|---|");
    let _ = writeln!(
        w,
        "| rows kept at the end of the stream | {} kept, {} shown | ~100 000 | |",
        b.rows_kept.map_or("–".into(), |r| int(r as f64)),
        b.rows_shown.map_or("–".into(), |r| int(r as f64)),
    );
    let _ = writeln!(
        w,
        "| main-thread long tasks while streaming | {}{} | none over 50 ms | {} |",
        b.long_task_text(),
        if b.long_tasks_top_ms.is_empty() {
            String::new()
        } else {
            format!(
                "; longest: {}",
                b.long_tasks_top_ms
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " ms"
            )
        },
        yes_no(b.long_tasks_met())
    );
    let _ = writeln!(
        w,
        "| frame intervals while streaming | p50 {}, p99 {}, max {} ({} frames) | | |",
        ms(b.frame_p50_ms),
        ms(b.frame_p99_ms),
        ms(b.frame_max_ms),
        int(b.frames as f64)
    );
    let _ = writeln!(
        w,
        "| JS heap used at the end | {} (`performance.memory`), {} (CDP `JSHeapUsedSize`) | < 200 MiB | {} |",
        bytes_mib(b.heap_used_bytes),
        bytes_mib(b.heap_cdp_bytes),
        yes_no(b.heap_met())
    );
    let _ = writeln!(
        w,
        "| wasm linear memory / renderer RSS at the end | {} / {} | | |",
        bytes_mib(b.wasm_memory_bytes),
        b.renderer_rss_kib.map_or("–".into(), mib)
    );
    let _ = writeln!(
        w,
        "| regex filter applied over the kept rows | {} → \"{}\"; each run: {} | < 50 ms | {} |",
        b.filter_text(),
        b.filter_rows_text,
        b.filter_ms
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " ms",
        yes_no(b.filter_met())
    );
    let _ = writeln!(
        w,
        "| filter cleared again (every row back) | median {}, max {} | | |",
        ms(median(&b.clear_ms)),
        ms(max_of(&b.clear_ms))
    );
    let _ = writeln!(
        w,
        "| long tasks outside the window | {} while the page loaded and hydrated, {} while filtering | | |",
        b.long_tasks_load, b.long_tasks_filter
    );
    let _ = writeln!(
        w,
        "| first live row, cold cache | {} | < 300 ms | {} |",
        b.first_load_text(),
        yes_no(b.first_load_met())
    );
    if let Some(high) = &b.high {
        let _ = writeln!(
            w,
            "| a faster stream, after the filters | {}; frame p99 {} | no task > 100 ms, clicks < 100 ms, memory flat | {} |",
            high.text(),
            ms(high.frame_p99_ms),
            yes_no(high.met())
        );
    }
    for file in &b.bundle {
        let (target, met) = if file.path.ends_with(".wasm") {
            ("≤ 400 KB gzipped", yes_no(b.bundle_met()))
        } else {
            ("", "")
        };
        let _ = writeln!(
            w,
            "| `{}` | {} as it is; `gzip -9` {}; sent {} as br, {} as gzip | {} | {} |",
            file.path,
            kb(Some(file.bytes)),
            kb(Some(file.gzip9_bytes)),
            kb(file.br_sent_bytes),
            kb(file.gzip_sent_bytes),
            target,
            met
        );
    }
    let _ = writeln!(w, "\nHow: `end2end/bench/browser.spec.ts` via `scripts/bench-browser.sh` starts the release server (`cargo leptos build --release`, copied) on a free port with the generator waiting for a go file, opens `/` in Chromium (launched with `--enable-precise-memory-info`), waits until the badge says *live*, then starts the generator. A `PerformanceObserver` for `longtask` entries and a `requestAnimationFrame` loop are installed before the page's own scripts (`page.addInitScript`). After the window it reads the row count (`[data-testid=row-count]`), `performance.memory`, CDP `Performance.getMetrics` and the wasm memory's size. With the stream stopped, it turns on the regex toggle and times each filter from just before dispatching the search box's `input` event to the first animation frame whose row count text differs, alternating the pattern and an empty search. Before the stream it fetches the site's files as they are and with `Accept-Encoding: br` and `gzip` (sizes as sent; `gzip -9` computed by Node's zlib), and times five cold loads (a new browser context each) while a third generator prints 200 lines/s: from the start of the navigation to the first row whose line (`t=`, CLOCK_MONOTONIC) was printed after it began. The server runs as installed: the site it serves is the one built into the binary.");
    if !b.diagnosis.is_empty() {
        let _ = writeln!(
            w,
            "\nWhere the main thread's time goes (sampling CPU profile, after the measured window):\n"
        );
        for line in &b.diagnosis {
            let _ = writeln!(w, "- {line}");
        }
    }
    let _ = writeln!(w);
}

const METHOD: [&str; 10] = [
    "Every system runs the same generator, `bench-gen`: ~110-byte lines `LEVEL seq=N t=<CLOCK_MONOTONIC ns> gen payload=…`, levels mixed (INFO, DEBUG, WARN, ERROR), either flat out or at a fixed rate, starting when every client is connected.",
    "**Logdeck**: `target/release/logdeck` with the generator as its one `[[process]]` (defaults otherwise: `client_queue` 16 384, `memory_entries` 100 000, the store on (in the run's directory), no log files). Clients read `/ws/logs` without options: one JSON entry per frame.",
    "**bare limit**: `bench-limit` (bench/src/bin/bench-limit.rs): tokio + tokio-tungstenite, one reader task per pipe, each line wrapped once in the four-field JSON, the same bytes broadcast to every client via `tokio::sync::broadcast`, each client draining up to 1 000 queued frames with `feed` and one `flush`.",
    "**frontail**: the npm package, reading the generator on stdin (`frontail -`), clients are socket.io-client@2 (websocket transport) in one Node process, `bench/peers/frontail_client.js`.",
    "**DMB model**: `bench/peers/dmb_model.py`, FastAPI + uvicorn (`uvicorn[standard]`, pinned): one reader thread per child pipe (`for line in iter(pipe.readline, \"\")`) logging each line; a `logging.Handler` whose `emit` broadcasts the formatted line through a `ConnectionManager` (a plain list; `asyncio.gather` of `send_text`), next to a console and a file handler. Rust clients, as for Logdeck and the limit.",
    "Rust clients (tokio-tungstenite) run inside the runner process; all clients of a run share the 2 cores with the server, the same for every system. Clients find every `seq=`/`t=` stamp in the frame text, so they read Logdeck's JSON entries, the limit's and the DMB model's frames and frontail's socket.io events alike; latency is the client's CLOCK_MONOTONIC on receipt minus the stamp; loss is lines printed minus lines received; gaps in `seq` are counted too.",
    "Throughput counts the lines received inside the window (the generator's printing time). Latency and isolation runs then wait for lines still on their way until all arrived or 2 s pass without progress (bounded); what never arrives is lost.",
    "Server CPU is utime+stime of the server process from /proc/<pid>/stat over the window; RSS is VmRSS sampled every 100 ms (peak shown). For the DMB model that is the uvicorn process (children are generators, not counted, for every system).",
    "Before each run the runner checks /proc/loadavg and waits (30 s polls, up to 10 min) while the 1-minute load is above 1.5 with other builds running; the loads seen are in the table above.",
    "**Store** (bench/src/store.rs): the ingest rate is what `/api/info`'s `store.written` grew by over the window; the fill runs several generators at a fixed rate until the store holds them all (with `log_files = true`, for the `grep` comparison); the queries are plain HTTP GETs against the filled server, each timed from the request to the last byte, the median of several (the page cache is warm for `grep` and the store alike).",
];

/// The fan-out of the store scenario with the store off and on: the
/// median per-client rate of each, and on ÷ off.
fn store_fanout(runs: &[RunResult]) -> (Option<f64>, Option<f64>, Option<f64>) {
    let rate = |scenario: &str| {
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| r.scenario == scenario)
            .filter_map(|r| r.per_client_rate)
            .collect();
        median(&rates)
    };
    let (off, on) = (
        rate(crate::scenario::STORE_OFF),
        rate(crate::scenario::STORE_ON),
    );
    (off, on, ratio(on, off))
}

/// The metrics scenario per number of clients: its runs with `/metrics`
/// off and on, paired as they ran (one after the other), and the median
/// of the pairs' on ÷ off. Pairing cancels the machine's drift over the
/// suite, which is larger than the effect measured.
struct MetricsFanout {
    clients: usize,
    /// (off, on) per-client lines/s.
    pairs: Vec<(f64, f64)>,
    ratio: Option<f64>,
}

fn metrics_fanout(runs: &[RunResult]) -> Vec<MetricsFanout> {
    use crate::scenario::{METRICS_OFF, METRICS_ON};
    client_counts(runs, METRICS_ON)
        .into_iter()
        .map(|clients| {
            let pairs: Vec<(f64, f64)> = runs
                .iter()
                .filter(|on| on.scenario == METRICS_ON && on.clients == clients)
                .filter_map(|on| {
                    let off = runs.iter().find(|off| {
                        off.scenario == METRICS_OFF && off.clients == clients && off.rep == on.rep
                    })?;
                    Some((off.per_client_rate?, on.per_client_rate?))
                })
                .collect();
            let ratios: Vec<f64> = pairs
                .iter()
                .filter_map(|&(off, on)| ratio(Some(on), Some(off)))
                .collect();
            MetricsFanout {
                clients,
                ratio: median(&ratios),
                pairs,
            }
        })
        .collect()
}

fn metrics_target(w: &mut String, runs: &[RunResult]) {
    let sets = metrics_fanout(runs);
    if sets.is_empty() {
        return;
    }
    let text: Vec<String> = sets
        .iter()
        .map(|s| {
            format!(
                "{} clients: {}",
                s.clients,
                s.ratio.map_or("–".into(), |r| format!("{:.1}%", r * 100.0))
            )
        })
        .collect();
    let met = sets
        .iter()
        .map(|s| s.ratio.map(|r| r >= 0.98))
        .try_fold(true, |all, met| met.map(|m| all && m));
    let _ = writeln!(
        w,
        "| metrics: fan-out with `/metrics` on within 2% of it off | {} of the metrics-off figure (median of the runs' pairs) | {} |",
        text.join(", "),
        yes_no(met)
    );
}

fn metrics_section(w: &mut String, runs: &[RunResult]) {
    let sets = metrics_fanout(runs);
    if sets.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\n## 9. Metrics (the fan-out with `/metrics` on and off)\n"
    );
    let _ = writeln!(
        w,
        "The suite's flat-out fan-out with the store off, run with `[metrics] enabled` on (the default: capture counts every entry) and off (`LOGDECK_METRICS__ENABLED=false`) one after the other, the order swapped every other pair. Per-client lines/s; on ÷ off is the median of the pairs' ratios (pairing cancels the machine's drift over the suite, which is larger than the effect measured):\n"
    );
    let _ = writeln!(
        w,
        "| clients | metrics off (median) | metrics on (median) | on ÷ off | each pair: off → on |\n|---|---|---|---|---|"
    );
    for s in &sets {
        let (off, on): (Vec<f64>, Vec<f64>) = s.pairs.iter().copied().unzip();
        let each: Vec<String> = s
            .pairs
            .iter()
            .map(|&(off, on)| format!("{} → {} ({:.1}%)", int(off), int(on), on * 100.0 / off))
            .collect();
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            s.clients,
            median(&off).map_or("–".into(), int),
            median(&on).map_or("–".into(), int),
            s.ratio.map_or("–".into(), |r| format!("{:.1}%", r * 100.0)),
            each.join("; "),
        );
    }
}

/// What the store kept of the flat-out streams it was on for, summed over
/// the runs (a sentence, or nothing when not measured).
#[allow(clippy::cast_precision_loss)]
fn store_kept_note(runs: &[RunResult]) -> String {
    let kept: Vec<_> = runs
        .iter()
        .filter(|r| r.scenario == crate::scenario::STORE_ON)
        .filter_map(|r| r.store_kept)
        .collect();
    let printed: u64 = kept.iter().map(|k| k.printed).sum();
    if printed == 0 {
        return String::new();
    }
    // The server's own few entries are written too.
    let written = kept.iter().map(|k| k.written.min(k.printed)).sum::<u64>();
    let lost: u64 = kept.iter().map(|k| k.lost).sum();
    format!(
        " Of the {} lines printed in those runs with the store on, it stored {} ({:.1}%) and counted {} as not stored: its writer runs at a lower priority than streaming, so a flood that holds both cores goes to the clients first.",
        int(printed as f64),
        int(written as f64),
        written as f64 * 100.0 / printed as f64,
        int(lost as f64),
    )
}

fn store_run(runs: &[RunResult]) -> Option<(&RunResult, &crate::store::StoreResult)> {
    runs.iter()
        .rev()
        .find_map(|r| r.store.as_ref().map(|s| (r, s)))
}

#[allow(clippy::cast_precision_loss)]
fn store_targets(w: &mut String, runs: &[RunResult]) {
    let (_, _, fan) = store_fanout(runs);
    let Some((_, store)) = store_run(runs) else {
        if fan.is_none() {
            return;
        }
        let _ = writeln!(
            w,
            "| store: the scenario's figures | not measured | not measured |"
        );
        return;
    };
    let ingest_met = store.ingest_stored_per_s >= 100_000.0 && store.ingest_lost == 0;
    let _ = writeln!(
        w,
        "| store: ingest ≥ 100 000 lines/s while streaming | {} lines/s stored at {} lines/s printed, {} not stored | {} |",
        int(store.ingest_stored_per_s),
        int(store.ingest_rate as f64),
        int(store.ingest_lost as f64),
        yes_no(Some(ingest_met))
    );
    let _ = writeln!(
        w,
        "| store: fan-out within 5% of the store off | {} of the store-off figure | {} |",
        fan.map_or("–".into(), |r| format!("{:.1}%", r * 100.0)),
        yes_no(fan.map(|r| r >= 0.95))
    );
    let lines = int(store.stored as f64);
    let _ = writeln!(
        w,
        "| store ({lines} lines): a rare substring's newest 100 hits < 100 ms | {} (`{}`, {} hits) | {} |",
        ms(store.search_ms),
        store.search,
        store.search_hits,
        yes_no(store.search_ms.map(|t| t < 100.0))
    );
    let _ = writeln!(
        w,
        "| store ({lines} lines): histogram over all of it, {} buckets < 200 ms | {} | {} |",
        store.histogram_buckets,
        ms(store.histogram_ms),
        yes_no(store.histogram_ms.map(|t| t < 200.0))
    );
    let _ = writeln!(
        w,
        "| store ({lines} lines): a page of 500 older lines < 20 ms | {} | {} |",
        ms(store.page_ms),
        yes_no(store.page_ms.map(|t| t < 20.0))
    );
    let size_ratio =
        (store.message_bytes > 0).then(|| store.size_bytes as f64 / store.message_bytes as f64);
    let _ = writeln!(
        w,
        "| store: size ≤ 2× the raw message bytes | {} for {} of messages ({}) | {} |",
        bytes_mib(Some(store.size_bytes)),
        bytes_mib(Some(store.message_bytes)),
        size_ratio.map_or("–".into(), |r| format!("{r:.2}×")),
        yes_no(size_ratio.map(|r| r <= 2.0))
    );
}

#[allow(clippy::cast_precision_loss)]
fn store_section(w: &mut String, runs: &[RunResult]) {
    let (off, on, fan) = store_fanout(runs);
    let Some((run, store)) = store_run(runs) else {
        return;
    };
    let _ = writeln!(w, "\n## 8. Store (the indexed history)\n");
    let _ = writeln!(
        w,
        "**Ingest**: one generator at {} lines/s for {:.0} s, {} clients streaming. The store committed {} lines/s during the window ({} not stored; everything printed was stored {} after the window). The search index trailed by {} entries at the end of the window and caught up {} later (searches read what it has not reached directly). The clients got {} lines/s each (p99 {}, {} lost). Server CPU {}.\n",
        int(store.ingest_rate as f64),
        run.duration_s,
        run.clients,
        int(store.ingest_stored_per_s),
        int(store.ingest_lost as f64),
        store
            .ingest_catch_up_s
            .map_or("–".into(), |s| format!("{s:.1} s")),
        int(store.ingest_unindexed as f64),
        store
            .index_catch_up_s
            .map_or("–".into(), |s| format!("{s:.1} s")),
        run.per_client_rate.map_or("–".into(), int),
        ms(run.p99_ms),
        run.lost_lines.map_or("–".into(), |l| int(l as f64)),
        run.usage
            .as_ref()
            .map_or("–".into(), |u| format!("{:.2} cores", u.cpu_cores)),
    );
    let _ = writeln!(
        w,
        "**Fan-out, store off and on** (flat-out generator, the median of the runs): {} and {} lines/s per client ({}).{}\n",
        off.map_or("–".into(), int),
        on.map_or("–".into(), int),
        fan.map_or("–".into(), |r| format!("{:.1}%", r * 100.0)),
        store_kept_note(runs),
    );
    let _ = writeln!(
        w,
        "**Filled** with {} lines of several processes in {:.0} s, the index complete ({} not stored): {} on disk for {} of messages. Queries over HTTP, the median of several:\n",
        int(store.stored as f64),
        store.fill_s,
        int(store.fill_lost as f64),
        bytes_mib(Some(store.size_bytes)),
        bytes_mib(Some(store.message_bytes)),
    );
    let _ = writeln!(w, "| question | answer | time |\n|---|---|---|");
    let _ = writeln!(
        w,
        "| `GET /api/logs?q={}&limit=100` (newest hits) | {} entries | {} |",
        store.search,
        store.search_hits,
        ms(store.search_ms)
    );
    let _ = writeln!(
        w,
        "| `grep -c -h {} <log_dir>/*.jsonl` (the same search over the JSON Lines files) | {} lines | {} |",
        store.search,
        store.grep_count,
        ms(store.grep_ms)
    );
    let _ = writeln!(
        w,
        "| `GET /api/logs/histogram?buckets={}` (everything) | {} entries counted | {} |",
        store.histogram_buckets,
        int(store.histogram_total as f64),
        ms(store.histogram_ms)
    );
    let _ = writeln!(
        w,
        "| `GET /api/logs?before_seq=<middle>&limit=500` | {} entries | {} |",
        store.page_lines,
        ms(store.page_ms)
    );
}

/// The cluster scenario, one row per number of clients (the median run by
/// p99): one table of what the clients got, one of what each process of
/// the cluster used.
fn cluster_section(w: &mut String, runs: &[&RunResult]) {
    let Some(first) = runs.first() else { return };
    let _ = writeln!(
        w,
        "\n## 7. Cluster (2 nodes × {} lines/s through nats-server → 2 viewer nodes, {:.0} s)\n",
        int(first.rate.unwrap_or(0) as f64 / 2.0),
        first.duration_s
    );
    let _ = writeln!(
        w,
        "Each client of either viewer node should get every line of both generators, {} lines/s. Latency is from the generator's write on one node to the client of another node reading the frame. A client that falls behind gets a drop notice and skips ahead; \"kept up\" are the clients that got none. Targets: 0 loss for clients that keep up, p99 < 50 ms.\n",
        int(first.rate.unwrap_or(0) as f64)
    );
    let _ = writeln!(
        w,
        "| clients | lines/s per client (min) | p50 | p99 | max | lost | drop notices | kept up | their loss | their p99 |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in runs {
        let kept = r.kept_up.as_ref();
        let _ = writeln!(
            w,
            "| {} | {} ({}) | {} | {} | {} | {}{} | {} | {} | {} | {} |",
            r.clients,
            r.per_client_rate.map_or("–".into(), int),
            r.per_client_rate_min.map_or("–".into(), int),
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            r.lost_lines.map_or("–".into(), |l| l.to_string()),
            r.loss_pct.map_or(String::new(), |p| format!(" ({p:.3}%)")),
            r.notices,
            kept.map_or("–".into(), |k| k.clients.to_string()),
            kept.map_or("–".into(), |k| k.lost_lines.to_string()),
            ms(kept.and_then(|k| k.p99_ms)),
        );
    }
    let names: Vec<&str> = first.members.iter().map(|m| m.name.as_str()).collect();
    let _ = writeln!(
        w,
        "\nCPU (cores) and peak RSS of each process of the cluster:\n\n| clients | {} |\n|---|{}",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for r in runs {
        let cells: Vec<String> = r
            .members
            .iter()
            .map(|m| format!("{:.2}, {}", m.usage.cpu_cores, mib(m.usage.rss_peak_kib)))
            .collect();
        let _ = writeln!(w, "| {} | {} |", r.clients, cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreKept;

    fn browser(wasm_gzip: u64, first_loads: &[f64]) -> BrowserResult {
        BrowserResult {
            bundle: vec![BundleFile {
                path: "/pkg/logdeck.wasm".into(),
                bytes: 1_000_000,
                gzip9_bytes: wasm_gzip,
                br_sent_bytes: Some(300_000),
                gzip_sent_bytes: None,
            }],
            first_load_ms: first_loads.to_vec(),
            first_load_wasm_ms: vec![Some(90.0); first_loads.len()],
            ..BrowserResult::default()
        }
    }

    fn target_row<'a>(report: &'a str, starts: &str) -> &'a str {
        report
            .lines()
            .find(|line| line.starts_with(starts))
            .unwrap_or_else(|| panic!("no row {starts} in\n{report}"))
    }

    #[test]
    fn the_latency_target_compares_the_p99_with_the_limits_in_the_same_run() {
        let row = |ours: f64, limit: f64| {
            let run = |system, p99| RunResult {
                scenario: "latency".into(),
                system: Some(system),
                clients: 100,
                p99_ms: Some(p99),
                ..RunResult::default()
            };
            let runs = [
                run(SystemKind::Logdeck, ours),
                run(SystemKind::Limit, limit),
            ];
            target_row(
                &render(&Machine::default(), &runs, None),
                "| p99 at 10k lines/s × 100 clients within 1.1×",
            )
            .to_owned()
        };
        let met = row(5.6, 5.1);
        assert!(met.contains("5.6 ms against 5.1 ms: 1.10×"), "{met}");
        assert!(met.ends_with("| **yes** |"), "{met}");
        // Under 5 ms, yet 1.2 times the limit's: not met.
        let missed = row(3.6, 3.0);
        assert!(missed.contains("1.20×"), "{missed}");
        assert!(missed.ends_with("| **no** |"), "{missed}");
    }

    #[test]
    fn the_store_section_says_what_the_store_kept_of_the_flood() {
        let fanout = |scenario: &str, rate: f64, kept: Option<StoreKept>| RunResult {
            scenario: scenario.into(),
            per_client_rate: Some(rate),
            store_kept: kept,
            ..RunResult::default()
        };
        let kept = |printed, written, lost| {
            Some(StoreKept {
                printed,
                written,
                lost,
            })
        };
        let runs = vec![
            fanout(crate::scenario::STORE_OFF, 200_000.0, None),
            // The server's own entries are written too: at most what was
            // printed counts as kept.
            fanout(crate::scenario::STORE_ON, 190_000.0, kept(1_000, 1_003, 0)),
            fanout(
                crate::scenario::STORE_ON,
                190_000.0,
                kept(3_000, 2_000, 1_002),
            ),
            RunResult {
                scenario: "store".into(),
                store: Some(crate::store::StoreResult::default()),
                ..RunResult::default()
            },
        ];
        let report = render(&Machine::default(), &runs, None);
        let line = target_row(&report, "**Fan-out, store off and on**");
        assert!(
            line.contains("200,000 and 190,000 lines/s per client (95.0%)"),
            "{line}"
        );
        assert!(
            line.contains("Of the 4,000 lines printed in those runs with the store on, it stored 3,000 (75.0%) and counted 1,002 as not stored"),
            "{line}"
        );
        // Not measured: no sentence.
        let report = render(&Machine::default(), &runs[..1], None);
        assert!(!report.contains("lines printed in those runs"), "{report}");
    }

    #[test]
    fn the_metrics_target_is_the_median_of_the_pairs_on_and_off() {
        let run = |scenario: &str, clients: usize, rep: u32, rate: f64| RunResult {
            scenario: scenario.into(),
            clients,
            rep,
            per_client_rate: Some(rate),
            ..RunResult::default()
        };
        let (on, off) = (crate::scenario::METRICS_ON, crate::scenario::METRICS_OFF);
        // The machine drifts: each pair is within 1%, the medians of the
        // runs 10% apart.
        let mut runs = vec![
            run(off, 1, 0, 100_000.0),
            run(on, 1, 0, 99_000.0),
            run(on, 1, 1, 90_000.0),
            run(off, 1, 1, 90_000.0),
            run(off, 1, 2, 80_000.0),
            run(on, 1, 2, 80_800.0),
            run(on, 10, 0, 50_000.0),
            run(off, 10, 0, 50_000.0),
        ];
        let report = render(&Machine::default(), &runs, None);
        let row = target_row(&report, "| metrics: fan-out");
        assert!(
            row.contains("1 clients: 100.0%, 10 clients: 100.0%"),
            "{row}"
        );
        assert!(row.ends_with("| **yes** |"), "{row}");
        let table = target_row(&report, "| 1 | 90,000 | 90,000 | 100.0% |");
        assert!(
            table.contains(
                "100,000 → 99,000 (99.0%); 90,000 → 90,000 (100.0%); 80,000 → 80,800 (101.0%)"
            ),
            "{table}"
        );
        // 10 clients 2.1% slower: missed.
        runs.push(run(on, 10, 1, 47_900.0));
        runs.push(run(off, 10, 1, 50_000.0));
        runs.push(run(off, 10, 2, 50_000.0));
        runs.push(run(on, 10, 2, 48_950.0));
        let report = render(&Machine::default(), &runs, None);
        let row = target_row(&report, "| metrics: fan-out");
        assert!(row.contains("10 clients: 97.9%"), "{row}");
        assert!(row.ends_with("| **no** |"), "{row}");
        // No run with metrics on: no row.
        let report = render(&Machine::default(), &runs[..1], None);
        assert!(!report.contains("| metrics: fan-out"), "{report}");
    }

    #[test]
    fn the_bundle_and_first_load_targets_are_judged_from_what_was_measured() {
        let met = render(
            &Machine::default(),
            &[],
            Some(&browser(399_000, &[250.0, 900.0, 120.0])),
        );
        let row = target_row(&met, "| viewer: wasm ≤ 400 KB gzipped");
        assert!(row.contains("399,000 B (399 KB) gzipped"), "{row}");
        assert!(row.ends_with("| **yes** |"), "{row}");
        let row = target_row(&met, "| viewer: first live row");
        assert!(row.contains("median 250"), "{row}");
        assert!(row.ends_with("| **yes** |"), "{row}");

        let missed = render(
            &Machine::default(),
            &[],
            Some(&browser(400_001, &[310.0, 320.0, 100.0])),
        );
        assert!(target_row(&missed, "| viewer: wasm").ends_with("| **no** |"));
        assert!(target_row(&missed, "| viewer: first live row").ends_with("| **no** |"));
    }

    fn high(long_task_max_ms: f64, input_ms: &[Option<f64>], wasm_end: u64) -> BrowserResult {
        BrowserResult {
            high: Some(HighRate {
                rate: 50_000,
                stream_s: 20.4,
                lines_printed: 1_000_000,
                rows_kept: Some(100_000),
                skipped: 0,
                long_tasks_over_100: u64::from(long_task_max_ms > 100.0),
                long_task_max_ms,
                frame_p99_ms: Some(33.3),
                input_ms: input_ms.to_vec(),
                heap_start_bytes: Some(8 << 20),
                heap_end_bytes: Some(9 << 20),
                wasm_start_bytes: Some(32 << 20),
                wasm_end_bytes: Some(wasm_end),
                note: None,
            }),
            ..browser(399_000, &[250.0])
        }
    }

    #[test]
    fn the_high_rate_target_needs_short_tasks_quick_clicks_and_flat_memory() {
        let row = |b: &BrowserResult| {
            target_row(
                &render(&Machine::default(), &[], Some(b)),
                "| viewer at 50k",
            )
            .to_owned()
        };
        let met = row(&high(89.0, &[None, Some(24.0), None], 32 << 20));
        assert!(met.contains("clicks answered in <16, 24, <16 ms"), "{met}");
        assert!(met.contains("heap + wasm 40.0 MiB → 41.0 MiB"), "{met}");
        assert!(met.ends_with("| **yes** |"), "{met}");
        // A task over 100 ms, a slow click, memory grown by a fifth.
        for missed in [
            high(114.0, &[None], 32 << 20),
            high(89.0, &[None, Some(104.0)], 32 << 20),
            high(89.0, &[None], 40 << 20),
        ] {
            assert!(row(&missed).ends_with("| **no** |"), "{}", row(&missed));
        }
        let unmeasured = row(&browser(399_000, &[250.0]));
        assert!(unmeasured.contains("not measured"), "{unmeasured}");
    }
}
