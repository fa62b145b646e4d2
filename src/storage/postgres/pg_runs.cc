#include "storage/postgres/pg_runs.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace cairn::storage::pg {

void IndexRunBuilder::Add(std::string_view stream_id, uint64_t version, uint64_t position) {
  auto [it, inserted] = open_.try_emplace(std::string(stream_id), runs_.size());
  if (!inserted) {
    IndexRun& run = runs_[it->second];
    assert(version >= run.first_version + run.count);  // a stream's versions increase
    if (version == run.first_version + run.count && position == run.first_position + run.count &&
        run.count < std::numeric_limits<int32_t>::max()) {
      ++run.count;
      return;
    }
    it->second = runs_.size();
  }
  runs_.push_back(IndexRun{it->first, version, position, 1});
}

void NodeRunBuilder::Add(NodeKey key, std::string_view hash) {
  assert(key.level < open_.size());
  assert(hash.size() == kHashSizeBytes);
  size_t& open = open_[key.level];
  if (open != kNone) {
    NodeRun& run = runs_[open];
    assert(key.index >= run.first_index + run.count());  // a level's indexes increase
    if (key.index == run.first_index + run.count() && run.count() < kNodeRunHashesMax) {
      run.hashes.append(hash);
      size_bytes_ += hash.size();
      return;
    }
  }
  open = runs_.size();
  NodeRun& run = runs_.emplace_back();
  run.level = key.level;
  run.first_index = key.index;
  run.hashes.reserve(kNodeRunHashesMax * kHashSizeBytes);
  run.hashes.append(hash);
  size_bytes_ += hash.size() + 16;
}

void ExpandIndexRuns(std::vector<IndexRun>* runs, uint64_t from_version, bool backwards,
                     uint64_t limit, std::vector<StreamIndexEntry>* out) {
  std::sort(runs->begin(), runs->end(), [backwards](const IndexRun& a, const IndexRun& b) {
    return backwards ? a.first_version > b.first_version : a.first_version < b.first_version;
  });
  uint64_t left = limit;
  for (const IndexRun& run : *runs) {
    assert(run.count > 0);
    const uint64_t last = run.first_version + run.count - 1;
    if (!backwards) {
      for (uint64_t v = std::max(from_version, run.first_version); v <= last && left > 0; ++v, --left) {
        out->push_back({v, run.first_position + (v - run.first_version)});
      }
    } else if (from_version >= run.first_version) {
      for (uint64_t v = std::min(from_version, last) + 1; v-- > run.first_version && left > 0; --left) {
        out->push_back({v, run.first_position + (v - run.first_version)});
      }
    }
    if (left == 0) return;
  }
}

}  // namespace cairn::storage::pg
