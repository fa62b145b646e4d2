// RunQueues: the order in which the live hub's delivery threads serve their subscriptions.
//
// A subscription that is catching up (reading older events from storage) takes turns of up to
// LiveCursorLimits::scan_events_max events each — milliseconds of decoding, also when its
// filters match none of them; a live one (reading from the ring) takes short turns, and its
// client waits for them. With one FIFO, many catching-up subscriptions — one principal may hold
// hundreds — put every live subscriber behind all of their turns, and live ones fall behind the
// ring and are ended. So the queues share the delivery threads' *time*: while both have work,
// catching-up turns get at most 1 / (kLiveTimePerCatchUpTime + 1) of it and live ones the rest
// (neither starves: each is served when its share is behind), and while live work waits at most
// one delivery thread runs a catching-up turn. Only turns taken while both queues had work
// count, over about kWindowNs (both halved beyond it); a pick that finds one queue empty forgets
// them, so time saved up alone is never spent later. Each queue is FIFO.
//
// Thread safety: none; the hub's mutex guards it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace cairn::subscribe {

template <typename T>
class RunQueues {
 public:
  static constexpr int64_t kLiveTimePerCatchUpTime = 4;
  static constexpr int64_t kWindowNs = 1'000'000'000;

  struct Turn {
    T item;
    bool live = false;
    bool contended = false;  // both queues had work when it was picked
  };

  void Push(T item, bool live) { (live ? live_ : catch_up_).push_back(std::move(item)); }
  bool empty() const { return live_.empty() && catch_up_.empty(); }
  size_t size() const { return live_.size() + catch_up_.size(); }
  void Clear() {
    live_.clear();
    catch_up_.clear();
    live_ns_ = catch_up_ns_ = 0;
    catch_up_running_ = 0;
  }
  // The next to serve; requires !empty(). Every turn must be reported with Served().
  Turn Pop() {
    assert(!empty());
    const bool contended = !live_.empty() && !catch_up_.empty();
    bool live = !live_.empty();
    if (contended) {
      live = catch_up_running_ > 0 || catch_up_ns_ * kLiveTimePerCatchUpTime >= live_ns_;
    } else {
      live_ns_ = catch_up_ns_ = 0;  // a new contention starts with live turns
    }
    if (!live) ++catch_up_running_;
    std::deque<T>& from = live ? live_ : catch_up_;
    Turn turn{std::move(from.front()), live, contended};
    from.pop_front();
    return turn;
  }
  // The turn `turn` (its fields other than item) took `elapsed_ns`.
  void Served(const Turn& turn, int64_t elapsed_ns) {
    assert(elapsed_ns >= 0);
    if (!turn.live && catch_up_running_ > 0) --catch_up_running_;  // 0 after a Clear()
    if (!turn.contended) return;
    // At least 1 ns: a turn too short for the clock still counts as one.
    (turn.live ? live_ns_ : catch_up_ns_) += elapsed_ns > 0 ? elapsed_ns : 1;
    while (live_ns_ + catch_up_ns_ > kWindowNs) {
      live_ns_ /= 2;
      catch_up_ns_ /= 2;
    }
  }

 private:
  std::deque<T> live_;
  std::deque<T> catch_up_;
  int64_t live_ns_ = 0;          // recent time of contended live turns
  int64_t catch_up_ns_ = 0;      // recent time of contended catching-up turns
  size_t catch_up_running_ = 0;  // catching-up turns picked and not yet Served()
};

}  // namespace cairn::subscribe
