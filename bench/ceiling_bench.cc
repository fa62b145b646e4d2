// The ceiling for the append benchmarks: RocksDB synced writes of the same keys and bytes as the
// engine writes (a sealed-record-sized value per event; per append a stream-index run and a
// stream head; per group the Merkle chunks it touches), into the same column families with the
// engine's options (storage/rocksdb/rocks_tuning.h) and key encodings, batched by the same kind
// of group commit (many callers, one writer, one WriteBatch and one sync per group), with no
// hashing, no encryption, no validation. The record values are random bytes, as ciphertext is:
// until 2026-12-02 the ceiling wrote values of one repeated byte under RocksDB's default options
// (Snappy), which its memtable flushes compressed away while the engine's could not (the ratio
// moved within this machine's noise when that changed). engine / ceiling = the ratio the issue
// targets (>= 0.8).
// BM_Ceiling_Batch100_OneFamily writes the same into the records family alone.
#include <benchmark/benchmark.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench_util.h"
#include "common/bytes.h"
#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_tuning.h"

namespace cairn::bench {
namespace {

// What the engine stores for one 256-byte event: the sealed record (header 5 + GCM 28 + three
// length prefixes 12 + entry ~170 + data 256); per append one stream index run; per group the
// Merkle chunks (16 hashes each) it touches on every level.
constexpr size_t kRecordSizeBytes = 5 + 28 + 12 + 170 + 256;
constexpr size_t kGroupEventsMax = 4000;
constexpr size_t kRecordValues = 4096;
constexpr size_t kBlockCacheSizeBytes = size_t{64} << 20;

// `column_families`: the engine's layout (records, stream index, heads, Merkle families; a
// WriteBatch touching four memtables), or everything in one family (what RocksDB alone can do).
class RawGroupCommitter {
 public:
  RawGroupCommitter(const std::string& dir, bool column_families) {
    namespace rocks = storage::rocks;
    rocksdb::DBOptions db_options = rocks::MakeDbOptions();
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    const auto cache = rocksdb::NewLRUCache(kBlockCacheSizeBytes);
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (std::string_view name : {rocks::kCfRecords, rocks::kCfStreamIndex, rocks::kCfStreamHeads,
                                  rocks::kCfMerkle}) {
      descriptors.emplace_back(std::string(name), rocks::MakeCfOptions(name, cache));
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(db_options, dir, descriptors, &handles, &db).ok()) std::abort();
    db_.reset(db);
    handles_ = handles;
    // records, stream index, heads, Merkle; or all in the records family.
    for (size_t i = 1; i < handles.size(); ++i) cfs_.push_back(column_families ? handles[i] : handles[1]);
    // Distinct random values: ciphertext does not compress, within a block or across blocks.
    std::mt19937_64 rng(42);
    records_.resize(kRecordValues);
    for (std::string& r : records_) {
      r.resize(kRecordSizeBytes);
      for (char& c : r) c = static_cast<char>(rng());
    }
    writer_ = std::thread([this] { Run(); });
  }
  ~RawGroupCommitter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    writer_.join();
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  }

  // Blocks until `events` events of one caller are durable.
  void Append(const std::string& stream, size_t events) {
    auto req = std::make_unique<Request>();
    req->stream = stream;
    req->events = events;
    auto done = req->done.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(req));
    }
    cv_.notify_one();
    done.get();
  }

 private:
  struct Request {
    std::string stream;
    size_t events;
    std::promise<void> done;
  };

  void Run() {
    uint64_t position = 0;
    while (true) {
      std::vector<std::unique_ptr<Request>> group;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        size_t events = 0;
        while (!queue_.empty() && (group.empty() || events + queue_.front()->events <= kGroupEventsMax)) {
          events += queue_.front()->events;
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      rocksdb::WriteBatch batch;
      const uint64_t group_start = position;
      for (const auto& r : group) {
        batch.Put(cfs_[1], storage::rocks::StreamIndexKey(r->stream, position),
                  EncodeU64(position) + EncodeU64(r->events));
        batch.Put(cfs_[2], r->stream, std::string(49, 'h'));  // the stream head
        for (size_t i = 0; i < r->events; ++i, ++position) {
          batch.Put(cfs_[0], storage::rocks::RecordKey(position), records_[position % kRecordValues]);
        }
      }
      // Merkle chunks of 16 hashes: the engine rewrites the open chunk of each level it touches.
      for (uint64_t level = 0; (position - 1) >> level > (group_start >> level) || level == 0; ++level) {
        const uint64_t first = (group_start >> level) / 16, last = ((position - 1) >> level) / 16;
        for (uint64_t c = first; c <= last; ++c) {
          batch.Put(cfs_[3], storage::rocks::EncodeNodeKey({static_cast<uint8_t>(level), c}),
                    std::string(16 * 32, 'h'));
        }
      }
      rocksdb::WriteOptions wo;
      wo.sync = true;
      if (!db_->Write(wo, &batch).ok()) std::abort();
      for (auto& r : group) r->done.set_value();
    }
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default, then the four below
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;      // records, stream index, heads, Merkle
  std::vector<std::string> records_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Request>> queue_;
  bool stop_ = false;
  std::thread writer_;
};

std::mutex g_mu;
std::unique_ptr<RawGroupCommitter> g_raw;
std::string g_raw_name;

// Like the engine's SharedStore (engine_bench.cc): the engine's store is closed and the page
// cache written back before a new ceiling store is made.
RawGroupCommitter* Raw(const std::string& name, bool column_families) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_raw && g_raw_name == name) return g_raw.get();
  }
  CloseEngineStores();
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_raw || g_raw_name != name) {
    g_raw.reset();
    ::sync();
    g_raw = std::make_unique<RawGroupCommitter>(FreshDir(name), column_families);
    g_raw_name = name;
  }
  return g_raw.get();
}

void CeilingLoop(benchmark::State& state, const std::string& name, size_t batch,
                 bool column_families = true) {
  RawGroupCommitter* raw = Raw(name + "-" + std::to_string(state.threads()), column_families);
  const std::string stream = "bench-" + std::to_string(state.thread_index());
  uint64_t n = 0;
  for (auto _ : state) {
    raw->Append(stream, batch);
    n += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.SetBytesProcessed(static_cast<int64_t>(n * 256));
}

void BM_Ceiling_Batch100(benchmark::State& state) { CeilingLoop(state, "ceiling100", 100); }
BENCHMARK(BM_Ceiling_Batch100)->Threads(4)->UseRealTime()->MinTime(3.0);

void BM_Ceiling_Single(benchmark::State& state) { CeilingLoop(state, "ceiling1", 1); }
BENCHMARK(BM_Ceiling_Single)->Threads(16)->UseRealTime()->MinTime(3.0);

// The same writes in one column family: what the engine could gain from fewer families.
void BM_Ceiling_Batch100_OneFamily(benchmark::State& state) {
  CeilingLoop(state, "ceiling100-one", 100, /*column_families=*/false);
}
BENCHMARK(BM_Ceiling_Batch100_OneFamily)->Threads(4)->UseRealTime()->MinTime(3.0);

}  // namespace

void CloseCeilingStores() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_raw.reset();
}

}  // namespace cairn::bench
