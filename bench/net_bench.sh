#!/usr/bin/env bash
# End-to-end network benchmark of cairn over loopback — TLS, a JWT and the policy all on — with
# the PostgreSQL peer baseline (bench/pg_baseline.sh) measured in the same run, and the ratios.
#
#   bench/net_bench.sh [BIN] [--duration S] [--skip-pg]
#
# Scenarios (issue 3): batches of 100 from 8 clients; single-event appends from 32 clients;
# ReadAll from 2 clients. 256-byte JSON events. Everything is stopped and removed on exit.
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
DURATION=10
SKIP_PG=0
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --skip-pg) SKIP_PG=1; shift ;;
    *) echo "usage: $0 [BIN] [--duration S] [--skip-pg]" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

export CAIRN_CLIENT_CONFIG=$TMP/client.toml
CAIRN_LISTEN=127.0.0.1:0 CAIRN_ADMIN_LISTEN=127.0.0.1:0 \
  "$BIN" serve --dev --data-dir "$TMP/data" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q 'cairn serving' "$TMP/server.log" && break
  sleep 0.1
done
PORT=$(sed -n 's/.*gRPC on .*(port \([0-9]*\),.*/\1/p' "$TMP/server.log")
[ -n "$PORT" ] || { cat "$TMP/server.log"; exit 1; }
TOKEN=$("$BIN" token mint --sub bench --role writer --data-dir "$TMP/data")
NET=(--server "127.0.0.1:$PORT" --token "$TOKEN")

echo "== cairn over loopback (TLS, JWT, policy), $DURATION s per scenario"
BATCH=$("$BIN" bench append "${NET[@]}" --clients 8 --batch 100 --duration "$DURATION" --json)
SINGLE=$("$BIN" bench append "${NET[@]}" --clients 32 --batch 1 --duration "$DURATION" --json)
READ=$("$BIN" bench read "${NET[@]}" --clients 2 --duration "$DURATION" --json)
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }
printf 'cairn scenario=batch  clients=8  batch=100 events_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n' \
  "$(field "$BATCH" events_per_s)" "$(field "$BATCH" p50_ms)" "$(field "$BATCH" p99_ms)"
printf 'cairn scenario=single clients=32 batch=1   events_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n' \
  "$(field "$SINGLE" events_per_s)" "$(field "$SINGLE" p50_ms)" "$(field "$SINGLE" p99_ms)"
printf 'cairn scenario=readall clients=2           events_per_s=%.0f\n' "$(field "$READ" events_per_s)"

kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
# The store cairn just filled must not be written back while PostgreSQL is measured (its dirty
# pages slowed the next PostgreSQL run to a third in bench/pg_nodes.sh, docs/performance.md).
rm -rf "$TMP/data"
sync

if [ "$SKIP_PG" = 0 ]; then
  echo "== PostgreSQL peer baseline (same machine, right after)"
  "$HERE/pg_baseline.sh" --duration "$DURATION" \
    --cairn-batch "$(field "$BATCH" events_per_s)" --cairn-single "$(field "$SINGLE" events_per_s)"
fi
