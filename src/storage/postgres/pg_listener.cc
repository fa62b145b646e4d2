// PgLogStore's listener: LISTEN cairn_commit / cairn_key on a dedicated connection, turned into
// ChangeListener calls. Reconnects with backoff; after a reconnect calls on_resync, because
// notifications sent while it was away are lost.
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/notification>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "common/decimal.h"
#include "common/steady_clock.h"
#include "storage/postgres/pg_store.h"

namespace cairn::storage::pg {

namespace {


class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& c, const std::string& channel,
           std::function<void(const std::string&, int)> on_payload)
      : pqxx::notification_receiver(c, channel), on_payload_(std::move(on_payload)) {}
  void operator()(const std::string& payload, int sender_pid) override { on_payload_(payload, sender_pid); }

 private:
  std::function<void(const std::string&, int)> on_payload_;
};

constexpr long kWaitUs = 200'000;  // how often the thread checks for shutdown
// A listening session that lasted this long resets the reconnect backoff when it drops.
constexpr int64_t kListenerStableMs = 10'000;

}  // namespace

void PgLogStore::SetChangeListener(ChangeListener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

void PgLogStore::Notify(const std::string& channel, const std::string& payload, int sender_pid) {
  std::optional<uint64_t> size;
  if (channel == kCommitChannel) {
    size = ParseDecimal(payload);  // strtoull would take "-1"
    // A cairn node sends it only once the commit is durable (by a durability barrier or a
    // synchronous COMMIT). Any role that can connect may NOTIFY, though: the size is taken as
    // durable only from a session of the role this node connects as (which could write the log
    // anyway); from anyone else the notification only wakes readers, who then make sure.
    // Asked before listener_mu_ is taken: the lookup waits for a pooled connection, and
    // SetChangeListener must not wait for that.
    if (size && senders_.IsOwnRole(sender_pid, [this](int pid) { return SessionOfOwnRole(pid); })) {
      NoteDurable(*size);
    }
  }
  std::lock_guard<std::mutex> lock(listener_mu_);  // SetChangeListener waits out a running call
  if (channel == kCommitChannel) {
    if (size && listener_.on_commit) listener_.on_commit(*size);
  } else if (channel == kKeyChannel && listener_.on_key_destroyed) {
    listener_.on_key_destroyed(payload);
  } else if (channel.empty() && listener_.on_resync) {
    listener_.on_resync();
  }
}

std::optional<bool> PgLogStore::SessionOfOwnRole(int pid) {
  bool own = false;
  const Status s = Run("checking a notification's sender", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r =
        tx.exec_params("SELECT usename = current_user FROM pg_stat_activity WHERE pid = $1", pid);
    own = r.size() == 1 && !r[0][0].is_null() && r[0][0].as<bool>();
  });
  if (!s.ok()) return std::nullopt;
  return own;
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
    commit_counters_.listener_connects.fetch_add(1, std::memory_order_relaxed);
    auto conn = Connect(conninfo_);
    if (!conn.ok()) {
      backoff_ms = backoff_ms == 0 ? options_.backoff_ms_min
                                   : std::min(backoff_ms * 2, options_.backoff_ms_max);
      connected_before = true;  // the store is open without a listener: notifications are lost
      FirstAttemptDone();
      continue;
    }
    const int64_t connected_at_ms = SteadyNowMs();
    try {
      // A standby (a DSN that still leads to a demoted primary) refuses LISTEN: checked first,
      // as the pool checks its connections, and retried with backoff like a failed connect.
      if (pqxx::nontransaction(**conn).exec("SHOW transaction_read_only")[0][0].as<std::string>() ==
          "on") {
        throw std::runtime_error("the server is read-only (a standby)");
      }
      Receiver commits(**conn, kCommitChannel, [this](const std::string& p, int pid) { Notify(kCommitChannel, p, pid); });
      Receiver keys(**conn, kKeyChannel, [this](const std::string& p, int pid) { Notify(kKeyChannel, p, pid); });
      if (connected_before) Notify("", "", 0);  // missed notifications: re-read everything
      connected_before = true;
      FirstAttemptDone();
      while (!stopping_.load()) (*conn)->await_notification(0, kWaitUs);
    } catch (const std::exception&) {
      // The connection broke or was refused: reconnect, backing off further unless the session
      // had stayed up a while (one drop after a long session reconnects at once, a server that
      // drops every session at once is not hammered).
      const bool stayed_up = SteadyNowMs() - connected_at_ms >= kListenerStableMs;
      backoff_ms = stayed_up || backoff_ms == 0
                       ? options_.backoff_ms_min
                       : std::min(backoff_ms * 2, options_.backoff_ms_max);
      connected_before = true;
      FirstAttemptDone();
    }
  }
}

}  // namespace cairn::storage::pg
