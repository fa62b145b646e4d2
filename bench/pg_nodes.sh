#!/usr/bin/env bash
# cairn on PostgreSQL, one node and three nodes, side by side with RocksDB and the raw
# Message DB-style PostgreSQL baseline (issue 8, "Benchmarks").
#
# Starts one throw-away PostgreSQL cluster (Debian's server binaries, fsync = on,
# synchronous_commit = on, TCP on 127.0.0.1 only, trust auth; stopped and removed on every exit
# path), then runs, one after the other, with the same shapes (THREADS appending threads or
# clients, batches of BATCH events of EVENT_BYTES bytes, DURATION seconds each):
#
#   rocksdb   cairn bench on the embedded RocksDB backend
#   pg1       cairn bench --postgres: one node on a fresh database (optimistic commits)
#   pg1_locked  the same with --pg-lock-first (every commit takes the lock first), for the gain
#             of optimistic commits side by side
#   pg3       three cairn bench processes at once on one fresh database (node 1 initialises the
#             log, nodes 2 and 3 use its keyring); all start their load at the same instant;
#             aggregate events/s = the sum of the three
#   baseline  bench/pg_baseline.sh --scenarios batch (its own cluster, same settings)
#
# --flush-delay-us N (default 0) makes every WAL flush of the cluster N µs slower (commit_delay
# with commit_siblings = 0), as a synchronous standby in another zone would: the WAL flush of a
# locked commit is waited for after the commit lock (docs/deployment.md), so it shows what the
# lock costs where flushes are slow. The baseline's own cluster runs without it: compare
# pg1/baseline at 0 only.
#
# Checkpoints: every scenario starts after a CHECKPOINT, and max_wal_size = 16GB with
# checkpoint_timeout = 30min keeps another one from starting inside a run. With PostgreSQL's
# default (1GB) a WAL-triggered checkpoint, and the full-page writes after it, landed inside some
# 10 s scenarios and not others (one node at ~100 k events/s writes ~1 GB of WAL in 10 s), which
# made scenarios of one run incomparable. Needs a few GB of free disk for the WAL.
#
# Output: one line per scenario, the ratios pg1/baseline (target >= 1.0), pg3/pg1
# (target >= 1.0) and pg1/pg1_locked, and the commit-lock figures of each PostgreSQL node (mean lock wait and hold
# per lock, events per commit). Must run as root (the server runs as user postgres).
#
# Example: bench/pg_nodes.sh build/bin/cairn --duration 10
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAIRN=${1:?usage: $0 CAIRN_BINARY [--duration S] [--threads N] [--batch B] [--event-bytes N] [--flush-delay-us N]}
shift
DURATION=10
THREADS=8
BATCH=100
EVENT_BYTES=256
FLUSH_DELAY_US=0
while (( $# > 0 )); do
  case $1 in
    --duration)    DURATION=${2:?}; shift 2 ;;
    --threads)     THREADS=${2:?}; shift 2 ;;
    --batch)       BATCH=${2:?}; shift 2 ;;
    --event-bytes) EVENT_BYTES=${2:?}; shift 2 ;;
    --flush-delay-us) FLUSH_DELAY_US=${2:?}; shift 2 ;;
    *) echo "pg_nodes: unknown argument: $1" >&2; exit 2 ;;
  esac
done
die() { echo "pg_nodes: $*" >&2; exit 2; }
for v in DURATION THREADS BATCH EVENT_BYTES; do
  [[ ${!v} =~ ^[0-9]+$ ]] && (( 10#${!v} > 0 )) || die "$v must be a positive integer"
done
[[ $FLUSH_DELAY_US =~ ^[0-9]+$ ]] && (( 10#$FLUSH_DELAY_US <= 100000 )) || die "--flush-delay-us: 0..100000"
(( DURATION <= 600 )) || die "--duration at most 600"
[[ -x $CAIRN ]] || die "not executable: $CAIRN"
CAIRN=$(realpath -- "$CAIRN")
[[ $(id -u) -eq 0 ]] || die "must run as root (the server runs as user postgres via runuser)"
command -v jq >/dev/null || die "needs jq"

PG_BIN=""
for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
  [[ -x $d/initdb && -x $d/pg_ctl && -x $d/psql ]] && { PG_BIN=$d; break; }
done
[[ -n $PG_BIN ]] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
as_pg() { runuser -u postgres -- "$@"; }

TMP=$(mktemp -d /tmp/cairn-pg-nodes.XXXXXX)
chmod 755 "$TMP"
PGDATA_DIR="$TMP/pgdata"
PG_STARTED=0
BENCH_PIDS=()
# shellcheck source=pg_cluster.sh
source "$SCRIPT_DIR/pg_cluster.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local p
  for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  (( PG_STARTED )) && pg_cluster_stop "$PGDATA_DIR"
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pick_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mkdir -p "$PGDATA_DIR" && chown postgres: "$PGDATA_DIR"
as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --no-locale -N \
  >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
started=0
for attempt in 1 2 3; do
  PORT=$(pick_port) || die "no free loopback port"
  PG_STARTED=1
  if as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 30 start -o \
      "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$PGDATA_DIR \
       -c synchronous_commit=on -c fsync=on -c full_page_writes=on \
       -c shared_buffers=256MB -c max_connections=100 \
       -c max_wal_size=16GB -c checkpoint_timeout=30min \
       -c commit_delay=$FLUSH_DELAY_US -c commit_siblings=0" >/dev/null 2>&1; then
    started=1; break
  fi
done
(( started )) || die "could not start PostgreSQL"
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
PG_VERSION=$("${PSQL[@]}" -Atc "SHOW server_version")
dsn() { echo "host=127.0.0.1 port=$PORT user=postgres dbname=$1"; }

export HOME="$TMP/home" CAIRN_CLIENT_CONFIG="$TMP/home/client.toml"
mkdir -p "$HOME"
SHAPE=(--threads "$THREADS" --batch "$BATCH" --event-size-bytes "$EVENT_BYTES"
       --events 1000000000 --seconds "$DURATION" --json)

# run_bench OUT ARGS...: one cairn bench in the background (a signal ends the script at once,
# cleanup stops the bench), its JSON into OUT.
run_bench() {
  local out=$1; shift
  "$CAIRN" bench "$@" "${SHAPE[@]}" >"$out" &
  BENCH_PIDS=($!)
  wait "${BENCH_PIDS[0]}" || die "cairn bench $* failed"
  BENCH_PIDS=()
}

LINES=()
# scenario_line NAME JSON...: one summary line from one or more bench JSON results.
scenario_line() {
  local name=$1; shift
  local eps p50 p99
  eps=$(printf '%s\n' "$@" | jq -s '[.[].append.events_per_s] | add | floor')
  p50=$(printf '%s\n' "$@" | jq -s '[.[].append.latency_ms.p50] | max | . * 100 | round / 100')
  p99=$(printf '%s\n' "$@" | jq -s '[.[].append.latency_ms.p99] | max | . * 100 | round / 100')
  local ok
  ok=$(printf '%s\n' "$@" | jq -s 'all(.[]; .verify.ok)')
  LINES+=("pg_nodes scenario=$name processes=$# events_per_s=$eps p50_ms_max=$p50 p99_ms_max=$p99 verify_ok=$ok")
  echo "${LINES[-1]}"
}
lock_lines() {
  local name=$1; shift
  local n=0 j
  for j in "$@"; do
    n=$((n + 1))
    echo "$j" | jq -r --arg s "$name" --arg n "$n" '.postgres_commit_lock |
      "pg_nodes_lock scenario=\($s) node=\($n) commits=\(.commits) events_per_commit=\(.events_per_commit * 10 | round / 10) lock_wait_ms=\(.lock_wait_ms_mean * 1000 | round / 1000) hold_ms=\(.hold_ms_mean * 1000 | round / 1000) commit_ms=\(.commit_ms_mean * 1000 | round / 1000) durable_wait_ms=\(.durable_wait_ms_mean * 1000 | round / 1000) rebased=\(.rebased) locks=\(.locks) optimistic=\(.optimistic) races_lost=\(.races_lost) lock_victims=\(.lock_victims) row_waits_cut=\(.row_waits_cut) remote_prefetched=\(.remote_events_prefetched) remote_ahead_from_summaries=\(.remote_events_ahead_from_summaries) remote_learned_before_lock=\(.remote_events_learned_before_lock) remote_summarized=\(.remote_events_summarized) remote_read_under_lock=\(.remote_events_read_under_lock) rebase_ms=\(.rebase_ms_mean * 1000 | round / 1000)"'
  done
}

echo "pg_nodes: rocksdb ..." >&2
run_bench "$TMP/rocks.json" --data-dir "$TMP/rocks"
R_ROCKS=$(cat "$TMP/rocks.json")
scenario_line rocksdb "$R_ROCKS"
# The RocksDB run leaves hundreds of MB of dirty pages (its SSTs) that the kernel writes back
# for a while after it exits, slowing the fsyncs of whichever PostgreSQL scenario comes next:
# drop its files and flush before going on.
rm -rf -- "$TMP/rocks"
sync

# A short throw-away run first: the first load on a fresh cluster is slower (cold caches, the
# first checkpoints), which would otherwise count against whichever scenario comes first.
echo "pg_nodes: warm-up (3 s, not reported) ..." >&2
"${PSQL[@]}" -c "CREATE DATABASE warmup"
"$CAIRN" bench --data-dir "$TMP/warmup" --postgres "$(dsn warmup)" --threads "$THREADS" \
  --batch "$BATCH" --event-size-bytes "$EVENT_BYTES" --events 1000000000 --seconds 3 --json \
  >/dev/null || die "warm-up failed"

echo "pg_nodes: pg1 ..." >&2
"${PSQL[@]}" -c "CREATE DATABASE pg1" -c "CHECKPOINT"
run_bench "$TMP/pg1.json" --data-dir "$TMP/pg1" --postgres "$(dsn pg1)"
R_PG1=$(cat "$TMP/pg1.json")
scenario_line pg1 "$R_PG1"
lock_lines pg1 "$R_PG1"

echo "pg_nodes: pg1_locked (every commit locks first: --pg-lock-first) ..." >&2
"${PSQL[@]}" -c "CREATE DATABASE pg1l" -c "CHECKPOINT"
run_bench "$TMP/pg1l.json" --data-dir "$TMP/pg1l" --postgres "$(dsn pg1l)" --pg-lock-first
R_PG1L=$(cat "$TMP/pg1l.json")
scenario_line pg1_locked "$R_PG1L"
lock_lines pg1_locked "$R_PG1L"

echo "pg_nodes: pg3 ..." >&2
"${PSQL[@]}" -c "CREATE DATABASE pg3" -c "CHECKPOINT"
"$CAIRN" bench --data-dir "$TMP/n1" --postgres "$(dsn pg3)" --init-only
START_MS=$(( $(date +%s%3N) + 5000 ))   # after all three have opened the log
for n in 1 2 3; do
  "$CAIRN" bench --data-dir "$TMP/n$n" --keyring "$TMP/n1/keyring" --postgres "$(dsn pg3)" \
    --start-at-unix-ms "$START_MS" "${SHAPE[@]}" >"$TMP/n$n.json" &
  BENCH_PIDS+=($!)
done
for p in "${BENCH_PIDS[@]}"; do wait "$p" || die "a pg3 node failed (exit $?)"; done
BENCH_PIDS=()
R_N=("$(cat "$TMP/n1.json")" "$(cat "$TMP/n2.json")" "$(cat "$TMP/n3.json")")
scenario_line pg3 "${R_N[@]}"
lock_lines pg3 "${R_N[@]}"
ROWS=$("${PSQL[@]}" -d pg3 -Atc "SELECT sum(cardinality(ends)) FROM cairn_record_runs" 2>/dev/null || echo "?")
echo "pg_nodes: pg3 log holds $ROWS records" >&2

echo "pg_nodes: baseline ..." >&2
# Like every cairn scenario: the previous scenario's dirty pages written out first (pg3 is the
# heaviest), and a warm-up on the baseline's fresh cluster (pg_baseline.sh --warmup).
"${PSQL[@]}" -c "CHECKPOINT"
sync
BASE_OUT=$("$SCRIPT_DIR/pg_baseline.sh" --duration "$DURATION" --batch "$BATCH" \
  --batch-clients "$THREADS" --event-bytes "$EVENT_BYTES" --scenarios batch)
BASE_EPS=$(awk '/^pg_baseline scenario=batch/ { for (i = 1; i <= NF; i++) if ($i ~ /^events_per_s=/) { sub(/.*=/, "", $i); print $i } }' <<<"$BASE_OUT")
[[ -n $BASE_EPS ]] || die "no baseline figure"
LINES+=("pg_nodes scenario=baseline processes=1 events_per_s=$BASE_EPS")
echo "${LINES[-1]}"

eps_of() { printf '%s\n' "${LINES[@]}" | awk -v s="scenario=$1" '$2 == s { for (i = 1; i <= NF; i++) if ($i ~ /^events_per_s=/) { sub(/.*=/, "", $i); print $i } }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
meets() { awk -v r="$1" 'BEGIN { print (r >= 1.0 ? "yes" : "no") }'; }
R1=$(ratio "$(eps_of pg1)" "$BASE_EPS")
R3=$(ratio "$(eps_of pg3)" "$(eps_of pg1)")
RR=$(ratio "$(eps_of pg1)" "$(eps_of rocksdb)")
RL=$(ratio "$(eps_of pg1)" "$(eps_of pg1_locked)")
echo
echo "PostgreSQL $PG_VERSION, fsync=on synchronous_commit=on, flush delay ${FLUSH_DELAY_US} µs, loopback; $THREADS threads/clients, batch $BATCH, $EVENT_BYTES-byte events, ${DURATION}s per scenario"
echo "pg_nodes_ratio name=pg1_over_baseline ratio=$R1 target=1.0 meets_target=$(meets "$R1")"
echo "pg_nodes_ratio name=pg3_over_pg1 ratio=$R3 target=1.0 meets_target=$(meets "$R3")"
echo "pg_nodes_ratio name=pg1_over_rocksdb ratio=$RR"
echo "pg_nodes_ratio name=pg1_over_pg1_locked ratio=$RL"
