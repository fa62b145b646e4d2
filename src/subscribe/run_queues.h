// RunQueues: the order in which the live hub's delivery threads serve their subscriptions.
//
// A subscription that is catching up (reading older events from storage) takes turns of up to
// LiveCursorLimits::scan_events_max events each, also when its filters match none of them; a
// live one (reading from the ring) takes short turns, and its client waits for them. With one
// FIFO, many catching-up subscriptions — one principal may hold hundreds — put every live
// subscriber behind all of their turns. So live subscriptions are served first, and catching-up
// ones get at least one turn in every kLiveTurnsPerCatchUpTurn + 1 while live ones wait, so that
// neither starves. Each queue is FIFO.
//
// Thread safety: none; the hub's mutex guards it.
#pragma once

#include <cassert>
#include <cstddef>
#include <deque>
#include <utility>

namespace cairn::subscribe {

template <typename T>
class RunQueues {
 public:
  static constexpr size_t kLiveTurnsPerCatchUpTurn = 4;

  void Push(T item, bool live) { (live ? live_ : catch_up_).push_back(std::move(item)); }
  bool empty() const { return live_.empty() && catch_up_.empty(); }
  size_t size() const { return live_.size() + catch_up_.size(); }
  void Clear() {
    live_.clear();
    catch_up_.clear();
    live_in_a_row_ = 0;
  }
  // The next to serve; requires !empty().
  T Pop() {
    assert(!empty());
    const bool live = !live_.empty() && (catch_up_.empty() || live_in_a_row_ < kLiveTurnsPerCatchUpTurn);
    std::deque<T>& from = live ? live_ : catch_up_;
    live_in_a_row_ = live ? live_in_a_row_ + 1 : 0;
    T item = std::move(from.front());
    from.pop_front();
    return item;
  }

 private:
  std::deque<T> live_;
  std::deque<T> catch_up_;
  size_t live_in_a_row_ = 0;  // live turns since the last catch-up turn
};

}  // namespace cairn::subscribe
