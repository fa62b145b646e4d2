#include "engine/verifier.h"

#include <unordered_map>

#include "engine/record_codec.h"
#include "engine/store_node_reader.h"
#include "engine/types.h"
#include "integrity/checkpoint.h"
#include "integrity/entry.h"
#include "integrity/merkle.h"
#include "integrity/proof.h"

namespace cairn::engine {
namespace {

constexpr uint64_t kChunkRecords = 4096;

struct Failure {
  std::optional<uint64_t> position;
  std::string what;
};

struct ChainState {
  uint64_t next_version = 0;
  uint64_t last_position = 0;
  crypto::Hash last_leaf{};
  bool deleted = false;
};

class LogVerifier {
 public:
  LogVerifier(storage::LogStore* store, const keys::StorageKeys* keys,
              const integrity::NoteVerifier& key)
      : store_(store), cipher_(keys), key_(key) {}

  VerifyReport Run() {
    VerifyReport report;
    std::optional<Failure> f = LoadCheckpoints();
    if (!f) f = CheckRecords();
    if (!f) f = CheckTreeState();
    if (!f) f = CheckConsistency();
    if (!f) f = CheckHeads();
    report.records_checked = tree_.size();
    report.streams_checked = chains_.size();
    report.checkpoints_checked = checkpoints_.size();
    report.ok = !f.has_value();
    if (f) {
      report.bad_position = f->position;
      report.failure = f->what;
    }
    return report;
  }

 private:
  static Failure At(uint64_t pos, std::string what) { return {pos, std::move(what)}; }

  std::optional<Failure> LoadCheckpoints() {
    std::optional<Failure> f;
    Status s = store_->ScanCheckpoints([&](uint64_t size, std::string_view note) {
      auto cp = integrity::VerifyCheckpoint(note, key_);
      if (!cp.ok()) {
        f = Failure{std::nullopt, "checkpoint at size " + std::to_string(size) +
                                      " does not verify: " + cp.status().message()};
      } else if (cp->size != size) {
        f = Failure{std::nullopt, "checkpoint filed under size " + std::to_string(size) +
                                      " says size " + std::to_string(cp->size)};
      } else {
        checkpoints_.push_back(std::move(cp).value());
      }
      return !f.has_value();
    });
    if (!s.ok()) return Failure{std::nullopt, "cannot read checkpoints: " + s.message()};
    return f;
  }

  std::optional<Failure> CheckRecords() {
    size_t next_cp = 0;
    if (!checkpoints_.empty() && checkpoints_[0].size == 0 && checkpoints_[0].root != integrity::EmptyRoot()) {
      return Failure{std::nullopt, "checkpoint at size 0 does not have the empty root"};
    }
    while (next_cp < checkpoints_.size() && checkpoints_[next_cp].size == 0) ++next_cp;
    while (true) {
      const uint64_t from = tree_.size();
      std::vector<crypto::Hash> leaves;
      std::optional<Failure> f;
      Status s = store_->ScanRecords(from, kChunkRecords, [&](uint64_t pos, std::string_view stored) {
        f = CheckRecord(from + leaves.size(), pos, stored, &leaves);
        return !f.has_value();
      });
      if (!s.ok()) return Failure{tree_.size(), "cannot read records: " + s.message()};
      if (leaves.empty() && !f) return std::nullopt;  // end of the log
      std::optional<Failure> g = CheckLeaves(from, leaves, &next_cp);
      if (g) return g;
      if (f) return f;
    }
  }

  std::optional<Failure> CheckRecord(uint64_t expect, uint64_t pos, std::string_view stored,
                                     std::vector<crypto::Hash>* leaves) {
    if (pos != expect) return At(expect, "record missing (the next stored record is at position " + std::to_string(pos) + ")");
    Status s = cipher_.Open(pos, stored, &opened_);
    if (!s.ok()) return At(pos, s.message());
    integrity::Entry e;
    s = integrity::DecodeEntry(opened_.entry, &e);
    if (!s.ok()) return At(pos, "entry is malformed: " + s.message());
    if (e.position != pos) return At(pos, "entry names position " + std::to_string(e.position));
    if (crypto::Sha256(opened_.data) != e.data_hash) return At(pos, "data does not match the entry's data_hash");
    if (crypto::Sha256(opened_.metadata) != e.metadata_hash) return At(pos, "metadata does not match the entry's metadata_hash");
    ChainState& chain = chains_[e.stream_id];
    if (chain.deleted) return At(pos, "event appended to stream '" + e.stream_id + "' after its tombstone");
    if (e.stream_version != chain.next_version) {
      return At(pos, "stream '" + e.stream_id + "' has version " + std::to_string(e.stream_version) +
                         " where " + std::to_string(chain.next_version) + " was expected");
    }
    const crypto::Hash& prev = chain.next_version == 0 ? integrity::kZeroHash : chain.last_leaf;
    if (e.stream_prev != prev) return At(pos, "stream chain of '" + e.stream_id + "' is broken (stream_prev does not link)");
    const crypto::Hash leaf = integrity::LeafHash(opened_.entry);
    chain = {chain.next_version + 1, pos, leaf, e.event_type == kTombstoneEventType};
    leaves->push_back(leaf);
    return std::nullopt;
  }

  std::optional<Failure> CheckLeaves(uint64_t from, const std::vector<crypto::Hash>& leaves,
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
      tree_.Append(leaves[k], nullptr);
      while (*next_cp < checkpoints_.size() && checkpoints_[*next_cp].size == tree_.size()) {
        if (checkpoints_[*next_cp].root != tree_.Root()) {
          return At(tree_.size() - 1, "root of the checkpoint at size " + std::to_string(tree_.size()) +
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
    if (state->size > n) return At(n, "record missing (the tree state says the log has " + std::to_string(state->size) + " events)");
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

  std::optional<Failure> CheckConsistency() {
    StoreNodeReader reader(store_);
    for (size_t i = 1; i < checkpoints_.size(); ++i) {
      const auto& a = checkpoints_[i - 1];
      const auto& b = checkpoints_[i];
      if (a.size == 0) continue;
      auto proof = integrity::ConsistencyProof(reader, a.size, b.size);
      Status s = proof.ok() ? integrity::VerifyConsistency(a.size, b.size, *proof, a.root, b.root)
                            : proof.status();
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
    Status s = store_->ScanStreamHeads([&](std::string_view stream, const storage::StreamHead& head) {
      auto it = chains_.find(std::string(stream));
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
    return f;
  }

  storage::LogStore* store_;
  RecordCipher cipher_;
  OpenedRecord opened_;  // reused: its plaintext buffer is the largest allocation per record
  const integrity::NoteVerifier& key_;
  std::vector<integrity::Checkpoint> checkpoints_;
  integrity::CompactRange tree_;
  std::unordered_map<std::string, ChainState> chains_;
};

}  // namespace

VerifyReport VerifyLog(storage::LogStore* store, const keys::StorageKeys* keys,
                       const integrity::NoteVerifier& checkpoint_key) {
  return LogVerifier(store, keys, checkpoint_key).Run();
}

}  // namespace cairn::engine
