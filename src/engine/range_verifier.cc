#include "engine/range_verifier.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/record_check.h"
#include "engine/record_codec.h"
#include "engine/store_node_reader.h"
#include "engine/types.h"
#include "integrity/checkpoint.h"
#include "integrity/entry.h"
#include "integrity/merkle.h"

namespace cairn::engine {
namespace {

// Stored nodes are compared in batches of this many (one storage round trip each).
constexpr size_t kNodeBatchMax = 4096;

using Failure = VerifyFailure;

Failure At(uint64_t pos, std::string what) { return FailureAt(pos, std::move(what)); }

// A stream's last event seen inside the range.
struct Link {
  uint64_t next_version = 0;
  crypto::Hash last_leaf{};
  bool deleted = false;
};

// A stream's later events inside the range (versions first_version, first_version + 1, … at
// `positions`), whose index entries are compared in one read once the records are scanned.
struct IndexRun {
  uint64_t first_version = 0;
  std::vector<uint64_t> positions;
};

// The failure at the lower position (one without a position last).
std::optional<Failure> Earlier(std::optional<Failure> a, std::optional<Failure> b) {
  if (!a) return b;
  if (!b) return a;
  if (!b->position) return a;
  if (!a->position) return b;
  return *b->position < *a->position ? b : a;
}

class RangeVerifier {
 public:
  RangeVerifier(storage::LogStore* store, const keys::StorageKeys* keys,
                const integrity::NoteVerifier& key, uint64_t from, uint64_t to)
      : store_(store), cipher_(keys), key_(key), from_(from), to_(to) {}

  VerifyReport Run() {
    std::optional<Failure> f = CheckBounds();
    if (!f) f = SeedPrefix();
    if (!f) f = LoadCheckpoint();
    if (!f) f = CheckRoot();
    if (!f) f = CheckRecordsAndNodes();
    if (!f) f = CheckTreeState();
    if (!f) f = CheckExtendedByCheckpoint();
    VerifyReport report;
    report.records_checked = tree_.size() > from_ ? tree_.size() - from_ : 0;
    report.streams_checked = links_.size();
    report.checkpoints_checked = checkpoint_.has_value();
    report.ok = !f.has_value();
    if (f) {
      report.bad_position = f->position;
      report.failure = std::move(f->what);
    }
    return report;
  }

 private:
  std::optional<Failure> CheckBounds() const {
    if (from_ > to_ || to_ - from_ > kVerifyChunkRecordsMax) {
      return Failure{std::nullopt, "range [" + std::to_string(from_) + ", " + std::to_string(to_) +
                                       ") is not a valid range of at most " +
                                       std::to_string(kVerifyChunkRecordsMax) + " records"};
    }
    return std::nullopt;
  }

  // The compact range of [0, from) from the stored full subtrees on its right edge.
  std::optional<Failure> SeedPrefix() {
    if (from_ == 0) return std::nullopt;
    const std::vector<integrity::NodeId> ids = integrity::RangeNodes(0, from_);
    std::vector<crypto::Hash> hashes;
    StoreNodeReader reader(store_);
    Status s = reader.ReadNodes(ids, &hashes);
    if (!s.ok()) return At(from_ - 1, "cannot read the Merkle nodes of the prefix: " + s.message());
    auto range = integrity::CompactRange::Create(from_, std::move(hashes));
    if (!range.ok()) return At(from_ - 1, "the Merkle nodes of the prefix are malformed");
    tree_ = std::move(range).value();
    return std::nullopt;
  }

  // The latest checkpoint, when it ends at `from` or after (inside the range: CheckRoot; beyond
  // it: CheckExtendedByCheckpoint).
  std::optional<Failure> LoadCheckpoint() {
    auto latest = store_->ReadLatestCheckpoint();
    if (!latest.ok()) return Failure{std::nullopt, "cannot read the latest checkpoint: " + latest.status().message()};
    if (!latest->has_value() || (*latest)->first < from_) return std::nullopt;
    const uint64_t size = (*latest)->first;
    auto cp = integrity::VerifyCheckpoint((*latest)->second, key_);
    if (!cp.ok()) {
      return Failure{std::nullopt, "checkpoint at size " + std::to_string(size) +
                                       " does not verify: " + cp.status().message()};
    }
    if (cp->size != size) {
      return Failure{std::nullopt, "checkpoint filed under size " + std::to_string(size) +
                                       " says size " + std::to_string(cp->size)};
    }
    checkpoint_ = std::move(cp).value();
    return std::nullopt;
  }

  // The recomputed root against the checkpoint, once the tree has its size.
  std::optional<Failure> CheckRoot() const {
    if (!checkpoint_ || checkpoint_->size != tree_.size()) return std::nullopt;
    if (checkpoint_->root == tree_.Root()) return std::nullopt;
    const uint64_t size = tree_.size();
    return Failure{size > 0 ? std::optional<uint64_t>(size - 1) : std::nullopt,
                   "root of the checkpoint at size " + std::to_string(size) +
                       " differs from the recomputed root"};
  }

  std::optional<Failure> CheckRecordsAndNodes() {
    std::optional<Failure> f;
    Status s = store_->ScanRecords(from_, to_ - from_, [&](uint64_t pos, std::string_view stored) {
      f = CheckRecord(pos, stored);
      if (!f) f = CheckRoot();
      return !f.has_value();
    });
    if (!s.ok() && !f) f = At(tree_.size(), "cannot read records: " + s.message());
    if (!f && tree_.size() < to_) f = At(tree_.size(), "record missing");
    // Nodes and index entries of the records checked so far: their failures come first in log
    // order (every such record lies before the one the scan stopped at).
    std::optional<Failure> g = Earlier(CheckStoredNodes(), CheckIndexRuns());
    return g ? g : f;
  }

  std::optional<Failure> CheckRecord(uint64_t pos, std::string_view stored) {
    const uint64_t expect = tree_.size();
    if (pos != expect) {
      return At(expect, "record missing (the next stored record is at position " + std::to_string(pos) + ")");
    }
    integrity::Entry e;
    std::optional<Failure> f = CheckStoredRecord(cipher_, pos, stored, &opened_, &e);
    if (!f) f = CheckLink(e, pos);
    if (f) return f;
    const crypto::Hash leaf = integrity::LeafHash(opened_.entry);
    links_[e.stream_id] = {e.stream_version + 1, leaf, e.event_type == kTombstoneEventType};
    tree_.Append(leaf, &completed_);
    return std::nullopt;
  }

  // stream_prev links to the stream's previous event, and the stream index agrees.
  std::optional<Failure> CheckLink(const integrity::Entry& e, uint64_t pos) {
    auto it = links_.find(e.stream_id);
    if (it != links_.end()) {  // the predecessor is in the range
      const Link& link = it->second;
      std::optional<Failure> f = CheckStreamLink(e, pos, link.next_version, link.deleted, link.last_leaf);
      if (!f) DeferIndexCheck(e, pos);
      return f;
    }
    Link prev;  // the predecessor, if any, is before `from`
    std::optional<Failure> f = CheckIndex(e, pos, e.stream_version > 0 ? &prev : nullptr);
    return f ? f : CheckStreamLink(e, pos, e.stream_version, prev.deleted, prev.last_leaf);
  }

  // The stream index maps (stream, version) to `pos`; with `prev`, also opens the stream's
  // previous event through the index (its leaf hash, and whether it is a tombstone).
  std::optional<Failure> CheckIndex(const integrity::Entry& e, uint64_t pos, Link* prev) {
    const bool with_prev = prev != nullptr;
    assert(!with_prev || e.stream_version > 0);
    const uint64_t first = with_prev ? e.stream_version - 1 : e.stream_version;
    auto index = store_->ReadStreamIndex(e.stream_id, first, /*backwards=*/false, with_prev ? 2 : 1);
    if (!index.ok()) return At(pos, "cannot read the stream index: " + index.status().message());
    const std::vector<storage::StreamIndexEntry>& entries = *index;
    const size_t self = with_prev ? 1 : 0;
    if (entries.size() <= self || entries[self].version != e.stream_version || entries[self].position != pos ||
        (with_prev && (entries[0].version != first || entries[0].position >= pos))) {
      return At(pos, "the stream index of '" + e.stream_id + "' disagrees with the record");
    }
    return with_prev ? OpenPredecessor(e, pos, entries[0].position, prev) : std::nullopt;
  }

  // The record at `prev_pos` (before the range) is version e.stream_version - 1 of e's stream.
  std::optional<Failure> OpenPredecessor(const integrity::Entry& e, uint64_t pos, uint64_t prev_pos, Link* prev) {
    auto stored = store_->ReadRecord(prev_pos);
    if (stored.status().code() == StatusCode::kNotFound) return At(prev_pos, "record missing");
    if (!stored.ok()) return At(pos, "cannot read the stream's previous event: " + stored.status().message());
    integrity::Entry p;
    if (std::optional<Failure> f = CheckStoredRecord(cipher_, prev_pos, *stored, &prev_opened_, &p)) {
      return f;  // named at its own position, before the range
    }
    if (p.stream_id != e.stream_id || p.stream_version + 1 != e.stream_version) {
      return At(pos, "the stream index of '" + e.stream_id + "' disagrees with the record");
    }
    // The link is checked against the stored leaf hash, and the record against it too: an altered
    // record or stored leaf is named at the predecessor's position, not as this event's chain.
    std::vector<crypto::Hash> leaf;
    StoreNodeReader reader(store_);
    const integrity::NodeId id{0, prev_pos};
    Status s = reader.ReadNodes({&id, 1}, &leaf);
    if (!s.ok()) return At(pos, "cannot read the leaf hash of the stream's previous event: " + s.message());
    if (integrity::LeafHash(prev_opened_.entry) != leaf[0]) {
      return At(prev_pos, "stored leaf hash differs from the recomputed leaf hash");
    }
    *prev = {e.stream_version, leaf[0], p.event_type == kTombstoneEventType};
    return std::nullopt;
  }

  // The index entry of an event whose predecessor is in the range (so its version follows the
  // last one deferred for its stream, if any) is compared later, with its stream's others.
  void DeferIndexCheck(const integrity::Entry& e, uint64_t pos) {
    IndexRun& run = index_runs_[e.stream_id];
    if (run.positions.empty()) run.first_version = e.stream_version;
    assert(e.stream_version == run.first_version + run.positions.size());
    run.positions.push_back(pos);
  }

  // One index read per stream for its deferred events; the failure at the lowest position.
  std::optional<Failure> CheckIndexRuns() {
    std::optional<Failure> first;
    for (const auto& [stream, run] : index_runs_) {
      auto index = store_->ReadStreamIndex(stream, run.first_version, /*backwards=*/false,
                                           run.positions.size());
      if (!index.ok()) {
        first = Earlier(first, At(run.positions[0], "cannot read the stream index: " + index.status().message()));
        continue;
      }
      for (size_t i = 0; i < run.positions.size(); ++i) {
        const bool agrees = i < index->size() && (*index)[i].version == run.first_version + i &&
                            (*index)[i].position == run.positions[i];
        if (agrees) continue;
        first = Earlier(first, At(run.positions[i], "the stream index of '" + stream + "' disagrees with the record"));
        break;
      }
    }
    return first;
  }

  // Stored leaf hashes and the other full subtrees the checked records completed.
  std::optional<Failure> CheckStoredNodes() {
    StoreNodeReader reader(store_);
    std::vector<integrity::NodeId> ids;
    std::vector<crypto::Hash> stored;
    for (size_t begin = 0; begin < completed_.size(); begin += kNodeBatchMax) {
      const size_t end = std::min(completed_.size(), begin + kNodeBatchMax);
      ids.clear();
      for (size_t i = begin; i < end; ++i) ids.push_back(completed_[i].first);
      Status s = reader.ReadNodes(ids, &stored);
      if (!s.ok()) return At(ids.front().end() - 1, "cannot read stored Merkle nodes: " + s.message());
      for (size_t i = begin; i < end; ++i) {
        const auto& [id, hash] = completed_[i];
        if (stored[i - begin] == hash) continue;
        if (id.level == 0) return At(id.index, "stored leaf hash differs from the recomputed leaf hash");
        return At(id.end() - 1, "stored Merkle node (level " + std::to_string(id.level) + ", index " +
                                    std::to_string(id.index) + ") differs from the recomputed one");
      }
    }
    return std::nullopt;
  }

  // A checkpoint beyond the range signs a tree that must extend the recomputed one (RFC 9162
  // consistency, from stored nodes): so every step is bound to a signed root once one is signed
  // after it, not only the step a checkpoint happens to end in.
  std::optional<Failure> CheckExtendedByCheckpoint() {
    if (!checkpoint_ || checkpoint_->size <= to_ || to_ == 0) return std::nullopt;
    Status s = CheckStoredConsistency(store_, to_, tree_.Root(), checkpoint_->size, checkpoint_->root);
    if (s.ok()) return std::nullopt;
    // No position: the damage may be in the range's prefix, in the stored nodes of the proof
    // (beyond the range) or in the checkpoint's store; naming the range's last record would
    // blame it.
    return Failure{std::nullopt, "the checkpoint at size " + std::to_string(checkpoint_->size) +
                                     " does not extend the recomputed tree at " + std::to_string(to_) +
                                     ": " + s.message()};
  }

  // The stored tree state: when it ends at `to`, its root; when the live log moved on, that it
  // extends the recomputed tree (RFC 9162 consistency, from stored nodes).
  std::optional<Failure> CheckTreeState() {
    auto state = store_->ReadTreeState();
    if (!state.ok()) return Failure{std::nullopt, "cannot read the tree state: " + state.status().message()};
    if (state->size > to_) return CheckStateExtends(*state);
    if (state->size < to_) {
      return At(state->size, "the tree state (size " + std::to_string(state->size) +
                                 ") is behind the records (" + std::to_string(to_) + ")");
    }
    auto range = integrity::CompactRange::Deserialize(state->compact_range);
    if (to_ > 0 && (!range.ok() || range->size() != to_ || range->Root() != tree_.Root())) {
      return At(to_ - 1, "the stored tree state does not match the recomputed tree");
    }
    return std::nullopt;
  }

  std::optional<Failure> CheckStateExtends(const storage::TreeState& state) {
    auto range = integrity::CompactRange::Deserialize(state.compact_range);
    if (!range.ok() || range->size() != state.size) {
      return At(to_, "the stored tree state (size " + std::to_string(state.size) + ") is malformed");
    }
    if (to_ == 0) return std::nullopt;
    Status s = CheckStoredConsistency(store_, to_, tree_.Root(), state.size, range->Root());
    if (s.ok()) return std::nullopt;
    return Failure{std::nullopt, "the stored tree state (size " + std::to_string(state.size) +
                                     ") does not extend the recomputed tree at " + std::to_string(to_) +
                                     ": " + s.message()};  // no position: see CheckExtendedByCheckpoint
  }

  storage::LogStore* store_;
  RecordCipher cipher_;
  OpenedRecord opened_;  // reused across records
  OpenedRecord prev_opened_;  // a predecessor before the range; reused
  const integrity::NoteVerifier& key_;
  const uint64_t from_;
  const uint64_t to_;
  integrity::CompactRange tree_;
  std::optional<integrity::Checkpoint> checkpoint_;
  std::unordered_map<std::string, Link> links_;
  std::unordered_map<std::string, IndexRun> index_runs_;
  std::vector<std::pair<integrity::NodeId, crypto::Hash>> completed_;
};

}  // namespace

VerifyReport VerifyLogRange(storage::LogStore* store, const keys::StorageKeys* keys,
                            const integrity::NoteVerifier& checkpoint_key, uint64_t from,
                            uint64_t to) {
  assert(store != nullptr && keys != nullptr);
  return RangeVerifier(store, keys, checkpoint_key, from, to).Run();
}

}  // namespace cairn::engine
