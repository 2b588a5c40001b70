#!/usr/bin/env bash
# Whole-program cost of `workingset top` on this machine, without the
# sampling window (which is a sleep): start-up, two sampling passes, and
# printing. Uses hyperfine when installed (Debian package `hyperfine`),
# otherwise a plain timed loop.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/workingset
runs=${RUNS:-50}
cmd="$bin top pod -A --containers --window 1ms"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 3 --runs "$runs" --output=null "$cmd" "$bin top node --window 1ms"
else
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do $cmd >/dev/null; done
  end=$(date +%s%N)
  echo "$cmd: $(( (end - start) / runs / 1000 )) µs per run over $runs runs"
fi
