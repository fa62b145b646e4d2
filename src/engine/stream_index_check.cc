#include "engine/stream_index_check.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <string>
#include <vector>

#include "engine/record_codec.h"
#include "integrity/entry.h"

namespace cairn::engine {
namespace {

std::string Named(std::string_view stream_id) { return "'" + std::string(stream_id) + "'"; }

// Walks the stored entries of one stream below `positions_below`, in version order.
class IndexWalk {
 public:
  IndexWalk(storage::LogStore* store, std::string_view stream_id, IndexBound bound,
            const std::function<bool()>& between_reads)
      : store_(store), stream_id_(stream_id), bound_(bound), between_reads_(between_reads) {}

  // Calls fn(entry) for each entry until fn returns a failure; a failure of its own otherwise.
  std::optional<VerifyFailure> ForEach(
      const std::function<std::optional<VerifyFailure>(const storage::StreamIndexEntry&)>& fn) {
    uint64_t next_version = 0;
    while (true) {
      if (between_reads_ && !between_reads_()) return VerifyFailure{std::nullopt, "stopped", true};
      auto entries = store_->ReadStreamIndex(stream_id_, next_version, /*backwards=*/false, kIndexReadEntriesMax);
      if (!entries.ok()) {
        return VerifyFailure{std::nullopt, "cannot read the stream index of " + Named(stream_id_) + ": " +
                                               entries.status().message()};
      }
      for (const storage::StreamIndexEntry& e : *entries) {
        if (e.position >= bound_.positions_below && bound_.beyond_is_damage) {
          return FailureAt(e.position, "stream index of " + Named(stream_id_) + " maps version " +
                                           std::to_string(e.version) + " to position " +
                                           std::to_string(e.position) + ", beyond the log");
        }
        if (e.position >= bound_.positions_below) return std::nullopt;  // beyond the checked prefix
        if (e.version != next_version) {
          return VerifyFailure{std::nullopt, "stream index of " + Named(stream_id_) + " skips version " +
                                                 std::to_string(next_version)};
        }
        if (auto f = fn(e)) return f;
        ++next_version;
      }
      if (entries->size() < kIndexReadEntriesMax) return std::nullopt;
    }
  }

 private:
  storage::LogStore* store_;
  std::string_view stream_id_;
  const IndexBound bound_;
  const std::function<bool()> between_reads_;
};

// The slow half, after a mismatch: the first entry whose record is not that version of the stream.
std::optional<VerifyFailure> LocateBadEntry(storage::LogStore* store, const keys::StorageKeys* keys,
                                            std::string_view stream_id, IndexBound bound,
                                            const std::function<bool()>& between_reads) {
  RecordCipher cipher(keys);
  OpenedRecord opened;
  integrity::Entry entry;
  return IndexWalk(store, stream_id, bound, between_reads).ForEach(
      [&](const storage::StreamIndexEntry& e) -> std::optional<VerifyFailure> {
        auto stored = store->ReadRecord(e.position);
        const bool matches = stored.ok() && !CheckStoredRecord(cipher, e.position, *stored, &opened, &entry) &&
                             entry.stream_id == stream_id && entry.stream_version == e.version;
        if (matches) return std::nullopt;
        return FailureAt(e.position, "stream index of " + Named(stream_id) + " maps version " +
                                         std::to_string(e.version) + " to a position that does not hold it");
      });
}

}  // namespace

void IndexDigest::Add(uint64_t position) {
  std::array<char, crypto::kSha256SizeBytes + 8> block;
  std::copy(chain_.begin(), chain_.end(), block.begin());
  for (size_t i = 0; i < 8; ++i) block[crypto::kSha256SizeBytes + i] = static_cast<char>(position >> (56 - 8 * i));
  chain_ = crypto::Sha256(std::string_view(block.data(), block.size()));
}

std::optional<VerifyFailure> CheckStreamIndex(storage::LogStore* store, const keys::StorageKeys* keys,
                                              std::string_view stream_id,
                                              const StreamIndexExpectation& want,
                                              IndexBound bound,
                                              const std::function<bool()>& between_reads,
                                              uint64_t* entries_checked) {
  IndexDigest digest;
  uint64_t count = 0;
  std::optional<VerifyFailure> f = IndexWalk(store, stream_id, bound, between_reads).ForEach(
      [&](const storage::StreamIndexEntry& e) -> std::optional<VerifyFailure> {
        digest.Add(e.position);
        ++count;
        return std::nullopt;
      });
  *entries_checked += count;
  if (f) return f;
  if (count == want.events && digest == want.digest) return std::nullopt;
  if (auto bad = LocateBadEntry(store, keys, stream_id, bound, between_reads)) return bad;
  // Every entry names its version: entries are missing at the end.
  assert(count != want.events);
  return FailureAt(want.last_position, "stream index of " + Named(stream_id) + " has " + std::to_string(count) +
                                           " entries for " + std::to_string(want.events) + " events");
}

}  // namespace cairn::engine
