// The PostgreSQL schema of the log and its versioned migrations.
//
// cairn_schema_migrations records each applied version. Migrate() takes a transaction-level
// advisory lock (so that nodes starting together apply each migration once), applies the pending
// migrations in order, each in the same transaction as its record, and refuses a database that
// has a version this build does not know (kFailedPrecondition: a newer cairn migrated it).
//
// Tables (all names prefixed cairn_; text columns COLLATE "C", so ORDER BY is byte order):
//   cairn_tree          the one row of the log's state: size, compact_range, and the sealed
//                       summary of the last group (group_from, group_summary); locked per commit
//   cairn_record_runs   first_position → ends, records: consecutive stored records (pg_runs.h)
//   cairn_index_runs    (stream_id, first_version) → first_position, count (pg_runs.h)
//   cairn_stream_heads  stream_id → next_version, last_position, last_leaf_hash, deleted
//   cairn_node_runs     (level, first_idx) → ≤ 48 hashes of consecutive Merkle nodes (level 0 =
//                       leaf hashes; pg_runs.h)
//   cairn_checkpoints   tree_size → signed note
//   cairn_key_material  name → wrapped key
//   cairn_meta          name → value (the engine's metadata, component state such as consumer
//                       group positions)
//   cairn_key_purge     at most one row: the newest key-deleting transaction whose rows may
//                       still be in cairn_key_material's files (a purge pending on any node)
#pragma once

#include <cstdint>

#include <pqxx/connection>

#include "common/status.h"


namespace cairn::storage::pg {

inline constexpr int kSchemaVersion = 6;
// The advisory lock key that serialises migrations (any constant unlikely to collide).
inline constexpr int64_t kMigrationLockKey = 0x636169726e0001;  // "cairn" 1

// Applies the pending migrations up to `target_version` (tests stop at an older version to
// exercise the next migration on its data).
Status Migrate(pqxx::connection& conn, int target_version = kSchemaVersion);
// For a read-only open, or one with PgOptions::migrate off (offline tools): succeeds when the
// schema is exactly at kSchemaVersion, without writing anything (kFailedPrecondition naming the
// version otherwise: an older schema is migrated by `cairn serve` or `cairn init` first; a newer
// one needs a newer cairn).
Status CheckSchemaCurrent(pqxx::connection& conn);
Status DropSchema(pqxx::connection& conn);

}  // namespace cairn::storage::pg
