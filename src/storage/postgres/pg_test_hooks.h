// Test hooks for the PostgreSQL backend: writes that bypass the engine, to simulate tampering
// by someone with database access. Never called by product code.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::storage {

// Overwrites the stored record at `position` of a PostgreSQL store (kInvalidArgument for another
// kind of store, kNotFound when no record is there).
Status PgRawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes);

}  // namespace cairn::storage
