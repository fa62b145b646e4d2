// GET /readyz on the admin listener: 200 "ready" while the store can take writes, 503 "not
// ready: <why>" otherwise (a full disk, a write error not resumed from, one that needs a
// restart: storage::LogStore::WriteHealth), so that a load balancer stops sending appends to a
// node that would refuse them. Reads still work on such a node; /healthz stays 200. (A
// PostgreSQL store reports ready: its outages show as UNAVAILABLE appends, and every node of a
// cluster would go unready together.)
//
// The store is asked on a thread of the route's own, at most once per interval_ms and only while
// probes come (a stopped store tries to resume when asked, which may flush for seconds): Probe()
// never waits for it and answers the last result, so the admin listener's one thread keeps
// serving /healthz and /metrics meanwhile. The first answer is the one the constructor got.
// The route has no authentication: a peer probing in a loop costs at most one check per
// interval.
//
// Thread safety: Probe() may be called from any thread. The destructor waits for a check under
// way.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/status.h"
#include "server/admin_http.h"

namespace cairn::server {

inline constexpr int64_t kReadinessCheckIntervalMs = 1000;

class ReadinessRoute {
 public:
  // `health` answers whether the store can take writes (LogStore::WriteHealth); `now_ms` is a
  // monotonic clock (tests step it). Asks `health` once before returning.
  ReadinessRoute(std::function<Status()> health, std::function<int64_t()> now_ms,
                 int64_t interval_ms = kReadinessCheckIntervalMs);
  ~ReadinessRoute();
  ReadinessRoute(const ReadinessRoute&) = delete;
  ReadinessRoute& operator=(const ReadinessRoute&) = delete;

  HttpResponse Probe();

 private:
  void Run();

  const std::function<Status()> health_;
  const std::function<int64_t()> now_ms_;
  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  Status last_;                // guarded by mu_
  int64_t checked_at_ms_ = 0;  // guarded by mu_: when the check behind last_ began
  bool wanted_ = false;        // guarded by mu_: a probe asked for a fresh check
  bool stop_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace cairn::server
