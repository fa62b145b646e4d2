// Helpers for the RocksDB backend tests: opening stores in a TempDir and a miniature sequencer
// that commits well-formed events (record, index entry, head, leaf hash, tree state).
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cassert>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "storage/log_store.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "test_util.h"

namespace cairn::storage::testing {

inline RocksOptions StoreOptions(const std::string& path) {
  RocksOptions options;
  options.path = path;
  options.create_if_missing = true;
  options.block_cache_size_bytes = size_t{8} << 20;
  return options;
}

inline std::unique_ptr<LogStore> OpenStore(const std::string& path, bool create = true) {
  RocksOptions options = StoreOptions(path);
  options.create_if_missing = create;
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  return std::move(store).value();
}

inline std::unique_ptr<CommitWriter> Begin(LogStore* store, uint64_t base_tree_size) {
  Result<std::unique_ptr<CommitWriter>> writer = store->BeginCommit(base_tree_size);
  assert(writer.ok());
  return std::move(writer).value();
}

// 32 bytes derived from `seed` (distinct seeds → distinct hashes).
inline std::string TestHash(uint64_t seed) {
  std::string hash(32, '\0');
  for (size_t i = 0; i < hash.size(); ++i) {
    hash[i] = static_cast<char>((seed * 131 + i * 7 + 1) & 0xff);
  }
  hash[0] = static_cast<char>(seed & 0xff);
  hash[1] = static_cast<char>((seed >> 8) & 0xff);
  return hash;
}

inline std::string TestRecord(uint64_t position) {
  return "record-" + std::to_string(position) + std::string("\0\xff\x00", 3);
}

// Commits `count` events to `stream_id` from the store's committed tree size, as the sequencer
// would: one record, index entry and leaf per event, the stream head and the tree state.
inline Status AppendEvents(LogStore* store, const std::string& stream_id, uint64_t count) {
  CAIRN_ASSIGN_OR_RETURN(TreeState state, store->ReadTreeState());
  CAIRN_ASSIGN_OR_RETURN(std::optional<StreamHead> head, store->ReadStreamHead(stream_id));
  StreamHead next = head.value_or(StreamHead{});
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CommitWriter> writer, store->BeginCommit(state.size));
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t position = state.size + i;
    writer->PutRecord(position, TestRecord(position));
    writer->PutStreamIndex(stream_id, next.next_version, position);
    writer->PutNode(NodeKey{0, position}, TestHash(position));
    next.last_position = position;
    next.last_leaf_hash = TestHash(position);
    next.next_version += 1;
  }
  writer->PutStreamHead(stream_id, next);
  writer->PutTreeState(
      TreeState{state.size + count, "range@" + std::to_string(state.size + count)});
  return writer->Commit();
}

using Families = std::map<std::string, rocksdb::ColumnFamilyHandle*>;

// Opens the raw RocksDB behind a closed store and lets `edit` change what the store itself
// refuses to write (a format version, a corrupt value).
inline void EditRawDb(const std::string& path,
                      const std::function<void(rocksdb::DB*, const Families&)>& edit) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db).ok());
  Families families;
  for (rocksdb::ColumnFamilyHandle* handle : handles) families[handle->GetName()] = handle;
  edit(db, families);
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

}  // namespace cairn::storage::testing
