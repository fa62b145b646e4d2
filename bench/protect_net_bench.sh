#!/usr/bin/env bash
# The cost of field protection end to end (issue 4: appends with protection ≥ 0.7 of appends
# without; reads with decryption ≥ 0.7 of reads without), over loopback with TLS, a JWT and the
# policy on. Two dev servers side by side: "plain" has no protection rules, "protect" protects
# /email, /name and /street of CustomerRegistered (subject /customerId). Both get the same events
# (`cairn bench append --payload customer`: 256 bytes, 1,000 subjects). Per interleaved pair (the
# order alternates): appends (batches of 100 from 8 clients), then ReadAll from 2 clients with a
# `read.pii` token (plaintext) and with a token without it (masked). Prints every pair and the
# median ratios protect/plain. Everything is stopped and removed on exit.
#
#   bench/protect_net_bench.sh [BIN] [--duration S] [--reps N] [--clients C] [--batch B]
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
DURATION=5 REPS=3 CLIENTS=8 BATCH=100
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
RULES='[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name", "/street"]'
printf '%s\n' "$RULES" > "$TMP/rules.toml"
chmod 600 "$TMP/rules.toml"
# writer: append and read, no read.pii (masked reads); admin: read.pii (plaintext reads).
start_dev_server plain '' writer admin
start_dev_server protect "[protect]
file = \"$TMP/rules.toml\"" writer admin

# net NAME ROLE append|read ARGS…
net() {
  local port_var=PORT_$1 token_var=TOKEN_$2_$1 name=$1 what=$3
  shift 3
  "$BIN" bench "$what" --server "127.0.0.1:${!port_var}" --ca "$TMP/$name/dev/ca.crt" \
    --token "${!token_var}" --duration "$DURATION" --json "$@"
}
append() { net "$1" writer append --payload customer --clients "$CLIENTS" --batch "$BATCH"; }
read_pii() { net "$1" admin read --clients 2; }
read_masked() { net "$1" writer read --clients 2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b / a }'; }

# Warm-up, not counted: the protect server creates the 1,000 subject keys (a KMS wrap and a durable
# put each, once per subject), both servers fill their caches.
DURATION=1 append plain > /dev/null
DURATION=1 append protect > /dev/null

echo "== field protection over loopback (TLS, JWT, policy): $REPS interleaved pairs, $DURATION s per run"
A_RATIOS=() P_RATIOS=() M_RATIOS=()
for i in $(seq "$REPS"); do
  if [ $((i % 2)) = 1 ]; then order="plain protect"; else order="protect plain"; fi
  for phase in append read_pii read_masked; do
    for side in $order; do
      printf -v "OUT_${phase}_$side" '%s' "$($phase "$side")"
    done
  done
  for phase in append read_pii read_masked; do
    a_var=OUT_${phase}_plain b_var=OUT_${phase}_protect
    a=$(field "${!a_var}" events_per_s) b=$(field "${!b_var}" events_per_s)
    r=$(ratio "$a" "$b")
    case $phase in append) A_RATIOS+=("$r") ;; read_pii) P_RATIOS+=("$r") ;; *) M_RATIOS+=("$r") ;; esac
    printf 'rep=%d phase=%-11s plain_events_per_s=%.0f protect_events_per_s=%.0f ratio=%s\n' \
      "$i" "$phase" "$a" "$b" "$r"
  done
done
echo "appends      protect/plain: $(median "${A_RATIOS[@]}")  (target >= 0.7)"
echo "reads (pii)  protect/plain: $(median "${P_RATIOS[@]}")  (target >= 0.7)"
echo "reads (mask) protect/plain: $(median "${M_RATIOS[@]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
