// Exceptions of libpqxx → Status (the LogStore contract: backends never throw across it).
//
// Connection loss, server shutdown and "cannot connect now" → kUnavailable; a full disk
// (SQLSTATE 53100) → kResourceExhausted; serialisation failures and deadlocks → kAborted; every
// other SQL error → kIOError. Messages say what was being done and the SQLSTATE only: the server's
// text can quote stored values (a duplicate key's value), which must not reach clients or logs.
#pragma once

#include <exception>
#include <string_view>

#include "common/status.h"

namespace cairn::storage::pg {

Status FromException(const std::exception& e, std::string_view what);
// True for the exceptions FromException maps to kUnavailable because the connection is gone.
bool IsConnectionLoss(const std::exception& e);

}  // namespace cairn::storage::pg
