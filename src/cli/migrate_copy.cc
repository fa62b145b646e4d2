// CopyLog: the log's parts in order — records with their Merkle nodes (chunk by chunk, each with
// the tree state of its end), the stream index and heads, checkpoints, key material, metadata,
// and "initialized" last.
#include "cli/migrate_copy.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/event_store.h"
#include "integrity/merkle.h"

namespace cairn::cli {
namespace {

using storage::CommitWriter;
using storage::LogStore;
using storage::NodeKey;
using storage::StreamHead;
using storage::TreeState;

constexpr size_t kHashSizeBytes = 32;

Result<std::unique_ptr<CommitWriter>> BeginOnTarget(LogStore& target, uint64_t base_tree_size) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CommitWriter> writer, target.BeginCommit(base_tree_size));
  if (writer->rebased()) {
    return Status::Aborted("the target changed during the copy: another process writes to it");
  }
  return writer;
}

// Records and Merkle nodes, chunk by chunk, keeping the compact range of the copied prefix so
// that each chunk's commit carries the tree state of its end (the last one: the source's own).
class TreeCopier {
 public:
  TreeCopier(LogStore& source, LogStore& target, TreeState source_state, CopyReport* report)
      : source_(source), target_(target), state_(std::move(source_state)), report_(report) {}

  Status Run() {
    for (uint64_t chunks = 0; range_.size() < state_.size; ++chunks) {
      assert(chunks < state_.size);  // every chunk copies at least one record
      CAIRN_RETURN_IF_ERROR(CopyChunk());
    }
    return Status::Ok();
  }

 private:
  Status CopyChunk() {
    const uint64_t begin = range_.size();
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CommitWriter> writer, BeginOnTarget(target_, begin));
    CAIRN_ASSIGN_OR_RETURN(uint64_t end, CopyRecords(*writer, begin));
    CAIRN_RETURN_IF_ERROR(CopyNodes(*writer, begin, end));
    assert(range_.size() == end);
    writer->PutTreeState(end == state_.size ? state_ : TreeState{end, range_.Serialize()});
    CAIRN_RETURN_IF_ERROR(writer->Commit());
    report_->records += end - begin;
    return Status::Ok();
  }

  // Puts records from `begin` on until the chunk is full; returns the chunk's end.
  Result<uint64_t> CopyRecords(CommitWriter& writer, uint64_t begin) {
    const uint64_t wanted = std::min(kCopyChunkRecordsMax, state_.size - begin);
    uint64_t next = begin;
    bool full = false;
    CAIRN_RETURN_IF_ERROR(source_.ScanRecords(
        begin, wanted, [&](uint64_t position, std::string_view record) {
          if (position != next) return false;
          writer.PutRecord(position, record);
          ++next;
          full = writer.buffered_size_bytes() >= kCopyChunkSizeBytesMax;
          return !full;
        }));
    if (next == begin || (next - begin < wanted && !full)) {
      return Status::DataLoss("the source has no record at position " + std::to_string(next));
    }
    return next;
  }

  // Puts the leaf hashes [begin, end) and every parent node they complete, as the source has it.
  Status CopyNodes(CommitWriter& writer, uint64_t begin, uint64_t end) {
    std::vector<NodeKey> parents;
    std::vector<std::pair<integrity::NodeId, integrity::Hash>> completed;
    uint64_t next = begin;
    CAIRN_RETURN_IF_ERROR(source_.ScanLeafHashes(
        begin, end - begin, [&](uint64_t index, std::string_view hash) {
          if (index != next || hash.size() != kHashSizeBytes) return false;
          writer.PutNode(NodeKey{0, index}, hash);
          integrity::Hash leaf;
          std::memcpy(leaf.data(), hash.data(), kHashSizeBytes);
          completed.clear();
          range_.Append(leaf, &completed);
          for (const auto& [id, unused] : completed) {
            if (id.level > 0) parents.push_back(NodeKey{id.level, id.index});
          }
          ++next;
          return true;
        }));
    if (next != end) {
      return Status::DataLoss("the source has no valid leaf hash at index " + std::to_string(next));
    }
    std::vector<std::string> hashes;
    if (!parents.empty()) {
      CAIRN_RETURN_IF_ERROR(source_.ReadNodes(parents, &hashes));
    }
    if (hashes.size() != parents.size()) {
      return Status::DataLoss("the source's Merkle nodes are incomplete");
    }
    for (size_t i = 0; i < parents.size(); ++i) {
      if (hashes[i].size() != kHashSizeBytes) {
        return Status::DataLoss("a source Merkle node is malformed");
      }
      writer.PutNode(parents[i], hashes[i]);
    }
    report_->nodes += (end - begin) + parents.size();
    return Status::Ok();
  }

  LogStore& source_;
  LogStore& target_;
  const TreeState state_;
  CopyReport* report_;
  integrity::CompactRange range_;  // of the records copied so far
};

// Commit writers on the target at a fixed tree size (stream index and heads only), each
// committed once it holds kCopyChunkRecordsMax puts or kCopyChunkSizeBytesMax bytes.
class ChunkedWriter {
 public:
  ChunkedWriter(LogStore& target, uint64_t tree_size) : target_(target), tree_size_(tree_size) {}

  Result<CommitWriter*> Writer() {
    if (writer_ == nullptr) {
      CAIRN_ASSIGN_OR_RETURN(writer_, BeginOnTarget(target_, tree_size_));
    }
    return writer_.get();
  }
  // Counts `puts` made through Writer(); commits when the writer is full.
  Status Counted(uint64_t puts) {
    assert(writer_ != nullptr);
    puts_ += puts;
    if (puts_ < kCopyChunkRecordsMax && writer_->buffered_size_bytes() < kCopyChunkSizeBytesMax) {
      return Status::Ok();
    }
    return Flush();
  }
  Status Flush() {
    if (writer_ == nullptr) return Status::Ok();
    std::unique_ptr<CommitWriter> writer = std::move(writer_);
    puts_ = 0;
    return writer->Commit();
  }

 private:
  LogStore& target_;
  const uint64_t tree_size_;
  std::unique_ptr<CommitWriter> writer_;
  uint64_t puts_ = 0;
};

// One stream's index entries, page by page, then its head.
Status CopyStream(LogStore& source, ChunkedWriter& out, std::string_view stream,
                  const StreamHead& head, CopyReport* report) {
  const uint64_t pages_max = head.next_version / kCopyChunkRecordsMax + 1;
  uint64_t from_version = 0;
  for (uint64_t page = 0;; ++page) {
    if (page > pages_max) {
      return Status::DataLoss("a source stream index holds more entries than its head");
    }
    CAIRN_ASSIGN_OR_RETURN(
        std::vector<storage::StreamIndexEntry> entries,
        source.ReadStreamIndex(stream, from_version, /*backwards=*/false, kCopyChunkRecordsMax));
    CAIRN_ASSIGN_OR_RETURN(CommitWriter * writer, out.Writer());
    for (const storage::StreamIndexEntry& e : entries) {
      writer->PutStreamIndex(stream, e.version, e.position);
    }
    report->index_entries += entries.size();
    CAIRN_RETURN_IF_ERROR(out.Counted(entries.size()));
    if (entries.size() < kCopyChunkRecordsMax) break;
    from_version = entries.back().version + 1;
  }
  CAIRN_ASSIGN_OR_RETURN(CommitWriter * writer, out.Writer());
  writer->PutStreamHead(stream, head);
  ++report->streams;
  return out.Counted(1);
}

Status CopyStreams(LogStore& source, LogStore& target, uint64_t tree_size, CopyReport* report) {
  ChunkedWriter out(target, tree_size);
  Status copied;
  CAIRN_RETURN_IF_ERROR(
      source.ScanStreamHeads([&](std::string_view stream, const StreamHead& head) {
        copied = CopyStream(source, out, stream, head, report);
        return copied.ok();
      }));
  CAIRN_RETURN_IF_ERROR(copied);
  return out.Flush();
}

// Checkpoints, key material and metadata except "initialized": one durable put each.
Status CopySmallMaps(LogStore& source, LogStore& target, CopyReport* report) {
  Status put;
  auto forward = [&put](Status s, uint64_t* counter) {
    put = std::move(s);
    if (put.ok()) ++*counter;
    return put.ok();
  };
  CAIRN_RETURN_IF_ERROR(source.ScanCheckpoints([&](uint64_t size, std::string_view note) {
    return forward(target.PutCheckpoint(size, note), &report->checkpoints);
  }));
  CAIRN_RETURN_IF_ERROR(put);
  CAIRN_RETURN_IF_ERROR(
      source.ScanKeyMaterial("", [&](std::string_view name, std::string_view wrapped) {
        return forward(target.PutKeyMaterial(name, wrapped), &report->key_materials);
      }));
  CAIRN_RETURN_IF_ERROR(put);
  CAIRN_RETURN_IF_ERROR(source.ScanMeta("", [&](std::string_view name, std::string_view value) {
    if (name == kMetaInitialized || name == engine::kMetaUnprovenCopy) return true;  // by CopyLog
    return forward(target.PutMeta(name, value), &report->meta_entries);
  }));
  return put;
}

}  // namespace

Status CheckTargetEmpty(LogStore& target) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> initialized, target.ReadMeta(kMetaInitialized));
  if (initialized) return Status::AlreadyExists("the target database already holds a cairn log");
  bool found = false;
  auto any = [&found](auto&&...) {
    found = true;
    return false;
  };
  CAIRN_RETURN_IF_ERROR(target.ScanMeta("", any));
  CAIRN_RETURN_IF_ERROR(target.ScanKeyMaterial("", any));
  CAIRN_RETURN_IF_ERROR(target.ScanCheckpoints(any));
  CAIRN_RETURN_IF_ERROR(target.ScanRecords(0, 1, any));
  CAIRN_RETURN_IF_ERROR(target.ScanStreamHeads(any));
  CAIRN_ASSIGN_OR_RETURN(TreeState state, target.ReadTreeState());
  if (found || state.size > 0) {
    return Status::FailedPrecondition(
        "the target database holds cairn data but no complete log (an interrupted migrate?); "
        "use an empty database, or drop its cairn_* tables, and run migrate again");
  }
  return Status::Ok();
}

Result<CopyReport> CopyLog(LogStore& source, LogStore& target) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> initialized, source.ReadMeta(kMetaInitialized));
  if (!initialized) {
    return Status::FailedPrecondition("the source holds no completely initialised log");
  }
  CAIRN_ASSIGN_OR_RETURN(TreeState state, source.ReadTreeState());
  CopyReport report;
  CAIRN_RETURN_IF_ERROR(TreeCopier(source, target, state, &report).Run());
  CAIRN_RETURN_IF_ERROR(CopyStreams(source, target, state.size, &report));
  CAIRN_RETURN_IF_ERROR(CopySmallMaps(source, target, &report));
  CAIRN_ASSIGN_OR_RETURN(TreeState after, source.ReadTreeState());
  if (after.size != state.size) return Status::Aborted("the source changed during the copy");
  // Unproven until `cairn migrate` clears it after the proof: an interrupted proof leaves a copy
  // that no node opens (EventStore::Open), so nothing can be appended to what a failed proof drops.
  CAIRN_RETURN_IF_ERROR(target.PutMeta(engine::kMetaUnprovenCopy, "1"));
  CAIRN_RETURN_IF_ERROR(target.PutMeta(kMetaInitialized, *initialized));
  ++report.meta_entries;
  return report;
}

}  // namespace cairn::cli
