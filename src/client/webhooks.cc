#include "cairn/webhooks.h"

#include <charconv>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/webhooks.grpc.pb.h"
#include "client/grpc_status.h"
#include "common/bytes.h"
#include "crypto/hmac.h"
#include "crypto/secure.h"

namespace cairn {
namespace {

constexpr size_t kTimestampDigitsMax = 19;

std::vector<std::string_view> SplitSpaces(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < text.size() && parts.size() <= kWebhookSignaturesMax) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) parts.push_back(text.substr(i, j - i));
    i = j;
  }
  return parts;
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  int64_t value = 0;
  if (text.empty() || text.size() > kTimestampDigitsMax) {
    return Status::Unauthenticated("malformed webhook-timestamp");
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return Status::Unauthenticated("malformed webhook-timestamp");
  }
  return value;
}

}  // namespace

Result<std::string> DecodeWebhookSecret(std::string_view secret) {
  if (secret.starts_with(kWebhookSecretPrefix)) secret.remove_prefix(kWebhookSecretPrefix.size());
  std::optional<std::string> bytes = Base64Decode(secret);
  if (!bytes) return Status::InvalidArgument("a webhook secret is 'whsec_' + base64");
  if (bytes->size() < kWebhookSecretSizeBytesMin || bytes->size() > kWebhookSecretSizeBytesMax) {
    crypto::Cleanse(&*bytes);
    return Status::InvalidArgument("a webhook secret holds 24..64 bytes");
  }
  return std::move(*bytes);
}

std::string NewWebhookSecret() {
  crypto::SecureBytes bytes = crypto::RandomSecret(32);
  return std::string(kWebhookSecretPrefix) + Base64Encode(bytes.view());
}

std::string SignWebhook(std::string_view secret_bytes, std::string_view id, int64_t timestamp_s,
                        std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  auto mac = crypto::HmacSha256(secret_bytes, content);
  assert(mac.ok());  // HMAC-SHA256 is always available in OpenSSL 3
  return "v1," + Base64Encode(crypto::HashView(*mac));
}

Status VerifyWebhook(std::string_view secret, const WebhookHeaders& headers,
                     std::string_view body, int64_t now_unix_s, int64_t tolerance_s) {
  assert(tolerance_s >= 0);
  auto key = DecodeWebhookSecret(secret);
  if (!key.ok()) return key.status();
  crypto::SecureBytes key_bytes(*key);
  crypto::Cleanse(&*key);
  if (headers.id.empty()) return Status::Unauthenticated("missing webhook-id");
  CAIRN_ASSIGN_OR_RETURN(int64_t timestamp, ParseTimestamp(headers.timestamp));
  if (timestamp < now_unix_s - tolerance_s) {
    return Status::Unauthenticated("stale webhook-timestamp");
  }
  if (timestamp > now_unix_s + tolerance_s) {
    return Status::Unauthenticated("webhook-timestamp in the future");
  }
  std::vector<std::string_view> signatures = SplitSpaces(headers.signature);
  if (signatures.size() > kWebhookSignaturesMax) {
    return Status::Unauthenticated("too many webhook signatures");
  }
  const std::string expected = SignWebhook(key_bytes.view(), headers.id, timestamp, body);
  bool matched = false;
  for (std::string_view signature : signatures) {
    // Every candidate is compared (no early exit): timing tells nothing about which matched.
    if (crypto::ConstantTimeEquals(signature, expected)) matched = true;
  }
  if (!matched) return Status::Unauthenticated("no matching webhook signature");
  return Status::Ok();
}

Result<v1::CreateWebhookResponse> WebhooksClient::Create(
    const v1::CreateWebhookRequest& request) const {
  auto stub = v1::Webhooks::NewStub(client_->channel());
  grpc::ClientContext context;
  client_->PrepareContext(&context, client_->options().timeout_ms);
  v1::CreateWebhookResponse response;
  grpc::Status status = stub->Create(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

Result<v1::ListWebhooksResponse> WebhooksClient::List() const {
  auto stub = v1::Webhooks::NewStub(client_->channel());
  grpc::ClientContext context;
  client_->PrepareContext(&context, client_->options().timeout_ms);
  v1::ListWebhooksResponse response;
  grpc::Status status = stub->List(&context, v1::ListWebhooksRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

Status WebhooksClient::Delete(std::string_view name) const {
  auto stub = v1::Webhooks::NewStub(client_->channel());
  grpc::ClientContext context;
  client_->PrepareContext(&context, client_->options().timeout_ms);
  v1::DeleteWebhookRequest request;
  request.set_name(std::string(name));
  v1::DeleteWebhookResponse response;
  grpc::Status status = stub->Delete(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return Status::Ok();
}

Result<v1::RotateWebhookSecretResponse> WebhooksClient::RotateSecret(
    const v1::RotateWebhookSecretRequest& request) const {
  auto stub = v1::Webhooks::NewStub(client_->channel());
  grpc::ClientContext context;
  client_->PrepareContext(&context, client_->options().timeout_ms);
  v1::RotateWebhookSecretResponse response;
  grpc::Status status = stub->RotateSecret(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace cairn
