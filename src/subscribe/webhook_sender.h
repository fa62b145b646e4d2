// WebhookSender: one HTTPS POST of a signed webhook through libcurl, for one webhook.
//
// Security settings on every request: https only (also for redirects, which are never
// followed); certificate and host name verification on, against the system roots plus the
// `ca_file` roots when set; proxies from the environment ignored; the SSRF guard (AddressGuard)
// judges the address libcurl is about to connect to, after resolution, and refuses the socket
// before connect() when it is not allowed — so a host name that re-resolves to a private
// address (DNS rebinding) is refused at delivery, not only at create. Bounded connect and total
// timeouts and a bounded response body (the transfer is aborted beyond it; the body is not kept).
//
// A sender keeps one curl handle (and so its connection, for keep-alive) per webhook; it must
// be used by one thread at a time. Errors: kPermissionDenied when the guard refused the address,
// kUnavailable for network/TLS failures and non-2xx answers ("HTTP 500"), naming the host only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "subscribe/webhook_address_guard.h"

struct curl_slist;  // <curl/curl.h>

namespace cairn::subscribe {

struct SenderOptions {
  std::string ca_file;                  // extra PEM trust roots; "" = system roots only
  int64_t connect_timeout_ms = 5000;
  int64_t timeout_ms = 10000;           // whole request
  // The response body read (and discarded) before the transfer is cut off; the HTTP status
  // decides the outcome even then.
  size_t response_size_bytes_max = 64 << 10;
  // Test hook: libcurl CURLOPT_RESOLVE entries ("host:port:address") that stand in for DNS, to
  // simulate a name that re-resolves (DNS rebinding). Never set in production code.
  std::vector<std::string> resolve_for_test;
};

struct SignedDelivery {
  std::string id;         // webhook-id
  int64_t timestamp_s = 0;
  std::string signature;  // webhook-signature
  std::string body;       // CloudEvents JSON
};

struct SendOutcome {
  Status status;
  long http_status = 0;       // 0 when no response arrived
  bool guard_refused = false; // the SSRF guard refused every address tried: nothing connected
};

class WebhookSender {
 public:
  // `url` must have passed ParseWebhookUrl. Loads ca_file once (kInvalidArgument if unreadable).
  static Result<std::unique_ptr<WebhookSender>> Create(std::string url, AddressGuard guard,
                                                       const SenderOptions& options);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // `cancel` (may be null) aborts a transfer in progress when it becomes true (shutdown).
  SendOutcome Send(const SignedDelivery& delivery, const std::atomic<bool>* cancel = nullptr);
  // Sends the guard stopped so far (every address refused; tests, metrics).
  uint64_t guard_refusals() const { return guard_refusals_; }

 private:
  WebhookSender() = default;
  static int OpenSocket(void* self, int purpose, void* address);
  // Sets every option of one delivery on `handle` (a CURL*); false when libcurl refused any.
  // `headers` and `resolve` are curl_slist*; `body_limit` is the response-size counter.
  bool Configure(void* handle, const SignedDelivery& delivery, curl_slist* headers,
                 curl_slist* resolve, void* body_limit, const std::atomic<bool>* cancel);

  std::string url_;
  AddressGuard guard_;
  SenderOptions options_;
  void* curl_ = nullptr;        // CURL*
  void* extra_roots_ = nullptr; // STACK_OF(X509)*, owned
  bool refused_ = false;        // set by OpenSocket during one Send: an address was refused
  bool opened_ = false;         // likewise: a socket was opened to an allowed address
  uint64_t guard_refusals_ = 0;
};

}  // namespace cairn::subscribe
