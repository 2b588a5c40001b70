# Shared by the server benchmarks (source it after `cd` to the root): a
# work directory removed on exit together with every process started
# (append their pids to `pids`), messages prefixed with the script's name,
# the fleet and the server started and waited for.

bench_name="bench/$(basename "$0")"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT
trap 'printf "%s: failed at line %s\n" "${bench_name}" "${LINENO}" >&2' ERR
say() { printf '%s: %s\n' "${bench_name}" "$*" >&2; }

# A socket per node in the fleet and another in the server, both ends on
# this machine: raise the open-files limit as far as allowed.
raise_open_files() {
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)"
}

# start_fleet NAME NODES FLAGS...: one fleet process (its pid appended to
# `pids` and to `fleet_pids`) writing its nodes to ${work}/NAME.nodes;
# waits (60 s at most) for it to be ready.
fleet_pids=()
start_fleet() {
  local name="$1" nodes="$2"
  shift 2
  target/release/examples/fleet --nodes "${nodes}" "$@" --nodes-file "${work}/${name}.nodes" \
    > "${work}/${name}.out" 2> "${work}/${name}.err" &
  pids+=($!)
  fleet_pids+=($!)
  for _ in $(seq 600); do grep -q '^ready' "${work}/${name}.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "${work}/${name}.out" || { say "the fleet did not start"; cat "${work}/${name}.err" >&2; exit 1; }
}

# start_server PORT NODES_FILE RESOLUTION_SECONDS: `workingset server` in
# standalone mode (pid in `server_pid`), waited for until /readyz answers
# 200 (300 s at most).
start_server() {
  local port="$1" nodes_file="$2" resolution="$3"
  target/release/workingset server --nodes-file "${nodes_file}" --metric-resolution "${resolution}s" \
    --listen "127.0.0.1:${port}" --log warn 2> "${work}/server.err" &
  server_pid=$!
  pids+=("${server_pid}")
  for _ in $(seq 600); do
    kill -0 "${server_pid}" 2>/dev/null || { say "the server exited"; cat "${work}/server.err" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port}/readyz")" = 200 ] && return 0
    sleep 0.5
  done
  say "the server was not ready within 300 s"
  tail "${work}/server.err" >&2
  exit 1
}

# metric PORT NAME: the value of an unlabelled series of the server's /metrics.
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }'; }

# The release binary and the fleet and load tools.
build_release() {
  say "building release binaries"
  cargo build --release --locked -p workingset >&2
  cargo build --release --locked -p workingset-testkit --example fleet --example load >&2
}
