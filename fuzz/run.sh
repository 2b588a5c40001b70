#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer via cargo fuzz, on the nightly
# toolchain), each from its committed seeds (fuzz/seeds/TARGET) plus a
# working corpus outside the tree, and prints a Markdown table of
# executions and crashes.
#
#   fuzz/run.sh 10               every target for 10 s (.ci/run)
#   fuzz/run.sh --runs 1000000   every target to 1,000,000 executions
#                                (docs/reliability.md)
#   fuzz/run.sh 30 quantity cri  only these targets
#
# A crash stops nothing else: every target runs, then the script fails if
# any crashed, leaving the crashing input in fuzz/artifacts/TARGET/ (turn
# it into a regression test beside the parser). Build output goes to
# $WORKINGSET_FUZZ_TARGET (default: a directory per checkout under
# ~/.cache/workingset/fuzz-target/), so a fresh clone at the same place
# reuses the earlier build: instrumented, the dependencies take minutes.
set -euo pipefail
cd "$(dirname "$0")"

limit=(-max_total_time=10)
case "${1:-}" in
  --runs) limit=(-runs="$2"); shift 2 ;;
  "") ;;
  *) limit=(-max_total_time="$1"); shift ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^workingset-fuzz$')
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: skipped: no nightly toolchain (cargo fuzz needs it; rustup toolchain install nightly)" >&2
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
checkout_key=$(pwd | cksum | cut -d' ' -f1)
export CARGO_TARGET_DIR="${WORKINGSET_FUZZ_TARGET:-${HOME}/.cache/workingset/fuzz-target/${checkout_key}}"
cargo +nightly fuzz build >&2

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
failed=()
rows=()
for target in "${targets[@]}"; do
  mkdir -p "${work}/${target}" "artifacts/${target}"
  log="${work}/${target}.log"
  status=0
  # -rss_limit_mb: a parser that balloons on small input is a finding too.
  cargo +nightly fuzz run "${target}" "${work}/${target}" "seeds/${target}" -- \
    "${limit[@]}" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    > "${log}" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "${log}" | tail -1)
  crashes=0
  if [ "${status}" -ne 0 ]; then
    crashes=1
    failed+=("${target}")
    echo "fuzz/run.sh: ${target} failed (exit ${status}):" >&2
    grep -E "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "${log}" | head -10 >&2 || tail -20 "${log}" >&2
  fi
  rows+=("| \`${target}\` | ${runs:-?} | ${secs:-?} s | $(find "seeds/${target}" -type f | wc -l) | $(find "${work}/${target}" -type f | wc -l) | ${crashes} |")
  echo "fuzz/run.sh: ${target}: ${runs:-?} executions, exit ${status}" >&2
done

echo "| target | executions | time | seeds | corpus after | crashes |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
