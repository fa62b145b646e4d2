// BlockArena: copies of byte strings packed into fixed blocks, for runs of records that must
// outlive the iterator that produced them (a scan's callback) without one allocation per record.
//
// A copy never moves once made, so another thread may read it while later ones are added. A
// string larger than a block gets a block of its own. Clear() drops every copy (and every block
// but one, kept for reuse).
//
// Thread safety: Copy() and Clear() by one thread at a time; the returned views may be read by
// any thread until Clear() or destruction.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace cairn {

class BlockArena {
 public:
  static constexpr size_t kBlockSizeBytes = size_t{1} << 20;

  BlockArena() = default;
  BlockArena(const BlockArena&) = delete;
  BlockArena& operator=(const BlockArena&) = delete;

  std::string_view Copy(std::string_view bytes);
  void Clear();

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* current_ = nullptr;  // the block being filled (always a kBlockSizeBytes one)
  size_t current_used_ = 0;
};

}  // namespace cairn
