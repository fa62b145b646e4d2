#include "auth/http_fetch.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace cairn::auth {
namespace {

struct CurlDeleter {
  void operator()(CURL* p) const { curl_easy_cleanup(p); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* p) const { curl_url_cleanup(p); }
};

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t Write(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (sink->body.size() + n > sink->max_bytes) {
    sink->too_large = true;
    return 0;  // aborts the transfer
  }
  sink->body.append(data, n);
  return n;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

Status CheckFetchUrl(const std::string& url) {
  if (url.empty() || url.size() > kUrlSizeMaxBytes) return Status::InvalidArgument("bad URL length");
  GlobalInit();
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument("malformed URL");
  }
  char* scheme = nullptr;
  char* host = nullptr;
  std::string s, h;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && scheme) {
    s = Lower(scheme);
  }
  if (curl_url_get(u.get(), CURLUPART_HOST, &host, 0) == CURLUE_OK && host) h = Lower(host);
  curl_free(scheme);
  curl_free(host);
  if (h.empty()) return Status::InvalidArgument("URL without a host");
  if (s == "https") return Status::Ok();
  if (s == "http") {
    if (h == "127.0.0.1" || h == "[::1]" || h == "::1" || h == "localhost") return Status::Ok();
    return Status::InvalidArgument("http:// is allowed only to a loopback host; use https://");
  }
  return Status::InvalidArgument("URL scheme must be https");
}

namespace {

int CancelCheck(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

// The options both calls share; false when libcurl refused one.
bool Configure(CURL* c, const std::string& url, const HttpGetOptions& options, Sink* sink,
               const char* user_agent) {
  const bool is_https = url.size() >= 8 && Lower(url.substr(0, 8)) == "https://";
  bool ok = true;
  ok &= curl_easy_setopt(c, CURLOPT_URL, url.c_str()) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
  ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, is_https ? "https" : "http") == CURLE_OK;
#else
  ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS, is_https ? CURLPROTO_HTTPS : CURLPROTO_HTTP) == CURLE_OK;
#endif
  ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms)) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout_ms)) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(options.body_size_max_bytes)) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Write) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, sink) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent) == CURLE_OK;
  if (options.cancel != nullptr) {
    ok &= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &CancelCheck) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options.cancel)) ==
          CURLE_OK;
  }
  if (!options.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(options.client_cert_pem.data()), options.client_cert_pem.size(),
                   CURL_BLOB_COPY};
    // Not copied (curl would free a copy without wiping it): the caller keeps it for the call.
    curl_blob key{const_cast<char*>(options.client_key_pem.data()), options.client_key_pem.size(),
                  CURL_BLOB_NOCOPY};
    ok &= curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK;
  }
  if (!options.ca_pem.empty()) {  // these roots only: no bundle, no directory of the system
    curl_blob roots{const_cast<char*>(options.ca_pem.data()), options.ca_pem.size(), CURL_BLOB_COPY};
    ok &= curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &roots) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_CAINFO, nullptr) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_CAPATH, nullptr) == CURLE_OK;
  }
  return ok;
}

// Runs the transfer; the HTTP status when it completed.
Result<long> Perform(CURL* c, const Sink& sink) {
  const CURLcode rc = curl_easy_perform(c);
  if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return Status::ResourceExhausted("response larger than the limit");
  }
  if (rc != CURLE_OK) return Status::Unavailable(std::string("fetch failed: ") + curl_easy_strerror(rc));
  long http_status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
  return http_status;
}

}  // namespace

Result<std::string> HttpGet(const std::string& url, const HttpGetOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckFetchUrl(url));
  GlobalInit();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  Sink sink;
  sink.max_bytes = options.body_size_max_bytes;
  if (!Configure(curl.get(), url, options, &sink, "cairn-jwks/1")) {
    return Status::Internal("configuring libcurl failed");
  }
  CAIRN_ASSIGN_OR_RETURN(long http_status, Perform(curl.get(), sink));
  if (http_status != 200) {
    return Status::Unavailable("fetch failed: HTTP status " + std::to_string(http_status));
  }
  return std::move(sink.body);
}

Result<HttpReply> HttpPost(const std::string& url, std::string_view content_type,
                           std::string_view body, const HttpGetOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckFetchUrl(url));
  GlobalInit();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  CURL* c = curl.get();
  Sink sink;
  sink.max_bytes = options.body_size_max_bytes;
  const std::string type_header = "Content-Type: " + std::string(content_type);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, type_header.c_str()), &curl_slist_free_all);
  if (headers != nullptr) {
    // No "Expect: 100-continue" (older libcurl adds it to larger bodies and then waits a second
    // for an interim answer that simple servers never send).
    curl_slist* more = curl_slist_append(headers.get(), "Expect:");
    if (more == nullptr) headers.reset();
  }
  bool ok = headers != nullptr && Configure(c, url, options, &sink, "cairn-witness-client/1");
  ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data()) == CURLE_OK;
  ok &= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size())) == CURLE_OK;
  if (!ok) return Status::Internal("configuring libcurl failed");
  HttpReply reply;
  CAIRN_ASSIGN_OR_RETURN(reply.status, Perform(c, sink));
  char* type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr) {
    reply.content_type = type;
  }
  reply.body = std::move(sink.body);
  return reply;
}

}  // namespace cairn::auth
