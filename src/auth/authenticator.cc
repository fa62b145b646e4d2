#include "auth/authenticator.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <iterator>
#include <utility>
#include <vector>

#include "auth/basic_credentials.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace cairn::auth {
namespace {

bool IsBearer(std::string_view scheme) {
  static constexpr std::string_view kBearer = "bearer";
  if (scheme.size() != kBearer.size()) return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    char c = scheme[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearer[i]) return false;
  }
  return true;
}

// The credential of "Bearer <credential>", or an error.
Result<std::string_view> BearerCredential(std::string_view header) {
  if (header.size() > kAuthorizationSizeMaxBytes) return Status::Unauthenticated("credential too large");
  size_t space = header.find(' ');
  if (space == std::string_view::npos || !IsBearer(header.substr(0, space))) {
    return Status::Unauthenticated("unsupported authorization scheme");
  }
  std::string_view credential = header.substr(space + 1);
  if (credential.empty() || credential.find_first_of(" \t\r\n") != std::string_view::npos) {
    return Status::Unauthenticated("malformed authorization");
  }
  return credential;
}

}  // namespace

Authenticator::Authenticator(const AuthConfig& config)
    : limiter_(config.failures_per_minute_max, static_cast<size_t>(config.failure_sources_max)),
      verified_(kVerifiedCacheEntriesMax, kVerifiedCacheEntryAgeSMax) {}

Result<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthConfig& config) {
  if (config.failures_per_minute_max < 1 || config.failures_per_minute_max > kFailuresPerMinuteMaxLimit) {
    return Status::InvalidArgument("auth.failures_per_minute_max must be 1..1000000");
  }
  if (config.failure_sources_max < 1 || config.failure_sources_max > kFailureSourcesMaxLimit) {
    return Status::InvalidArgument("auth.failure_sources_max must be 1..10000000");
  }
  std::unique_ptr<Authenticator> a(new Authenticator(config));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ApiKeyVerifier> api_keys,
                         ApiKeyVerifier::Create(config.api_keys));
  a->api_keys_ = std::move(api_keys);
  CAIRN_ASSIGN_OR_RETURN(a->mtls_, MtlsMapper::Create(config.mtls));
  CAIRN_ASSIGN_OR_RETURN(a->jwt_, JwtVerifier::Create(config.jwt));
  if (a->jwt_->issuer_count() > 0) {
    Authenticator* self = a.get();
    a->refresher_ = std::thread([self] {
      SetCurrentThreadName("cairn-jwks");
      self->RefreshLoop();
    });
  }
  return a;
}

std::shared_ptr<const ApiKeyVerifier> Authenticator::ApiKeys() const {
  std::lock_guard<std::mutex> lock(api_keys_mu_);
  assert(api_keys_ != nullptr);
  return api_keys_;
}

Result<Authenticator::ApiKeysReplaced> Authenticator::ReplaceApiKeys(
    const std::vector<ApiKeyConfig>& keys) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ApiKeyVerifier> created, ApiKeyVerifier::Create(keys));
  const std::shared_ptr<const ApiKeyVerifier> now(std::move(created));
  const std::vector<std::string> after = now->Ids();
  std::shared_ptr<const ApiKeyVerifier> before;
  {
    std::lock_guard<std::mutex> lock(api_keys_mu_);
    before = std::exchange(api_keys_, now);
  }
  const std::vector<std::string> old_ids = before->Ids();
  ApiKeysReplaced replaced;
  replaced.keys = after.size();
  std::set_difference(after.begin(), after.end(), old_ids.begin(), old_ids.end(),
                      std::back_inserter(replaced.added));
  std::set_difference(old_ids.begin(), old_ids.end(), after.begin(), after.end(),
                      std::back_inserter(replaced.removed));
  std::vector<std::string> kept;
  std::set_intersection(after.begin(), after.end(), old_ids.begin(), old_ids.end(),
                        std::back_inserter(kept));
  for (const std::string& id : kept) {
    if (!now->SameEntry(*before, id)) replaced.changed.push_back(id);
  }
  return replaced;
}

Status Authenticator::CheckApiKeyInForce(const Principal& principal) const {
  if (principal.method != AuthMethod::kApiKey) return Status::Ok();
  if (ApiKeys()->InForce(principal)) return Status::Ok();
  return Status::Unauthenticated("api key revoked");
}

Authenticator::~Authenticator() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

bool Authenticator::Stopping() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  return stop_;
}

void Authenticator::RefreshLoop() {
  using Clock = std::chrono::steady_clock;
  const size_t n = jwt_->issuer_count();
  std::vector<Clock::time_point> due(n);
  for (size_t i = 0; i < n; ++i) {
    due[i] = Clock::now() + std::chrono::seconds(jwt_->issuer_config(i).jwks_refresh_interval_s);
  }
  std::vector<bool> failing(n, false);  // the last refresh of issuer i failed (logged once)
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_) {
    Clock::time_point next = *std::min_element(due.begin(), due.end());
    if (stop_cv_.wait_until(lock, next, [this] { return stop_; })) break;
    lock.unlock();
    Clock::time_point now = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      if (due[i] > now) continue;
      // Each fetch may take up to its timeout: a shutdown does not wait for the remaining issuers.
      if (Stopping()) return;
      // A failure keeps the last good keys; the next period tries again. An operator hears of
      // it once per outage: keys the issuer rotated out stay trusted meanwhile.
      const Status reloaded = jwt_->ReloadKeys(i);
      if (!reloaded.ok() && !failing[i]) {
        log::Warn("refreshing a JWT issuer's keys failed; its last keys stay in use",
                  {.action = "auth.jwks_refresh",
                   .outcome = "failure",
                   .extra = {{"cairn.issuer", jwt_->issuer_config(i).issuer},
                             {"cairn.error", reloaded.ToString()}}});
      } else if (reloaded.ok() && failing[i]) {
        log::Info("refreshing a JWT issuer's keys works again",
                  {.action = "auth.jwks_refresh",
                   .outcome = "success",
                   .extra = {{"cairn.issuer", jwt_->issuer_config(i).issuer}}});
      }
      failing[i] = !reloaded.ok();
      due[i] = Clock::now() + std::chrono::seconds(jwt_->issuer_config(i).jwks_refresh_interval_s);
    }
    lock.lock();
  }
}

template <typename Verify>
Result<Principal> Authenticator::Cached(std::string_view kind, std::string_view credential,
                                        int64_t now_unix_s, uint64_t generation,
                                        const Verify& verify) const {
  if (auto principal = verified_.Find(kind, credential, now_unix_s, generation)) return *principal;
  Result<Principal> result = verify();
  if (result.ok()) verified_.Insert(kind, credential, *result, now_unix_s, generation);
  return result;
}

Result<Principal> Authenticator::Check(const CallCredentials& creds, int64_t now_unix_s) const {
  if (!creds.authorization.empty()) {
    if (HasAuthScheme(creds.authorization, "basic")) {
      // The EventStoreDB clients' username/password: an API key (auth/basic_credentials.h).
      CAIRN_ASSIGN_OR_RETURN(BasicApiKey basic, BasicApiKey::Parse(creds.authorization));
      return ApiKeys()->Verify(basic.key(), now_unix_s);
    }
    CAIRN_ASSIGN_OR_RETURN(std::string_view credential, BearerCredential(creds.authorization));
    if (credential.substr(0, kApiKeyPrefix.size()) == kApiKeyPrefix) {
      return ApiKeys()->Verify(credential, now_unix_s);
    }
    return Cached("jwt", credential, now_unix_s, jwt_->key_generation(),
                  [&] { return jwt_->Verify(credential, now_unix_s); });
  }
  if (!creds.peer_cert_pem.empty()) {
    // The TLS handshake checked the certificate's validity once, but a connection outlives it:
    // every call checks notAfter again, so short-lived certificates (SPIFFE SVIDs) expire.
    return Cached("mtls", creds.peer_cert_pem, now_unix_s, /*generation=*/0, [&]() -> Result<Principal> {
      CAIRN_ASSIGN_OR_RETURN(Principal p, mtls_->Map(creds.peer_cert_pem));
      if (p.expires_unix_s > 0 && now_unix_s >= p.expires_unix_s) {
        return Status::Unauthenticated("certificate expired");
      }
      return p;
    });
  }
  return Status::Unauthenticated("no credentials");
}

std::vector<std::string> Authenticator::ConfiguredRoles(std::string_view principal_id,
                                                       int64_t now_unix_s) const {
  return ApiKeys()->ConfiguredRoles(principal_id, now_unix_s);
}

Result<Principal> Authenticator::Authenticate(const CallCredentials& creds, int64_t now_unix_s,
                                              bool* record_failure) const {
  if (record_failure != nullptr) *record_failure = true;
  // The check counts against the source's budget while it runs (FailureLimiter::BeginCheck).
  if (const FailureLimiter::Refusal r = limiter_.BeginCheck(creds.peer_address, now_unix_s);
      r.limited) {
    if (record_failure != nullptr) *record_failure = r.first_in_bucket;
    return Status::Unauthenticated("too many authentication failures");
  }
  struct CheckEnd {
    FailureLimiter& limiter;
    std::string_view address;
    int64_t now_unix_s;
    bool failed = true;  // also when Check() throws
    ~CheckEnd() { limiter.EndCheck(address, now_unix_s, failed); }
  } end{limiter_, creds.peer_address, now_unix_s};
  Result<Principal> result = Check(creds, now_unix_s);
  end.failed = !result.ok();
  if (!result.ok()) {
    if (result.status().code() != StatusCode::kUnauthenticated) {
      // Internal errors (out of memory, ...) still refuse the call, as UNAUTHENTICATED.
      return Status::Unauthenticated("authentication failed");
    }
  }
  return result;
}

}  // namespace cairn::auth
