#!/usr/bin/env bash
# The agent and local `top` at a given number of real cgroups on this
# machine: a tree of empty pod cgroups (kubepods/burstable/pod…/…, made
# beneath this process's own cgroup by crates/testkit/examples/pod_tree.rs
# and removed afterwards), then
#   - `workingset agent --cgroup-root` on it: RSS after a few housekeeping
#     passes and a scrape of each endpoint (target: ≤ 20 MiB at 1,000);
#   - `workingset top pod -A --containers --window 1s` on it: wall time
#     over the window, median of 5 (target: ≤ 50 ms at 200 cgroups).
# The sampling pass against the bare-read floor is the criterion bench
#   cargo bench -p workingset-sampling --bench thousand_cgroups
#
#   bench/agent.sh [CGROUPS ...]     default: 200 1000 (pods of 3 containers
#                                    each; a pod's own cgroup counts too)
# Needs root (cgroups), curl; writes its table into docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(200 1000)
port=18802
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  exec 9>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT
say() { printf 'bench/agent.sh: %s\n' "$*" >&2; }

say "building release binaries"
cargo build --release --locked -p workingset >&2
cargo build --release --locked -p workingset-testkit --example pod_tree >&2
bin=target/release/workingset
status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
now_ns() { date +%s%N; }

rows=()
for cgroups in "${counts[@]}"; do
  pods=$(( (cgroups + 3) / 4 ))
  mkfifo "${work}/hold"
  target/release/examples/pod_tree --pods "${pods}" --containers 3 < "${work}/hold" > "${work}/tree.out" &
  tree_pid=$!
  pids+=("${tree_pid}")
  exec 9> "${work}/hold"
  for _ in $(seq 100); do grep -q '^root' "${work}/tree.out" 2>/dev/null && break; sleep 0.1; done
  read -r _ root _ made < "${work}/tree.out" || { say "the cgroup tree was not made"; exit 1; }
  say "${made} cgroups under ${root}"

  "${bin}" agent --cgroup-root "${root}" --listen "127.0.0.1:${port}" --housekeeping-interval 2s \
    --log warn 2> "${work}/agent.err" &
  agent_pid=$!
  pids+=("${agent_pid}")
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:${port}/healthz" && break; sleep 0.1; done
  sleep 7
  for path in /stats/summary /metrics/resource /metrics/cadvisor; do
    curl -sf -o /dev/null "http://127.0.0.1:${port}${path}" || say "GET ${path} failed"
  done
  sleep 3
  rss=$(status_kib "${agent_pid}" VmRSS); hwm=$(status_kib "${agent_pid}" VmHWM)
  kill "${agent_pid}"; wait "${agent_pid}" 2>/dev/null || true

  times=()
  for _ in 1 2 3 4 5; do
    start=$(now_ns)
    "${bin}" top pod -A --containers --cgroup-root "${root}" --window 1s > "${work}/top.out"
    times+=($(( ($(now_ns) - start) / 1000000 - 1000 )))
  done
  over=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  listed=$(( $(wc -l < "${work}/top.out") - 1 ))
  rows+=("| ${made} | $((rss / 1024)) MiB (peak $((hwm / 1024))) | ${over} ms (${listed} rows) |")

  exec 9>&-
  wait "${tree_pid}" 2>/dev/null || true
  rm -f "${work}/hold"
done

table=$(
  echo "| cgroups | agent RSS | local top --window 1s: time beyond the window, median of 5 |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
)
echo "${table}"

doc=docs/performance.md
begin="<!-- bench/agent.sh: begin -->"
end="<!-- bench/agent.sh: end -->"
machine="$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r)"
block=$(
  echo "${begin}"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on ${machine}: \`bench/agent.sh ${counts[*]}\`."
  echo
  echo "${table}"
  echo
  echo "${end}"
)
if grep -qF "${begin}" "${doc}"; then
  awk -v begin="${begin}" -v end="${end}" -v block="${block}" '
    $0 == begin { print block; skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }' "${doc}" > "${doc}.new"
  mv "${doc}.new" "${doc}"
  say "updated ${doc}"
else
  say "${doc} has no '${begin}' marker; table not written"
fi
