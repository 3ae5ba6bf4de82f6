#!/usr/bin/env bash
# The browser scenario of Logdeck's benchmark (issue #7): the viewer in
# Chromium while the release server streams 10 000 lines/s into it for 30 s
# (100 000 rows kept). Counts main-thread long tasks, reads the JS heap at
# the end and times a regex filter over the kept rows; before that, the
# bundle's sizes as sent and five cold loads to the first live row.
#
#   scripts/bench-browser.sh [RESULTS_DIR]    (default bench/results-full)
#
# Writes RESULTS_DIR/browser.json and prints a summary of it. When
# RESULTS_DIR also holds the suite's results (machine.json and runs.jsonl,
# from `make bench`), re-renders bench/RESULTS.md with them.
#
# Needs target/release/logdeck and target/site (`make build`) and
# .tools/bench/bin-suite-full/{bench,bench-gen} (`make bench`). The spec
# (end2end/bench/browser.spec.ts) copies the server and the site first, so a
# build running meanwhile cannot swap them. Before measuring it waits for
# other benchmark runs and builds to finish (`bench quiet`; up to
# BENCH_QUIET_BUDGET seconds in all, default 600).
#
# Environment (see the spec): BENCH_BROWSER_RATE (10000),
# BENCH_BROWSER_SECONDS (30), BENCH_BROWSER_PATTERN, BENCH_BROWSER_FILTER_RUNS
# (5), BENCH_BIN (.tools/bench/bin-suite-full), CHROMIUM_PATH (/usr/bin/chromium).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESULTS="${1:-bench/results-full}"
BIN="${BENCH_BIN:-.tools/bench/bin-suite-full}"
SECONDS_STREAMED="${BENCH_BROWSER_SECONDS:-30}"
SECONDS_STREAMED="${SECONDS_STREAMED%.*}"
HIGH_SECONDS="${BENCH_BROWSER_HIGH_SECONDS:-20}"
HIGH_SECONDS="${HIGH_SECONDS%.*}"

say() { printf 'bench-browser: %s\n' "$*" >&2; }

missing=0
need() {
  if [ ! -e "$1" ]; then
    say "$1 is missing: $2"
    missing=1
  fi
}
need target/release/logdeck 'run `make build` first'
need target/site/pkg 'run `make build` first'
need "$BIN/bench" 'run `make bench` first (it builds the benchmark tools)'
need "$BIN/bench-gen" 'run `make bench` first (it builds the benchmark tools)'
need end2end/node_modules/@playwright/test 'run `scripts/bootstrap.sh --test` first'
need "${CHROMIUM_PATH:-/usr/bin/chromium}" 'install Chromium or set CHROMIUM_PATH'
[ "$missing" = 0 ] || exit 1
if ! "$BIN/bench" quiet --help >/dev/null 2>&1; then
  say "$BIN/bench is older than bench/src (no \`bench quiet\`): run \`make bench\` first"
  exit 1
fi

BIN="$(cd "$BIN" && pwd)"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/logdeck-bench-browser.XXXXXX")"
cleanup() {
  # The spec stops its server; this is for a run cut short (timeout, ^C).
  if [ -s "$WORK/server.pid" ]; then
    kill -TERM "$(cat "$WORK/server.pid")" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The release wasm has no function names, so the CPU profiles in the
# diagnosis would show `wasm-function[N]`. Rebuild the same module keeping
# its name section (wasm-bindgen and wasm-opt as cargo-leptos runs them, plus
# -g); the spec uses the names only if the code is byte for byte the served
# one. Skipped when the tools or cargo-leptos's intermediate file are missing.
export PATH="$ROOT/.tools/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
FRONT_WASM=target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm
if [ -f "$FRONT_WASM" ] && command -v wasm-bindgen >/dev/null && command -v wasm-opt >/dev/null; then
  say "naming the wasm functions for the profiles (wasm-bindgen, wasm-opt -g)"
  if wasm-bindgen --target web --no-typescript --out-name logdeck --out-dir "$WORK/names" "$FRONT_WASM" &&
    wasm-opt -Oz -g --enable-bulk-memory --enable-nontrapping-float-to-int \
      "$WORK/names/logdeck_bg.wasm" -o "$WORK/names/logdeck.wasm"; then
    export BENCH_BROWSER_WASM_NAMES="$WORK/names/logdeck.wasm"
  else
    say "could not; the profiles will number the wasm functions"
  fi
fi

# Other benchmark runs (`make bench`, `make soak`) load the machine without
# counting as builds for `bench quiet`: wait for them first, within the same
# budget.
BUDGET="${BENCH_QUIET_BUDGET:-600}"
benchmarks_running() {
  local comm
  for comm in /proc/[0-9]*/comm; do
    case "$(cat "$comm" 2>/dev/null)" in
      bench | bench-gen | bench-limit) return 0 ;;
    esac
  done
  return 1
}
waited=0
while benchmarks_running && [ "$waited" -lt "$BUDGET" ]; do
  [ "$waited" = 0 ] && say "another benchmark is running; waiting (up to $BUDGET s)"
  sleep 10
  waited=$((waited + 10))
done
say "waiting for the machine to be quiet (up to $((BUDGET - waited)) s)"
"$BIN/bench" quiet --budget "$((BUDGET - waited))" --out "$WORK/load.json" >/dev/null
if [ "$waited" -gt 0 ]; then
  node -e '
    const fs = require("fs");
    const note = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    note.waited_s += Number(process.argv[2]);
    fs.writeFileSync(process.argv[1], JSON.stringify(note));
  ' "$WORK/load.json" "$waited"
fi

export BENCH_BROWSER_OUT="$RESULTS/browser.json"
export BENCH_BROWSER_LOAD="$WORK/load.json"
export BENCH_BROWSER_PIDFILE="$WORK/server.pid"
export BENCH_GEN="$BIN/bench-gen"
rm -f "$BENCH_BROWSER_OUT"

say "streaming ${BENCH_BROWSER_RATE:-10000} lines/s for ${SECONDS_STREAMED} s into the viewer"
status=0
# The spec has its own deadlines; this one catches a hung browser.
(cd end2end && timeout --kill-after=30 "$((SECONDS_STREAMED + HIGH_SECONDS + 450))" \
  npx playwright test --config bench/browser.config.ts) || status=$?

if [ ! -s "$BENCH_BROWSER_OUT" ]; then
  say "the spec wrote no $BENCH_BROWSER_OUT (exit status $status)"
  exit "$((status == 0 ? 1 : status))"
fi

# A few lines of what it measured.
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const mib = (b) => (b == null ? "–" : (b / 1048576).toFixed(1) + " MiB");
const list = (v) => v.map((m) => m.toFixed(1)).join(", ");
if (r.error) console.log("error: " + r.error);
console.log(`${r.lines_printed} lines at ${r.rate}/s in ${r.stream_s.toFixed(1)} s; rows: ${r.rows_shown} of ${r.rows_kept}`);
console.log(`long tasks while streaming: ${r.long_tasks} (max ${r.long_task_max_ms} ms, ${r.long_task_total_ms} ms in all); while loading ${r.long_tasks_load}, while filtering ${r.long_tasks_filter}`);
console.log(`frames: ${r.frames}, p50 ${r.frame_p50_ms} ms, p99 ${r.frame_p99_ms} ms, max ${r.frame_max_ms} ms`);
console.log(`heap: ${mib(r.heap_used_bytes)} (CDP ${mib(r.heap_cdp_bytes)}), wasm memory ${mib(r.wasm_memory_bytes)}, renderer RSS ${r.renderer_rss_kib == null ? "–" : (r.renderer_rss_kib / 1024).toFixed(1) + " MiB"}`);
console.log(`filter \`${r.filter_pattern}\` -> "${r.filter_rows_text}": ${list(r.filter_ms)} ms; cleared: ${list(r.clear_ms)} ms`);
for (const f of r.bundle || []) console.log(`${f.path}: ${f.bytes} B, gzip -9 ${f.gzip9_bytes} B, sent ${f.br_sent_bytes} B as br, ${f.gzip_sent_bytes} B as gzip`);
if ((r.first_load_ms || []).length) console.log(`first live row (cold): ${list(r.first_load_ms)} ms; wasm downloaded at ${r.first_load_wasm_ms.map((m) => (m == null ? "–" : m.toFixed(1))).join(", ")} ms`);
for (const line of r.diagnosis) console.log(line);
' "$BENCH_BROWSER_OUT" || true

if [ -s "$RESULTS/machine.json" ] && [ -s "$RESULTS/runs.jsonl" ]; then
  "$BIN/bench" report --results "$RESULTS" --out bench/RESULTS.md
else
  say "wrote $BENCH_BROWSER_OUT; no suite results in $RESULTS (\`make bench\` writes them), so bench/RESULTS.md is left as it is"
fi
exit "$status"
