#include "subscribe/webhook_sender.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstdio>
#include <mutex>

#include "subscribe/webhook_cloudevent.h"

namespace cairn::subscribe {
namespace {

constexpr size_t kCaCertificatesMax = 256;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodyLimit {
  size_t received_bytes = 0;
  size_t max_bytes = 0;
};

size_t DiscardBody(char*, size_t size, size_t count, void* user) {
  auto* limit = static_cast<BodyLimit*>(user);
  limit->received_bytes += size * count;
  if (limit->received_bytes > limit->max_bytes) return 0;  // aborts the transfer
  return size * count;
}

STACK_OF(X509)* LoadCertificates(const std::string& path, Status* status) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    *status = Status::InvalidArgument("webhooks.ca_file cannot be read");
    return nullptr;
  }
  STACK_OF(X509)* certs = sk_X509_new_null();
  while (sk_X509_num(certs) < static_cast<int>(kCaCertificatesMax)) {
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    sk_X509_push(certs, cert);
  }
  std::fclose(f);
  if (sk_X509_num(certs) == 0) {
    sk_X509_free(certs);
    *status = Status::InvalidArgument("webhooks.ca_file holds no PEM certificate");
    return nullptr;
  }
  return certs;
}

// Adds the ca_file roots to the trust store curl set up (system roots stay).
CURLcode AddRoots(CURL*, void* ssl_ctx, void* user) {
  auto* certs = static_cast<STACK_OF(X509)*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  for (int i = 0; i < sk_X509_num(certs); ++i) X509_STORE_add_cert(store, sk_X509_value(certs, i));
  return CURLE_OK;
}

int CancelCheck(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

}  // namespace

Result<std::unique_ptr<WebhookSender>> WebhookSender::Create(std::string url, AddressGuard guard,
                                                             const SenderOptions& options) {
  GlobalInit();
  assert(options.connect_timeout_ms > 0 && options.timeout_ms > 0);
  std::unique_ptr<WebhookSender> sender(new WebhookSender());
  sender->url_ = std::move(url);
  sender->guard_ = std::move(guard);
  sender->options_ = options;
  if (!options.ca_file.empty()) {
    Status status;
    sender->extra_roots_ = LoadCertificates(options.ca_file, &status);
    if (sender->extra_roots_ == nullptr) return status;
  }
  sender->curl_ = curl_easy_init();
  if (sender->curl_ == nullptr) return Status::Internal("curl_easy_init failed");
  return sender;
}

WebhookSender::~WebhookSender() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (extra_roots_ != nullptr) {
    sk_X509_pop_free(static_cast<STACK_OF(X509)*>(extra_roots_), X509_free);
  }
}

int WebhookSender::OpenSocket(void* self_ptr, int purpose, void* address_ptr) {
  auto* self = static_cast<WebhookSender*>(self_ptr);
  auto* address = static_cast<curl_sockaddr*>(address_ptr);
  if (purpose != CURLSOCKTYPE_IPCXN || !self->guard_.Allows(&address->addr)) {
    self->refused_ = true;
    return CURL_SOCKET_BAD;  // refused before connect(): no packet leaves
  }
  self->opened_ = true;
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool WebhookSender::Configure(void* handle, const SignedDelivery& delivery, curl_slist* headers,
                              curl_slist* resolve, void* body_limit,
                              const std::atomic<bool>* cancel) {
  CURL* curl = static_cast<CURL*>(handle);
  const long connect_ms = static_cast<long>(options_.connect_timeout_ms);
  const long total_ms = static_cast<long>(options_.timeout_ms);
  const auto body_size = static_cast<curl_off_t>(delivery.body.size());
  bool ok = true;
  if (resolve != nullptr) ok &= curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_URL, url_.c_str()) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  // Never a proxy from the environment.
  ok &= curl_easy_setopt(curl, CURLOPT_PROXY, "") == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
  if (extra_roots_ != nullptr) {
    ok &= curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, AddRoots) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, extra_roots_) == CURLE_OK;
  }
  ok &= curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenSocket) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, this) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_POST, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, delivery.body.data()) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, body_size) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_WRITEDATA, body_limit) == CURLE_OK;
  ok &= curl_easy_setopt(curl, CURLOPT_USERAGENT, "cairn-webhooks/1") == CURLE_OK;
  if (cancel != nullptr) {
    ok &= curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, CancelCheck) == CURLE_OK;
    ok &= curl_easy_setopt(curl, CURLOPT_XFERINFODATA,
                           const_cast<std::atomic<bool>*>(cancel)) == CURLE_OK;
  }
  return ok;
}

SendOutcome WebhookSender::Send(const SignedDelivery& delivery, const std::atomic<bool>* cancel) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the connection cache, clears every option
  refused_ = opened_ = false;
  BodyLimit limit{0, options_.response_size_bytes_max};
  const std::string id_header = "webhook-id: " + delivery.id;
  const std::string ts_header = "webhook-timestamp: " + std::to_string(delivery.timestamp_s);
  const std::string sig_header = "webhook-signature: " + delivery.signature;
  const std::string type_header = "content-type: " + std::string(kCloudEventsContentType);
  curl_slist* headers = nullptr;
  for (const std::string* h : {&id_header, &ts_header, &sig_header, &type_header}) {
    headers = curl_slist_append(headers, h->c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_slist* resolve = nullptr;
  for (const std::string& entry : options_.resolve_for_test) {
    resolve = curl_slist_append(resolve, entry.c_str());
  }
  // Every option must take: a delivery without certificate checks, the SSRF guard or the https
  // restriction must not be attempted at all.
  const bool ok = headers != nullptr && Configure(curl, delivery, headers, resolve, &limit, cancel);
  if (!ok) {
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    SendOutcome refused;
    refused.status = Status::Internal("libcurl refused a delivery option; nothing was sent");
    return refused;
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve);
  SendOutcome outcome;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &outcome.http_status);
  // The guard stopped the delivery only when it refused every address curl tried; when another
  // address was allowed and failed, that failure is the reason (a TLS error, a timeout).
  if (refused_ && !opened_ && rc != CURLE_OK) {
    ++guard_refusals_;
    outcome.guard_refused = true;
    outcome.status = Status::PermissionDenied("the SSRF guard refused the connection");
    return outcome;
  }
  if (rc == CURLE_WRITE_ERROR && limit.received_bytes > limit.max_bytes) {
    // The body is not read beyond the limit; the status line before it is what counts. A
    // receiver that accepted the event (2xx) with a long answer must not get it again.
    if (outcome.http_status < 200 || outcome.http_status > 299) {
      outcome.status = Status::Unavailable("receiver answered HTTP " +
                                           std::to_string(outcome.http_status) +
                                           " with a body larger than the limit");
    }
  } else if (rc != CURLE_OK) {
    outcome.status = Status::Unavailable(std::string("delivery failed: ") + curl_easy_strerror(rc));
  } else if (outcome.http_status < 200 || outcome.http_status > 299) {
    outcome.status = Status::Unavailable("receiver answered HTTP " +
                                         std::to_string(outcome.http_status));
  }
  return outcome;
}

}  // namespace cairn::subscribe
