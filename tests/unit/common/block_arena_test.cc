// BlockArena: copies stay put and intact while later ones are added, large strings get their own
// block, and Clear() starts over.
#include "common/block_arena.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(BlockArena, CopiesStayValidAcrossBlocksAndLargeStrings) {
  BlockArena arena;
  std::vector<std::string> originals;
  std::vector<std::string_view> copies;
  // ~3 blocks of small strings, with two larger than a block among them.
  for (int i = 0; i < 3000; ++i) {
    std::string s(1000 + i % 97, static_cast<char>('a' + i % 26));
    if (i == 1234 || i == 2345) s.assign(BlockArena::kBlockSizeBytes + 10, 'Z');
    originals.push_back(s);
    copies.push_back(arena.Copy(s));
    ASSERT_NE(copies.back().data(), s.data());
  }
  for (size_t i = 0; i < originals.size(); ++i) ASSERT_EQ(copies[i], originals[i]) << i;
  EXPECT_EQ(arena.Copy("").size(), 0u);

  arena.Clear();
  std::string_view again = arena.Copy("after clear");
  EXPECT_EQ(again, "after clear");
}

}  // namespace
}  // namespace cairn
