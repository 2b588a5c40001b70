#!/usr/bin/env bash
# The server under load while it scrapes a fleet (issue 14, "Load"): a
# loopback fleet of 1,000 fake kubelets (crates/testkit/examples/fleet.rs),
# `workingset server` scraping it every 15 s, and for $SECONDS_UNDER_LOAD s:
#
#   - 200 clients on keep-alive connections (crates/testkit/examples/load.rs)
#     spread over four requests: one pod, one namespace, every node, and
#     every pod gzipped (as Go clients ask);
#   - beside them, $SLOW_CONNECTIONS slowloris connections that send a
#     request's headers one byte at a time and never finish them.
#
# It reports requests, errors and p50/p99/max latency per request kind, how
# many slow connections the server cut, and that every tick completed.
# Any error fails the script.
#
#   bench/load.sh                 1,000 nodes, 200 clients, 60 s
#   NODES=300 SECONDS_UNDER_LOAD=20 bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

nodes="${NODES:-1000}"
seconds="${SECONDS_UNDER_LOAD:-60}"
clients="${CLIENTS:-200}"
slow="${SLOW_CONNECTIONS:-300}"
port="${PORT:-18811}"
# shellcheck source=bench/lib.sh
. bench/lib.sh

raise_open_files
build_release
start_fleet fleet "${nodes}" --pods 30 --containers 2 --threads 1
start_server "${port}" "${work}/fleet.nodes" 15
server="${server_pid}"

base="http://127.0.0.1:${port}/apis/metrics.k8s.io/v1beta1"
one_pod=$(curl -s "${base}/namespaces/ns-0001/pods" | grep -o '"name":"app-[^"]*"' | head -1 | cut -d'"' -f4 || true)
ticks0=$(metric "${port}" workingset_server_ticks_total)

# Slowloris: each connection sends one byte of its headers every second and
# never ends them; the server should cut each within its header timeout.
python3 - "${port}" "${slow}" "$((seconds + 5))" > "${work}/slow.out" <<'EOF' &
import socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
request = b"GET /apis/metrics.k8s.io/v1beta1/pods HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
conns = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    conns.append([s, 0, False])
cut = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for c in conns:
        if c[2]:
            continue
        try:
            c[0].send(request[c[1]:c[1] + 1])
            c[1] = (c[1] + 1) % len(request)
            if c[0].recv(1, socket.MSG_PEEK) == b"":
                c[2] = True; cut += 1
        except BlockingIOError:
            pass
        except OSError:
            c[2] = True; cut += 1
    time.sleep(1)
print(f"{cut} of {count} slow connections cut by the server within {seconds:.0f} s")
EOF
slow_pid=$!
pids+=("${slow_pid}")
sleep 1

say "${clients} clients for ${seconds} s, ${slow} slow connections beside them"
per=$((clients / 4))
run() { target/release/examples/load --url "$2" --clients "${per}" --seconds "${seconds}" ${3:+"$3"} > "${work}/$1.out" 2> "${work}/$1.err" || true; }
run one-pod "${base}/namespaces/ns-0001/pods/${one_pod}" &
l1=$!
run namespace "${base}/namespaces/ns-0001/pods" &
l2=$!
run nodes "${base}/nodes" &
l3=$!
run all-pods-gzip "${base}/pods" --gzip &
l4=$!
wait "${l1}" "${l2}" "${l3}" "${l4}"
wait "${slow_pid}" || true
ticks1=$(metric "${port}" workingset_server_ticks_total)
kill -0 "${server}" || { say "the server died"; cat "${work}/server.err" >&2; exit 1; }

echo "| request (${per} clients each, ${seconds} s, ${nodes} nodes) | result |"
echo "|---|---|"
failed=0
for kind in one-pod namespace nodes all-pods-gzip; do
  result=$(cat "${work}/${kind}.out")
  echo "| ${kind} | ${result:-no answer: $(head -3 "${work}/${kind}.err" | tr '\n' ' ')} |"
  case "${result}" in *" 0 errors,"*) ;; *) failed=1 ;; esac
done
echo
echo "Slowloris: $(cat "${work}/slow.out"). Ticks during the run: $((ticks1 - ticks0)) (one per 15 s)."
[ "${failed}" = 0 ] || { say "errors under load"; exit 1; }
