#!/bin/bash
# The verifying consumer's catch-up rate: a dev server in a temp dir, `cairn bench append` for
# a few seconds, then `cairn subscribe '$all' --from 0 --count N` with and without `--verify`
# (the pinned key taken from the server), each REPS times, interleaved. Prints events/s per run.
#
#   bench/verify_subscribe_bench.sh [BIN] [--events N] [--reps R]
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
EVENTS=100000 REPS=3
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "usage: $0 [BIN] [--events N] [--reps R]" >&2; exit 2 ;;
  esac
done
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
. "$(dirname "$0")/dev_servers.sh"
start_dev_server s '' writer admin
CONN=(--server "127.0.0.1:$PORT_s" --ca "$TMP/s/dev/ca.crt")
# Enough events: 8 clients of batches of 100 until the log holds EVENTS.
while :; do
  "$BIN" bench append "${CONN[@]}" --token "$TOKEN_writer_s" --duration 2 --clients 8 --batch 100 \
    --json > /dev/null
  size=$("$BIN" checkpoint "${CONN[@]}" --token "$TOKEN_admin_s" --json | sed -n 's/.*"size":\([0-9]*\).*/\1/p')
  [ "$size" -ge "$EVENTS" ] && break
done
VKEY=$("$BIN" vkey "${CONN[@]}" --token "$TOKEN_admin_s")

run() {  # run plain|verify: prints events/s
  local extra=()
  [ "$1" = verify ] && extra=(--verify --verifier-key "$VKEY")
  local start end
  start=$(date +%s.%N)
  "$BIN" subscribe '$all' --from 0 --count "$EVENTS" "${extra[@]}" "${CONN[@]}" \
    --token "$TOKEN_admin_s" --json > "$TMP/out" 2> "$TMP/err" || { cat "$TMP/err"; exit 1; }
  end=$(date +%s.%N)
  [ "$(wc -l < "$TMP/out")" -eq "$EVENTS" ] || { echo "short output" >&2; exit 1; }
  awk -v n="$EVENTS" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}

echo "== catch-up of $EVENTS events over loopback (TLS, JWT), $REPS interleaved pairs"
for i in $(seq "$REPS"); do
  p=$(run plain) v=$(run verify)
  printf 'rep=%d plain_events_per_s=%s verify_events_per_s=%s ratio=%s\n' "$i" "$p" "$v" \
    "$(awk -v a="$p" -v b="$v" 'BEGIN { printf "%.3f", b / a }')"
  tail -1 "$TMP/err"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
