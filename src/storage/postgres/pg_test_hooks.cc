#include "storage/postgres/pg_test_hooks.h"

#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/transaction>

#include <stdexcept>

#include "storage/postgres/pg_store.h"

namespace cairn::storage {

Status PgRawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes) {
  auto* pg = dynamic_cast<pg::PgLogStore*>(store);
  if (pg == nullptr) return Status::InvalidArgument("not a PostgreSQL store");
  bool found = false;
  CAIRN_RETURN_IF_ERROR(pg->Run("overwriting a record (test)", false, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result r =
        tx.exec_params("UPDATE cairn_records SET record = $2 WHERE position = $1",
                       static_cast<int64_t>(position), pqxx::binarystring(bytes.data(), bytes.size()));
    tx.commit();
    found = r.affected_rows() == 1;
  }));
  return found ? Status::Ok() : Status::NotFound("no record at that position");
}

}  // namespace cairn::storage
