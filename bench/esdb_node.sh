#!/usr/bin/env bash
# The official EventStoreDB Node.js client (bench/esdb_node/bench.mjs) beside `cairn bench` on
# cairn.v1, against one `cairn serve --dev` over loopback (TLS, the dev admin API key for both),
# in one run: appends from N clients in batches of B, reads of each client's stream (Node only:
# cairn bench has no per-stream read) and of the whole log from R clients; events/s and the
# ratio Node/cairn.v1, the server's CPU per event for each and the Node process's CPU share (1.0
# = its one JavaScript thread saturated). Order: cairn append, Node append, Node readstream,
# cairn read, Node readall, so that both whole-log reads see the same log.
#
#   bench/esdb_node.sh [BIN] [--duration S] [--clients N] [--batch B] [--readers R]
#
# Needs `make esdb-node` (node_modules in <build>/esdb-node). Everything is stopped and removed
# on exit.
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
DURATION=10
CLIENTS=8
BATCH=100
READERS=2
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --readers) READERS=$2; shift 2 ;;
    *) echo "usage: $0 [BIN] [--duration S] [--clients N] [--batch B] [--readers R]" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
MODULES=$(dirname "$(dirname "$BIN")")/esdb-node
if [ ! -f "$MODULES/node_modules/@eventstore/db-client/package.json" ]; then
  echo "no $MODULES/node_modules: run make esdb-node BUILD_DIR=$(dirname "$MODULES")" >&2
  exit 1
fi
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

export CAIRN_CLIENT_CONFIG=$TMP/client.toml HOME=$TMP
CAIRN_LISTEN=127.0.0.1:0 CAIRN_ADMIN_LISTEN=127.0.0.1:0 \
  "$BIN" serve --dev --data-dir "$TMP/data" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q 'cairn serving' "$TMP/server.log" && break
  sleep 0.1
done
PORT=$(sed -n 's/.*gRPC on .*(port \([0-9]*\),.*/\1/p' "$TMP/server.log")
[ -n "$PORT" ] || { cat "$TMP/server.log"; exit 1; }
NET=(--server "127.0.0.1:$PORT" --token "$(cat "$TMP/data/dev/admin.apikey")")
RUN=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
NODE=(env NODE_NO_WARNINGS=1 node "$HERE/esdb_node/bench.mjs" --modules "$MODULES"
  --endpoint "127.0.0.1:$PORT" --ca "$TMP/data/dev/ca.crt" --key-file "$TMP/data/dev/admin.apikey"
  --clients "$CLIENTS" --batch "$BATCH" --readers "$READERS" --duration-s "$DURATION" --run "$RUN")

# The server's CPU time (user + system, in clock ticks) around one command: "<ticks> <output>".
TICKS_PER_S=$(getconf CLK_TCK)
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
measured() {
  local t0 out
  t0=$(server_ticks)
  out=$("$@")
  printf '%s %s\n' "$(( $(server_ticks) - t0 ))" "$out"
}

echo "== cairn.v1 (cairn bench) and the EventStoreDB protocol (Node.js client), one server," \
  "$DURATION s per phase, 256-byte JSON events"
C_APPEND=$(measured "$BIN" bench append "${NET[@]}" --clients "$CLIENTS" --batch "$BATCH" \
  --duration "$DURATION" --json)
N_APPEND=$(measured "${NODE[@]}" --phases append)
N_STREAM=$(measured "${NODE[@]}" --phases readstream)
C_READ=$(measured "$BIN" bench read "${NET[@]}" --clients "$READERS" --duration "$DURATION" --json)
N_READALL=$(measured "${NODE[@]}" --phases readall)

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" | head -1; }
# Server CPU microseconds per event of a measured result.
cpu_us() {
  awk -v t="${1%% *}" -v hz="$TICKS_PER_S" -v e="$(field "$1" events)" \
    'BEGIN { if (e > 0) printf "%.1f", t / hz * 1e6 / e; else print "-" }'
}
ratio() { awk -v n="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.2f", n / c; else print "-" }'; }
row() {  # phase clients cairn_result node_result
  local c n
  c=$(field "$3" events_per_s); n=$(field "$4" events_per_s)
  printf '%-10s clients=%-3s cairn.v1_events_per_s=%-8.0f' "$1" "$2" "${c:-0}"
  printf ' esdb_node_events_per_s=%-8.0f ratio=%-5s' "${n:-0}" "$(ratio "${n:-0}" "${c:-0}")"
  printf ' server_cpu_us_per_event: cairn.v1=%s esdb=%s node_cpu_share=%.2f\n' \
    "$(cpu_us "$3")" "$(cpu_us "$4")" "$(field "$4" client_cpu_share)"
}
row append "$CLIENTS" "$C_APPEND" "$N_APPEND"
row readall "$READERS" "$C_READ" "$N_READALL"
printf 'readstream clients=%-3s esdb_node_events_per_s=%.0f server_cpu_us_per_event: esdb=%s' \
  "$CLIENTS" "$(field "$N_STREAM" events_per_s)" "$(cpu_us "$N_STREAM")"
printf ' node_cpu_share=%.2f' "$(field "$N_STREAM" client_cpu_share)"
printf ' (cairn bench has no per-stream read)\n'
printf 'append latency per batch of %s: cairn.v1 p50=%.2f ms p99=%.2f ms,' \
  "$BATCH" "$(field "$C_APPEND" p50_ms)" "$(field "$C_APPEND" p99_ms)"
printf ' esdb p50=%.2f ms p99=%.2f ms\n' "$(field "$N_APPEND" p50_ms)" "$(field "$N_APPEND" p99_ms)"
