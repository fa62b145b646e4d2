# Sourced by the side-by-side benchmarks (audit_bench.sh, protect_net_bench.sh): dev servers in a
# temp dir on ephemeral loopback ports, stopped and removed on exit. Needs BIN (absolute path).
#
#   start_dev_server NAME EXTRA_TOML [ROLE…]
#     inits $TMP/NAME, appends EXTRA_TOML to its cairn.toml, serves it with --dev and sets
#     PORT_<NAME> and, per ROLE (default: writer), TOKEN_<ROLE>_<NAME> (a dev JWT with that role).
#   median VALUE…   prints "median=… min=… max=… (n=…)"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
export HOME=$TMP CAIRN_CLIENT_CONFIG=$TMP/client.toml

start_dev_server() {
  local name=$1 extra=$2 dir=$TMP/$1
  shift 2
  "$BIN" init --data-dir "$dir" > /dev/null
  printf '%s\n' "$extra" >> "$dir/cairn.toml"
  CAIRN_LISTEN=127.0.0.1:0 CAIRN_ADMIN_LISTEN=127.0.0.1:0 \
    "$BIN" serve --dev --data-dir "$dir" > "$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do grep -q 'cairn serving' "$TMP/$name.log" && break; sleep 0.1; done
  local port role
  port=$(sed -n 's/.*gRPC on .*(port \([0-9]*\),.*/\1/p' "$TMP/$name.log")
  [ -n "$port" ] || { cat "$TMP/$name.log"; exit 1; }
  printf -v "PORT_$name" '%s' "$port"
  for role in "${@:-writer}"; do
    printf -v "TOKEN_${role}_$name" '%s' \
      "$("$BIN" token mint --sub "bench-$role" --role "$role" --data-dir "$dir")"
  done
}

field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }

median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    printf "median=%.3f min=%.3f max=%.3f (n=%d)", m, v[1], v[NR], NR }'
}
