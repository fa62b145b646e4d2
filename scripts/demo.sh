#!/usr/bin/env bash
# Offline demo of cairn (`make run`): a fresh data directory, a few events on two streams, reads,
# a signed checkpoint, an inclusion proof checked offline, and a full verification.
#
# usage: scripts/demo.sh BIN DATA_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN DATA_DIR" >&2
  exit 2
fi
BIN=$1
DATA_DIR=$2
MARKER=.made-by-cairn-demo

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
# Prints a command line as one would type it (arguments with shell characters single-quoted).
show() {
  local out='$' arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@+,-]+$ ]]; then out+=" $arg"; else out+=" '$arg'"; fi
  done
  printf '%s\n' "$out"
}
run() { show cairn "$@"; "$BIN" --data-dir "$DATA_DIR" "$@"; }
# Values from the one-line JSON that cairn prints.
json_str() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
json_num() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
json_proof() { printf '%s' "$1" | sed -n 's/.*"proof":\[\([^]]*\)\].*/\1/p' | tr -d '"'; }

# Start from a fresh directory, but delete an old one only if this demo made it: never a
# directory someone else's data lives in.
prepare_data_dir() {
  if [ -e "$DATA_DIR" ]; then
    if [ -f "$DATA_DIR/cairn.lock" ] && [ -f "$DATA_DIR/$MARKER" ]; then
      if command -v flock >/dev/null && ! flock -n "$DATA_DIR/cairn.lock" true; then
        echo "demo: $DATA_DIR is in use by a running cairn; stop it first" >&2
        exit 1
      fi
      echo "removing the previous demo directory $DATA_DIR"
      rm -rf -- "$DATA_DIR"
    elif [ -d "$DATA_DIR" ] && [ -z "$(ls -A "$DATA_DIR")" ]; then
      rmdir -- "$DATA_DIR"
    else
      echo "demo: $DATA_DIR exists and was not made by this demo; choose another DATA_DIR" >&2
      exit 1
    fi
  fi
  mkdir -p -- "$(dirname -- "$DATA_DIR")"
}

[ -x "$BIN" ] || { echo "demo: $BIN is not an executable" >&2; exit 1; }
prepare_data_dir

step "1. init: create a data directory (keyring 0600, store, checkpoint signing key)"
run init --origin demo.cairn.local/log
touch "$DATA_DIR/$MARKER"

step "2. append: events to stream 'orders-1' with optimistic concurrency (expected versions)"
run append orders-1 --type OrderPlaced --expected-version no_stream \
  --data '{"order":"orders-1","items":[{"sku":"tea-01","qty":2}],"total":7.40}'
run append orders-1 --type OrderPaid --expected-version 0 \
  --data '{"order":"orders-1","amount":7.40,"method":"card"}' \
  --metadata '{"correlation_id":"c-1001"}'
echo "-- a writer with a stale view (expects version 0) is refused, and nothing is written:"
if run append orders-1 --type OrderCancelled --expected-version 0 --data '{"order":"orders-1"}'; then
  echo "demo: the stale append should have been refused" >&2
  exit 1
fi

step "3. append: events to a second stream 'customers-42'"
run append customers-42 --type CustomerRegistered --data '{"customer":"customers-42","tier":"gold"}'
run append customers-42 --type CustomerTierChanged --expected-version stream_exists \
  --data '{"customer":"customers-42","tier":"platinum"}'

step "4. checkpoint: a signed note (C2SP tlog-checkpoint) over the first 4 events"
run checkpoint
OLD_SIZE=4
OLD_ROOT=$(json_str "$("$BIN" --data-dir "$DATA_DIR" checkpoint --json)" root)

run append orders-1 --type OrderShipped --expected-version 1 \
  --data '{"order":"orders-1","carrier":"post","tracking":"RR123"}'

step "5. read: one stream, oldest first; then its info"
run read orders-1
run stream-info orders-1

step "6. read-all --json: every entry field, so an auditor can recompute each leaf hash"
run read-all --json

step "7. checkpoint and verifier key: what a client or witness pins"
run checkpoint
run vkey
NOTE=$("$BIN" --data-dir "$DATA_DIR" checkpoint)
SIZE=$(printf '%s\n' "$NOTE" | sed -n 2p)
ROOT_B64=$(printf '%s\n' "$NOTE" | sed -n 3p)

step "8. proof inclusion: the audit path of event 1 in the tree of size $SIZE"
show cairn proof inclusion 1 --size "$SIZE"
PROOF=$("$BIN" --data-dir "$DATA_DIR" proof inclusion 1 --size "$SIZE")
echo "$PROOF"
LEAF=$(json_str "$PROOF" leaf_hash)
HASHES=$(json_proof "$PROOF")

step "9. proof verify-inclusion: offline, against the root in the signed checkpoint"
show cairn proof verify-inclusion --index 1 --size "$SIZE" --leaf-hash "$LEAF" --root "$ROOT_B64" \
  --proof "$HASHES"
"$BIN" proof verify-inclusion --index 1 --size "$SIZE" --leaf-hash "$LEAF" --root "$ROOT_B64" \
  --proof "$HASHES"
echo "-- the same proof for an altered leaf hash is rejected:"
FLIPPED=$(printf '%s' "$LEAF" | sed 's/^./f/;t')
[ "$FLIPPED" = "$LEAF" ] && FLIPPED=$(printf '%s' "$LEAF" | sed 's/^./0/')
"$BIN" proof verify-inclusion --index 1 --size "$SIZE" --leaf-hash "$FLIPPED" --root "$ROOT_B64" \
  --proof "$HASHES" || true

step "10. proof consistency: the log of size $OLD_SIZE is a prefix of the log of size $SIZE"
show cairn proof consistency "$OLD_SIZE" "$SIZE"
CONS=$("$BIN" --data-dir "$DATA_DIR" proof consistency "$OLD_SIZE" "$SIZE")
echo "$CONS"
show cairn proof verify-consistency --size1 "$OLD_SIZE" --size2 "$SIZE" --root1 "$OLD_ROOT" \
  --root2 "$ROOT_B64" --proof "$(json_proof "$CONS")"
"$BIN" proof verify-consistency --size1 "$OLD_SIZE" --size2 "$SIZE" --root1 "$OLD_ROOT" \
  --root2 "$ROOT_B64" --proof "$(json_proof "$CONS")"

step "11. verify: recompute every leaf, stream chain and checkpoint"
run verify

printf '\ndemo data directory: %s\n' "$DATA_DIR"
