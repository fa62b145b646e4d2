#include "storage/postgres/pg_schema.h"

#include <pqxx/connection>
#include <pqxx/result>
#include <pqxx/transaction>

#include <string>
#include <vector>

#include "storage/postgres/pg_errors.h"

namespace cairn::storage::pg {

namespace {

struct Migration {
  int version;
  const char* sql;
};

// Append-only: a released migration is never edited; changes come as a new version.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, R"sql(
CREATE TABLE cairn_tree (
  id            smallint PRIMARY KEY CHECK (id = 1),
  size          bigint   NOT NULL CHECK (size >= 0),
  compact_range bytea    NOT NULL
);
INSERT INTO cairn_tree (id, size, compact_range) VALUES (1, 0, ''::bytea);
CREATE TABLE cairn_records (
  position bigint PRIMARY KEY CHECK (position >= 0),
  record   bytea  NOT NULL
);
CREATE TABLE cairn_stream_index (
  stream_id text COLLATE "C" NOT NULL,
  version   bigint NOT NULL CHECK (version >= 0),
  position  bigint NOT NULL,
  PRIMARY KEY (stream_id, version)
);
CREATE TABLE cairn_stream_heads (
  stream_id      text COLLATE "C" PRIMARY KEY,
  next_version   bigint  NOT NULL,
  last_position  bigint  NOT NULL,
  last_leaf_hash bytea   NOT NULL,
  deleted        boolean NOT NULL
);
CREATE TABLE cairn_nodes (
  level smallint NOT NULL CHECK (level >= 0 AND level < 64),
  idx   bigint   NOT NULL CHECK (idx >= 0),
  hash  bytea    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
CREATE TABLE cairn_checkpoints (
  tree_size bigint PRIMARY KEY,
  note      bytea  NOT NULL
);
CREATE TABLE cairn_key_material (
  name    text COLLATE "C" PRIMARY KEY,
  wrapped bytea NOT NULL
);
CREATE TABLE cairn_meta (
  name  text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL
);
)sql"},
  };
  return kMigrations;
}

}  // namespace

Status Migrate(pqxx::connection& conn) {
  try {
    pqxx::work tx(conn);
    tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
    tx.exec(
        "CREATE TABLE IF NOT EXISTS cairn_schema_migrations ("
        " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const pqxx::result r = tx.exec("SELECT coalesce(max(version), 0) FROM cairn_schema_migrations");
    const int current = r[0][0].as<int>();
    if (current > kSchemaVersion) {
      return Status::FailedPrecondition(
          "the PostgreSQL schema is at version " + std::to_string(current) +
          ", newer than this cairn knows (" + std::to_string(kSchemaVersion) + "); upgrade cairn");
    }
    for (const Migration& m : Migrations()) {
      if (m.version <= current) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO cairn_schema_migrations (version) VALUES ($1)", m.version);
    }
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return FromException(e, "applying schema migrations");
  }
}

Status DropSchema(pqxx::connection& conn) {
  try {
    pqxx::work tx(conn);
    tx.exec(
        "DROP TABLE IF EXISTS cairn_tree, cairn_records, cairn_stream_index, cairn_stream_heads, "
        "cairn_nodes, cairn_checkpoints, cairn_key_material, cairn_meta, cairn_schema_migrations");
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return FromException(e, "dropping the schema");
  }
}

}  // namespace cairn::storage::pg
