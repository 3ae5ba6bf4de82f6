// The browser scenario of the benchmark (issue #7): Logdeck streams
// BENCH_BROWSER_RATE lines/s (default 10 000) into the viewer for
// BENCH_BROWSER_SECONDS (default 30) while the page keeps up to 100 000 rows.
// Measured: main-thread long tasks (> 50 ms) and animation-frame intervals
// while streaming, the JS heap at the end, and the time a regex filter takes
// to apply over the kept rows once the stream has stopped: from dispatching
// the search box's `input` event (regex toggle on) to the rendered frame
// showing the new "N of M lines", and the same for clearing the search; a
// few times each. Then a high-rate stream (BENCH_BROWSER_HIGH_RATE, default
// 50 000 lines/s for BENCH_BROWSER_HIGH_SECONDS, 20): tasks over 100 ms,
// clicks on the UTC toggle timed by the Event Timing API, memory early and
// at the end, and the lines the page says it skipped. Everything measured is written to
// BENCH_BROWSER_OUT (default bench/results-full/browser.json) in the shape of
// `BrowserResult` (bench/src/report.rs), also when something fails.
//
// Run it with scripts/bench-browser.sh (`make bench-browser`), which first
// waits for the machine to be quiet. Environment:
//
//   BENCH_BROWSER_RATE, BENCH_BROWSER_SECONDS   the stream (10000, 30)
//   BENCH_BROWSER_HIGH_RATE, BENCH_BROWSER_HIGH_SECONDS
//                             the high-rate stream (50000, 20)
//   BENCH_BROWSER_PATTERN     the regex timed (default `seq=\d*7 t=`: one row
//                             in ten of bench-gen's lines)
//   BENCH_BROWSER_FILTER_RUNS how many times it is applied and cleared (5)
//   BENCH_BROWSER_OUT         where the JSON goes
//   BENCH_BROWSER_LOAD        `bench quiet --out` JSON (the load before)
//   BENCH_BROWSER_PIDFILE     gets the server's pid (for the script's cleanup)
//   BENCH_BROWSER_WASM_NAMES  the viewer's wasm with its name section, for
//                             naming wasm functions in the diagnosis
//   BENCH_SERVER, BENCH_SITE_ROOT, BENCH_GEN
//                             target/release/logdeck, target/site and
//                             .tools/bench/bin-suite-full/bench-gen by default
//   BENCH_BROWSER_URL, BENCH_BROWSER_GO_FILE, BENCH_BROWSER_GEN_REPORT
//                             a server already running one bench-gen that
//                             waits for the go file and writes its report
//                             there; the spec then starts no server (and
//                             profiles no second stream)

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { expect, test, type Browser, type CDPSession, type Page } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';
import { listeningUrl, waitUntilServing } from '../server-process';

const repoRoot = path.resolve(__dirname, '..', '..');

const RATE = positive('BENCH_BROWSER_RATE', 10_000);
const SECONDS = positive('BENCH_BROWSER_SECONDS', 30);
const PATTERN = process.env.BENCH_BROWSER_PATTERN || String.raw`seq=\d*7 t=`;
const FILTER_RUNS = positive('BENCH_BROWSER_FILTER_RUNS', 5);
/** Matches none of bench-gen's lines, as plain text or as a regex. */
const NO_MATCH = 'no line says this';
const OUT = path.resolve(
  repoRoot,
  process.env.BENCH_BROWSER_OUT || path.join('bench', 'results-full', 'browser.json'),
);
/** The line size of the suite's scenarios. */
const LINE_BYTES = 110;
/** The second, profiled stream (after the measured window). */
const PROFILE_SECONDS = Math.min(5, SECONDS);
/**
 * The high-rate scenario (issue #16), after the filters: the page must stay
 * responsive (no task over 100 ms, a click answered within 100 ms) with its
 * memory flat, keeping what it can and saying what it skipped.
 */
const HIGH_RATE = positive('BENCH_BROWSER_HIGH_RATE', 50_000);
const HIGH_SECONDS = positive('BENCH_BROWSER_HIGH_SECONDS', 20);
/** A click on the UTC toggle this often while the high-rate stream runs. */
const CLICK_EVERY_MS = 2_000;
const HIGH_LONG_TASK_MS = 100;

/** First load: cold loads timed, while a process prints this many lines/s for this long. */
const FIRST_LOAD_RUNS = 5;
const FIRST_LOAD_RATE = 200;
const FIRST_LOAD_STREAM_S = 30;
/** One fetch of a site file must be done within this. */
const FETCH_DEADLINE_MS = 20_000;
/** The site's files whose sizes are reported. */
const BUNDLE_PATHS = ['/pkg/logdeck.wasm', '/pkg/logdeck.js', '/pkg/logdeck.css'];

const SHUTDOWN_DEADLINE_MS = 20_000;
const LIVE_DEADLINE_MS = 30_000;
/** Quiet time after the page is live and between timed filters. */
const SETTLE_MS = 1_000;
/** After the generator finished, how long the page may take to show its last line. */
const CATCH_UP_DEADLINE_MS = 30_000;
/** One filter or clear must show its new row count within this. */
const FILTER_DEADLINE_MS = 20_000;
const LONG_TASK_MS = 50;
/** Main-thread work by kind (script, style, layout, paint, GC) in a trace. */
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink.gc', 'v8'];

/** What bench/src/report.rs `BrowserResult` reads; every field is written. */
interface BrowserResult {
  date: string;
  chromium: string;
  playwright: string;
  node: string;
  load: { load1: number; waited_s: number; builds_running: number };
  load_after: number;
  rate: number;
  stream_s: number;
  lines_printed: number;
  rows_kept: number | null;
  rows_shown: number | null;
  long_tasks: number;
  long_task_max_ms: number;
  long_task_total_ms: number;
  long_tasks_top_ms: number[];
  long_tasks_load: number;
  long_tasks_filter: number;
  frames: number;
  frame_p50_ms: number | null;
  frame_p99_ms: number | null;
  frame_max_ms: number | null;
  heap_used_bytes: number | null;
  heap_cdp_bytes: number | null;
  wasm_memory_bytes: number | null;
  renderer_rss_kib: number | null;
  filter_pattern: string;
  filter_ms: number[];
  filter_rows_text: string;
  clear_ms: number[];
  diagnosis: string[];
  bundle: BundleFile[];
  first_load_ms: number[];
  first_load_wasm_ms: (number | null)[];
  high: HighRateResult | null;
  error: string | null;
}

/** The high-rate scenario (bench/src/report.rs `HighRate`). */
interface HighRateResult {
  rate: number;
  stream_s: number;
  lines_printed: number;
  rows_kept: number | null;
  /** What the page's "N skipped" said at the end (0: none skipped). */
  skipped: number;
  long_tasks_over_100: number;
  long_task_max_ms: number;
  frame_p99_ms: number | null;
  /**
   * Per click on the UTC toggle: the longest Event Timing duration of its
   * events (input delay, handlers and the next paint); null when the browser
   * reported none, which it does only for events under 16 ms.
   */
  input_ms: (number | null)[];
  /**
   * JS heap (after a forced garbage collection) and wasm memory before the
   * high-rate stream (the rows kept already full) and after it.
   */
  heap_start_bytes: number | null;
  heap_end_bytes: number | null;
  wasm_start_bytes: number | null;
  wasm_end_bytes: number | null;
  note: string | null;
}

/** One of the site's files as the server sends it. */
interface BundleFile {
  path: string;
  bytes: number;
  /** `gzip -9` of it (the figure the targets use). */
  gzip9_bytes: number;
  /** What is sent to a browser that accepts br, and one that accepts only gzip. */
  br_sent_bytes: number | null;
  gzip_sent_bytes: number | null;
}

/** bench-gen's `--report` (bench/src/lib.rs `GenReport`). */
interface GenReport {
  lines: number;
  elapsed_s: number;
  max_slip_ms: number;
  done?: boolean;
}

interface LongTask {
  start: number;
  duration: number;
}

/** A generator the page's server runs, waiting for its go file. */
interface Generator {
  goFile: string;
  report: string;
  lines: number;
}

test('the viewer at 10 000 lines/s', async ({ page, browser }) => {
  const result = emptyResult();
  result.chromium = `Chromium ${browser.version()}`;
  result.playwright = playwrightVersion();
  result.node = `Node.js ${process.version}`;
  result.load = loadBefore();

  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  let server: Server | undefined;
  let failure: unknown;
  try {
    let url: string;
    let stream: Generator;
    let profiled: Generator | undefined;
    let trickle: Generator | undefined;
    let high: Generator | undefined;
    if (process.env.BENCH_BROWSER_URL) {
      url = process.env.BENCH_BROWSER_URL;
      stream = {
        goFile: required('BENCH_BROWSER_GO_FILE'),
        report: required('BENCH_BROWSER_GEN_REPORT'),
        lines: Math.round(RATE * SECONDS),
      };
    } else {
      server = await Server.start();
      url = server.url;
      [stream, profiled, trickle, high] = server.generators;
    }

    result.bundle = await bundleFiles(url);
    if (trickle) {
      // Cold loads while a process prints: to the first row printed after
      // the navigation began.
      fs.writeFileSync(trickle.goFile, '');
      for (let run = 0; run < FIRST_LOAD_RUNS; run++) {
        const load = await firstLoad(browser, url);
        result.first_load_ms.push(load.ms);
        result.first_load_wasm_ms.push(load.wasmMs);
      }
      await generatorDone(trickle, FIRST_LOAD_STREAM_S * 1.5 + 30);
    }

    await installProbes(page);
    const viewer = new LogViewerPage(page);
    await page.goto(url);
    await expect(viewer.status).toHaveText('live', { timeout: LIVE_DEADLINE_MS });
    await page.waitForTimeout(SETTLE_MS);

    // The measured window: from the go file to the page showing the last
    // line printed.
    const streamStart = await now(page);
    fs.writeFileSync(stream.goFile, '');
    const printed = await generatorDone(stream, SECONDS * 1.5 + 30);
    result.lines_printed = printed.lines;
    const shown = await lastLineShown(page, printed.lines);
    const streamEnd = shown.at;
    result.stream_s = (streamEnd - streamStart) / 1000;
    const notes: string[] = [];
    if (shown.behind !== null) {
      notes.push(
        `The viewer fell behind: ${CATCH_UP_DEADLINE_MS / 1000} s after the generator finished its newest row was line ${shown.behind} of ${printed.lines}; the window measured ends there.`,
      );
    }

    const probes = await readProbes(page);
    const streaming = within(probes.longTasks, streamStart, streamEnd);
    result.long_tasks_load = probes.longTasks.filter((t) => t.start < streamStart).length;
    result.long_tasks = streaming.length;
    const durations = streaming.map((t) => t.duration).sort((a, b) => b - a);
    result.long_task_max_ms = round(durations[0] ?? 0);
    result.long_task_total_ms = round(durations.reduce((sum, d) => sum + d, 0));
    result.long_tasks_top_ms = durations.slice(0, 10).map(round);
    const intervals = frameIntervals(probes.frames, streamStart, streamEnd);
    result.frames = intervals.length;
    result.frame_p50_ms = percentile(intervals, 0.5);
    result.frame_p99_ms = percentile(intervals, 0.99);
    result.frame_max_ms = percentile(intervals, 1);

    const counts = parseRowCount(await viewer.rowCount.textContent());
    result.rows_shown = counts?.shown ?? null;
    result.rows_kept = counts?.kept ?? null;
    result.heap_used_bytes = probes.heapUsed;
    result.wasm_memory_bytes = probes.wasmMemory;
    const cdp = await page.context().newCDPSession(page);
    result.heap_cdp_bytes = await cdpHeapUsed(cdp);
    result.renderer_rss_kib = await rendererRssKib(browser);

    // The stream has stopped: time the regex filter over the kept rows.
    const filterStart = await now(page);
    result.filter_pattern = PATTERN;
    for (let run = 0; run < FILTER_RUNS; run++) {
      await armRegex(page, viewer);
      const applied = await timeSearch(page, viewer, PATTERN);
      result.filter_ms.push(applied.ms);
      result.filter_rows_text = applied.text;
      await page.waitForTimeout(SETTLE_MS);
      const cleared = await timeSearch(page, viewer, '');
      result.clear_ms.push(cleared.ms);
      await page.waitForTimeout(SETTLE_MS);
    }
    const filterEnd = await now(page);
    result.long_tasks_filter = within((await readProbes(page)).longTasks, filterStart, filterEnd).length;

    if (high) {
      await page.waitForTimeout(SETTLE_MS);
      result.high = await highRate(page, viewer, high);
    }

    // Where the time goes, profiled after (not during) the measured window.
    result.diagnosis = [...notes, ...(await diagnose(browser, page, viewer, cdp, profiled))];
    if (pageErrors.length > 0) {
      throw new Error(`the page threw: ${pageErrors[0]}`);
    }
  } catch (error) {
    failure = error;
    // The first line of the message, without the terminal colours of expect's.
    const message = error instanceof Error ? error.message : String(error);
    result.error = message.replace(/\u001b\[[0-9;]*m/g, '').split('\n')[0];
  } finally {
    result.load_after = load1();
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    console.log(`bench: wrote ${OUT}`);
    await server?.stop();
  }
  if (failure) throw failure;
});

function emptyResult(): BrowserResult {
  return {
    date: utcDate(),
    chromium: '',
    playwright: '',
    node: '',
    load: { load1: 0, waited_s: 0, builds_running: 0 },
    load_after: 0,
    rate: RATE,
    stream_s: 0,
    lines_printed: 0,
    rows_kept: null,
    rows_shown: null,
    long_tasks: 0,
    long_task_max_ms: 0,
    long_task_total_ms: 0,
    long_tasks_top_ms: [],
    long_tasks_load: 0,
    long_tasks_filter: 0,
    frames: 0,
    frame_p50_ms: null,
    frame_p99_ms: null,
    frame_max_ms: null,
    heap_used_bytes: null,
    heap_cdp_bytes: null,
    wasm_memory_bytes: null,
    renderer_rss_kib: null,
    filter_pattern: PATTERN,
    filter_ms: [],
    filter_rows_text: '',
    clear_ms: [],
    diagnosis: [],
    bundle: [],
    first_load_ms: [],
    first_load_wasm_ms: [],
    high: null,
    error: null,
  };
}

/**
 * The high-rate stream into the page as it is after the filters (every
 * row kept already full): clicks the UTC toggle every CLICK_EVERY_MS
 * meanwhile and times each through the Event Timing API; reads memory
 * before and after, each time after a forced garbage collection (outside
 * the window measured), so that what is compared is what the page holds.
 */
async function highRate(page: Page, viewer: LogViewerPage, gen: Generator): Promise<HighRateResult> {
  const cdp = await page.context().newCDPSession(page);
  const memory = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const probes = await readProbes(page);
    return { heap: probes.heapUsed, wasm: probes.wasmMemory };
  };
  const early = await memory();
  await page.waitForTimeout(SETTLE_MS);
  const start = await now(page);
  fs.writeFileSync(gen.goFile, '');
  const clicks: number[] = [];
  let printed: GenReport | null = null;
  const deadline = Date.now() + (HIGH_SECONDS * 1.5 + 30) * 1000;
  while (printed === null) {
    await sleep(CLICK_EVERY_MS);
    clicks.push(await now(page));
    await viewer.utc.click({ timeout: FILTER_DEADLINE_MS });
    printed = readReport(gen);
    if (printed === null && Date.now() > deadline) {
      throw new Error(`the high-rate generator did not finish within ${HIGH_SECONDS * 1.5 + 30} s`);
    }
  }
  const shown = await lastLineShown(page, printed.lines);
  const probes = await readProbes(page);
  const end = await memory();
  const tasks = probes.longTasks.filter((t) => t.start >= start && t.start <= shown.at);
  const skippedText = (await viewer.page.getByTestId('skipped-count').textContent({ timeout: 1_000 }).catch(() => null)) ?? '';
  const counts = parseRowCount(await viewer.rowCount.textContent());
  return {
    rate: HIGH_RATE,
    stream_s: (shown.at - start) / 1000,
    lines_printed: printed.lines,
    rows_kept: counts?.kept ?? null,
    skipped: Number(/(\d+) skipped/.exec(skippedText)?.[1] ?? 0),
    long_tasks_over_100: tasks.filter((t) => t.duration > HIGH_LONG_TASK_MS).length,
    long_task_max_ms: round(Math.max(0, ...tasks.map((t) => t.duration))),
    frame_p99_ms: percentile(frameIntervals(probes.frames, start, shown.at), 0.99),
    input_ms: clicks.map((at, i) => {
      const until = clicks[i + 1] ?? Infinity;
      const mine = probes.events.filter((e) => e.start >= at && e.start < until);
      return mine.length ? round(Math.max(...mine.map((e) => e.duration))) : null;
    }),
    heap_start_bytes: early.heap,
    heap_end_bytes: end.heap,
    wasm_start_bytes: early.wasm,
    wasm_end_bytes: end.wasm,
    note:
      shown.behind === null
        ? null
        : `${CATCH_UP_DEADLINE_MS / 1000} s after the generator finished the newest row was line ${shown.behind} of ${printed.lines}`,
  };
}

/** bench-gen's final report, if it has written it. */
function readReport(gen: Generator): GenReport | null {
  try {
    const report = JSON.parse(fs.readFileSync(gen.report, 'utf8')) as GenReport;
    return report.done ? report : null;
  } catch {
    return null;
  }
}

/**
 * Before the page's own scripts: a long-task observer, a frame loop, and a
 * hook that keeps the wasm module's memory (wasm-bindgen does not expose it).
 */
async function installProbes(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const probes = {
      longTasks: [] as { start: number; duration: number }[],
      frames: [] as number[],
      events: [] as { name: string; start: number; duration: number }[],
      wasmMemory: null as WebAssembly.Memory | null,
    };
    (window as any).__benchProbes = probes;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        probes.longTasks.push({ start: entry.startTime, duration: entry.duration });
      }
    }).observe({ type: 'longtask', buffered: true });
    // Input answered: Event Timing reports events of 16 ms or more.
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        probes.events.push({ name: entry.name, start: entry.startTime, duration: entry.duration });
      }
    }).observe({ type: 'event', durationThreshold: 16, buffered: true } as PerformanceObserverInit);
    const frame = (time: number) => {
      probes.frames.push(time);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);

    const keep = (instance: WebAssembly.Instance | undefined) => {
      const memory = instance?.exports?.memory;
      if (memory instanceof WebAssembly.Memory) probes.wasmMemory = memory;
    };
    const streaming = WebAssembly.instantiateStreaming;
    if (streaming) {
      (WebAssembly as any).instantiateStreaming = async (...args: Parameters<typeof streaming>) => {
        const made = await streaming.apply(WebAssembly, args);
        keep(made.instance);
        return made;
      };
    }
    const instantiate = WebAssembly.instantiate as (...args: unknown[]) => Promise<unknown>;
    (WebAssembly as any).instantiate = async (...args: unknown[]) => {
      const made = await instantiate.apply(WebAssembly, args);
      keep(made instanceof WebAssembly.Instance ? made : (made as WebAssembly.WebAssemblyInstantiatedSource).instance);
      return made;
    };
  });
}

interface Probes {
  longTasks: LongTask[];
  frames: number[];
  events: { name: string; start: number; duration: number }[];
  heapUsed: number | null;
  wasmMemory: number | null;
}

async function readProbes(page: Page): Promise<Probes> {
  return page.evaluate(() => {
    const probes = (window as any).__benchProbes;
    const memory = (performance as any).memory;
    return {
      longTasks: probes.longTasks.slice(),
      frames: probes.frames.slice(),
      events: probes.events.slice(),
      heapUsed: memory ? memory.usedJSHeapSize : null,
      wasmMemory: probes.wasmMemory ? probes.wasmMemory.buffer.byteLength : null,
    };
  });
}

function now(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

function within(tasks: LongTask[], from: number, to: number): LongTask[] {
  return tasks.filter((t) => t.start >= from && t.start <= to && t.duration > LONG_TASK_MS);
}

function frameIntervals(frames: number[], from: number, to: number): number[] {
  const inside = frames.filter((t) => t >= from && t <= to);
  return inside.slice(1).map((t, i) => t - inside[i]);
}

/** Nearest-rank percentile, in ms rounded to 0.1. */
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return round(sorted[rank - 1]);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** "N of M lines": N shown, M kept. */
function parseRowCount(text: string | null): { shown: number; kept: number } | null {
  const match = /(\d+)\s*of\s*(\d+)\s*lines/.exec(text ?? '');
  return match ? { shown: Number(match[1]), kept: Number(match[2]) } : null;
}

/** Waits for the generator's final report (it writes progress ones as it goes). */
async function generatorDone(gen: Generator, deadlineS: number): Promise<GenReport> {
  const deadline = Date.now() + deadlineS * 1000;
  for (;;) {
    try {
      const report = JSON.parse(fs.readFileSync(gen.report, 'utf8')) as GenReport;
      if (report.done) return report;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) {
      throw new Error(`the generator did not finish within ${deadlineS} s of its go file`);
    }
    await sleep(200);
  }
}

/**
 * Waits until the newest row (the viewer follows the stream) is bench-gen's
 * line `seq`, and returns the page's clock then; `behind` is the newest line
 * shown instead when it had not got there within CATCH_UP_DEADLINE_MS.
 */
async function lastLineShown(page: Page, seq: number): Promise<{ at: number; behind: number | null }> {
  const deadline = Date.now() + CATCH_UP_DEADLINE_MS;
  for (;;) {
    const newest = await page.evaluate(() => {
      const rows = document.querySelectorAll('[data-testid="log-row"] .message');
      const text = rows[rows.length - 1]?.textContent ?? '';
      const seq = /seq=(\d+) /.exec(text);
      return { seq: seq ? Number(seq[1]) : null, at: performance.now() };
    });
    if (newest.seq === seq) return { at: newest.at, behind: null };
    if (Date.now() > deadline) return { at: newest.at, behind: newest.seq ?? 0 };
    await sleep(100);
  }
}

/**
 * Turns the regex toggle on (if it is not on already), untimed, with
 * NO_MATCH in the box (no rows as plain text or as a regex), so the timed
 * search that follows is a regex search typed into the box.
 */
async function armRegex(page: Page, viewer: LogViewerPage): Promise<void> {
  await timeSearch(page, viewer, NO_MATCH);
  if ((await viewer.searchRegex.getAttribute('aria-pressed')) !== 'true') {
    await viewer.searchRegex.click();
  }
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'true');
  await expect(viewer.search).toHaveValue(NO_MATCH);
  await page.waitForTimeout(SETTLE_MS);
}

/**
 * Types `value` into the search box (one `input` event, as a paste does) and
 * measures until the first animation frame whose "N of M lines" text differs
 * has been rendered (a message posted from that frame's callback runs after
 * its style, layout and paint).
 */
async function timeSearch(page: Page, viewer: LogViewerPage, value: string): Promise<{ ms: number; text: string }> {
  const input = await viewer.search.elementHandle();
  const count = await viewer.rowCount.elementHandle();
  if (!input || !count) throw new Error('the search box or the row count is missing');
  const timed = await page.evaluate(
    ([input, count, value, deadline]) =>
      new Promise<{ ms: number | null; text: string }>((resolve) => {
        const box = input as HTMLInputElement;
        const before = count.textContent;
        const start = performance.now();
        box.value = value as string;
        box.dispatchEvent(new Event('input', { bubbles: true }));
        const check = () => {
          if (count.textContent !== before) {
            const channel = new MessageChannel();
            channel.port1.onmessage = () =>
              resolve({ ms: performance.now() - start, text: count.textContent ?? '' });
            channel.port2.postMessage(null);
          } else if (performance.now() - start > (deadline as number)) {
            resolve({ ms: null, text: before ?? '' });
          } else {
            requestAnimationFrame(check);
          }
        };
        requestAnimationFrame(check);
      }),
    [input, count, value, FILTER_DEADLINE_MS] as const,
  );
  if (timed.ms === null) {
    throw new Error(`searching for ${JSON.stringify(value)} did not change the row count within ${FILTER_DEADLINE_MS} ms`);
  }
  return { ms: round(timed.ms), text: timed.text.trim() };
}

async function cdpHeapUsed(cdp: CDPSession): Promise<number | null> {
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.send('Performance.disable');
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize');
  return heap ? Math.round(heap.value) : null;
}

/** The RSS of the renderer that did the most work (the page's), if /proc shows it. */
async function rendererRssKib(browser: Browser): Promise<number | null> {
  try {
    const session = await browser.newBrowserCDPSession();
    const { processInfo } = (await session.send('SystemInfo.getProcessInfo')) as {
      processInfo: { type: string; id: number; cpuTime: number }[];
    };
    await session.detach();
    const renderer = processInfo
      .filter((p) => p.type === 'renderer')
      .sort((a, b) => b.cpuTime - a.cpuTime)[0];
    if (!renderer) return null;
    const status = fs.readFileSync(`/proc/${renderer.id}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return rss ? Number(rss[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Sampling CPU profiles of the page after the measured window: a second
 * stream at the same rate (when this spec started the server), then one
 * filter and clear. Each gives the busiest functions by self time; the
 * stream is also traced, which splits the browser's own work (layout,
 * paint, ...) that the profile lumps together.
 */
async function diagnose(
  browser: Browser,
  page: Page,
  viewer: LogViewerPage,
  cdp: CDPSession,
  profiled: Generator | undefined,
): Promise<string[]> {
  const lines: string[] = [];
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  if (profiled) {
    await browser.startTracing(page, { categories: TRACE_CATEGORIES });
    await cdp.send('Profiler.start');
    const start = Date.now();
    fs.writeFileSync(profiled.goFile, '');
    const printed = await generatorDone(profiled, PROFILE_SECONDS * 1.5 + 30);
    const shown = await lastLineShown(page, printed.lines);
    const { profile } = await cdp.send('Profiler.stop');
    const trace = await browser.stopTracing();
    await nameWasmFunctions(profile);
    const took = (Date.now() - start) / 1000;
    const behind = shown.behind === null ? '' : `, still behind at line ${shown.behind} of ${printed.lines}`;
    const what = `Streaming (${PROFILE_SECONDS} s more at ${RATE} lines/s, ${took.toFixed(1)} s profiled${behind})`;
    lines.push(summarise(profile, what));
    lines.push(summariseTrace(trace, `${what}, traced`));
  }
  await armRegex(page, viewer);
  await cdp.send('Profiler.start');
  const start = Date.now();
  await timeSearch(page, viewer, PATTERN);
  await timeSearch(page, viewer, '');
  const { profile } = await cdp.send('Profiler.stop');
  await nameWasmFunctions(profile);
  const took = (Date.now() - start) / 1000;
  lines.push(summarise(profile, `Filtering (\`${PATTERN}\` applied and cleared, ${took.toFixed(1)} s profiled)`));
  await cdp.send('Profiler.disable');
  return lines;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; functionIndex?: number } }[];
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * The release wasm has no name section, so V8 reports `wasm-function[N]`.
 * BENCH_BROWSER_WASM_NAMES may name a build of the same module that kept
 * it (scripts/bench-browser.sh makes one with wasm-bindgen and wasm-opt -g);
 * its names are used only if its code section is byte for byte the one
 * served, so the numbers mean the same functions.
 */
async function nameWasmFunctions(profile: CpuProfile): Promise<void> {
  const namesFile = process.env.BENCH_BROWSER_WASM_NAMES;
  if (!namesFile || !fs.existsSync(namesFile)) return;
  const named = new Uint8Array(fs.readFileSync(namesFile));
  const namedCode = wasmSection(named, 10);
  const names = wasmFunctionNames(named);
  const urls = new Set(profile.nodes.map((n) => n.callFrame.url).filter((u) => /\.wasm$/.test(u)));
  for (const url of urls) {
    let served: Uint8Array;
    try {
      served = new Uint8Array(await (await fetch(url)).arrayBuffer());
    } catch {
      continue;
    }
    const code = wasmSection(served, 10);
    if (!code || !namedCode || Buffer.compare(Buffer.from(code), Buffer.from(namedCode)) !== 0) continue;
    for (const node of profile.nodes) {
      const frame = node.callFrame;
      const index = /^wasm-function\[(\d+)\]$/.exec(frame.functionName)?.[1];
      const name = frame.url === url && index !== undefined ? names.get(Number(index)) : undefined;
      if (name) frame.functionName = readableRustName(name);
    }
  }
}

/** Drops symbol hashes and crate disambiguators: `regex_lite::pikevm::PikeVM::search`. */
function readableRustName(name: string): string {
  return name.replace(/::h[0-9a-f]{16}$/, '').replace(/\[[0-9a-f]{16}\]/g, '');
}

function leb128(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** Every section of a wasm module: its id and contents. */
function wasmSections(bytes: Uint8Array): { id: number; body: Uint8Array }[] {
  const sections = [];
  let at = 8; // magic and version
  while (at < bytes.length) {
    const id = bytes[at++];
    const [size, start] = leb128(bytes, at);
    sections.push({ id, body: bytes.subarray(start, start + size) });
    at = start + size;
  }
  return sections;
}

function wasmSection(bytes: Uint8Array, id: number): Uint8Array | undefined {
  return wasmSections(bytes).find((s) => s.id === id)?.body;
}

/** Function index → name, from the `name` custom section. */
function wasmFunctionNames(bytes: Uint8Array): Map<number, string> {
  const names = new Map<number, string>();
  const decoder = new TextDecoder();
  for (const { id, body } of wasmSections(bytes)) {
    if (id !== 0) continue;
    let [length, at] = leb128(body, 0);
    if (decoder.decode(body.subarray(at, at + length)) !== 'name') continue;
    at += length;
    while (at < body.length) {
      const kind = body[at++];
      const [size, start] = leb128(body, at);
      if (kind === 1) {
        let [count, p] = leb128(body, start);
        for (; count > 0; count--) {
          let index: number;
          [index, p] = leb128(body, p);
          [length, p] = leb128(body, p);
          names.set(index, decoder.decode(body.subarray(p, p + length)));
          p += length;
        }
      }
      at = start + size;
    }
  }
  return names;
}

/**
 * One line: how busy the main thread was and the functions with the most
 * self time. `(program)` is the browser's own work outside JS and wasm
 * (DOM, style, layout, paint). Wasm functions are numbered unless
 * nameWasmFunctions found their names.
 */
function summarise(profile: CpuProfile, what: string, top = 10): string {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  samples.forEach((id, i) => {
    // A sample stands for the time until the next one.
    const us = deltas[i + 1] ?? deltas[i] ?? 0;
    totalUs += us;
    const frame = byId.get(id);
    const name = frame?.functionName === '(program)' ? '(program, browser-native)' : frame?.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      return;
    }
    const where = frame?.url ? ` (${path.basename(frame.url)})` : '';
    const key = `${name}${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
  });
  const busyUs = totalUs - idleUs;
  if (busyUs <= 0) return `${what}: no samples`;
  const busiest = [...selfUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `\`${name}\` ${((100 * us) / busyUs).toFixed(1)}%`);
  return (
    `${what}: main thread busy ${((100 * busyUs) / totalUs).toFixed(0)}% of ${(totalUs / 1e6).toFixed(1)} s; ` +
    `self time: ${busiest.join(', ')}`
  );
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  args?: { name?: string };
}

/**
 * One line from a Chromium trace: the renderer main thread's tasks, the
 * longest, and the time of each kind of trace event in them, exclusive of
 * the events nested inside it (`RunTask` alone is task overhead; script is
 * `FunctionCall` and the like).
 */
function summariseTrace(trace: Buffer, what: string, top = 10): string {
  const parsed = JSON.parse(trace.toString('utf8'));
  const events: TraceEvent[] = Array.isArray(parsed) ? parsed : parsed.traceEvents ?? [];
  const mains = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}:${e.tid}`),
  );
  // The page's renderer: the main thread with the most to do.
  const perThread = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const thread = `${e.pid}:${e.tid}`;
    if (e.ph !== 'X' || e.dur === undefined || !mains.has(thread)) continue;
    const list = perThread.get(thread);
    if (list) list.push(e);
    else perThread.set(thread, [e]);
  }
  const main = [...perThread.values()].sort((a, b) => b.length - a.length)[0];
  if (!main) return `${what}: no renderer main thread in the trace`;
  main.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
  // Exclusive time per event name, over properly nested complete events.
  const self = new Map<string, number>();
  const stack: { e: TraceEvent; self: number }[] = [];
  const close = () => {
    const done = stack.pop()!;
    self.set(done.e.name, (self.get(done.e.name) ?? 0) + done.self);
  };
  const tasks: number[] = [];
  for (const e of main) {
    while (stack.length > 0 && stack[stack.length - 1].e.ts + stack[stack.length - 1].e.dur! <= e.ts) close();
    if (stack.length === 0) tasks.push(e.dur!);
    else stack[stack.length - 1].self -= e.dur!;
    stack.push({ e, self: e.dur! });
  }
  while (stack.length > 0) close();
  const busy = tasks.reduce((sum, d) => sum + d, 0);
  const span = main[main.length - 1].ts + main[main.length - 1].dur! - main[0].ts;
  const kinds = [...self]
    .filter(([, us]) => us > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${name} ${((100 * us) / busy).toFixed(1)}%`);
  const longest = Math.max(...tasks) / 1000;
  const long = tasks.filter((d) => d > LONG_TASK_MS * 1000).length;
  return (
    `${what}: ${tasks.length} main-thread tasks, busy ${((100 * busy) / span).toFixed(0)}% of ${(span / 1e6).toFixed(1)} s, ` +
    `longest ${longest.toFixed(0)} ms, ${long} over ${LONG_TASK_MS} ms; exclusive time: ${kinds.join(', ')}`
  );
}

/** The release server (copied, so a build cannot swap it mid-run) running two generators. */
/** The bytes of each of the site's files, as they are and as sent compressed. */
async function bundleFiles(url: string): Promise<BundleFile[]> {
  const files: BundleFile[] = [];
  for (const file of BUNDLE_PATHS) {
    const plain = await fetchRaw(url + file, 'identity');
    if (plain.encoding !== null) throw new Error(`${file} came ${plain.encoding}-encoded when asked for as it is`);
    const sent = async (encoding: string) => {
      const got = await fetchRaw(url + file, encoding);
      return got.encoding === encoding ? got.body.length : null;
    };
    files.push({
      path: file,
      bytes: plain.body.length,
      gzip9_bytes: zlib.gzipSync(plain.body, { level: 9 }).length,
      br_sent_bytes: await sent('br'),
      gzip_sent_bytes: await sent('gzip'),
    });
  }
  return files;
}

/** A GET with this Accept-Encoding; the body as it came, undecoded. */
function fetchRaw(url: string, acceptEncoding: string): Promise<{ body: Buffer; encoding: string | null }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { 'accept-encoding': acceptEncoding } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${url}: ${response.statusCode}`));
          return;
        }
        const encoding = response.headers['content-encoding'];
        resolve({ body: Buffer.concat(chunks), encoding: typeof encoding === 'string' ? encoding : null });
      });
    });
    request.setTimeout(FETCH_DEADLINE_MS, () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

/**
 * One load with an empty cache (a new browser context): from the start of
 * the navigation to the first row whose line was printed after it began
 * (bench-gen's `t=` is CLOCK_MONOTONIC, as Node's hrtime), and to the end
 * of the wasm's download.
 */
async function firstLoad(browser: Browser, url: string): Promise<{ ms: number; wasmMs: number | null }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const begun = process.hrtime.bigint().toString();
    await page.addInitScript((begunNs: string) => {
      const after = BigInt(begunNs);
      const probe = { firstLive: null as number | null };
      (window as any).__firstLoad = probe;
      // The newest rows are the last ones (the viewer follows the stream).
      const look = () => {
        const rows = document.querySelectorAll('[data-testid="log-row"] .message');
        for (const row of Array.prototype.slice.call(rows, -3)) {
          const t = /t=(\d+) /.exec(row.textContent ?? '');
          if (t && BigInt(t[1]) > after) {
            probe.firstLive = performance.now();
            observer.disconnect();
            return;
          }
        }
      };
      // Rows are reused for newer entries: their text changes in place.
      const observer = new MutationObserver(look);
      observer.observe(document, { childList: true, characterData: true, subtree: true });
    }, begun);
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForFunction(() => (window as any).__firstLoad?.firstLive != null, null, {
      timeout: LIVE_DEADLINE_MS,
      polling: 50,
    });
    // Awaited here: the context closes in `finally`.
    return await page.evaluate(() => {
      const wasm = performance
        .getEntriesByType('resource')
        .find((entry) => new URL(entry.name).pathname.endsWith('.wasm')) as PerformanceResourceTiming | undefined;
      return {
        ms: Math.round((window as any).__firstLoad.firstLive * 10) / 10,
        wasmMs: wasm ? Math.round(wasm.responseEnd * 10) / 10 : null,
      };
    });
  } finally {
    await context.close();
  }
}

class Server {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly generators: [Generator, Generator, Generator, Generator],
    private readonly dir: string,
  ) {}

  static async start(): Promise<Server> {
    const binary = path.resolve(repoRoot, process.env.BENCH_SERVER || 'target/release/logdeck');
    const site = path.resolve(repoRoot, process.env.BENCH_SITE_ROOT || 'target/site');
    const gen = path.resolve(repoRoot, process.env.BENCH_GEN || '.tools/bench/bin-suite-full/bench-gen');
    for (const [what, file] of [
      ['server (`make build`)', binary],
      ['site (`make build`)', path.join(site, 'pkg')],
      ['bench-gen (`make bench`)', gen],
    ]) {
      if (!fs.existsSync(file)) throw new Error(`${file} is missing: build the ${what} first`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logdeck-bench-browser-'));
    fs.copyFileSync(binary, path.join(dir, 'logdeck'));
    fs.chmodSync(path.join(dir, 'logdeck'), 0o755);
    fs.cpSync(site, path.join(dir, 'site'), { recursive: true });

    const generator = (name: string, seconds: number, rate = RATE): [Generator, string[]] => {
      const g = {
        goFile: path.join(dir, `${name}.go`),
        report: path.join(dir, `${name}.json`),
        lines: Math.round(rate * seconds),
      };
      const argv = [
        gen,
        ...['--mode', 'rate', '--rate', String(rate), '--duration', String(seconds)],
        ...['--size', String(LINE_BYTES), '--go-file', g.goFile, '--report', g.report, '--linger'],
      ];
      return [g, argv];
    };
    // As bench/src/system.rs `logdeck_config`: one process per generator.
    const [stream, streamArgv] = generator('gen0', SECONDS);
    const [profiled, profiledArgv] = generator('gen1', PROFILE_SECONDS);
    const [trickle, trickleArgv] = generator('gen2', FIRST_LOAD_STREAM_S, FIRST_LOAD_RATE);
    const [high, highArgv] = generator('gen3', HIGH_SECONDS, HIGH_RATE);
    const config = path.join(dir, 'logdeck.toml');
    fs.writeFileSync(
      config,
      'name = "logdeck"\n' +
        [streamArgv, profiledArgv, trickleArgv, highArgv]
          .map((argv, i) => `\n[[process]]\nname = "gen${i}"\ncommand = ${JSON.stringify(argv)}\nrestart = "no"\n`)
          .join(''),
    );

    // As installed: the site the binary carries (run where no Leptos.toml
    // is), unless BENCH_SITE_ROOT names files on disk.
    const env = { ...process.env };
    delete env.LEPTOS_SITE_ROOT;
    if (process.env.BENCH_SITE_ROOT) env.LEPTOS_SITE_ROOT = path.join(dir, 'site');
    const child = spawn(path.join(dir, 'logdeck'), ['--addr', '127.0.0.1:0', '--config', config], {
      cwd: dir,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (process.env.BENCH_BROWSER_PIDFILE && child.pid) {
      fs.writeFileSync(process.env.BENCH_BROWSER_PIDFILE, `${child.pid}\n`);
    }
    let url = '';
    try {
      url = await listeningUrl(child);
      await waitUntilServing(url);
    } catch (error) {
      await new Server(child, url, [stream, profiled, trickle, high], dir).stop();
      throw error;
    }
    return new Server(child, url, [stream, profiled, trickle, high], dir);
  }

  /** SIGTERM (the server stops its processes), SIGKILL if it hangs. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(SHUTDOWN_DEADLINE_MS).then(() => false)]);
      if (!done) {
        this.child.kill('SIGKILL');
        await Promise.race([exited, sleep(5_000)]);
      }
    }
    if (process.env.BENCH_BROWSER_PIDFILE) fs.rmSync(process.env.BENCH_BROWSER_PIDFILE, { force: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}




function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw} is not a positive number`);
  return value;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required with BENCH_BROWSER_URL`);
  return value;
}

function load1(): number {
  try {
    return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** The load `bench quiet` saw, or (run on its own) the load now. */
function loadBefore(): BrowserResult['load'] {
  const file = process.env.BENCH_BROWSER_LOAD;
  if (file && fs.existsSync(file)) {
    const note = JSON.parse(fs.readFileSync(file, 'utf8'));
    return { load1: note.load1 ?? 0, waited_s: note.waited_s ?? 0, builds_running: note.builds_running ?? 0 };
  }
  return { load1: load1(), waited_s: 0, builds_running: 0 };
}

function playwrightVersion(): string {
  const main = require.resolve('@playwright/test');
  return JSON.parse(fs.readFileSync(path.join(path.dirname(main), 'package.json'), 'utf8')).version;
}

/** As the suite's machine.json: "2026-01-31 12:00 UTC". */
function utcDate(): string {
  return new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
