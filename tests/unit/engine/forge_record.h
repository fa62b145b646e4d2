// Test helper: rewrites a stored record of a live store as an attacker holding the storage key
// could — it still decrypts at its position, but its entry is altered — so that checks beyond
// authentication (stream chains, leaf hashes) are exercised. Requires an unwrapped RocksDB or
// PostgreSQL store.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/bytes.h"
#include "engine/event_store.h"
#include "engine/record_codec.h"
#include "integrity/entry.h"
#include "keys/storage_keys.h"
#include "storage/postgres/pg_test_hooks.h"
#include "storage/rocksdb/rocks_test_hooks.h"

namespace cairn::engine {

// Overwrites the stored record at `position` on either backend.
inline Status RawPutRecordOnAnyBackend(storage::LogStore* raw, uint64_t position, std::string_view bytes) {
  return raw->shared() ? storage::PgRawPutRecordForTest(raw, position, bytes)
                       : storage::RawPutRecordForTest(raw, position, bytes);
}

// Re-seals the record at `position` after `edit` changed its entry (same epoch, fresh IV).
inline void ForgeRecord(EventStore* store, uint64_t position,
                        const std::function<void(integrity::Entry*)>& edit) {
  storage::LogStore* raw = store->log_store();
  auto keys = keys::StorageKeys::Load(raw, store->kms());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  RecordCipher cipher(keys->get());
  const std::string stored = raw->ReadRecord(position).value();
  OpenedRecord opened;
  ASSERT_TRUE(cipher.Open(position, stored, &opened).ok());
  integrity::Entry entry;
  ASSERT_TRUE(integrity::DecodeEntry(opened.entry, &entry).ok());
  edit(&entry);
  const uint32_t epoch = DecodeU32(stored.data() + 1);  // u8 format || u32 epoch || sealed
  std::string forged;
  ASSERT_TRUE(cipher.Seal(epoch, position, integrity::EncodeEntry(entry), opened.data, opened.metadata, &forged).ok());
  ASSERT_TRUE(RawPutRecordOnAnyBackend(raw, position, forged).ok());
}

// The record's stream_prev no longer links to its stream's previous event.
inline void ForgeBrokenChain(EventStore* store, uint64_t position) {
  ForgeRecord(store, position, [](integrity::Entry* e) { e->stream_prev[0] ^= 0x01; });
}

}  // namespace cairn::engine
