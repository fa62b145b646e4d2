#include "storage/postgres/pg_stats.h"

#include "storage/postgres/pg_store.h"

namespace cairn::storage {

namespace pg {

PgCommitStats PgCommitCounters::Snapshot() const {
  PgCommitStats s;
  s.locks = locks.load(std::memory_order_relaxed);
  s.rebased = rebased.load(std::memory_order_relaxed);
  s.commits = commits.load(std::memory_order_relaxed);
  s.records = records.load(std::memory_order_relaxed);
  s.lock_wait_ns = lock_wait_ns.load(std::memory_order_relaxed);
  s.hold_ns = hold_ns.load(std::memory_order_relaxed);
  s.commit_ns = commit_ns.load(std::memory_order_relaxed);
  s.optimistic = optimistic.load(std::memory_order_relaxed);
  s.races_lost = races_lost.load(std::memory_order_relaxed);
  s.lock_victims = lock_victims.load(std::memory_order_relaxed);
  s.row_waits_cut = row_waits_cut.load(std::memory_order_relaxed);
  s.barriers = barriers.load(std::memory_order_relaxed);
  s.in_doubt = in_doubt.load(std::memory_order_relaxed);
  s.listener_connects = listener_connects.load(std::memory_order_relaxed);
  s.durable_waits = durable_waits.load(std::memory_order_relaxed);
  s.durable_wait_ns = durable_wait_ns.load(std::memory_order_relaxed);
  return s;
}

}  // namespace pg

std::optional<PgCommitStats> PgCommitStatsOf(LogStore* store) {
  auto* pg_store = dynamic_cast<pg::PgLogStore*>(store);
  if (pg_store == nullptr) return std::nullopt;
  return pg_store->commit_counters().Snapshot();
}

}  // namespace cairn::storage
