// PgLogStore's listener: LISTEN cairn_commit / cairn_key on a dedicated connection, turned into
// ChangeListener calls. Reconnects with backoff; after a reconnect calls on_resync, because
// notifications sent while it was away are lost.
#include <pqxx/connection>
#include <pqxx/notification>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "storage/postgres/pg_store.h"

namespace cairn::storage::pg {

namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& c, const std::string& channel,
           std::function<void(const std::string&)> on_payload)
      : pqxx::notification_receiver(c, channel), on_payload_(std::move(on_payload)) {}
  void operator()(const std::string& payload, int) override { on_payload_(payload); }

 private:
  std::function<void(const std::string&)> on_payload_;
};

constexpr long kWaitUs = 200'000;  // how often the thread checks for shutdown

}  // namespace

void PgLogStore::SetChangeListener(ChangeListener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

void PgLogStore::Notify(const std::string& channel, const std::string& payload) {
  std::lock_guard<std::mutex> lock(listener_mu_);  // SetChangeListener waits out a running call
  if (channel == kCommitChannel) {
    char* end = nullptr;
    const unsigned long long size = std::strtoull(payload.c_str(), &end, 10);
    const bool parsed = end != payload.c_str() && *end == '\0';
    // Sent only once the commit is durable (by a durability barrier or a synchronous COMMIT).
    if (parsed) NoteDurable(size);
    if (parsed && listener_.on_commit) listener_.on_commit(size);
  } else if (channel == kKeyChannel && listener_.on_key_destroyed) {
    listener_.on_key_destroyed(payload);
  } else if (channel.empty() && listener_.on_resync) {
    listener_.on_resync();
  }
}

void PgLogStore::FirstAttemptDone() {
  {
    std::lock_guard<std::mutex> lock(first_attempt_mu_);
    first_attempt_done_ = true;
  }
  first_attempt_cv_.notify_all();
}

void PgLogStore::RunListener() {
  int64_t backoff_ms = 0;
  // After the first attempt, any (re)connection may have missed notifications: resync then.
  bool connected_before = false;
  while (!stopping_.load()) {
    if (backoff_ms > 0) {
      for (int64_t slept = 0; slept < backoff_ms && !stopping_.load(); slept += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (stopping_.load()) return;
    }
    auto conn = Connect(conninfo_);
    if (!conn.ok()) {
      backoff_ms = backoff_ms == 0 ? options_.backoff_ms_min
                                   : std::min(backoff_ms * 2, options_.backoff_ms_max);
      connected_before = true;  // the store is open without a listener: notifications are lost
      FirstAttemptDone();
      continue;
    }
    try {
      Receiver commits(**conn, kCommitChannel, [this](const std::string& p) { Notify(kCommitChannel, p); });
      Receiver keys(**conn, kKeyChannel, [this](const std::string& p) { Notify(kKeyChannel, p); });
      backoff_ms = 0;
      if (connected_before) Notify("", "");  // missed notifications: re-read everything
      connected_before = true;
      FirstAttemptDone();
      while (!stopping_.load()) (*conn)->await_notification(0, kWaitUs);
    } catch (const std::exception&) {
      backoff_ms = options_.backoff_ms_min;  // the connection broke: reconnect
      connected_before = true;
      FirstAttemptDone();
    }
  }
}

}  // namespace cairn::storage::pg
