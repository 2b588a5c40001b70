#!/usr/bin/env bash
# A soak (issue 14): `workingset server` scraping a loopback fleet of 1,000
# fake kubelets whose pods churn every tick, for $SOAK_SECONDS (30 minutes
# by default). Every 10 s it samples the server's RSS and open file
# descriptors; at the end it reports the least-squares slope of each over
# the run, after a warm-up of two minutes, and whether every tick came.
#
#   bench/soak.sh                         1,000 nodes, churn 50, 30 min
#   NODES=300 SOAK_SECONDS=300 bench/soak.sh
#   SAMPLES_FILE=/tmp/soak.samples bench/soak.sh   keep the samples
set -euo pipefail
cd "$(dirname "$0")/.."

nodes="${NODES:-1000}"
churn="${CHURN:-50}"
seconds="${SOAK_SECONDS:-1800}"
warmup="${WARMUP_SECONDS:-120}"
resolution=15
port="${PORT:-18821}"
# shellcheck source=bench/lib.sh
. bench/lib.sh

raise_open_files
build_release
start_fleet fleet "${nodes}" --pods 30 --containers 2 --churn "${churn}" --threads 1
start_server "${port}" "${work}/fleet.nodes" "${resolution}"
server="${server_pid}"

say "${nodes} nodes, churn ${churn} pods per tick: warming up for ${warmup} s"
sleep "${warmup}"
ticks0=$(metric "${port}" workingset_server_ticks_total)
start=$(date +%s)
say "sampling every 10 s for ${seconds} s"
: > "${work}/samples"
while [ $(( $(date +%s) - start )) -lt "${seconds}" ]; do
  kill -0 "${server}" || { say "the server died"; tail "${work}/server.err" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${server}/status")
  fds=$(find "/proc/${server}/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "$(( $(date +%s) - start )) ${rss} ${fds}" >> "${work}/samples"
  sleep 10
done
ticks1=$(metric "${port}" workingset_server_ticks_total)
elapsed=$(( $(date +%s) - start ))

# Least-squares slope of column $1 against time, per minute.
slope() {
  awk -v col="$1" '{ n++; x = $1 / 60; y = $col; sx += x; sy += y; sxx += x * x; sxy += x * y }
    END { d = n * sxx - sx * sx; if (d == 0) print "n/a"; else printf "%.2f", (n * sxy - sx * sy) / d }' "${work}/samples"
}
# Mean of column $1 over the first and over the last five minutes.
ends() {
  awk -v col="$1" -v last="$(tail -1 "${work}/samples" | cut -d' ' -f1)" '
    $1 < 300 { a += $col; na++ } $1 > last - 300 { b += $col; nb++ }
    END { printf "%.0f → %.0f", a / na, b / nb }' "${work}/samples"
}
range() { awk -v col="$1" 'NR == 1 { lo = hi = $col } { if ($col < lo) lo = $col; if ($col > hi) hi = $col } END { print lo " – " hi }' "${work}/samples"; }
expected=$(( elapsed / resolution ))
echo "| soak: ${nodes} nodes, churn ${churn}/tick, $((elapsed / 60)) min | figure |"
echo "|---|---|"
echo "| RSS (KiB), range | $(range 2) |"
echo "| RSS slope | $(slope 2) KiB/min |"
echo "| RSS (KiB), mean of the first and of the last 5 min | $(ends 2) |"
echo "| open fds, range | $(range 3) |"
echo "| open fds slope | $(slope 3) /min |"
echo "| ticks | $((ticks1 - ticks0)) of ~${expected} |"
# The samples themselves (seconds, RSS KiB, fds), for a plot.
[ -z "${SAMPLES_FILE:-}" ] || cp "${work}/samples" "${SAMPLES_FILE}"
