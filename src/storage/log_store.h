// LogStore: the seam between the engine and a storage backend.
//
// The engine never sees RocksDB or SQL; it sees this interface. A backend stores opaque bytes
// under typed keys: records by position, the stream index (stream id, version → position), stream
// heads, Merkle nodes (hashes of full subtrees, level 0 = leaf hashes), the tree state, signed
// checkpoints, wrapped key material and metadata. It knows nothing of keys, policy, JSON or
// hashing: it does not interpret record bytes, node hashes or the tree state.
//
// Writes that extend the log go through a CommitWriter: everything put into one writer becomes
// visible atomically and durably in Commit() (one storage transaction, one sync), or not at all.
// Commit() is conditional on the committed tree size still being the writer's base size, so
// several engines sharing one backend (PostgreSQL, later) never fork the log: the loser gets
// kAborted, re-reads the state and retries. The embedded RocksDB backend is used by exactly one
// process (it holds the data directory's lock), so there the condition always holds.
//
// Shared backends (PostgreSQL: several cairn nodes on one database) serialise commits with a
// lock taken in BeginCommit() and held until Commit() or the writer's destruction. When another
// engine extended the log since the engine's base, the writer reports the committed state under
// that lock (CommitWriter::rebased()) and the engine rebuilds on it before putting anything, so
// nodes never fork the log and a commit never fails merely because another node won a race.
// An engine that expects no other writer may instead BeginOptimisticCommit(): that writer sends
// its rows without the lock (Stage(), while the engine's previous group is still committing) and
// takes the lock only in Commit(), which then fails with kAborted, writing nothing, if another
// engine extended the log meanwhile. Such a backend also tells the engine what other engines
// changed (SetChangeListener).
//
// Errors: kNotFound for a missing key, kIOError for backend failures, kDataLoss for bytes the
// backend itself cannot decode (a corrupt key or value), kFailedPrecondition for a store of
// another format version. Backends never throw across this interface.
//
// Thread safety: a LogStore is safe for concurrent use by many threads. A CommitWriter is used by
// one thread at a time; an engine has at most two open (the group committing and the next one).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cairn::storage {

// On-disk format version of the store's own layout; stored in metadata at creation.
inline constexpr uint32_t kStoreFormatVersion = 1;

// The head of one stream: what the sequencer needs to append the next event.
struct StreamHead {
  uint64_t next_version = 0;      // number of events in the stream (the next version to assign)
  uint64_t last_position = 0;     // position of version next_version-1; meaningless if next_version==0
  std::string last_leaf_hash;     // 32 bytes: leaf hash of version next_version-1 (chain link)
  bool deleted = false;           // tombstoned: further appends fail
  bool operator==(const StreamHead&) const = default;
};

// Whether a head read back can be one the engine wrote: a 32-byte chain link whenever the stream
// has events (none, or one, when it has none). A store returns kDataLoss for a head that is not,
// instead of handing the engine a chain link it cannot use.
inline bool WellFormed(const StreamHead& head) {
  constexpr size_t kLeafHashSizeBytes = 32;
  return head.last_leaf_hash.size() == kLeafHashSizeBytes ||
         (head.next_version == 0 && head.last_leaf_hash.empty());
}

// The Merkle tree's committed state: its size and the engine's opaque encoding of the compact
// range (the hashes of the full subtrees on the right edge).
//
// On a shared() store the state also carries the engine's opaque, sealed summary of the group
// that brought the tree to `size` (positions [group_from, size); engine/group_summary.h), so that
// the node locking the state next learns that group without reading its records. Empty: none
// (the writer sent none, or the store keeps none: a store that is not shared() may drop it).
struct TreeState {
  uint64_t size = 0;
  std::string compact_range;
  uint64_t group_from = 0;
  std::string group_summary{};
};

// Identifies the hash of a full subtree: leaves [index << level, (index + 1) << level).
struct NodeKey {
  uint8_t level = 0;
  uint64_t index = 0;
};

struct StreamIndexEntry {
  uint64_t version = 0;
  uint64_t position = 0;
};

// One group commit. Not thread-safe. Put* calls only buffer; nothing is visible before Commit().
class CommitWriter {
 public:
  virtual ~CommitWriter() = default;

  virtual void PutRecord(uint64_t position, std::string_view stored_record) = 0;
  // Versions of a stream are put in increasing order; consecutive versions at consecutive
  // positions may be stored as one run.
  virtual void PutStreamIndex(std::string_view stream_id, uint64_t version, uint64_t position) = 0;
  virtual void PutStreamHead(std::string_view stream_id, const StreamHead& head) = 0;
  // hash: 32 bytes. Nodes of one level are put in index order with no gaps across commits (as
  // a growing Merkle tree completes them), so a backend may pack neighbours into one value.
  virtual void PutNode(NodeKey key, std::string_view hash) = 0;
  virtual void PutTreeState(const TreeState& state) = 0;
  // Optimistic writers (BeginOptimisticCommit) of a shared backend: sends the records, index
  // entries and nodes put so far to the backend, still invisible to readers, so that this work
  // overlaps the previous commit. kAborted when another engine has written those positions
  // (nothing of this writer will be committed). A no-op for other writers.
  virtual Status Stage() { return Status::Ok(); }
  // Atomically and durably applies every put (one sync). Fails with kAborted if the committed
  // tree size is no longer the writer's base size; then nothing was written. The writer is spent
  // afterwards either way. A shared backend may release its commit lock before the sync (another
  // engine may then read the commit and build on it); Commit() returns once it is durable.
  virtual Status Commit() = 0;
  // Ends a writer whose group writes nothing (releasing a shared backend's commit lock) and
  // returns once everything the engine read since the writer began — the rebased() state, stream
  // heads — is durable; an error when that cannot be confirmed (the engine must then forget it).
  // The writer is spent afterwards. Ok at once for a single-engine backend.
  virtual Status FinishWithoutWriting() { return Status::Ok(); }
  // Bytes buffered so far (for batch size limits and metrics).
  virtual size_t buffered_size_bytes() const = 0;
  // Set when the committed log is no longer at the base this writer was begun on (another engine
  // sharing the store extended it): the committed state, read under the writer's commit lock, so
  // it stays current until Commit(). The engine must rebuild its view on it and commit on top of
  // it. Always nullopt for a single-engine backend. It may not be durable yet (see Commit()): it
  // is once this writer's Commit() or FinishWithoutWriting() succeeds.
  virtual const std::optional<TreeState>& rebased() const {
    static const std::optional<TreeState> kNone;
    return kNone;
  }
};

// What other engines sharing a store changed. Called on a backend thread; each callback must be
// quick and must not call back into the store.
struct ChangeListener {
  std::function<void(uint64_t tree_size)> on_commit;  // another engine committed up to tree_size
  std::function<void(std::string_view name)> on_key_destroyed;  // DestroyKeyMaterial elsewhere
  // Notifications may have been missed (the backend reconnected): every cached view of the log
  // and of key material must be re-read.
  std::function<void()> on_resync;
};

// What DestroyKeyMaterials left undone. The names are deleted either way.
struct DestroyReport {
  // The rows' bytes may still be in the store's files: on PostgreSQL, transactions older than
  // the delete still run (their snapshots may see the rows, so the table rewrite kept them), or
  // the rewrite could not take the key table's lock in time. The store that answered purges
  // again in the background until it succeeds (while it stays open), as does the next destroy.
  bool purge_pending = false;
  int64_t snapshots_remaining = 0;  // how many such transactions there were (0: none, or a lock)
};

// What a backup made by LogStore::CreateBackup holds.
struct BackupFacts {
  uint64_t tree_size = 0;        // events in the copy
  uint64_t checkpoint_size = 0;  // the tree size of its latest signed checkpoint (0: none)
  std::string checkpoint_note;   // that checkpoint's signed note ("" when none)
};

class LogStore {
 public:
  virtual ~LogStore() = default;

  // Starts a group commit extending the log from `base_tree_size`. A shared backend takes the
  // commit lock here (waiting for another engine's commit to finish) and may return a rebased
  // writer (see CommitWriter::rebased()).
  virtual Result<std::unique_ptr<CommitWriter>> BeginCommit(uint64_t base_tree_size) = 0;
  // Like BeginCommit, but a shared backend takes no lock yet and never rebases: the writer's
  // Commit() takes the lock and fails with kAborted if the log is no longer at `base_tree_size`.
  // For an engine that has seen no other writer lately; the same as BeginCommit elsewhere.
  virtual Result<std::unique_ptr<CommitWriter>> BeginOptimisticCommit(uint64_t base_tree_size) {
    return BeginCommit(base_tree_size);
  }
  // False when BeginOptimisticCommit takes the commit lock at once anyway (a shared backend
  // configured not to commit optimistically): the engine then begins a group only once its
  // previous group's commit finished, as it does under contention, since a group holding the
  // lock would block that commit's own in-doubt resolution.
  virtual bool commits_optimistically() const { return true; }

  // OK while the store can take writes; otherwise why not (kResourceExhausted: the disk is full;
  // kUnavailable: a write error it has not resumed from, or one that needs a restart). Where the
  // store can resume in place it tries to first, so that a caller polling it (/readyz) sees a
  // store that no write reaches become writable again once the fault is gone. Thread-safe; may
  // do I/O while a write error lasts (callers bound how often they ask).
  virtual Status WriteHealth() { return Status::Ok(); }

  // Copies the whole store, consistently, into the new directory `dir` (which must not exist;
  // created owner-only) while commits go on: the copy holds a prefix of the commits, each one
  // entirely or not at all, and opens as a store of this backend. kAlreadyExists when `dir`
  // exists; kFailedPrecondition for a backend whose database has backups of its own
  // (PostgreSQL: use them); kIOError when the copy fails (a partial copy is removed).
  virtual Result<BackupFacts> CreateBackup(const std::string& dir) {
    (void)dir;
    return Status::FailedPrecondition(
        "this storage backend is backed up with its database's own backups");
  }

  // True when other processes may extend the log concurrently (PostgreSQL); the engine then
  // expects rebased writers and listens for changes.
  virtual bool shared() const { return false; }
  // A lock that one process of a shared store holds at a time, for work that must not run on two
  // nodes at once (KEK rotation: two nodes making the same new KEK version would each make their
  // own). Held until the returned handle is destroyed, or the process dies. kAborted at once when
  // another process holds it; kUnavailable when the backend cannot be reached. A store of one
  // process returns a handle that locks nothing (the caller's own mutex serialises).
  class NodeLock {
   public:
    virtual ~NodeLock() = default;
  };
  enum class NodeLockKind { kKekRotation };
  virtual Result<std::unique_ptr<NodeLock>> TryLockAcrossNodes(NodeLockKind kind) {
    return std::make_unique<NodeLock>();
  }
  // Installs the listener for other engines' changes (replacing any earlier one; an empty
  // listener stops the calls). Single-engine backends never call it.
  virtual void SetChangeListener(ChangeListener listener) {}

  // --- the log ---
  // The committed tree state; size 0 and an empty compact range for a new store. Durable: on a
  // shared backend, a state whose commit may still be syncing is made durable first.
  virtual Result<TreeState> ReadTreeState() = 0;
  // The committed tree state with, on a shared() store, the summary of the group that brought it
  // to its size (group_from, group_summary; empty when that group left none), read without
  // locking. A store that keeps no summaries returns ReadTreeState().
  virtual Result<TreeState> ReadTreeStateWithSummary() { return ReadTreeState(); }
  // nullopt when the stream has never been written.
  virtual Result<std::optional<StreamHead>> ReadStreamHead(std::string_view stream_id) = 0;
  virtual Result<std::string> ReadRecord(uint64_t position) = 0;
  // Calls `fn(position, stored_record)` for records at positions >= from_position in ascending
  // order, at most `limit` of them, until `fn` returns false. The view is valid during the call.
  virtual Status ScanRecords(uint64_t from_position, uint64_t limit,
                             const std::function<bool(uint64_t, std::string_view)>& fn) = 0;
  // Index entries of a stream starting at `from_version` (inclusive), ascending or (backwards)
  // descending, at most `limit`.
  virtual Result<std::vector<StreamIndexEntry>> ReadStreamIndex(std::string_view stream_id,
                                                                uint64_t from_version,
                                                                bool backwards, uint64_t limit) = 0;
  // Reads several nodes in one round trip; kNotFound names the first missing node.
  virtual Status ReadNodes(std::span<const NodeKey> keys, std::vector<std::string>* hashes) = 0;
  // Calls `fn(index, hash)` for stored leaf hashes (level-0 nodes) from `from_index` ascending.
  virtual Status ScanLeafHashes(uint64_t from_index, uint64_t limit,
                                const std::function<bool(uint64_t, std::string_view)>& fn) = 0;
  // Calls `fn(stream_id, head)` for every stream head, in stream id order.
  virtual Status ScanStreamHeads(
      const std::function<bool(std::string_view, const StreamHead&)>& fn) = 0;

  // --- checkpoints (signed notes, keyed by tree size) ---
  virtual Status PutCheckpoint(uint64_t tree_size, std::string_view signed_note) = 0;  // durable
  // The checkpoint with the largest tree size; nullopt if none.
  virtual Result<std::optional<std::pair<uint64_t, std::string>>> ReadLatestCheckpoint() = 0;
  // All checkpoints in ascending tree size.
  virtual Status ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) = 0;

  // --- wrapped key material and metadata (small values, durable on return) ---
  virtual Status PutKeyMaterial(std::string_view name, std::string_view wrapped) = 0;
  // Stores `wrapped` under `name` only if no key material has that name (atomically, also across
  // engines sharing the store); returns whether it was stored.
  virtual Result<bool> PutKeyMaterialIfAbsent(std::string_view name, std::string_view wrapped) = 0;
  // Replaces the key material `name` with `wrapped` only if it still holds exactly `expected`
  // (atomically, also across engines sharing the store); returns whether it was replaced. Key
  // material destroyed meanwhile stays destroyed: a re-wrap never brings a forgotten key back.
  virtual Result<bool> ReplaceKeyMaterialIf(std::string_view name, std::string_view expected,
                                            std::string_view wrapped) = 0;
  virtual Result<std::optional<std::string>> ReadKeyMaterial(std::string_view name) = 0;
  // Calls `fn(name, wrapped)` for every key material whose name starts with `prefix` (empty: all),
  // in ascending byte order of names, until `fn` returns false. The views are valid during the
  // call only. `fn` must not call DestroyKeyMaterial (a backend may hold files open during the
  // scan, and destruction waits for them); collect the names and destroy after the scan.
  virtual Status ScanKeyMaterial(
      std::string_view prefix,
      const std::function<bool(std::string_view name, std::string_view wrapped)>& fn) = 0;
  // As ScanKeyMaterial, for names greater than `start_after` only (empty: from the first): the
  // next page of a listing. Backends seek to it; this default skips up to it.
  virtual Status ScanKeyMaterialAfter(
      std::string_view prefix, std::string_view start_after,
      const std::function<bool(std::string_view name, std::string_view wrapped)>& fn) {
    return ScanKeyMaterial(prefix, [&](std::string_view name, std::string_view wrapped) {
      return name <= start_after || fn(name, wrapped);
    });
  }
  // Deletes and makes the bytes physically unrecoverable from the store's files before returning
  // (RocksDB: flush + compact the range so no SST or WAL still holds them).
  virtual Status DestroyKeyMaterial(std::string_view name) = 0;
  // DestroyKeyMaterial of every name (absent ones are fine), with one purge of the files for all
  // of them where the backend can (RocksDB: one flush and compaction; PostgreSQL: one VACUUM
  // FULL). At most kDestroyBatchNamesMax names (a subject's key and use row per version). On
  // success the names are deleted (no read returns them again); the report says whether their
  // bytes may still be in the store's files.
  static constexpr size_t kDestroyBatchNamesMax = 8192;
  virtual Result<DestroyReport> DestroyKeyMaterials(std::span<const std::string> names) {
    CAIRN_RETURN_IF_ERROR(CheckDestroyBatch(names));
    for (const std::string& name : names) CAIRN_RETURN_IF_ERROR(DestroyKeyMaterial(name));
    return DestroyReport{};
  }
  // DestroyKeyMaterials of the names that still hold exactly the bytes given (name, expected),
  // and no other: a name rewritten meanwhile (by another engine sharing the store) keeps its new
  // bytes. The compare and the delete are one atomic step in backends that engines share; this
  // default, for single-engine backends, reads and compares first. Returns the report and, in
  // `destroyed` (may be null), how many names were deleted.
  using ExpectedKeyMaterial = std::pair<std::string, std::string>;
  virtual Result<DestroyReport> DestroyKeyMaterialsIf(std::span<const ExpectedKeyMaterial> expected,
                                                      size_t* destroyed) {
    CAIRN_RETURN_IF_ERROR(CheckDestroyBatchSize(expected.size()));
    std::vector<std::string> names;
    for (const auto& [name, bytes] : expected) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadKeyMaterial(name));
      if (stored && *stored == bytes) names.push_back(name);
    }
    if (destroyed != nullptr) *destroyed = names.size();
    return DestroyKeyMaterials(names);
  }
  // Deletes the key material `name` without purging its bytes from the store's files: only for
  // key material that never protected anything (a key made and then lost to another engine's in
  // a race). Cheap where DestroyKeyMaterial is not (PostgreSQL: no wait for older snapshots, no
  // rewrite of the key table). This default destroys it.
  virtual Status DeleteUnusedKeyMaterial(std::string_view name) { return DestroyKeyMaterial(name); }
  // The batch bound of DestroyKeyMaterials, for backends that override it.
  static Status CheckDestroyBatch(std::span<const std::string> names) {
    return CheckDestroyBatchSize(names.size());
  }
  static Status CheckDestroyBatchSize(size_t names) {
    if (names <= kDestroyBatchNamesMax) return Status::Ok();
    return Status::InvalidArgument("at most " + std::to_string(kDestroyBatchNamesMax) +
                                   " key material names at once");
  }
  virtual Status PutMeta(std::string_view name, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> ReadMeta(std::string_view name) = 0;
  // Stores `value` unless `name` already has one (then nothing changes); durable on return. A
  // store that several processes share makes this atomic, so that of nodes that start together
  // and each propose a value, exactly one value wins: read it back with ReadMeta. The default
  // (read, then put) is for a store that one process owns.
  virtual Status PutMetaIfAbsent(std::string_view name, std::string_view value) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadMeta(name));
    return stored ? Status::Ok() : PutMeta(name, value);
  }
  // Calls `fn(name, value)` for every metadata entry whose name starts with `prefix` (empty: all),
  // in ascending byte order of names, until `fn` returns false; the views are valid during the
  // call only. Entries the backend keeps for its own layout (RocksDB's format version) are not
  // listed: they are not the engine's. For copying a log between backends (`cairn migrate`).
  virtual Status ScanMeta(
      std::string_view prefix,
      const std::function<bool(std::string_view name, std::string_view value)>& fn) = 0;
};

}  // namespace cairn::storage
