#!/usr/bin/env bash
# Live subscriptions (issue 5: 50,000 appended events/s with 16 subscribers on $all, every one
# keeping up). Starts a dev server (TLS, the policy on) on an ephemeral loopback port and runs
# `cairn bench subscribe` against it REPS times; prints each run and the CPU time the server and
# the bench took per delivered event (both share this machine). Everything is stopped and removed
# on exit.
#
#   bench/subscribe_bench.sh [BIN] [--rate R] [--subscribers N] [--duration S] [--reps N]
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
RATE=50000 SUBSCRIBERS=16 DURATION=10 REPS=3
while [ $# -gt 0 ]; do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --subscribers) SUBSCRIBERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "usage: $0 [BIN] [--rate R] [--subscribers N] [--duration S] [--reps N]" >&2; exit 2 ;;
  esac
done
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
. "$(dirname "$0")/dev_servers.sh"
start_dev_server s "" admin
SERVER_PID=${PIDS[0]}
TICKS_PER_S=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Seconds of CPU in `times`' "1m2.500s" form.
seconds() { awk -v t="$1" 'BEGIN { split(t, p, "m"); sub("s", "", p[2]); print p[1] * 60 + p[2] }'; }

echo "== $SUBSCRIBERS subscribers on \$all, appends paced to $RATE events/s, $DURATION s, $REPS runs"
for i in $(seq "$REPS"); do
  before=$(cpu_ticks "$SERVER_PID")
  # The bench in a subshell that reports its children's CPU time (`times`, second line) last.
  out=$( ("$BIN" bench subscribe --server "127.0.0.1:$PORT_s" --ca "$TMP/s/dev/ca.crt" \
            --token "$TOKEN_admin_s" --subscribers "$SUBSCRIBERS" --rate "$RATE" \
            --duration-s "$DURATION" && times) 2>&1) || { echo "$out" >&2; exit 1; }
  after=$(cpu_ticks "$SERVER_PID")
  echo "run $i: $(echo "$out" | sed -n '/bench subscribe/,/kept up/p')"
  cpu=$(echo "$out" | tail -1)
  bench_s=$(awk -v u="$(seconds "${cpu% *}")" -v s="$(seconds "${cpu#* }")" 'BEGIN { print u + s }')
  delivered=$(echo "$out" | sed -n 's/.*delivered=\([0-9]*\).*/\1/p')
  awk -v s="$((after - before))" -v b="$bench_s" -v d="$delivered" -v hz="$TICKS_PER_S" 'BEGIN {
      printf "  CPU per delivered event: server %.2f µs, bench %.2f µs\n", s / hz * 1e6 / d,
             b * 1e6 / d }'
done
