// AlertWebhookSink: delivers alerts to one HTTPS endpoint, signed and guarded exactly like
// webhook subscriptions (subscribe/webhook_sender.h, include/cairn/webhooks.h).
//
// Each alert is POSTed as a CloudEvents 1.0 structured-mode document (content type
// application/cloudevents+json, like subscription deliveries): id = the alert id, source =
// "cairn://<origin>/alerts", type "cairn.alert", time, datacontenttype "application/json", and as
// data the object of EncodeAlertJson(alert). With the Standard Webhooks headers:
// webhook-id = the alert id, webhook-timestamp, webhook-signature = SignWebhook(secret, id,
// timestamp, body) — receivers verify it with cairn::VerifyWebhook and the same secret. HTTPS
// only, certificates verified (system roots + SenderOptions::ca_file), and the SSRF guard judges
// the address at connect time: private, loopback and metadata addresses are refused unless named
// in allow_addresses. A failed POST is retried up to retries_max times with exponential backoff
// and equal jitter (a delay uniformly random between half of and all of backoff_initial_ms · 2^n,
// at most backoff_max_ms; the webhook-id is kept), then dropped and counted. At most queue_alerts_max alerts wait; beyond that new ones are dropped and counted.
//
// The secret ("whsec_" + base64, 24..64 bytes) comes from a file that only its owner may read
// (mode 0600 or stricter, owned by the user running cairn; kFailedPrecondition otherwise) or from
// an environment variable. It is held in wiped memory and never logged; errors name the file or
// the variable, never the value. Log lines about deliveries name the host only (URLs often hold
// tokens).
//
// Thread safety: Deliver() queues and returns (the engine's thread); one own thread sends.
// Stop() aborts a transfer in progress, drops what is queued (counted) and joins; the destructor
// calls it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/alerts.h"
#include "common/status.h"
#include "crypto/secure.h"
#include "subscribe/webhook_sender.h"

namespace cairn::subscribe {

inline constexpr uint32_t kAlertWebhookRetriesMax = 20;
inline constexpr size_t kAlertWebhookQueueMax = 4096;

struct AlertWebhookOptions {
  std::string url;                          // https://…
  std::string origin = "cairn";             // the log origin, for the CloudEvents source
  std::vector<std::string> allow_addresses; // SSRF guard exceptions (exact IP addresses)
  std::string secret_file;                  // exactly one of secret_file and secret_env
  std::string secret_env;
  SenderOptions sender;                     // ca_file, timeouts
  uint32_t retries_max = 5;                 // 0 .. kAlertWebhookRetriesMax
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 30000;
  size_t queue_alerts_max = 256;            // 1 .. kAlertWebhookQueueMax
};

struct AlertWebhookStats {
  uint64_t delivered = 0;
  uint64_t retries = 0;
  uint64_t dropped = 0;         // given up after retries, queue full, or left at Stop()
  uint64_t guard_refusals = 0;  // connections the SSRF guard refused
};

// Reads a webhook secret from `file` (owner-only mode checked) or the variable `env` (exactly one
// non-empty) and decodes it (DecodeWebhookSecret). Errors never contain the secret.
Result<crypto::SecureBytes> LoadAlertWebhookSecret(const std::string& file,
                                                   const std::string& env);

class AlertWebhookSink : public audit::AlertSink {
 public:
  // Checks the URL (ParseWebhookUrl + create-time resolution through the guard), the options'
  // ranges and the secret; starts the sending thread. A host that resolves to an address the
  // guard refuses is an error; a host that does not resolve yet is only logged (each delivery
  // resolves again and the guard checks the address connected to).
  static Result<std::unique_ptr<AlertWebhookSink>> Create(const AlertWebhookOptions& options);
  ~AlertWebhookSink() override;

  void Deliver(const audit::Alert& alert) override;
  void Stop() override;
  // Returns when the queue is empty and no transfer is in progress (tests).
  void Flush();
  AlertWebhookStats stats() const;

 private:
  AlertWebhookSink() = default;
  void Run();
  bool SendWithRetries(const audit::Alert& alert);

  AlertWebhookOptions options_;
  crypto::SecureBytes secret_;
  std::string host_;  // for log lines
  std::unique_ptr<WebhookSender> sender_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<audit::Alert> queue_;
  bool busy_ = false;
  std::atomic<bool> stop_{false};
  AlertWebhookStats stats_;
  std::thread thread_;
};

}  // namespace cairn::subscribe
