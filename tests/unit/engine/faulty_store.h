// A LogStore decorator for fault injection: forwards everything, and fails group commits on
// demand (before anything reaches the inner store), as a full disk or an fsync error would.
// It can also corrupt what is read back (one record, one stored leaf hash) while the stored
// bytes stay intact, as bit rot under a live store would.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/event_store.h"
#include "storage/log_store.h"

namespace cairn::engine {

struct FaultPlan {
  std::atomic<int> fail_next_commits{0};  // fail this many commits, then succeed
  std::atomic<int> fail_every{0};         // if > 0: fail every n-th commit
  std::atomic<int> commits{0};
  std::atomic<int> failed{0};
  std::atomic<int64_t> corrupt_record_at{-1};  // reads of this record get one byte flipped
  std::atomic<int64_t> corrupt_leaf_at{-1};    // reads of this leaf hash get one byte flipped
  std::atomic<int> corrupt_node_level{-1};      // with corrupt_node_index: reads of this interior
  std::atomic<int64_t> corrupt_node_index{-1};  // Merkle node get one byte flipped
  std::string replacement_leaf;                // set before replace_leaf_at, then left alone
  std::atomic<int64_t> replace_leaf_at{-1};    // reads of this leaf hash get replacement_leaf
  std::atomic<int64_t> corrupt_index_at{-1};   // stream index reads: this position's entry moved
  std::atomic<int64_t> drop_index_at{-1};      // stream index reads: this position's entry gone
  std::atomic<bool> corrupt_summaries{false};  // ReadTreeStateWithSummary: summary byte flipped
  std::atomic<int> summaries_corrupted{0};     // non-empty summaries flipped so far
  std::atomic<bool> fail_tree_state_summaries{false};  // ReadTreeStateWithSummary: kUnavailable
  std::atomic<bool> mute_commit_notifications{false};  // other engines' commits go unannounced
  std::atomic<int> finished_without_writing{0};        // CommitWriter::FinishWithoutWriting calls
  std::atomic<bool> fail_finish_without_writing{false};  // ...answered kUnavailable, not forwarded
  std::atomic<int> tree_state_reads{0};                // ReadTreeState calls (reloads)
  std::atomic<bool> hold_commits{false};  // commits wait (polling) until it is false again
  std::atomic<int> commits_held{0};       // commits that waited
  std::atomic<int> begins{0};             // BeginCommit calls (optimistic begins included)
  // DestroyKeyMaterials deletes (forwards), then answers kIOError: a purge that failed after the
  // delete had committed.
  std::atomic<bool> fail_destroys_after_delete{false};
  // Called after every successful PutMeta with its name (set before opening, then left alone).
  std::function<void(std::string_view name)> after_put_meta;
  // Runs at the start of DestroyKeyMaterialsIf (another node writing between a look and a
  // conditional destroy).
  std::function<void()> before_destroy_if;
  // Runs before ReplaceKeyMaterialIf; a non-OK answer is returned without forwarding (the
  // write failed before it committed).
  std::function<Status(std::string_view name)> before_replace_key_material_if;
  // Runs at the start of DeleteUnusedKeyMaterial (another node acting between a look and the
  // delete).
  std::function<void(std::string_view name)> before_delete_unused;
  // Rewrites the stream heads ScanStreamHeads returns (a head tampered with in the store).
  std::function<void(std::string_view stream, storage::StreamHead* head)> rewrite_head;
  // Runs at the start of PutKeyMaterial (a write held up between its wrap and its put).
  std::function<void(std::string_view name)> before_put_key_material;
  // Runs at the start of PutKeyMaterialIfAbsent (a new subject key's durable put, held up).
  std::function<void(std::string_view name)> before_put_key_material_if_absent;
};

inline std::string FlipOneByte(std::string_view bytes) {
  std::string out(bytes);
  if (!out.empty()) out[out.size() / 2] ^= 0x01;
  return out;
}

class FaultyWriter final : public storage::CommitWriter {
 public:
  FaultyWriter(std::unique_ptr<storage::CommitWriter> inner, FaultPlan* plan)
      : inner_(std::move(inner)), plan_(plan) {}
  void PutRecord(uint64_t p, std::string_view r) override { inner_->PutRecord(p, r); }
  void PutStreamIndex(std::string_view s, uint64_t v, uint64_t p) override { inner_->PutStreamIndex(s, v, p); }
  void PutStreamHead(std::string_view s, const storage::StreamHead& h) override { inner_->PutStreamHead(s, h); }
  void PutNode(storage::NodeKey k, std::string_view h) override { inner_->PutNode(k, h); }
  void PutTreeState(const storage::TreeState& s) override { inner_->PutTreeState(s); }
  size_t buffered_size_bytes() const override { return inner_->buffered_size_bytes(); }
  const std::optional<storage::TreeState>& rebased() const override { return inner_->rebased(); }
  Status Commit() override {
    if (plan_->hold_commits) {
      ++plan_->commits_held;
      while (plan_->hold_commits) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const int n = ++plan_->commits;
    const int every = plan_->fail_every.load();
    bool fail = every > 0 && n % every == 0;
    for (int left = plan_->fail_next_commits.load(); !fail && left > 0;) {
      fail = plan_->fail_next_commits.compare_exchange_weak(left, left - 1);
    }
    if (fail) {
      ++plan_->failed;
      return Status::IOError("injected: no space left on device");
    }
    return inner_->Commit();
  }
  Status FinishWithoutWriting() override {
    ++plan_->finished_without_writing;
    if (plan_->fail_finish_without_writing) return Status::Unavailable("injected: connection lost");
    return inner_->FinishWithoutWriting();
  }

 private:
  std::unique_ptr<storage::CommitWriter> inner_;
  FaultPlan* plan_;
};

class FaultyStore final : public storage::LogStore {
 public:
  FaultyStore(std::unique_ptr<storage::LogStore> inner, FaultPlan* plan)
      : inner_(std::move(inner)), plan_(plan) {}

  Result<std::unique_ptr<storage::CommitWriter>> BeginCommit(uint64_t base) override {
    ++plan_->begins;
    auto w = inner_->BeginCommit(base);
    if (!w.ok()) return w.status();
    return std::unique_ptr<storage::CommitWriter>(new FaultyWriter(std::move(w).value(), plan_));
  }
  bool shared() const override { return inner_->shared(); }
  bool commits_optimistically() const override { return inner_->commits_optimistically(); }
  Result<std::unique_ptr<NodeLock>> TryLockAcrossNodes(NodeLockKind kind) override {
    return inner_->TryLockAcrossNodes(kind);
  }
  void SetChangeListener(storage::ChangeListener l) override {
    l.on_commit = [plan = plan_, on_commit = std::move(l.on_commit)](uint64_t size) {
      if (!plan->mute_commit_notifications) on_commit(size);
    };
    inner_->SetChangeListener(std::move(l));
  }
  Result<storage::TreeState> ReadTreeState() override {
    ++plan_->tree_state_reads;
    return inner_->ReadTreeState();
  }
  Result<storage::TreeState> ReadTreeStateWithSummary() override {
    if (plan_->fail_tree_state_summaries) return Status::Unavailable("injected: tree state unreadable");
    auto state = inner_->ReadTreeStateWithSummary();
    if (state.ok() && plan_->corrupt_summaries && !state->group_summary.empty()) {
      state->group_summary = FlipOneByte(state->group_summary);
      ++plan_->summaries_corrupted;
    }
    return state;
  }
  Result<std::optional<storage::StreamHead>> ReadStreamHead(std::string_view s) override {
    return inner_->ReadStreamHead(s);
  }
  Result<std::string> ReadRecord(uint64_t p) override {
    auto r = inner_->ReadRecord(p);
    if (r.ok() && Hit(plan_->corrupt_record_at, p)) return FlipOneByte(*r);
    return r;
  }
  Status ScanRecords(uint64_t f, uint64_t l, const std::function<bool(uint64_t, std::string_view)>& fn) override {
    return inner_->ScanRecords(f, l, [&](uint64_t p, std::string_view r) {
      return Hit(plan_->corrupt_record_at, p) ? fn(p, FlipOneByte(r)) : fn(p, r);
    });
  }
  Result<std::vector<storage::StreamIndexEntry>> ReadStreamIndex(std::string_view s, uint64_t f, bool b,
                                                                 uint64_t l) override {
    auto entries = inner_->ReadStreamIndex(s, f, b, l);
    if (!entries.ok()) return entries;
    for (storage::StreamIndexEntry& e : *entries) {
      if (Hit(plan_->corrupt_index_at, e.position)) e.position += 1000;
    }
    std::erase_if(*entries, [&](const storage::StreamIndexEntry& e) {
      return Hit(plan_->drop_index_at, e.position);
    });
    return entries;
  }
  Status ReadNodes(std::span<const storage::NodeKey> k, std::vector<std::string>* h) override {
    Status s = inner_->ReadNodes(k, h);
    for (size_t i = 0; s.ok() && i < k.size(); ++i) {
      if (k[i].level == 0 && Hit(plan_->corrupt_leaf_at, k[i].index)) (*h)[i] = FlipOneByte((*h)[i]);
      if (k[i].level == 0 && Hit(plan_->replace_leaf_at, k[i].index)) (*h)[i] = plan_->replacement_leaf;
      if (static_cast<int>(k[i].level) == plan_->corrupt_node_level && Hit(plan_->corrupt_node_index, k[i].index)) {
        (*h)[i] = FlipOneByte((*h)[i]);
      }
    }
    return s;
  }
  Status ScanLeafHashes(uint64_t f, uint64_t l, const std::function<bool(uint64_t, std::string_view)>& fn) override {
    return inner_->ScanLeafHashes(f, l, [&](uint64_t i, std::string_view h) {
      if (Hit(plan_->replace_leaf_at, i)) return fn(i, plan_->replacement_leaf);
      return Hit(plan_->corrupt_leaf_at, i) ? fn(i, FlipOneByte(h)) : fn(i, h);
    });
  }
  Status ScanStreamHeads(const std::function<bool(std::string_view, const storage::StreamHead&)>& fn) override {
    if (!plan_->rewrite_head) return inner_->ScanStreamHeads(fn);
    return inner_->ScanStreamHeads([&](std::string_view stream, const storage::StreamHead& head) {
      storage::StreamHead rewritten = head;
      plan_->rewrite_head(stream, &rewritten);
      return fn(stream, rewritten);
    });
  }
  Status PutCheckpoint(uint64_t s, std::string_view n) override { return inner_->PutCheckpoint(s, n); }
  Result<std::optional<std::pair<uint64_t, std::string>>> ReadLatestCheckpoint() override {
    return inner_->ReadLatestCheckpoint();
  }
  Status ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) override {
    return inner_->ScanCheckpoints(fn);
  }
  Status PutKeyMaterial(std::string_view n, std::string_view w) override {
    if (plan_->before_put_key_material) plan_->before_put_key_material(n);
    return inner_->PutKeyMaterial(n, w);
  }
  Result<bool> PutKeyMaterialIfAbsent(std::string_view n, std::string_view w) override {
    if (plan_->before_put_key_material_if_absent) plan_->before_put_key_material_if_absent(n);
    return inner_->PutKeyMaterialIfAbsent(n, w);
  }
  Result<bool> ReplaceKeyMaterialIf(std::string_view n, std::string_view e,
                                    std::string_view w) override {
    if (plan_->before_replace_key_material_if) {
      CAIRN_RETURN_IF_ERROR(plan_->before_replace_key_material_if(n));
    }
    return inner_->ReplaceKeyMaterialIf(n, e, w);
  }
  Result<std::optional<std::string>> ReadKeyMaterial(std::string_view n) override { return inner_->ReadKeyMaterial(n); }
  Status DestroyKeyMaterial(std::string_view n) override { return inner_->DestroyKeyMaterial(n); }
  Result<storage::DestroyReport> DestroyKeyMaterials(std::span<const std::string> names) override {
    Result<storage::DestroyReport> destroyed = inner_->DestroyKeyMaterials(names);
    if (destroyed.ok() && plan_->fail_destroys_after_delete) {
      return Status::IOError("injected: the purge failed after the delete");
    }
    return destroyed;
  }
  Result<storage::DestroyReport> DestroyKeyMaterialsIf(
      std::span<const ExpectedKeyMaterial> expected, size_t* destroyed) override {
    if (plan_->before_destroy_if) plan_->before_destroy_if();
    return inner_->DestroyKeyMaterialsIf(expected, destroyed);
  }
  Status DeleteUnusedKeyMaterial(std::string_view n) override {
    if (plan_->before_delete_unused) plan_->before_delete_unused(n);
    return inner_->DeleteUnusedKeyMaterial(n);
  }
  Status ScanKeyMaterial(std::string_view p,
                         const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_->ScanKeyMaterial(p, fn);
  }
  Status ScanKeyMaterialAfter(std::string_view p, std::string_view after,
                              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_->ScanKeyMaterialAfter(p, after, fn);  // the backend's seek, not the default
  }
  Status PutMeta(std::string_view n, std::string_view v) override {
    CAIRN_RETURN_IF_ERROR(inner_->PutMeta(n, v));
    if (plan_->after_put_meta) plan_->after_put_meta(n);
    return Status::Ok();
  }
  Result<std::optional<std::string>> ReadMeta(std::string_view n) override { return inner_->ReadMeta(n); }
  Status PutMetaIfAbsent(std::string_view n, std::string_view v) override {
    return inner_->PutMetaIfAbsent(n, v);  // the backend's own (atomic on PostgreSQL)
  }
  Status ScanMeta(std::string_view p,
                  const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_->ScanMeta(p, fn);
  }

 private:
  static bool Hit(const std::atomic<int64_t>& at, uint64_t index) {
    const int64_t v = at.load();
    return v >= 0 && static_cast<uint64_t>(v) == index;
  }

  std::unique_ptr<storage::LogStore> inner_;
  FaultPlan* plan_;
};

// `o` with its store wrapped in a FaultyStore that follows `plan` (which must outlive the store).
inline Options WithFaults(FaultPlan* plan, Options o = {}) {
  o.wrap_store_for_test = [plan](std::unique_ptr<storage::LogStore> inner) {
    return std::unique_ptr<storage::LogStore>(new FaultyStore(std::move(inner), plan));
  };
  return o;
}

}  // namespace cairn::engine
