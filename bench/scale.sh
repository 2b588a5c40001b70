#!/usr/bin/env bash
# The server at scale on this machine: a loopback fleet of fake kubelets
# (crates/testkit/examples/fleet.rs, one port per node, 30 Running pods × 2
# containers each by default) and `workingset server` in standalone mode
# scraping it every 15 s. For each node count it reports the server's RSS
# (now and peak), its CPU share over the window, its tick duration, list
# latencies under 20 concurrent clients, and the fleet's own cost; at each
# count it compares `workingset top pod -A` with kubectl.1.33 on the same
# server (the issue's 150k pods: `bench/scale.sh 5000`). The tables go to
# stdout and into docs/performance.md.
#
#   bench/scale.sh [NODES ...]          default: 1000 3000 10000
#   WINDOW=300 bench/scale.sh 10000     measure CPU over 5 minutes
#
# Needs curl (readiness, counters); GNU time for the CLI comparison (apt-get install time);
# kubectl.1.33 in $WORKINGSET_KUBECTL_DIR (default
# /usr/lib/google-cloud-sdk/bin) for the kubectl column.
set -euo pipefail
cd "$(dirname "$0")/.."

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 3000 10000)
window="${WINDOW:-60}"
resolution="${RESOLUTION:-15}"
pods="${PODS:-30}"
containers="${CONTAINERS:-2}"
port=18801
per_process="${NODES_PER_FLEET_PROCESS:-4000}"
kubectl="${WORKINGSET_KUBECTL_DIR:-/usr/lib/google-cloud-sdk/bin}/kubectl.1.33"
# shellcheck source=bench/lib.sh
. bench/lib.sh

raise_open_files
build_release
bin=target/release/workingset
fleet=target/release/examples/fleet
load=target/release/examples/load

cpu_seconds() { cat "${@/#//proc/}" 2>/dev/null | sed 's/^[^)]*) //' | awk '{ s += ($12 + $13) / 100 } END { print s + 0 }'; }
status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# p50 and p99 in ms of GET $1, 20 clients on keep-alive connections, $2
# requests in all, $3 (--gzip) to accept gzip as Go clients do
# (crates/testkit/examples/load.rs; a curl process per request measured
# mostly curl's start-up).
latency() {
  "${load}" --url "$1" --clients 20 --requests "$2" ${3:+"$3"} || echo "n/a"
}

rows=()
cli_rows=()
for nodes in "${counts[@]}"; do
  # Each fleet process serves at most ${per_process} nodes: a node takes a
  # listening socket and the server's connection in the fleet, and the
  # open-files limit is per process.
  say "${nodes} nodes: starting the fleet"
  fleet_pids=()
  : > "${work}/nodes"
  for ((first = 0; first < nodes; first += per_process)); do
    count=$(( nodes - first < per_process ? nodes - first : per_process ))
    "${fleet}" --nodes "${count}" --first "${first}" --pods "${pods}" --containers "${containers}" \
      --threads 1 --nodes-file "${work}/nodes.${first}" > "${work}/fleet.${first}.out" 2> "${work}/fleet.${first}.err" &
    fleet_pids+=($!)
    pids+=($!)
    for _ in $(seq 600); do grep -q '^ready' "${work}/fleet.${first}.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^ready' "${work}/fleet.${first}.out" || { say "the fleet did not start"; exit 1; }
    cat "${work}/nodes.${first}" >> "${work}/nodes"
  done

  "${bin}" server --nodes-file "${work}/nodes" --metric-resolution "${resolution}s" \
    --listen "127.0.0.1:${port}" --log warn 2> "${work}/server.err" &
  server_pid=$!
  pids+=("${server_pid}")
  say "${nodes} nodes: waiting for the server to be ready"
  ready=""
  for _ in $(seq 600); do
    kill -0 "${server_pid}" 2>/dev/null || { say "the server exited"; cat "${work}/server.err" >&2; exit 1; }
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port}/readyz")" = 200 ]; then ready=1; break; fi
    sleep 0.5
  done
  [ -n "${ready}" ] || { say "the server was not ready within 300 s"; tail "${work}/server.err" >&2; exit 1; }
  sleep $((2 * resolution))

  say "${nodes} nodes: measuring over ${window} s"
  server_cpu0=$(cpu_seconds "${server_pid}/stat"); fleet_cpu0=$(cpu_seconds "${fleet_pids[@]/%//stat}")
  ticks0=$(metric "${port}" workingset_server_ticks_total); tick_s0=$(metric "${port}" workingset_server_tick_seconds_total)
  sleep "${window}"
  server_cpu1=$(cpu_seconds "${server_pid}/stat"); fleet_cpu1=$(cpu_seconds "${fleet_pids[@]/%//stat}")
  ticks1=$(metric "${port}" workingset_server_ticks_total); tick_s1=$(metric "${port}" workingset_server_tick_seconds_total)
  rss=$(status_kib "${server_pid}" VmRSS); hwm=$(status_kib "${server_pid}" VmHWM)
  served=$(metric "${port}" workingset_server_served_pods)
  cpu_share=$(awk -v a="${server_cpu0}" -v b="${server_cpu1}" -v w="${window}" 'BEGIN { printf "%.1f", (b - a) / w * 100 }')
  fleet_share=$(awk -v a="${fleet_cpu0}" -v b="${fleet_cpu1}" -v w="${window}" 'BEGIN { printf "%.1f", (b - a) / w * 100 }')
  tick=$(awk -v a="${tick_s0}" -v b="${tick_s1}" -v c="${ticks0}" -v d="${ticks1}" 'BEGIN { if (d > c) printf "%.2f", (b - a) / (d - c); else print "n/a" }')
  base="http://127.0.0.1:${port}/apis/metrics.k8s.io/v1beta1"
  one_pod=$(curl -s "${base}/namespaces/ns-0001/pods" | grep -o '"name":"app-[^"]*"' | head -1 | cut -d'"' -f4 || true)
  all=$(latency "${base}/pods" 40)
  all_gzip=$(latency "${base}/pods" 200 --gzip)
  ns=$(latency "${base}/namespaces/ns-0001/pods" 400)
  pod=$(latency "${base}/namespaces/ns-0001/pods/${one_pod}" 400)
  rows+=("| ${nodes} | ${served} | $((rss / 1024)) MiB (peak $((hwm / 1024))) | ${cpu_share} % | ${tick} s | ${all} | ${all_gzip} | ${ns} | ${pod} | ${fleet_share} % |")

  if command -v /usr/bin/time >/dev/null; then
    say "${nodes} nodes: workingset top pod -A vs kubectl.1.33 (5 runs each)"
    printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: http://127.0.0.1:%s\ncontexts:\n- name: s\n  context:\n    cluster: s\n    user: s\ncurrent-context: s\nusers:\n- name: s\n  user: {}\n' "${port}" > "${work}/kubeconfig"
    measure() {
      local out=()
      for _ in 1 2 3 4 5; do
        /usr/bin/time -f '%e %M' -o "${work}/time" "$@" top pod -A --kubeconfig "${work}/kubeconfig" > /dev/null 2>&1 || true
        out+=("$(cat "${work}/time")")
      done
      # Medians of the wall times and of the peak RSS, each on its own.
      printf '%s\n' "${out[@]}" | awk '{ print $1 }' | sort -n | sed -n 3p
      printf '%s\n' "${out[@]}" | awk '{ print $2 }' | sort -n | sed -n 3p
    }
    mapfile -t ours < <(HOME="${work}" measure "${bin}")
    theirs=("" "")
    [ -x "${kubectl}" ] && mapfile -t theirs < <(HOME="${work}" measure "${kubectl}")
    cli_rows+=("$(awk -v pods="${served}" -v ow="${ours[0]}" -v om="${ours[1]}" -v tw="${theirs[0]}" -v tm="${theirs[1]}" 'BEGIN {
      printf "| %s pods | %s s, %.0f MiB | ", pods, ow, om / 1024
      if (tw == "") printf "n/a | n/a |"; else printf "%s s, %.0f MiB | %.1f× |", tw, tm / 1024, tw / ow }')")
  fi

  kill "${server_pid}" "${fleet_pids[@]}" 2>/dev/null || true
  wait "${server_pid}" "${fleet_pids[@]}" 2>/dev/null || true
done

table=$(
  echo "| nodes | pods served | server RSS | server CPU (one core) | mean tick | all pods p50 / p99 ms | all pods, gzip, p50 / p99 ms | one namespace p50 / p99 ms | one pod p50 / p99 ms | fleet CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  if [ ${#cli_rows[@]} -gt 0 ]; then
    echo
    echo "| CLI, medians of 5 (wall, peak RSS) | workingset top pod -A | kubectl.1.33 top pod -A | faster |"
    echo "|---|---|---|---|"
    printf '%s\n' "${cli_rows[@]}"
  fi
)
echo "${table}"

doc=docs/performance.md
header="<!-- bench/scale.sh: generated below -->"
machine="$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r)"
{
  if [ -f "${doc}" ]; then awk -v header="${header}" '$0 == header { exit } { print }' "${doc}"; fi
  echo "${header}"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on ${machine}: \`bench/scale.sh ${counts[*]}\`,"
  echo "resolution ${resolution} s, ${pods} pods × ${containers} containers per node, CPU over ${window} s."
  echo
  echo "${table}"
} > "${doc}.new"
mv "${doc}.new" "${doc}"
say "wrote ${doc}"
