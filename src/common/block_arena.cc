#include "common/block_arena.h"

#include <cassert>
#include <cstring>
#include <utility>

namespace cairn {

std::string_view BlockArena::Copy(std::string_view bytes) {
  if (bytes.size() > kBlockSizeBytes) {  // a block of its own, kept behind the current one
    auto own = std::make_unique_for_overwrite<char[]>(bytes.size());
    std::memcpy(own.get(), bytes.data(), bytes.size());
    std::string_view out(own.get(), bytes.size());
    blocks_.push_back(std::move(own));
    return out;
  }
  if (current_ == nullptr || kBlockSizeBytes - current_used_ < bytes.size()) {
    // Not zeroed: every byte handed out is written first (a zeroed block cost each ReadAll a
    // 1 MiB memset and its page faults, however few records it read).
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlockSizeBytes));
    current_ = blocks_.back().get();
    current_used_ = 0;
  }
  assert(current_used_ + bytes.size() <= kBlockSizeBytes);
  if (!bytes.empty()) std::memcpy(current_ + current_used_, bytes.data(), bytes.size());
  std::string_view out(current_ + current_used_, bytes.size());
  current_used_ += bytes.size();
  return out;
}

void BlockArena::Clear() {
  // Keep the current block (a full-size one) for the next run; drop the rest.
  std::unique_ptr<char[]> keep;
  for (auto& block : blocks_) {
    if (block.get() == current_) keep = std::move(block);
  }
  blocks_.clear();
  if (keep != nullptr) blocks_.push_back(std::move(keep));
  current_used_ = 0;
}

}  // namespace cairn
