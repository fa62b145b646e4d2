#include "storage/postgres/pg_test_hooks.h"

#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/transaction>

#include <stdexcept>
#include <string>
#include <vector>

#include "storage/postgres/pg_runs.h"
#include "storage/postgres/pg_store.h"

namespace cairn::storage {

// Rewrites the run that holds `position` with that record replaced (its length may change).
Status PgRawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes) {
  auto* pg = dynamic_cast<pg::PgLogStore*>(store);
  if (pg == nullptr) return Status::InvalidArgument("not a PostgreSQL store");
  bool found = false;
  CAIRN_RETURN_IF_ERROR(pg->Run("overwriting a record (test)", false, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params(
        "SELECT first_position, ends, records FROM cairn_record_runs WHERE first_position <= $1 "
        "ORDER BY first_position DESC LIMIT 1 FOR UPDATE",
        static_cast<int64_t>(position));
    if (r.empty()) return;
    const uint64_t first = static_cast<uint64_t>(r[0][0].as<int64_t>());
    const std::string records = pqxx::binarystring(r[0][2]).str();
    std::vector<std::string_view> split;
    if (!pg::SplitRecordRun(first, r[0][1].as<std::string>(), records, &split).ok()) {
      throw std::runtime_error("malformed record run");
    }
    if (position - first >= split.size()) return;
    std::string rewritten, ends = "{";
    for (size_t k = 0; k < split.size(); ++k) {
      rewritten.append(k == position - first ? bytes : split[k]);
      ends += (k > 0 ? "," : "") + std::to_string(rewritten.size());
    }
    ends += "}";
    tx.exec_params("UPDATE cairn_record_runs SET ends = $2::int[], records = $3 WHERE first_position = $1",
                   static_cast<int64_t>(first), ends,
                   pqxx::binarystring(rewritten.data(), rewritten.size()));
    tx.commit();
    found = true;
  }));
  return found ? Status::Ok() : Status::NotFound("no record at that position");
}

}  // namespace cairn::storage
