// GET /readyz on the admin listener: 200 "ready" while the store can take writes, 503 "not
// ready: <why>" otherwise (a full disk, a write error not resumed from, one that needs a
// restart: storage::LogStore::WriteHealth), so that a load balancer stops sending appends to a
// node that would refuse them. Reads still work on such a node; /healthz stays 200.
//
// The store is asked at most once per interval_ms (a full store tries to resume when asked, which
// costs a flush); other probes get the last answer. The route has no authentication, so a peer
// probing in a loop costs no more than one check per interval.
//
// Thread safety: Probe() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "common/status.h"
#include "server/admin_http.h"

namespace cairn::server {

inline constexpr int64_t kReadinessCheckIntervalMs = 1000;

class ReadinessRoute {
 public:
  // `health` answers whether the store can take writes (LogStore::WriteHealth); `now_ms` is a
  // monotonic clock (tests step it).
  ReadinessRoute(std::function<Status()> health, std::function<int64_t()> now_ms,
                 int64_t interval_ms = kReadinessCheckIntervalMs);

  HttpResponse Probe();

 private:
  const std::function<Status()> health_;
  const std::function<int64_t()> now_ms_;
  const int64_t interval_ms_;
  std::mutex mu_;
  bool checked_ = false;       // guarded by mu_
  int64_t checked_at_ms_ = 0;  // guarded by mu_
  Status last_;                // guarded by mu_
};

}  // namespace cairn::server
