// WebhookDispatcher: delivers the log to every webhook subscription (DESIGN.md, subscribe/).
//
// Each webhook follows the log from its durably stored position (WebhookStore), woken by the
// engine's commit observer and reading with EventStore::ReadAll. Events are delivered in log
// order, one at a time per webhook; a bounded pool of `workers` threads serves all webhooks
// (one webhook is handled by at most one worker at a time, round robin among the ready ones).
//
// Which events a webhook receives: those of its source (a stream, or "$all" = every stream
// whose id does not start with '$'), of its filter types (all when empty), that its delivering
// identity may `subscribe` to under the policy in force at each delivery. The delivering
// identity is the principal that created the webhook — and, when `run_as` was given, that
// principal too: both must allow (the intersection, never more than the creator could see).
// Each is judged with the roles it has without presenting a credential: the policy's bindings
// and the roles the configuration gives it now (an API key's configured roles while the key is
// configured and unexpired; DispatcherOptions::configured_roles). Roles a token carried when
// the webhook was created are not kept: a webhook must not outlive its creator's revocation.
// Create refuses a webhook whose identity could not receive anything from its source; a webhook
// whose identity lost every grant on its source later is paused (listed with the reason, judged
// again every few seconds), not drained.
// Protected fields are shown in clear only when both hold `read.pii`, masked otherwise. Events
// refused by the policy are skipped, not queued: granting later does not replay them.
//
// A failed delivery (network, TLS, non-2xx, SSRF guard) is retried with exponential backoff and
// full jitter (delay uniformly random in [0, min(backoff_max_ms, backoff_initial_ms·2^(n-1))]),
// keeping its webhook-id so receivers can deduplicate; after `retries_max` retries a reference
// record (position, event id, last error — never the payload) is appended to
// `$parked-webhook-<name>` and delivery continues with the next event. The position is stored
// after every batch (at-least-once: after a crash a few events may be delivered again).
//
// Thread safety: every public method may be called from any thread. Stop() waits for workers
// (a transfer in progress is aborted) and is idempotent; the destructor calls it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/principal.h"
#include "common/status.h"
#include "engine/event_store.h"
#include "policy/holder.h"
#include "subscribe/webhook_sender.h"
#include "subscribe/webhook_store.h"

namespace cairn::subscribe {

inline constexpr size_t kWebhookWorkersMax = 64;
inline constexpr uint32_t kWebhookRetriesMax = 100;

struct DispatcherOptions {
  SenderOptions sender;
  size_t workers = 4;                 // 1..kWebhookWorkersMax
  uint32_t retries_max = 8;           // retries of one event before it is parked
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 60000;
  int64_t rotation_grace_s = 86400;   // default grace of the previous secret after a rotation
  size_t batch_events_max = 64;       // events read per turn of one webhook
  // Secrets no webhook uses (WebhookStore::SweepUnusedSecrets) are looked for at Start() and
  // then this often, and destroyed when two looks at least secret_unused_age_ms_min apart
  // found them unused.
  int64_t secret_sweep_interval_ms = 300000;
  int64_t secret_unused_age_ms_min = 60000;
  // A webhook that could not be loaded (listed with "not loaded: …") is tried again this often.
  int64_t broken_reload_interval_ms = 30000;
  std::function<int64_t()> now_unix_s;  // clock for webhook-timestamp; system clock when empty
  // The roles the configuration gives a principal id now, without its credential (the server
  // passes Authenticator::ConfiguredRoles). Empty function: none (bindings only).
  std::function<std::vector<std::string>(std::string_view principal_id, int64_t now_unix_s)>
      configured_roles;
};

struct WebhookCreate {
  WebhookDefinition def;          // name, url, source, filters, allow_addresses, creator, run_as
  std::string secret;             // "whsec_…" or "" to generate
  std::optional<uint64_t> start;  // first position; nullopt = the end of the log
};

struct WebhookStatus {
  WebhookDefinition def;
  uint64_t position = 0;
  uint64_t delivered = 0;
  uint64_t parked = 0;
  std::string last_error;
};

struct RotateResult {
  std::string secret;  // "whsec_…", shown once
  uint32_t secret_version = 0;
  int64_t previous_expires_unix_s = 0;
};

class WebhookDispatcher {
 public:
  // `store` and `policies` must outlive the dispatcher.
  WebhookDispatcher(engine::EventStore* store, policy::PolicyHolder* policies,
                    DispatcherOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Loads the stored webhooks and starts the workers. A webhook whose secret cannot be
  // unwrapped stays listed with its error and delivers nothing.
  Status Start();
  void Stop();

  // Validates (name, source, filters, allow_addresses, the URL through the SSRF guard —
  // resolved, never connected), stores, and starts delivering. Returns the secret ("whsec_…").
  Result<std::string> Create(WebhookCreate request);
  Status Delete(std::string_view name);
  // grace_s 0 = options.rotation_grace_s.
  Result<RotateResult> RotateSecret(std::string_view name, std::string_view secret,
                                    int64_t grace_s);
  std::vector<WebhookStatus> List() const;

 private:
  struct Hook;
  struct Judge;

  Result<std::shared_ptr<Hook>> MakeHook(WebhookDefinition def, uint64_t position);
  // The delivering identity under the policy in force (judge->policy == that policy: unchanged).
  void RefreshJudge(const WebhookDefinition& def, Judge* judge, bool force) const;
  Principal Standing(const std::string& principal_id, AuthMethod method) const;
  // Both identities may receive something of `def.source` (kPermissionDenied otherwise).
  Status CheckMayDeliver(const WebhookDefinition& def) const;
  // Under admin_mu_: false when the hook was deleted (its turn must not write anything more).
  bool StillListed(const Hook& hook);
  void RunWorker();
  // The sweeper thread: ReloadBrokenHooks every broken_reload_interval_ms, SweepSecrets every
  // secret_sweep_interval_ms.
  void RunSecretSweeper();
  void ReloadBrokenHooks();
  void SweepSecrets();
  std::shared_ptr<Hook> NextReady(std::unique_lock<std::mutex>& lock);
  void ProcessTurn(Hook& hook);
  bool Wanted(const Hook& hook, const engine::RecordedEvent& event, const Judge& judge,
              bool* pii) const;
  // `*undeliverable`: it failed before sending, in a way no retry cures (parked at once).
  // *not_sent: it failed before anything was sent; *undeliverable: and it always will.
  Status DeliverOne(Hook& hook, engine::RecordedEvent event, bool pii, bool* undeliverable,
                    bool* not_sent);
  Status Park(Hook& hook, const engine::RecordedEvent& event, const std::string& error);
  int64_t BackoffMs(uint32_t attempt);
  int64_t NowUnixS() const;

  engine::EventStore* store_;
  policy::PolicyHolder* policies_;
  DispatcherOptions options_;
  WebhookStore durable_;

  mutable std::mutex mu_;  // guards hooks_, cursor_, tree_size_; never held during I/O
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Hook>> hooks_;
  size_t cursor_ = 0;
  uint64_t tree_size_ = 0;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  uint64_t observer_ = 0;
  std::vector<std::thread> workers_;
  std::thread sweeper_;
  // Serialises Create/Delete/Rotate, and a turn's durable writes (position, parked record) with
  // them, so that a deleted webhook's turn never writes over a re-created one. Taken before mu_.
  std::mutex admin_mu_;
};

}  // namespace cairn::subscribe
