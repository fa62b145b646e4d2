#include "storage/rocksdb/rocks_test_hooks.h"

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <functional>

#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage {
namespace {

using rocks::ToSlice;

Result<rocks::RocksLogStore*> AsRocks(LogStore* store) {
  auto* rocks_store = dynamic_cast<rocks::RocksLogStore*>(store);
  if (rocks_store == nullptr) return Status::InvalidArgument("not a RocksDB log store");
  return rocks_store;
}


Status WriteOne(
    LogStore* store,
    const std::function<rocksdb::Status(rocks::RocksLogStore*, rocksdb::WriteBatch*)>& fill,
    std::optional<uint64_t> new_size) {
  CAIRN_ASSIGN_OR_RETURN(rocks::RocksLogStore* const rocks_store, AsRocks(store));
  rocksdb::WriteBatch batch;
  CAIRN_RETURN_IF_ERROR(rocks::FromRocks(fill(rocks_store, &batch), "test hook"));
  return rocks_store->WriteUnchecked(&batch, new_size);
}

Result<rocks::CfIndex> FamilyNamed(std::string_view column_family) {
  const auto& families = rocks::kColumnFamilies;
  const auto it = std::find(families.begin(), families.end(), column_family);
  if (it == families.end()) return Status::InvalidArgument("no such column family");
  return static_cast<rocks::CfIndex>(it - families.begin());
}

}  // namespace

Status RawDeleteRecordForTest(LogStore* store, uint64_t position) {
  return WriteOne(
      store,
      [&](rocks::RocksLogStore* s, rocksdb::WriteBatch* batch) {
        return batch->Delete(s->cf(rocks::CfIndex::kRecords), ToSlice(rocks::RecordKey(position)));
      },
      std::nullopt);
}

Status RawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes) {
  return WriteOne(
      store,
      [&](rocks::RocksLogStore* s, rocksdb::WriteBatch* batch) {
        return batch->Put(s->cf(rocks::CfIndex::kRecords), ToSlice(rocks::RecordKey(position)),
                          ToSlice(bytes));
      },
      std::nullopt);
}

Status RawPutTreeStateForTest(LogStore* store, const TreeState& state) {
  return WriteOne(
      store,
      [&](rocks::RocksLogStore* s, rocksdb::WriteBatch* batch) {
        return batch->Put(s->cf(rocks::CfIndex::kMerkle), ToSlice(rocks::kTreeStateKey),
                          ToSlice(rocks::EncodeTreeState(state)));
      },
      state.size);
}

Status RawWriteKeyForTest(LogStore* store, std::string_view column_family, std::string_view key,
                          std::optional<std::string_view> value) {
  CAIRN_ASSIGN_OR_RETURN(const rocks::CfIndex cf, FamilyNamed(column_family));
  return WriteOne(
      store,
      [&](rocks::RocksLogStore* s, rocksdb::WriteBatch* batch) {
        return value ? batch->Put(s->cf(cf), ToSlice(key), ToSlice(*value))
                     : batch->Delete(s->cf(cf), ToSlice(key));
      },
      std::nullopt);
}

Status FlushForTest(LogStore* store) {
  CAIRN_ASSIGN_OR_RETURN(rocks::RocksLogStore* const rocks_store, AsRocks(store));
  return rocks_store->FlushAll();
}

Status FlushFamilyForTest(LogStore* store, std::string_view column_family) {
  CAIRN_ASSIGN_OR_RETURN(rocks::RocksLogStore* const rocks_store, AsRocks(store));
  CAIRN_ASSIGN_OR_RETURN(const rocks::CfIndex cf, FamilyNamed(column_family));
  return rocks_store->FlushFamily(cf);
}

}  // namespace cairn::storage
