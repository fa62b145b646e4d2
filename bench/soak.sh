#!/usr/bin/env bash
# Soak run (issue 7): a real `cairn serve` of its own (temporary data directory, dev set-up, a
# protection rule, loopback only) under SOAK_SECONDS (default 600) of mixed load from
# `cairn bench soak`, then the server is stopped and `cairn verify` must pass on its data.
#
#   bench/soak.sh [BIN [BENCH SOAK FLAGS...]]     SOAK_SECONDS=60 bench/soak.sh build/bin/cairn
#   (e.g. --forget-interval-s 0 to leave out the forgets; see `cairn bench soak --help`)
#
# Builds nothing. Exit status: 0 when the soak's verdict is pass and verify passes. The server is
# stopped and the temporary directory removed on every exit path.
set -euo pipefail

BIN=${1:-build/bin/cairn}
[ $# -gt 0 ] && shift
SOAK_SECONDS=${SOAK_SECONDS:-600}
WARMUP_SECONDS=${SOAK_WARMUP_SECONDS:-30}
[ -x "$BIN" ] || { echo "$0: no cairn binary at $BIN (build it first)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
umask 077
TMP=$(mktemp -d)
DATA=$TMP/data
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$TMP CAIRN_CLIENT_CONFIG=$TMP/client.toml
unset CAIRN_SERVER CAIRN_DATA_DIR CAIRN_TOKEN

"$BIN" init --data-dir "$DATA" > "$TMP/init.log"
cat > "$DATA/protect.toml" <<'EOF'
[[rule]]
event_type = "SoakCustomer"
subject = "$subject"
fields = ["/pad"]
EOF
printf '\n[protect]\nfile = "protect.toml"\n' >> "$DATA/cairn.toml"

CAIRN_LISTEN=127.0.0.1:0 CAIRN_ADMIN_LISTEN=127.0.0.1:0 \
  "$BIN" serve --data-dir "$DATA" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q 'cairn serving' "$TMP/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
PORT=$(sed -n 's/.*gRPC on .*(port \([0-9]*\),.*/\1/p' "$TMP/server.log")
[ -n "$PORT" ] || { echo "$0: the server did not start:" >&2; cat "$TMP/server.log" >&2; exit 1; }

SOAK_RC=0
CAIRN_TOKEN=$(cat "$DATA/dev/admin.apikey") \
  "$BIN" bench soak --server "127.0.0.1:$PORT" --ca "$DATA/dev/ca.crt" \
  --server-pid "$SERVER_PID" --policy-file "$DATA/policy.toml" \
  --duration-s "$SOAK_SECONDS" --warmup-s "$WARMUP_SECONDS" "$@" || SOAK_RC=$?

kill "$SERVER_PID"
SERVE_RC=0
wait "$SERVER_PID" || SERVE_RC=$?
SERVER_PID=
[ "$SERVE_RC" = 0 ] || { echo "server exited with status $SERVE_RC:" >&2; tail -20 "$TMP/server.log" >&2; }

VERIFY_RC=0
"$BIN" verify --data-dir "$DATA" || VERIFY_RC=$?
echo "soak: bench soak exit $SOAK_RC, server exit $SERVE_RC, verify exit $VERIFY_RC," \
  "data dir $(du -sh "$DATA" | cut -f1)"
[ "$SOAK_RC" = 0 ] && [ "$SERVE_RC" = 0 ] && [ "$VERIFY_RC" = 0 ]
