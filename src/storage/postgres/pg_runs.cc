#include "storage/postgres/pg_runs.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace cairn::storage::pg {

void RecordRunBuilder::Add(uint64_t position, std::string_view record) {
  assert(record.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  if (!runs_.empty()) {
    RecordRun& run = runs_.back();
    assert(position == run.first_position + run.count());  // positions follow each other
    if (run.count() < kRecordRunRecordsMax && run.records.size() + record.size() <= kRecordRunBytesMax) {
      run.records.append(record);
      run.ends.push_back(static_cast<int32_t>(run.records.size()));
      ++records_;
      size_bytes_ += record.size() + sizeof(int32_t);
      return;
    }
  }
  RecordRun& run = runs_.emplace_back();
  run.first_position = position;
  run.records.reserve(std::max(kRecordRunBytesMax, record.size()));
  run.records.append(record);
  run.ends.push_back(static_cast<int32_t>(run.records.size()));
  ++records_;
  size_bytes_ += record.size() + sizeof(int32_t) + 16;
}

std::string_view RecordRunBuilder::last_record() const {
  assert(!runs_.empty());
  const RecordRun& run = runs_.back();
  const size_t begin = run.count() >= 2 ? static_cast<size_t>(run.ends[run.count() - 2]) : 0;
  return std::string_view(run.records).substr(begin);
}

Status SplitRecordRun(uint64_t first_position, std::string_view ends_text, std::string_view records,
                      std::vector<std::string_view>* out) {
  auto malformed = [&](const char* what) {
    return Status::DataLoss("the record run at position " + std::to_string(first_position) +
                                " is malformed (" + what + ")",
                            static_cast<int64_t>(first_position));
  };
  if (ends_text.size() < 3 || ends_text.front() != '{' || ends_text.back() != '}') {
    return malformed("no end offsets");
  }
  out->clear();
  uint64_t begin = 0;
  size_t i = 1;
  while (i < ends_text.size()) {
    uint64_t end = 0;
    size_t digits = 0;
    for (; i < ends_text.size() && ends_text[i] >= '0' && ends_text[i] <= '9' && digits < 10; ++i, ++digits) {
      end = end * 10 + static_cast<uint64_t>(ends_text[i] - '0');
    }
    if (digits == 0 || i >= ends_text.size() || (ends_text[i] != ',' && ends_text[i] != '}')) {
      return malformed("bad end offset");
    }
    if (end < begin || end > records.size()) return malformed("end offsets out of order");
    out->push_back(records.substr(begin, end - begin));
    begin = end;
    if (ends_text[i] == '}') {
      if (i + 1 != ends_text.size()) return malformed("bad end offset");
      break;
    }
    ++i;
  }
  if (begin != records.size()) return malformed("bytes after the last record");
  return Status::Ok();
}

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
