#!/usr/bin/env bash
# PostgreSQL peer baseline for cairn's append benchmark.
#
# Starts a throw-away PostgreSQL cluster (Debian's server binaries,
# synchronous_commit = on, fsync = on, TCP on 127.0.0.1 only), creates a
# Message DB-style `messages` table (bench/pg_baseline/schema.sql) and loads it
# with pgbench using the same shapes as `cairn bench append`:
#
#   batch   one transaction = B events (default 100) appended to the client's
#           own stream, 8 clients by default
#   single  one transaction = 1 event, 32 clients by default
#
# Event data is a JSON object whose jsonb text is exactly --event-bytes bytes
# (default 256), sent by the client with each transaction; metadata is a small
# JSON object. Positions are the stream's head + 1 read inside the INSERT, with
# unique (stream_name, position) as the expected-version guard.
#
# Output: a table plus one machine-readable line per scenario:
#   pg_baseline scenario=batch clients=8 batch=100 events_per_s=... txn_per_s=... p50_ms=... p99_ms=... ...
# and, with --json FILE, the same figures as JSON. With --cairn-batch/--cairn-single
# (cairn's events/s from `cairn bench append` in the same shapes) it also
# prints `pg_baseline_ratio ... ratio=... target=2|3 meets_target=yes|no`.
#
# Example: bench/pg_baseline.sh --duration 10 --json pg.json
#
# Must run as root: initdb and the server run as user `postgres` via runuser;
# psql and pgbench connect over TCP as role postgres (trust auth, 127.0.0.1
# only). Installs postgresql + postgresql-contrib with apt-get if missing.
# Checkpoints: each scenario starts after a CHECKPOINT, and max_wal_size = 16GB with
# checkpoint_timeout = 30min keeps another from starting inside a run (a WAL-triggered checkpoint
# in the middle of one scenario and not another made their figures incomparable); the same in
# bench/pg_nodes.sh.
# Runtime: about 2 x DURATION + setup; the cluster and its temp dir are removed
# on every exit path.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SQL_DIR="$SCRIPT_DIR/pg_baseline"

DURATION=10
WARMUP_S=3
BATCH=100
BATCH_CLIENTS=8
SINGLE_CLIENTS=32
EVENT_BYTES=256
THREADS=2
SCENARIOS="batch,single"
JSON_OUT=""
CAIRN_BATCH_EPS=""
CAIRN_SINGLE_EPS=""

usage() {
  cat <<EOF
usage: $0 [options]
  --duration S         seconds per scenario (default $DURATION)
  --warmup S           an unreported batch run on the fresh cluster first (default $WARMUP_S; 0: none)
  --batch B            events per transaction in the batch scenario (default $BATCH)
  --batch-clients N    clients in the batch scenario (default $BATCH_CLIENTS)
  --single-clients N   clients in the single-event scenario (default $SINGLE_CLIENTS)
  --event-bytes N      size of each event's data as jsonb text (default $EVENT_BYTES)
  --threads N          pgbench worker threads, -j (default $THREADS)
  --scenarios LIST     comma-separated subset of batch,single (default $SCENARIOS)
  --json FILE          also write the results as JSON to FILE
  --cairn-batch EPS    cairn's events/s in the same batch scenario (from
                       \`cairn bench append --clients 8 --batch 100\`): prints
                       the ratio cairn/PostgreSQL against the 2x target
  --cairn-single EPS   same for single-event appends (target 3x)
  -h, --help           this text
EOF
}

die() { echo "pg_baseline: $*" >&2; exit 2; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && (( 10#$1 > 0 )); }

while (( $# > 0 )); do
  case $1 in
    --duration)       DURATION=${2:?}; shift 2 ;;
    --warmup)         WARMUP_S=${2:?}; shift 2 ;;
    --batch)          BATCH=${2:?}; shift 2 ;;
    --batch-clients)  BATCH_CLIENTS=${2:?}; shift 2 ;;
    --single-clients) SINGLE_CLIENTS=${2:?}; shift 2 ;;
    --event-bytes)    EVENT_BYTES=${2:?}; shift 2 ;;
    --threads)        THREADS=${2:?}; shift 2 ;;
    --scenarios)      SCENARIOS=${2:?}; shift 2 ;;
    --json)           JSON_OUT=${2:?}; shift 2 ;;
    --cairn-batch)    CAIRN_BATCH_EPS=${2:?}; shift 2 ;;
    --cairn-single)   CAIRN_SINGLE_EPS=${2:?}; shift 2 ;;
    --duration=*)       DURATION=${1#*=}; shift ;;
    --warmup=*)         WARMUP_S=${1#*=}; shift ;;
    --batch=*)          BATCH=${1#*=}; shift ;;
    --batch-clients=*)  BATCH_CLIENTS=${1#*=}; shift ;;
    --single-clients=*) SINGLE_CLIENTS=${1#*=}; shift ;;
    --event-bytes=*)    EVENT_BYTES=${1#*=}; shift ;;
    --threads=*)        THREADS=${1#*=}; shift ;;
    --scenarios=*)      SCENARIOS=${1#*=}; shift ;;
    --json=*)           JSON_OUT=${1#*=}; shift ;;
    --cairn-batch=*)    CAIRN_BATCH_EPS=${1#*=}; shift ;;
    --cairn-single=*)   CAIRN_SINGLE_EPS=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

for v in DURATION BATCH BATCH_CLIENTS SINGLE_CLIENTS EVENT_BYTES THREADS; do
  is_uint "${!v}" || die "$v must be a positive integer (got '${!v}')"
done
for v in CAIRN_BATCH_EPS CAIRN_SINGLE_EPS; do
  [[ -z ${!v} || ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$v must be a number (got '${!v}')"
done
(( EVENT_BYTES >= 128 )) || die "--event-bytes must be at least 128"
# The batch's payload travels as one pgbench -D variable, i.e. one argv
# string, which Linux caps at 128 KiB.
(( BATCH * (EVENT_BYTES + 2) < 120000 )) \
  || die "--batch x --event-bytes too large for one pgbench variable (< 120000 bytes)"
IFS=, read -r -a SCENARIO_LIST <<<"$SCENARIOS"
for s in "${SCENARIO_LIST[@]}"; do
  [[ $s == batch || $s == single ]] || die "unknown scenario '$s'"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (the server runs as user postgres via runuser)"
for f in schema.sql append_single.sql append_batch.sql; do
  [[ -r $SQL_DIR/$f ]] || die "missing $SQL_DIR/$f"
done
if [[ -n $JSON_OUT ]]; then
  JSON_OUT=$(realpath -m -- "$JSON_OUT")
  : >"$JSON_OUT" || die "cannot write $JSON_OUT"
fi

# --- PostgreSQL binaries ---------------------------------------------------
find_pg_bin() {
  local d
  # Newest major version first.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/psql && -x $d/pgbench ]]; then
      echo "$d"; return 0
    fi
  done
  return 1
}
if ! PG_BIN=$(find_pg_bin); then
  echo "pg_baseline: installing postgresql and postgresql-contrib ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >&2
  PG_BIN=$(find_pg_bin) || die "PostgreSQL binaries not found after install"
fi
id postgres >/dev/null 2>&1 || die "user postgres does not exist"

# The server refuses to run as root: initdb and pg_ctl run as postgres. The
# clients (psql, pgbench) run as root and connect as user postgres over TCP,
# so a signal reaches pgbench directly (runuser would delay it by 2 s).
as_pg() { runuser -u postgres -- "$@"; }

# --- throw-away cluster, removed on every exit path -------------------------
TMP=$(mktemp -d /tmp/cairn-pg-baseline.XXXXXX)
chown postgres: "$TMP"
chmod 700 "$TMP"
PGDATA_DIR="$TMP/data"
PG_STARTED=0
PGBENCH_PID=""

# shellcheck source=pg_cluster.sh
source "$SCRIPT_DIR/pg_cluster.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n $PGBENCH_PID ]]; then
    kill -TERM "$PGBENCH_PID" 2>/dev/null
    wait "$PGBENCH_PID" 2>/dev/null
  fi
  (( PG_STARTED )) && pg_cluster_stop "$PGDATA_DIR"
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pick_port() {
  local p
  if command -v python3 >/dev/null 2>&1 && p=$(python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null) && [[ $p =~ ^[0-9]+$ ]]; then
    echo "$p"; return 0
  fi
  for (( i = 0; i < 200; i++ )); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

cp -- "$SQL_DIR"/schema.sql "$SQL_DIR"/append_single.sql "$SQL_DIR"/append_batch.sql "$TMP"/

as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
  --no-locale -N >"$TMP/initdb.log" 2>&1 \
  || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }

start_server() {
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$TMP/server.log" -w -t 30 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$TMP \
     -c synchronous_commit=on -c fsync=on -c full_page_writes=on \
     -c shared_buffers=256MB -c max_connections=100 \
     -c max_wal_size=16GB -c checkpoint_timeout=30min" >/dev/null 2>&1
}
started=0
for attempt in 1 2 3; do
  PORT=$(pick_port) || die "no free loopback port"
  PG_STARTED=1   # from here on cleanup tries a stop (harmless if not running)
  if start_server; then started=1; break; fi
  echo "pg_baseline: server start on port $PORT failed (attempt $attempt)" >&2
done
(( started )) || { tail -n 20 "$TMP/server.log" >&2 || true; die "could not start PostgreSQL"; }

PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${PSQL[@]}" -f "$TMP/schema.sql" >/dev/null

PG_VERSION=$("${PSQL[@]}" -Atc "SHOW server_version")
PG_SETTINGS=$("${PSQL[@]}" -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
  FROM pg_settings WHERE name IN ('synchronous_commit','fsync','wal_sync_method','shared_buffers','full_page_writes')")

# Event payload: a realistic object padded so that its jsonb text is exactly
# EVENT_BYTES bytes (what PostgreSQL stores and returns).
EVENT=$("${PSQL[@]}" -Atc "
  WITH b AS (SELECT jsonb_build_object(
      'order_id', '5b3f0c1e-8d0a-4c8e-9d43-2f6a1b7c9e10',
      'customer_id', 'cust-000042',
      'amount_cents', 129900,
      'currency', 'EUR',
      'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-1001', 'qty', 2),
                                 jsonb_build_object('sku', 'SKU-2002', 'qty', 1)),
      'pad', '') AS j)
  SELECT jsonb_set(j, '{pad}', to_jsonb(repeat('x', $EVENT_BYTES - octet_length(j::text))))::text FROM b")
EVENT_LEN=$("${PSQL[@]}" -Atc "SELECT octet_length(\$\$$EVENT\$\$::jsonb::text)")
(( EVENT_LEN == EVENT_BYTES )) || die "event payload is $EVENT_LEN bytes, wanted $EVENT_BYTES"
META='{"schemaVersion": 1, "correlationStreamName": "checkout-42"}'
EVENTS="[$EVENT"
for (( i = 1; i < BATCH; i++ )); do EVENTS+=", $EVENT"; done
EVENTS+="]"

# p-th percentile (0 < p <= 100, nearest rank) of the per-transaction latencies
# (microseconds, column 3) in pgbench --log files; prints milliseconds.
percentiles_ms() {
  local prefix=$1
  cat "$prefix".* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n | awk '
    { v[NR] = $1 }
    function pct(p,   k) { k = int((p / 100) * NR); if (k < (p / 100) * NR) k++; if (k < 1) k = 1; return v[k] / 1000 }
    END {
      if (NR == 0) { print "nan nan nan 0"; exit }
      printf "%.3f %.3f %.3f %d\n", pct(50), pct(99), v[NR] / 1000, NR
    }'
}

RESULT_LINES=()
RATIO_LINES=()
JSON_ITEMS=()

jnum() { [[ $1 =~ ^-?[0-9]+([.][0-9]+)?$ ]] && echo "$1" || echo null; }

run_scenario() {
  local name=$1 clients=$2 batch=$3 script var_args jobs
  if [[ $name == batch ]]; then
    script="$TMP/append_batch.sql"; var_args=(-D "events=$EVENTS")
  else
    script="$TMP/append_single.sql"; var_args=(-D "event=$EVENT")
  fi
  jobs=$(( THREADS < clients ? THREADS : clients ))

  # Same starting point for every scenario: empty table, fresh checkpoint.
  "${PSQL[@]}" -c "TRUNCATE messages RESTART IDENTITY" -c "CHECKPOINT"

  local out="$TMP/pgbench_$name.out" prefix="$TMP/log_$name"
  echo "pg_baseline: running $name: $clients clients x $batch event(s)/txn for ${DURATION}s ..." >&2
  "$PG_BIN/pgbench" -n -M prepared -c "$clients" -j "$jobs" -T "$DURATION" -r \
    -h 127.0.0.1 -p "$PORT" -U postgres \
    --log --log-prefix="$prefix" \
    "${var_args[@]}" -D "meta=$META" \
    -f "$script" postgres >"$out" 2>&1 &
  PGBENCH_PID=$!
  local rc=0
  wait "$PGBENCH_PID" || rc=$?
  PGBENCH_PID=""
  if (( rc != 0 )); then
    cat "$out" >&2
    die "pgbench ($name) exited with status $rc"
  fi

  local tps lat_avg txns failed rows p50 p99 pmax nlog events_per_s
  tps=$(awk '/^tps = / { print $3; exit }' "$out")
  lat_avg=$(awk '/^latency average = / { print $4; exit }' "$out")
  txns=$(awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' "$out")
  failed=$(awk -F': ' '/^number of failed transactions/ { split($2, a, " "); print a[1]; exit }' "$out")
  [[ -n $tps && -n $txns ]] || { cat "$out" >&2; die "could not parse pgbench output ($name)"; }
  failed=${failed:-0}
  read -r p50 p99 pmax nlog < <(percentiles_ms "$prefix")
  rows=$("${PSQL[@]}" -Atc "SELECT count(*) FROM messages")
  events_per_s=$(awk -v t="$tps" -v b="$batch" 'BEGIN { printf "%.0f", t * b }')
  tps=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }')

  # Sanity: a baseline that wrote nothing, failed transactions, or lost rows is no baseline: it
  # must not print a ratio that "meets" a target.
  if (( rows != txns * batch )); then
    die "$name: $rows rows but $txns txns x $batch"
  fi
  (( txns > 0 )) || die "$name: no transaction committed"
  (( failed == 0 )) || die "$name: $failed transactions failed"

  # cairn's ratio to this baseline, when cairn's figure was given.
  local cairn target ratio="" ratio_json=""
  if [[ $name == batch ]]; then cairn=$CAIRN_BATCH_EPS; target=2; else cairn=$CAIRN_SINGLE_EPS; target=3; fi
  if [[ -n $cairn ]]; then
    ratio=$(awk -v c="$cairn" -v p="$events_per_s" 'BEGIN { if (p > 0) printf "%.2f", c / p; else print "inf" }')
    local ok
    ok=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r != "inf" && r + 0 >= t) ? "yes" : "no" }')
    RATIO_LINES+=("pg_baseline_ratio scenario=$name cairn_events_per_s=$cairn pg_events_per_s=$events_per_s ratio=$ratio target=$target meets_target=$ok")
    [[ $ratio == inf ]] || ratio_json=", \"cairn_events_per_s\": $cairn, \"ratio\": $ratio, \"target\": $target, \"meets_target\": $([[ $ok == yes ]] && echo true || echo false)"
  fi

  local line="pg_baseline scenario=$name clients=$clients batch=$batch events_per_s=$events_per_s txn_per_s=$tps p50_ms=$p50 p99_ms=$p99 max_ms=$pmax avg_ms=${lat_avg:-nan} txns=$txns failed=$failed rows=$rows duration_s=$DURATION event_bytes=$EVENT_BYTES"
  RESULT_LINES+=("$line")
  JSON_ITEMS+=("$(printf '{"scenario": "%s", "clients": %d, "batch": %d, "events_per_s": %s, "txn_per_s": %s, "p50_ms": %s, "p99_ms": %s, "max_ms": %s, "avg_ms": %s, "txns": %d, "failed": %d, "rows": %d, "logged_txns": %d}' \
    "$name" "$clients" "$batch" "$events_per_s" "$tps" "$(jnum "$p50")" "$(jnum "$p99")" "$(jnum "$pmax")" "$(jnum "${lat_avg:-nan}")" \
    "$txns" "$failed" "$rows" "$nlog")")
  JSON_ITEMS[-1]="${JSON_ITEMS[-1]%\}}$ratio_json}"
  rm -f -- "$prefix".*
}

# The first load on a fresh cluster is slower (cold caches, the first checkpoints): a short
# unreported run first, as bench/pg_nodes.sh gives cairn's first PostgreSQL scenario.
if (( WARMUP_S > 0 )); then
  echo "pg_baseline: warm-up (${WARMUP_S}s, not reported) ..." >&2
  "$PG_BIN/pgbench" -n -M prepared -c "$BATCH_CLIENTS" -j "$THREADS" -T "$WARMUP_S" \
    -h 127.0.0.1 -p "$PORT" -U postgres -D "events=$EVENTS" -D "meta=$META" \
    -f "$TMP/append_batch.sql" postgres >"$TMP/pgbench_warmup.out" 2>&1 \
    || { cat "$TMP/pgbench_warmup.out" >&2; die "pgbench warm-up failed"; }
fi

for s in "${SCENARIO_LIST[@]}"; do
  case $s in
    batch)  run_scenario batch "$BATCH_CLIENTS" "$BATCH" ;;
    single) run_scenario single "$SINGLE_CLIENTS" 1 ;;
  esac
done

# --- report -----------------------------------------------------------------
echo
echo "PostgreSQL $PG_VERSION peer baseline (Message DB-style table, loopback, pgbench -M prepared, ${DURATION}s per scenario)"
echo "settings: $PG_SETTINGS; event data $EVENT_BYTES bytes (jsonb text)"
printf '%-8s %8s %6s %12s %10s %9s %9s %9s %8s\n' scenario clients batch events/s txn/s p50_ms p99_ms avg_ms failed
for line in "${RESULT_LINES[@]}"; do
  declare -A kv=()
  for tok in $line; do [[ $tok == *=* ]] && kv[${tok%%=*}]=${tok#*=}; done
  printf '%-8s %8s %6s %12s %10s %9s %9s %9s %8s\n' "${kv[scenario]}" "${kv[clients]}" "${kv[batch]}" \
    "${kv[events_per_s]}" "${kv[txn_per_s]}" "${kv[p50_ms]}" "${kv[p99_ms]}" "${kv[avg_ms]}" "${kv[failed]}"
  unset kv
done
echo
printf '%s\n' "${RESULT_LINES[@]}"
(( ${#RATIO_LINES[@]} == 0 )) || printf '%s\n' "${RATIO_LINES[@]}"

if [[ -n $JSON_OUT ]]; then
  {
    printf '{"tool": "pg_baseline", "postgres_version": "%s", "settings": "%s", "duration_s": %d, "event_bytes": %d, "threads": %d, "scenarios": [\n' \
      "$PG_VERSION" "$PG_SETTINGS" "$DURATION" "$EVENT_BYTES" "$THREADS"
    for (( i = 0; i < ${#JSON_ITEMS[@]}; i++ )); do
      printf '  %s%s\n' "${JSON_ITEMS[$i]}" "$( (( i + 1 < ${#JSON_ITEMS[@]} )) && echo ,)"
    done
    printf ']}\n'
  } >"$JSON_OUT"
  echo "pg_baseline: wrote $JSON_OUT" >&2
fi
