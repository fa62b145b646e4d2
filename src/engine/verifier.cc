#include "engine/verifier.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include "engine/record_check.h"
#include "engine/record_codec.h"
#include "engine/store_node_reader.h"
#include "engine/stream_index_check.h"
#include "engine/types.h"
#include "integrity/checkpoint.h"
#include "integrity/entry.h"
#include "integrity/merkle.h"
#include "integrity/proof.h"

namespace cairn::engine {
namespace {

constexpr uint64_t kChunkRecords = 4096;
// Stored interior nodes compared per storage read (a store reads at most 65,536 per call).
constexpr size_t kNodeReadBatchMax = 4096;
// A paced run pauses (VerifyPacing::between_chunks) after this many stream index reads.
constexpr uint64_t kIndexReadsPerPause = 64;

using Failure = VerifyFailure;

// No size pin: the offline check of everything stored.
constexpr uint64_t kWholeLog = UINT64_MAX;

struct ChainState {
  uint64_t next_version = 0;
  uint64_t last_position = 0;
  crypto::Hash last_leaf{};
  bool deleted = false;
  IndexDigest index;  // the positions of versions [0, next_version)
};

// The failure at the lower position (one without a position last).
std::optional<VerifyFailure> Lowest(std::optional<VerifyFailure> a, std::optional<VerifyFailure> b) {
  if (!a) return b;
  if (!b || !b->position) return a;
  if (!a->position || *b->position < *a->position) return b;
  return a;
}

class LogVerifier {
 public:
  LogVerifier(storage::LogStore* store, const keys::StorageKeys* keys,
              const integrity::NoteVerifier& key, uint64_t size_pin = kWholeLog,
              const VerifyPacing* pacing = nullptr, const integrity::Checkpoint* trusted = nullptr)
      : store_(store), keys_(keys), run_(keys, /*parallel=*/pacing == nullptr), key_(key), size_pin_(size_pin),
        pacing_(pacing), trusted_(trusted) {
    assert(pacing == nullptr || (pacing->chunk_records >= 1 && pacing->chunk_records <= kVerifyChunkRecordsMax));
    assert(trusted == nullptr || pacing == nullptr);  // an anchor is for `cairn verify`, not the scrub
  }

  VerifyReport Run() {
    VerifyReport report;
    std::optional<Failure> f = LoadCheckpoints();
    if (!f) f = MergeTrusted();
    if (!f) f = CheckRecords();
    if (!f) f = CheckTreeState();
    if (!f) f = CheckConsistency();
    if (!f) f = CheckHeads();
    if (!f) f = CheckIndex();
    report.records_checked = tree_.size();
    report.nodes_checked = nodes_checked_;
    report.index_entries_checked = index_entries_checked_;
    report.streams_checked = chains_.size();
    report.checkpoints_checked = checkpoints_.size();
    report.ok = !f.has_value();
    if (report.ok) {
      report.root = tree_.Root();
      report.latest_checkpoint = std::move(latest_note_);
      report.latest_checkpoint_size = latest_size_;
    }
    if (f) {
      report.bad_position = f->position;
      report.failure = f->what;
      report.stopped = f->stopped;
    }
    return report;
  }

 private:
  static Failure At(uint64_t pos, std::string what) { return FailureAt(pos, std::move(what)); }

  std::optional<Failure> LoadCheckpoints() {
    std::optional<Failure> f;
    Status s = store_->ScanCheckpoints([&](uint64_t size, std::string_view note) {
      if (size > size_pin_) return false;  // ascending: the rest is beyond the pinned prefix
      auto cp = integrity::VerifyCheckpoint(note, key_);
      if (!cp.ok()) {
        f = Failure{std::nullopt, "checkpoint at size " + std::to_string(size) +
                                      " does not verify: " + cp.status().message()};
      } else if (cp->size != size) {
        f = Failure{std::nullopt, "checkpoint filed under size " + std::to_string(size) +
                                      " says size " + std::to_string(cp->size)};
      } else {
        checkpoints_.push_back(std::move(cp).value());
        latest_note_.assign(note);
        latest_size_ = size;
      }
      return !f.has_value();
    });
    if (!s.ok()) return Failure{std::nullopt, "cannot read checkpoints: " + s.message()};
    return f;
  }

  // The trusted checkpoint joins the stored ones (in size order): the records' root at its size
  // and the consistency with its neighbours are then checked like theirs. A stored checkpoint of
  // the same size must have the same root.
  std::optional<Failure> MergeTrusted() {
    if (trusted_ == nullptr) return std::nullopt;
    auto at = std::lower_bound(checkpoints_.begin(), checkpoints_.end(), trusted_->size,
                               [](const integrity::Checkpoint& c, uint64_t size) { return c.size < size; });
    if (at != checkpoints_.end() && at->size == trusted_->size) {
      if (at->root == trusted_->root) return std::nullopt;
      return At(trusted_->size == 0 ? 0 : trusted_->size - 1,
                "the stored checkpoint at size " + std::to_string(trusted_->size) +
                    " has another root than the trusted checkpoint: the log was rewritten");
    }
    checkpoints_.insert(at, *trusted_);
    return std::nullopt;
  }

  std::optional<Failure> CheckRecords() {
    size_t next_cp = 0;
    if (!checkpoints_.empty() && checkpoints_[0].size == 0 && checkpoints_[0].root != integrity::EmptyRoot()) {
      return Failure{std::nullopt, "checkpoint at size 0 does not have the empty root"};
    }
    while (next_cp < checkpoints_.size() && checkpoints_[next_cp].size == 0) ++next_cp;
    while (true) {
      const uint64_t from = tree_.size();
      if (from >= size_pin_) return std::nullopt;  // the end of the pinned prefix
      if (from > 0 && pacing_ != nullptr && pacing_->between_chunks && !pacing_->between_chunks()) {
        return Failure{from, "stopped", /*stopped=*/true};
      }
      const uint64_t chunk = pacing_ != nullptr ? pacing_->chunk_records : kChunkRecords;
      run_.Clear();
      std::optional<Failure> gap;
      Status s = store_->ScanRecords(from, std::min(chunk, size_pin_ - from), [&](uint64_t pos, std::string_view stored) {
        const uint64_t expect = from + run_.size();
        if (pos != expect) {
          gap = At(expect, "record missing (the next stored record is at position " + std::to_string(pos) + ")");
          return false;
        }
        run_.Add(pos, stored);
        return true;
      });
      if (!s.ok()) return Failure{tree_.size(), "cannot read records: " + s.message()};
      run_.Check();  // decryption, hashes and leaves: on two threads for a whole-log check
      std::vector<crypto::Hash> leaves;
      std::optional<Failure> f;
      for (size_t i = 0; i < run_.size() && !f; ++i) f = CheckLink(i, &leaves);
      if (!f) f = gap;
      if (leaves.empty() && !f && size_pin_ != kWholeLog) {
        return At(from, "record missing (the log had " + std::to_string(size_pin_) + " events when the run started)");
      }
      if (leaves.empty() && !f) return std::nullopt;  // end of the log
      std::optional<Failure> g = CheckLeaves(from, leaves, &next_cp);
      if (g) return g;
      if (f) return f;
    }
  }

  // Run record i's own result, then its link to the stream's previous event.
  std::optional<Failure> CheckLink(size_t i, std::vector<crypto::Hash>* leaves) {
    if (run_.failure(i)) return run_.failure(i);
    const integrity::Entry& e = run_.entry(i);
    const uint64_t pos = run_.position(i);
    assert(pos == tree_.size() + leaves->size());
    ChainState& chain = chains_[e.stream_id];
    std::optional<Failure> f = CheckStreamLink(e, pos, chain.next_version, chain.deleted, chain.last_leaf);
    if (f) return f;
    const crypto::Hash& leaf = run_.leaf(i);
    chain.index.Add(pos);
    chain.next_version += 1;
    chain.last_position = pos;
    chain.last_leaf = leaf;
    chain.deleted = e.event_type == kTombstoneEventType;
    leaves->push_back(leaf);
    return std::nullopt;
  }

  // The chunk's stored leaf hashes, the stored interior nodes its leaves complete, and the roots
  // of the checkpoints it reaches: the lowest failing position.
  std::optional<Failure> CheckLeaves(uint64_t from, const std::vector<crypto::Hash>& leaves,
                                     size_t* next_cp) {
    completed_.clear();
    std::optional<Failure> f = CheckLeavesAndRoots(from, leaves, next_cp);
    return Lowest(std::move(f), CheckNodes());
  }

  // Every full subtree above the leaves completed by the last chunk is stored with the hash of its
  // leaves: inclusion and consistency proofs are built from these nodes.
  std::optional<Failure> CheckNodes() {
    node_ids_.clear();
    for (const auto& [id, hash] : completed_) {
      if (id.level > 0) node_ids_.push_back(id);
    }
    if (node_ids_.empty()) return std::nullopt;
    StoreNodeReader reader(store_);
    stored_nodes_.clear();
    std::vector<crypto::Hash> batch;
    for (size_t at = 0; at < node_ids_.size(); at += kNodeReadBatchMax) {
      const std::span<const integrity::NodeId> ids =
          std::span(node_ids_).subspan(at, std::min(kNodeReadBatchMax, node_ids_.size() - at));
      Status s = reader.ReadNodes(ids, &batch);
      if (!s.ok()) return UnreadableNode(reader, ids, s);
      stored_nodes_.insert(stored_nodes_.end(), batch.begin(), batch.end());
    }
    assert(stored_nodes_.size() == node_ids_.size());
    size_t k = 0;
    for (const auto& [id, hash] : completed_) {
      if (id.level == 0) continue;
      if (stored_nodes_[k++] != hash) {
        return At(id.end() - 1, "stored Merkle node (level " + std::to_string(id.level) + ", index " +
                                    std::to_string(id.index) + ") differs from the hash of its leaves");
      }
    }
    nodes_checked_ += k;
    return std::nullopt;
  }

  // After a failed batch read: the first node of the batch that cannot be read on its own.
  std::optional<Failure> UnreadableNode(StoreNodeReader& reader, std::span<const integrity::NodeId> batch,
                                        const Status& batch_status) {
    std::vector<crypto::Hash> one;
    for (const integrity::NodeId& id : batch) {
      Status s = reader.ReadNodes(std::span(&id, 1), &one);
      if (!s.ok()) {
        return At(id.end() - 1, "cannot read the stored Merkle node (level " + std::to_string(id.level) +
                                    ", index " + std::to_string(id.index) + "): " + s.message());
      }
    }
    return At(batch.front().end() - 1, "cannot read the stored Merkle nodes: " + batch_status.message());
  }

  std::optional<Failure> CheckLeavesAndRoots(uint64_t from, const std::vector<crypto::Hash>& leaves,
                                             size_t* next_cp) {
    uint64_t i = 0;
    std::optional<Failure> f;
    Status s = store_->ScanLeafHashes(from, leaves.size(), [&](uint64_t index, std::string_view hash) {
      if (index != from + i) {
        f = At(from + i, "stored leaf hash is missing");
      } else if (hash != crypto::HashView(leaves[i])) {
        f = At(index, "stored leaf hash differs from the recomputed leaf hash");
      }
      ++i;
      return !f.has_value();
    });
    if (!s.ok()) return At(from, "cannot read leaf hashes: " + s.message());
    if (!f && i < leaves.size()) f = At(from + i, "stored leaf hash is missing");
    for (size_t k = 0; k < leaves.size(); ++k) {
      if (f && f->position && *f->position == tree_.size()) return f;
      tree_.Append(leaves[k], &completed_);
      while (*next_cp < checkpoints_.size() && checkpoints_[*next_cp].size == tree_.size()) {
        if (checkpoints_[*next_cp].root != tree_.Root()) {
          const bool anchor = trusted_ != nullptr && trusted_->size == tree_.size();
          return At(tree_.size() - 1, anchor ? "the root at size " + std::to_string(tree_.size()) +
                                                   " differs from the trusted checkpoint's: the log "
                                                   "was rewritten up to there"
                                             : "root of the checkpoint at size " +
                                                   std::to_string(tree_.size()) +
                                                   " differs from the recomputed root");
        }
        ++*next_cp;
      }
    }
    return f;
  }

  std::optional<Failure> CheckTreeState() {
    auto state = store_->ReadTreeState();
    if (!state.ok()) return Failure{std::nullopt, "cannot read the tree state: " + state.status().message()};
    const uint64_t n = tree_.size();
    if (state->size > n && size_pin_ == kWholeLog) {
      return At(n, "record missing (the tree state says the log has " + std::to_string(state->size) + " events)");
    }
    if (trusted_ != nullptr && trusted_->size > n) {
      return At(n, "the log holds " + std::to_string(n) + " events, fewer than the trusted checkpoint's " +
                       std::to_string(trusted_->size) + ": events were removed (rolled back)");
    }
    if (state->size > n) return CheckStateExtends(*state);
    if (state->size < n) {
      return At(state->size, "the tree state (size " + std::to_string(state->size) +
                                 ") is behind the records (" + std::to_string(n) + "): rolled back or torn");
    }
    auto range = integrity::CompactRange::Deserialize(state->compact_range);
    if (n > 0 && (!range.ok() || range->size() != n || range->Root() != tree_.Root())) {
      return At(n - 1, "the stored tree state does not match the recomputed tree");
    }
    if (!checkpoints_.empty() && checkpoints_.back().size > n) {
      return At(n, "a checkpoint at size " + std::to_string(checkpoints_.back().size) +
                       " covers events that are not in the log (" + std::to_string(n) + " records)");
    }
    return std::nullopt;
  }

  // A live log grew past the pinned prefix: the stored tree state must extend the recomputed tree.
  std::optional<Failure> CheckStateExtends(const storage::TreeState& state) {
    const uint64_t n = tree_.size();
    auto range = integrity::CompactRange::Deserialize(state.compact_range);
    if (!range.ok() || range->size() != state.size) {
      return At(n, "the stored tree state (size " + std::to_string(state.size) + ") is malformed");
    }
    if (n == 0) return std::nullopt;
    Status s = CheckStoredConsistency(store_, n, tree_.Root(), state.size, range->Root());
    if (!s.ok()) {
      return At(n - 1, "the stored tree state (size " + std::to_string(state.size) +
                           ") does not extend the recomputed tree: " + s.message());
    }
    return std::nullopt;
  }

  std::optional<Failure> CheckConsistency() {
    for (size_t i = 1; i < checkpoints_.size(); ++i) {
      const auto& a = checkpoints_[i - 1];
      const auto& b = checkpoints_[i];
      if (a.size == 0) continue;
      Status s = CheckStoredConsistency(store_, a.size, a.root, b.size, b.root);
      if (!s.ok()) {
        return At(a.size, "checkpoints at sizes " + std::to_string(a.size) + " and " +
                              std::to_string(b.size) + " are not consistent: " + s.message());
      }
    }
    return std::nullopt;
  }

  std::optional<Failure> CheckHeads() {
    std::optional<Failure> f;
    size_t seen = 0;
    std::optional<std::pair<std::string, uint64_t>> furthest;  // the head that moved furthest
    Status s = store_->ScanStreamHeads([&](std::string_view stream, const storage::StreamHead& head) {
      auto it = chains_.find(std::string(stream));
      if (size_pin_ != kWholeLog && head.next_version > 0 && head.last_position >= tree_.size()) {
        // Moved past the pinned prefix: not comparable, but it must have moved forward, and (below)
        // not beyond the log.
        if (it != chains_.end()) {
          ++seen;
          if (it->second.deleted || head.next_version <= it->second.next_version) {
            f = At(it->second.last_position, "stream head of '" + std::string(stream) +
                                                 "' names a later event the stream cannot have");
          }
        }
        if (!furthest || head.last_position > furthest->second) furthest.emplace(stream, head.last_position);
        return !f.has_value();
      }
      ++seen;
      if (it == chains_.end()) {
        f = Failure{std::nullopt, "stream head of '" + std::string(stream) + "' names a stream with no events"};
      } else if (head.next_version != it->second.next_version ||
                 head.last_position != it->second.last_position ||
                 head.last_leaf_hash != crypto::HashView(it->second.last_leaf) ||
                 head.deleted != it->second.deleted) {
        f = At(it->second.last_position, "stream head of '" + std::string(stream) + "' does not match its events");
      }
      return !f.has_value();
    });
    if (!s.ok()) return Failure{std::nullopt, "cannot read stream heads: " + s.message()};
    if (!f && seen != chains_.size()) f = Failure{std::nullopt, "a stream's head is missing"};
    if (!f && furthest) f = CheckHeadWithinLog(furthest->first, furthest->second);
    return f;
  }

  // A head read after the tree state it is compared with names a position that state holds:
  // heads are written in the commit that writes the state.
  std::optional<Failure> CheckHeadWithinLog(const std::string& stream, uint64_t last_position) {
    auto state = store_->ReadTreeState();
    if (!state.ok()) return Failure{std::nullopt, "cannot read the tree state: " + state.status().message()};
    if (last_position < state->size) return std::nullopt;
    return Failure{std::nullopt, "stream head of '" + stream + "' names position " +
                                     std::to_string(last_position) + ", beyond the log (" +
                                     std::to_string(state->size) + " events)"};
  }

  // Every stream's stored index names exactly the positions of its events, in version order.
  // Streams are walked in hash order: of their failures, the lowest position is reported.
  std::optional<Failure> CheckIndex() {
    uint64_t reads = 0;
    std::function<bool()> between_reads = [this, &reads] {  // paced like a chunk of records
      const bool pace = pacing_ != nullptr && pacing_->between_chunks && ++reads % kIndexReadsPerPause == 0;
      return !pace || pacing_->between_chunks();
    };
    // The whole log: an entry at or past its end is damage; a prefix: a later append.
    const IndexBound bound{tree_.size(), size_pin_ == kWholeLog};
    std::optional<Failure> lowest;
    for (const auto& [stream, chain] : chains_) {
      StreamIndexExpectation want{chain.next_version, chain.index, chain.last_position};
      std::optional<Failure> f = CheckStreamIndex(store_, keys_, stream, want, bound,
                                                  between_reads, &index_entries_checked_);
      if (f && f->stopped) return f;
      lowest = Lowest(std::move(lowest), std::move(f));
    }
    return lowest;
  }

  storage::LogStore* store_;
  const keys::StorageKeys* keys_;
  // The chunk being checked. A whole-log check (no pacing: `cairn verify`) uses a helper thread;
  // the paced scrub of a serving node stays on one.
  RecordRunCheck run_;
  const integrity::NoteVerifier& key_;
  const uint64_t size_pin_;
  const VerifyPacing* pacing_;
  const integrity::Checkpoint* trusted_;  // nullptr: no anchor
  std::vector<integrity::Checkpoint> checkpoints_;  // stored (and the trusted one), by size
  std::string latest_note_;  // the note of the latest stored checkpoint
  uint64_t latest_size_ = 0;
  integrity::CompactRange tree_;
  std::unordered_map<std::string, ChainState> chains_;
  std::vector<std::pair<integrity::NodeId, crypto::Hash>> completed_;  // by the current chunk
  std::vector<integrity::NodeId> node_ids_;
  std::vector<crypto::Hash> stored_nodes_;
  uint64_t nodes_checked_ = 0;
  uint64_t index_entries_checked_ = 0;
};

}  // namespace

VerifyReport VerifyLog(storage::LogStore* store, const keys::StorageKeys* keys,
                       const integrity::NoteVerifier& checkpoint_key,
                       const integrity::Checkpoint* trusted) {
  return LogVerifier(store, keys, checkpoint_key, kWholeLog, nullptr, trusted).Run();
}

VerifyReport VerifyLogUpTo(storage::LogStore* store, const keys::StorageKeys* keys,
                           const integrity::NoteVerifier& checkpoint_key, uint64_t size,
                           const integrity::Checkpoint* trusted) {
  assert(size != kWholeLog);
  return LogVerifier(store, keys, checkpoint_key, size, nullptr, trusted).Run();
}

VerifyReport VerifyLogPrefix(storage::LogStore* store, const keys::StorageKeys* keys,
                             const integrity::NoteVerifier& checkpoint_key, uint64_t size,
                             const VerifyPacing& pacing) {
  assert(size != kWholeLog);
  return LogVerifier(store, keys, checkpoint_key, size, &pacing).Run();
}

}  // namespace cairn::engine
