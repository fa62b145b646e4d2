#include "storage/postgres/pg_errors.h"

#include <pqxx/except>

#include <string>

namespace cairn::storage::pg {

namespace {
Status FromSqlState(const std::string& state, std::string_view what) {
  const std::string where = " while " + std::string(what);
  if (state == "53100") {
    return Status::ResourceExhausted("PostgreSQL is out of disk space" + where);
  }
  if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300") {
    return Status::Unavailable("PostgreSQL is unavailable (SQLSTATE " + state + ")" + where);
  }
  if (state == "40001" || state == "40P01") {
    return Status::Aborted("PostgreSQL aborted a conflicting transaction (SQLSTATE " + state + ")" + where);
  }
  if (state == "25006") {
    return Status::Unavailable("PostgreSQL refused a write: the session or server is read-only "
                               "(a standby, or a primary demoted by a failover)" + where);
  }
  if (state == "57014") return Status::Unavailable("a PostgreSQL statement timed out" + where);
  return Status::IOError("PostgreSQL error (SQLSTATE " + (state.empty() ? "unknown" : state) + ")" + where);
}
}  // namespace

bool IsReadOnlyRefusal(const std::exception& e) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  return dynamic_cast<const ReadOnlyServer*>(&e) != nullptr || (sql != nullptr && sql->sqlstate() == "25006");
}

bool IsConnectionLoss(const std::exception& e) {
  return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr;
}

Status FromException(const std::exception& e, std::string_view what) {
  if (IsConnectionLoss(e)) {
    return Status::Unavailable("PostgreSQL is unavailable (connection lost) while " + std::string(what));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return Status::Unavailable("the outcome of a PostgreSQL commit is unknown (connection lost) while " +
                               std::string(what));
  }
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return Status::Unavailable("a PostgreSQL statement's outcome is unknown while " + std::string(what));
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return Status::Aborted("PostgreSQL rolled back a conflicting transaction while " + std::string(what));
  }
  if (dynamic_cast<const ReadOnlyServer*>(&e) != nullptr) {
    return Status::Unavailable("the PostgreSQL server is read-only (a standby, or a primary demoted "
                               "by a failover) while " + std::string(what));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return FromSqlState(sql->sqlstate(), what);
  return Status::IOError("PostgreSQL client error while " + std::string(what));
}

}  // namespace cairn::storage::pg
