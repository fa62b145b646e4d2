// A small HTTPS GET for fetching JWKS documents, and a POST for C2SP witnesses
// (server/witness_pusher.h), through libcurl.
//
// Only https:// URLs are fetched, with certificate and host name verification (the system CA
// store, or only the roots in `ca_pem`); plain http:// is allowed only to a loopback host (127.0.0.1, [::1],
// localhost) so that tests can serve a JWKS without TLS. Redirects are not followed, the body is
// capped at `body_size_max_bytes` (the transfer is aborted beyond it), the whole transfer is
// bounded by `timeout_ms`, and any status other than 200 is an error. Error messages name the
// failure class and HTTP status, never the response body.
// Thread safety: thread-safe (one curl easy handle per call).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::auth {

inline constexpr int64_t kHttpTimeoutMs = 5000;
inline constexpr size_t kUrlSizeMaxBytes = 2048;

struct HttpGetOptions {
  // PEM trust roots; empty = the system store. When set, only these are trusted: the system's
  // CA bundle and CA directory are not consulted.
  std::string ca_pem;
  int64_t timeout_ms = kHttpTimeoutMs;
  size_t body_size_max_bytes = size_t{1} << 20;
  // When set, a transfer in progress is aborted (kUnavailable) soon after it turns true.
  const std::atomic<bool>* cancel = nullptr;
  // A client certificate (PEM) and its key for servers that ask for one; both or neither. The
  // key is not copied: its bytes must outlive the call.
  std::string client_cert_pem;
  std::string_view client_key_pem;
};

// OK when `url` may be fetched at all (scheme and host rules above); kInvalidArgument otherwise.
Status CheckFetchUrl(const std::string& url);

// GETs `url`; the body on HTTP 200. kInvalidArgument for a refused URL, kUnavailable for a
// network/TLS failure or a non-200 status, kResourceExhausted when the body is too large.
Result<std::string> HttpGet(const std::string& url, const HttpGetOptions& options);

struct HttpReply {
  long status = 0;
  std::string content_type;  // as sent, "" without one
  std::string body;
};

// POSTs `body` (Content-Type `content_type`) to `url` under the same URL, TLS, redirect, size
// and time rules as HttpGet, and returns whatever status the server answered with.
// kInvalidArgument for a refused URL, kUnavailable for a network/TLS failure, kResourceExhausted
// when the response body is too large.
Result<HttpReply> HttpPost(const std::string& url, std::string_view content_type,
                           std::string_view body, const HttpGetOptions& options);

}  // namespace cairn::auth
