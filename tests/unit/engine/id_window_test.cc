// The idempotency window keeps exactly the most recent `capacity` ids (FIFO), against a model.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>

#include "engine/id_window.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

TEST(IdWindow, KeepsExactlyTheNewestIdsAgainstAModel) {
  for (size_t capacity : {1u, 7u, 1000u, 4096u}) {
    IdWindow w(capacity);
    std::mt19937_64 rng(capacity);
    std::deque<EventIdKey> order;
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> model;
    // Few distinct high bits and clustered low bits: many keys share home slots.
    for (uint64_t n = 0; n < 20 * capacity + 50; ++n) {
      EventIdKey k{rng() % 3, rng() % (4 * capacity + 3)};
      const bool known = model.count({k.hi, k.lo}) > 0;
      w.Insert(k, {1, n, n});
      model[{k.hi, k.lo}] = n;
      if (!known) {
        order.push_back(k);
        if (order.size() > capacity) {
          model.erase({order.front().hi, order.front().lo});
          order.pop_front();
        }
      }
      ASSERT_EQ(w.size(), model.size());
    }
    for (uint64_t hi = 0; hi < 3; ++hi) {
      for (uint64_t lo = 0; lo < 4 * capacity + 3; ++lo) {
        const IdRecord* r = w.Find({hi, lo});
        auto it = model.find({hi, lo});
        ASSERT_EQ(r != nullptr, it != model.end()) << hi << "/" << lo;
        if (r != nullptr) {
          EXPECT_EQ(r->position, it->second);
        }
      }
    }
    w.Clear();
    EXPECT_EQ(w.size(), 0u);
    EXPECT_EQ(w.Find(order.back()), nullptr);
  }
}

TEST(IdWindow, ZeroCapacityRemembersNothing) {
  IdWindow w(0);
  w.Insert({1, 2}, {1, 0, 0});
  EXPECT_EQ(w.Find({1, 2}), nullptr);
}

}  // namespace
}  // namespace cairn::engine
