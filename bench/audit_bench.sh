#!/usr/bin/env bash
# Appends with `audit.data_plane = "writes"` against appends with it off (issue 6: ratio ≥ 0.8).
# Two dev servers side by side (TLS, a JWT, the policy on), one with [audit] data_plane="writes";
# `cairn bench append` runs against each in turn, interleaved, REPS times; prints every run and
# the median ratio. Everything is stopped and removed on exit.
#
#   bench/audit_bench.sh [BIN] [--duration S] [--reps N] [--clients C] [--batch B]
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
DURATION=5 REPS=5 CLIENTS=8 BATCH=100
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    *) echo "usage: $0 [BIN] [--duration S] [--reps N] [--clients C] [--batch B]" >&2; exit 2 ;;
  esac
done
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
. "$(dirname "$0")/dev_servers.sh"
start_dev_server off '[audit]
data_plane = "none"'
start_dev_server writes '[audit]
data_plane = "writes"'

run() {
  local port_var=PORT_$1 token_var=TOKEN_writer_$1
  "$BIN" bench append --server "127.0.0.1:${!port_var}" --ca "$TMP/$1/dev/ca.crt" \
    --token "${!token_var}" --clients "$CLIENTS" --batch "$BATCH" --duration "$DURATION" --json
}

echo "== appends, $CLIENTS clients × batch $BATCH, $DURATION s per run, $REPS interleaved pairs"
RATIOS=()
for i in $(seq "$REPS"); do
  if [ $((i % 2)) = 1 ]; then A=$(run off); B=$(run writes); else B=$(run writes); A=$(run off); fi
  a=$(field "$A" events_per_s) b=$(field "$B" events_per_s)
  r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
  RATIOS+=("$r")
  printf 'rep=%d off_events_per_s=%.0f writes_events_per_s=%.0f ratio=%s off_p50_ms=%.2f writes_p50_ms=%.2f\n' \
    "$i" "$a" "$b" "$r" "$(field "$A" p50_ms)" "$(field "$B" p50_ms)"
done
echo "ratio writes/off: $(median "${RATIOS[@]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
