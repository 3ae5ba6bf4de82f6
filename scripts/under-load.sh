#!/usr/bin/env bash
# `make test` twice in a row while two busy loops hold both cores: the
# suite must pass on a machine as loaded as CI's and a newcomer's. Prints
# how long each run took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each `make test` gets a run marker of its own (see scripts/leftovers.py);
# the busy loops carry none, so they are never taken for leftovers.
unset TESTRUN_LOGDECK
loops=()
stop_loops() { kill "${loops[@]}" 2>/dev/null || true; }
trap stop_loops EXIT
for _ in 1 2; do
  sh -c 'while :; do :; done' &
  loops+=($!)
done
echo "under-load: busy loops ${loops[*]} running on $(nproc) cores" >&2

times=()
for run in 1 2; do
  start=$(date +%s)
  make --no-print-directory test
  times+=("$(( $(date +%s) - start ))")
  echo "under-load: make test #$run passed in ${times[-1]} s" >&2
done
echo "under-load: both runs passed under load: ${times[0]} s and ${times[1]} s" >&2
