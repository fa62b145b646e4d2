// cairn webhooks: the Webhooks service client (create, list, delete, rotate-secret), and the
// Standard Webhooks signature scheme for both ends — SignWebhook (what the server sends) and
// VerifyWebhook (what a handler runs on every request before it trusts the body).
//
// Scheme (https://www.standardwebhooks.com): a secret is "whsec_" + base64 of its bytes. The
// signed content is "<webhook-id>.<webhook-timestamp>.<body>"; the `webhook-signature` header is
// a space-separated list of "v1,<base64 HMAC-SHA256(secret bytes, signed content)>" (several
// while a secret is being rotated). A receiver accepts a request when the timestamp is within
// `tolerance_s` of its clock and any v1 signature matches (constant-time compare); it should
// also drop a webhook-id it has already processed (retries keep the id).
//
// Thread safety: the functions are pure; a WebhooksClient may be shared like its Client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/client.h"
#include "cairn/v1/webhooks.pb.h"
#include "common/status.h"

namespace cairn {

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
inline constexpr size_t kWebhookSecretSizeBytesMin = 24;
inline constexpr size_t kWebhookSecretSizeBytesMax = 64;
inline constexpr int64_t kWebhookToleranceSecondsDefault = 300;
// Signatures looked at in one header; a longer list is refused (bounded work per request).
inline constexpr size_t kWebhookSignaturesMax = 8;

// The three headers of a Standard Webhooks request (names are case-insensitive in HTTP).
struct WebhookHeaders {
  std::string id;         // webhook-id
  std::string timestamp;  // webhook-timestamp: decimal unix seconds
  std::string signature;  // webhook-signature: "v1,<b64> v1,<b64>"
};

// The secret bytes of "whsec_<base64>" (the prefix is optional, as other libraries accept it).
// kInvalidArgument for bad base64 or a length outside 24..64 bytes; the message never contains
// the secret.
Result<std::string> DecodeWebhookSecret(std::string_view secret);
// A new secret: "whsec_" + base64 of 32 CSPRNG bytes.
std::string NewWebhookSecret();

// "v1,<base64 HMAC-SHA256(secret_bytes, id.timestamp.body)>" for the raw secret bytes.
std::string SignWebhook(std::string_view secret_bytes, std::string_view id, int64_t timestamp_s,
                        std::string_view body);

// Checks a received request. OK when the timestamp is a decimal within `tolerance_s` of
// `now_unix_s` (either way) and one of the v1 signatures equals the expected one for `secret`
// ("whsec_…"). kUnauthenticated otherwise ("stale timestamp", "timestamp in the future",
// "no matching signature", …); kInvalidArgument for a malformed secret.
Status VerifyWebhook(std::string_view secret, const WebhookHeaders& headers,
                     std::string_view body, int64_t now_unix_s,
                     int64_t tolerance_s = kWebhookToleranceSecondsDefault);

// Calls cairn.v1.Webhooks on the Client's connection (action `admin` on the server).
class WebhooksClient {
 public:
  explicit WebhooksClient(const Client* client) : client_(client) {}

  Result<v1::CreateWebhookResponse> Create(const v1::CreateWebhookRequest& request) const;
  Result<v1::ListWebhooksResponse> List() const;
  Status Delete(std::string_view name) const;
  Result<v1::RotateWebhookSecretResponse> RotateSecret(
      const v1::RotateWebhookSecretRequest& request) const;

 private:
  const Client* client_;  // not owned; outlives this object
};

}  // namespace cairn
