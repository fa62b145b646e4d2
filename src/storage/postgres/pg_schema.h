// The PostgreSQL schema of the log and its versioned migrations.
//
// cairn_schema_migrations records each applied version. Migrate() takes a transaction-level
// advisory lock (so that nodes starting together apply each migration once), applies the pending
// migrations in order, each in the same transaction as its record, and refuses a database that
// has a version this build does not know (kFailedPrecondition: a newer cairn migrated it).
//
// Tables (all names prefixed cairn_; text columns COLLATE "C", so ORDER BY is byte order):
//   cairn_tree          the one row of the log's state: size, compact_range (locked per commit)
//   cairn_records       position → stored record
//   cairn_stream_index  (stream_id, version) → position
//   cairn_stream_heads  stream_id → next_version, last_position, last_leaf_hash, deleted
//   cairn_nodes         (level, idx) → hash (Merkle nodes; level 0 = leaf hashes)
//   cairn_checkpoints   tree_size → signed note
//   cairn_key_material  name → wrapped key
//   cairn_meta          name → value (the engine's metadata, component state such as consumer
//                       group positions)
#pragma once

#include <cstdint>

#include <pqxx/connection>

#include "common/status.h"


namespace cairn::storage::pg {

inline constexpr int kSchemaVersion = 1;
// The advisory lock key that serialises migrations (any constant unlikely to collide).
inline constexpr int64_t kMigrationLockKey = 0x636169726e0001;  // "cairn" 1

Status Migrate(pqxx::connection& conn);
Status DropSchema(pqxx::connection& conn);

}  // namespace cairn::storage::pg
