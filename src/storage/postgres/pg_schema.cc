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
      // 2: stream-index entries and Merkle nodes in runs (pg_runs.h): one row per append to a
      // stream and per ≤ 48 consecutive nodes of a level, instead of one row per entry and node.
      // Existing rows are joined into runs where they are consecutive.
      {2, R"sql(
CREATE TABLE cairn_index_runs (
  stream_id      text COLLATE "C" NOT NULL,
  first_version  bigint  NOT NULL CHECK (first_version >= 0),
  first_position bigint  NOT NULL CHECK (first_position >= 0),
  count          integer NOT NULL CHECK (count > 0),
  PRIMARY KEY (stream_id, first_version)
);
INSERT INTO cairn_index_runs (stream_id, first_version, first_position, count)
SELECT stream_id, min(version), min(position), count(*)
FROM (SELECT stream_id, version, position,
             row_number() OVER (PARTITION BY stream_id ORDER BY version) AS rn
      FROM cairn_stream_index) AS e
GROUP BY stream_id, version - rn, position - rn;
DROP TABLE cairn_stream_index;
CREATE TABLE cairn_node_runs (
  level     smallint NOT NULL CHECK (level >= 0 AND level < 64),
  first_idx bigint   NOT NULL CHECK (first_idx >= 0),
  hashes    bytea    NOT NULL
            CHECK (length(hashes) > 0 AND length(hashes) <= 48 * 32 AND length(hashes) % 32 = 0),
  PRIMARY KEY (level, first_idx)
);
INSERT INTO cairn_node_runs (level, first_idx, hashes)
SELECT level, min(idx), string_agg(hash, ''::bytea ORDER BY idx)
FROM (SELECT level, idx, hash,
             idx - row_number() OVER (PARTITION BY level ORDER BY idx) AS island,
             (row_number() OVER (PARTITION BY level ORDER BY idx)) AS rn
      FROM cairn_nodes) AS n
GROUP BY level, island, (rn - 1) / 48;
DROP TABLE cairn_nodes;
)sql"},
      // 3: the sealed summary of the group that brought the tree to its size (positions
      // [group_from, size)), so that the next node to lock the row learns that group from it
      // instead of reading the group's records (engine/group_summary.h). Empty: none.
      {3, R"sql(
ALTER TABLE cairn_tree
  ADD COLUMN group_from    bigint NOT NULL DEFAULT 0 CHECK (group_from >= 0),
  ADD COLUMN group_summary bytea  NOT NULL DEFAULT ''::bytea;
-- Sealed bytes do not compress: store them out of line without trying.
ALTER TABLE cairn_tree ALTER COLUMN group_summary SET STORAGE EXTERNAL;
)sql"},
      // 4: the rows a durability barrier updates (PgLogStore::Barrier). A locked commit
      // releases the commit lock at its commit record, before the WAL flush; an update of one of
      // these rows, committed synchronously, flushes the WAL up to it, and so every commit visible
      // before it. 64 slots, picked by the connection's server process id, so that barriers of
      // different connections rarely wait for each other's row.
      {4, R"sql(
CREATE TABLE cairn_flush (
  slot smallint PRIMARY KEY CHECK (slot >= 0 AND slot < 64),
  n    bigint   NOT NULL
);
INSERT INTO cairn_flush (slot, n) SELECT s, 0 FROM generate_series(0, 63) AS s;
)sql"},
      // 5: records in runs (pg_runs.h): one row per ≤ 7 680 bytes of consecutive records (at
      // most 64) instead of one row per record; rows up to 8 160 bytes stay inline (in one page),
      // a larger record is stored out of line without compression (ciphertext does not
      // compress). Existing records are joined into runs of at most 16 consecutive positions.
      {5, R"sql(
CREATE TABLE cairn_record_runs (
  first_position bigint    NOT NULL PRIMARY KEY CHECK (first_position >= 0),
  ends           integer[] NOT NULL CHECK (cardinality(ends) > 0 AND cardinality(ends) <= 64),
  records        bytea     NOT NULL CHECK (length(records) = ends[cardinality(ends)])
) WITH (toast_tuple_target = 8160);
ALTER TABLE cairn_record_runs ALTER COLUMN records SET STORAGE EXTERNAL;
INSERT INTO cairn_record_runs (first_position, ends, records)
SELECT min(position), array_agg(cum::integer ORDER BY position),
       string_agg(record, ''::bytea ORDER BY position)
FROM (SELECT position, record, island, chunk,
             sum(length(record)) OVER (PARTITION BY island, chunk ORDER BY position) AS cum
      FROM (SELECT position, record,
                   position - row_number() OVER (ORDER BY position) AS island,
                   (row_number() OVER (ORDER BY position) - 1) / 16 AS chunk
            FROM cairn_records) AS numbered) AS summed
GROUP BY island, chunk;
DROP TABLE cairn_records;
)sql"},
      // 6: the pending purge of destroyed key material (PgLogStore::DestroyKeyMaterials): the
      // newest deleting transaction whose rows may still be in cairn_key_material's files. Kept
      // in the database, not in one node's memory, so that any node purges it, also after the
      // node that deleted stopped or an offline `cairn forget`. At most one row.
      {6, R"sql(
CREATE TABLE cairn_key_purge (
  id   smallint PRIMARY KEY CHECK (id = 1),
  txid bigint   NOT NULL CHECK (txid > 0)
);
)sql"},
  };
  return kMigrations;
}

}  // namespace

Status Migrate(pqxx::connection& conn, int target_version) {
  if (target_version < 1 || target_version > kSchemaVersion) {
    return Status::InvalidArgument("no schema version " + std::to_string(target_version));
  }
  try {
    pqxx::work tx(conn);
    // A migration may rewrite every row of a large log, and nodes starting meanwhile wait on the
    // lock: neither is bounded by the session's statement timeout.
    tx.exec("SET LOCAL statement_timeout = 0");
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
      if (m.version <= current || m.version > target_version) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO cairn_schema_migrations (version) VALUES ($1)", m.version);
    }
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return FromException(e, "applying schema migrations");
  }
}

Status CheckSchemaCurrent(pqxx::connection& conn) {
  try {
    pqxx::nontransaction tx(conn);
    const bool has_table =
        !tx.exec("SELECT to_regclass('cairn_schema_migrations')")[0][0].is_null();
    const int current =
        has_table ? tx.exec("SELECT coalesce(max(version), 0) FROM cairn_schema_migrations")[0][0].as<int>()
                  : 0;
    if (current == kSchemaVersion) return Status::Ok();
    if (current > kSchemaVersion) {
      return Status::FailedPrecondition(
          "the PostgreSQL schema is at version " + std::to_string(current) +
          ", newer than this cairn knows (" + std::to_string(kSchemaVersion) + "); upgrade cairn");
    }
    return Status::FailedPrecondition(
        "the PostgreSQL schema is at version " + std::to_string(current) + ", older than this cairn's " +
        std::to_string(kSchemaVersion) + "; only `cairn serve` and `cairn init` migrate it (start "
        "`cairn serve` on it once, or use the cairn that wrote it)");
  } catch (const std::exception& e) {
    return FromException(e, "reading the schema version");
  }
}

Status DropSchema(pqxx::connection& conn) {
  try {
    pqxx::work tx(conn);
    tx.exec(
        "DROP TABLE IF EXISTS cairn_tree, cairn_records, cairn_record_runs, cairn_stream_index, cairn_index_runs, "
        "cairn_stream_heads, cairn_nodes, cairn_node_runs, cairn_checkpoints, cairn_key_material, "
        "cairn_meta, cairn_flush, cairn_key_purge, cairn_schema_migrations");
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return FromException(e, "dropping the schema");
  }
}

}  // namespace cairn::storage::pg
