// Exceptions of libpqxx → Status (the LogStore contract: backends never throw across it).
//
// Connection loss, server shutdown and "cannot connect now" → kUnavailable; so is a write a
// read-only server refused (SQLSTATE 25006: a demoted primary or a standby after a failover,
// which a new connection may get past; IsReadOnlyRefusal) and ReadOnlyServer; a full disk
// (SQLSTATE 53100) → kResourceExhausted; serialisation failures and deadlocks → kAborted; every
// other SQL error → kIOError. Messages say what was being done and the SQLSTATE only: the server's
// text can quote stored values (a duplicate key's value), which must not reach clients or logs.
#pragma once

#include <exception>
#include <string_view>

#include "common/status.h"

namespace cairn::storage::pg {

// Thrown when a connection meant for writing reaches a server in read-only mode.
class ReadOnlyServer : public std::exception {
 public:
  const char* what() const noexcept override { return "the PostgreSQL server is read-only"; }
};

Status FromException(const std::exception& e, std::string_view what);
// True for a write refused because the session or server is read-only (SQLSTATE 25006): the
// connection should not be reused for writing.
bool IsReadOnlyRefusal(const std::exception& e);
// True for the exceptions FromException maps to kUnavailable because the connection is gone.
bool IsConnectionLoss(const std::exception& e);

}  // namespace cairn::storage::pg
