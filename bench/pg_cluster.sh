# Sourced by bench/pg_baseline.sh and bench/pg_nodes.sh: stopping a throw-away PostgreSQL
# cluster. Needs PG_BIN (the server's bin directory) and as_pg (runs a command as postgres).

# pg_cluster_stop DATADIR: immediate stop (a throw-away cluster needs no shutdown checkpoint),
# SIGKILL when pg_ctl fails, then waits (≤ 10 s) until the postmaster process is gone.
pg_cluster_stop() {
  local data_dir=$1 pm_pid i
  [[ -f $data_dir/postmaster.pid ]] || return 0
  pm_pid=$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null)
  as_pg "$PG_BIN/pg_ctl" -D "$data_dir" -m immediate -w -t 15 stop >/dev/null 2>&1 \
    || { [[ $pm_pid =~ ^[0-9]+$ ]] && kill -KILL "$pm_pid" 2>/dev/null; }
  # pg_ctl returns once postmaster.pid is gone; wait for the process itself
  # (a zombie counts as gone: reaping it is init's business).
  if [[ $pm_pid =~ ^[0-9]+$ ]]; then
    for (( i = 0; i < 100; i++ )); do
      [[ $(ps -o stat= -p "$pm_pid" 2>/dev/null) == [!Z]* ]] || break
      sleep 0.1
    done
  fi
  return 0
}
