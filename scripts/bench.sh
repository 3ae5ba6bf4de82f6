#!/usr/bin/env bash
# Logdeck's benchmark (issue #7).
#
#   scripts/bench.sh            full run: installs the peers, builds, measures
#                               every scenario, writes bench/RESULTS.md (~15 min)
#   scripts/bench.sh --smoke    a few seconds: a tiny version of each scenario
#                               against Logdeck and the bare limit, failing
#                               if a client got nothing or something crashed
#   scripts/bench.sh --soak     the soak of issue #6: 10 minutes at 10 000
#                               lines/s, 20 fast clients and a slow one;
#                               writes bench/SOAK.md
#   scripts/bench.sh --soak-smoke   the same checks in 20 seconds
#
# The server measured is target/release/logdeck as `make build` (cargo
# leptos) leaves it; the Makefile targets build it first. Building it here
# with plain cargo would compile the Leptos crates a second time.
#
# Extra arguments go to `bench suite` (e.g. --reps 3, --scenarios latency,
# --systems logdeck,limit).
#
# The peers are installed into the git-ignored .tools/bench/: a Python venv
# with bench/peers/requirements.txt (FastAPI + uvicorn for the DMB model) and
# npm's frontail + socket.io-client@2 per bench/peers/package.json. Each is
# reinstalled only when its pin file changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools/bench"
PROFILE=full
COMMAND=suite
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --smoke) PROFILE=smoke ;;
    --soak) COMMAND=soak ;;
    --soak-smoke) COMMAND=soak PROFILE=smoke ;;
    *) ARGS+=("$arg") ;;
  esac
done

say() { printf 'bench: %s\n' "$*" >&2; }

# Reinstalls into $1 when the pin file $2 differs from the copy kept there.
stale() { ! cmp -s "$2" "$1/.pins"; }

install_python() {
  local venv="$TOOLS/venv" pins="bench/peers/requirements.txt"
  if [ -x "$venv/bin/python" ] && ! stale "$venv" "$pins"; then return; fi
  say "installing the DMB model's Python packages into $venv"
  command -v python3 >/dev/null || { say "python3 is required"; exit 1; }
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    say "python3-venv is missing; installing it"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
  cp "$pins" "$venv/.pins"
}

install_node() {
  local dir="$TOOLS/npm" pins="bench/peers/package.json"
  if [ -d "$dir/node_modules/frontail" ] && ! stale "$dir" "$pins"; then return; fi
  say "installing frontail and socket.io-client@2 into $dir"
  command -v npm >/dev/null || { say "node and npm are required"; exit 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$pins" "$dir/package.json"
  (cd "$dir" && npm install --silent --no-audit --no-fund --omit=dev >/dev/null)
  cp "$pins" "$dir/.pins"
}

# Builds, then measures copies: target/release/logdeck is also what
# `cargo leptos build` writes, and a build running next to the benchmark
# must not swap the binary under it.
BIN="$TOOLS/bin-$COMMAND-$PROFILE"
build() {
  # The cluster scenario runs a real nats-server.
  scripts/bootstrap.sh --nats
  if [ ! -x target/release/logdeck ]; then
    say "target/release/logdeck is missing: run \`make build\` first"
    exit 1
  fi
  say "building target/release/{bench,bench-gen,bench-limit}"
  cargo build --release --locked -p bench
  mkdir -p "$BIN"
  for exe in logdeck bench bench-gen bench-limit; do
    cp -f "target/release/$exe" "$BIN/$exe.new" && mv -f "$BIN/$exe.new" "$BIN/$exe"
  done
}

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit + uncommitted changes"; fi

if [ "$COMMAND" = soak ]; then
  build
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  exec "$BIN/bench" soak --profile "$PROFILE" --bin-dir "$BIN" \
    --commit "$commit" --rustc "$(rustc --version)" "${ARGS[@]}"
fi

if [ "$PROFILE" = smoke ]; then
  build
  exec "$BIN/bench" suite --profile smoke --bin-dir "$BIN" "${ARGS[@]}"
fi

install_python
install_node
build

version() { "$TOOLS/venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }
npm_version() { node -p "require('$TOOLS/npm/node_modules/$1/package.json').version"; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$BIN/bench" suite --profile full --bin-dir "$BIN" \
  --commit "$commit" \
  --rustc "$(rustc --version)" \
  --version-note "frontail=$(npm_version frontail) (npm), socket.io-client $(npm_version socket.io-client), node $(node --version)" \
  --version-note "DMB model=Python $("$TOOLS/venv/bin/python" -c 'import platform; print(platform.python_version())'), fastapi $(version fastapi), uvicorn $(version uvicorn), websockets $(version websockets), uvloop $(version uvloop)" \
  "${ARGS[@]}"

# The browser scenario, into the same results; it re-renders RESULTS.md.
BENCH_BIN="$BIN" scripts/bench-browser.sh bench/results-full
