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
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
export HOME=$TMP CAIRN_CLIENT_CONFIG=$TMP/client.toml

# start NAME AUDIT_TOML → sets PORT_<NAME>, TOKEN_<NAME>
start() {
  local name=$1 audit=$2 dir=$TMP/$1
  "$BIN" init --data-dir "$dir" > /dev/null
  printf '%s\n' "$audit" >> "$dir/cairn.toml"
  CAIRN_LISTEN=127.0.0.1:0 CAIRN_ADMIN_LISTEN=127.0.0.1:0 \
    "$BIN" serve --dev --data-dir "$dir" > "$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q 'cairn serving' "$TMP/$name.log" && break; sleep 0.1; done
  local port
  port=$(sed -n 's/.*gRPC on .*(port \([0-9]*\),.*/\1/p' "$TMP/$name.log")
  [ -n "$port" ] || { cat "$TMP/$name.log"; exit 1; }
  printf -v "PORT_$name" '%s' "$port"
  printf -v "TOKEN_$name" '%s' "$("$BIN" token mint --sub bench --role writer --data-dir "$dir")"
}
start off '[audit]
data_plane = "none"'
start writes '[audit]
data_plane = "writes"'

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }
run() {
  local port_var=PORT_$1 token_var=TOKEN_$1
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
printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
  printf "ratio writes/off: median=%.3f min=%.3f max=%.3f (n=%d)\n", m, v[1], v[NR], NR }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
