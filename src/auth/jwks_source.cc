#include "auth/jwks_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "auth/http_fetch.h"
#include "crypto/secure.h"

namespace cairn::auth {


Result<std::unique_ptr<JwksSource>> JwksSource::Create(const JwtIssuerConfig& config) {
  assert(config.jwks_file.empty() != config.jwks_url.empty());
  std::unique_ptr<JwksSource> source(new JwksSource(config));
  CAIRN_RETURN_IF_ERROR(source->Reload());
  assert(source->Current() != nullptr);
  // Later a fetched set may turn out empty (the issuer withdrew every key cairn could use): then
  // no token verifies. At the start that is a configuration to fix.
  if (source->Current()->keys.empty()) {
    return Status::InvalidArgument("JWKS has no usable key");
  }
  return source;
}

std::shared_ptr<const JwkSet> JwksSource::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

namespace {

bool HasSymmetricKey(const JwkSet& set) {
  for (const Jwk& key : set.keys) {
    if (key.alg == JwsAlg::kHS256) return true;
  }
  return false;
}

}  // namespace

Result<JwkSet> JwksSource::Load() {
  load_count_.fetch_add(1);
  std::string text;
  if (!config_.jwks_file.empty()) {
    // Whoever may write the key set may mint tokens: refused when others may write it.
    mode_t mode = 0;
    CAIRN_ASSIGN_OR_RETURN(text, ReadTrustedFile(config_.jwks_file, "jwks_file", kJwksSizeMaxBytes, &mode));
    // The file may hold HS256 secrets: its text is wiped once parsed, whatever the outcome.
    Result<JwkSet> parsed = ParseJwks(text, JwksOrigin::kFile);
    crypto::Cleanse(&text);
    // Whoever may read an HS256 secret may mint tokens too: such a file must be private, as a
    // TLS key is (judged on the file that was read).
    if (parsed.ok() && HasSymmetricKey(*parsed) && (mode & (S_IRWXG | S_IRWXO)) != 0) {
      return Status::FailedPrecondition("jwks_file " + config_.jwks_file +
                                        " holds HS256 secrets and is accessible by group or "
                                        "others; chmod 600 it");
    }
    return parsed;
  }
  // Whoever may write the trust roots may stand in for the issuer: the same rule. The bytes
  // checked are the bytes used (the file is not opened again by path).
  HttpGetOptions options;
  if (!config_.jwks_ca_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(options.ca_pem,
                           ReadTrustedFile(config_.jwks_ca_file, "jwks_ca_file", kJwksCaSizeMaxBytes));
  }
  options.body_size_max_bytes = kJwksSizeMaxBytes;
  CAIRN_ASSIGN_OR_RETURN(text, HttpGet(config_.jwks_url, options));
  return ParseJwks(text, JwksOrigin::kUrl);  // a fetched set never holds secrets ('oct' refused)
}

Status JwksSource::Reload() {
  // One load at a time: a slower load that started earlier must not replace a newer set.
  std::lock_guard<std::mutex> reload(reload_mu_);
  auto loaded = Load();
  if (!loaded.ok()) return loaded.status();
  auto set = std::make_shared<const JwkSet>(std::move(loaded).value());
  std::lock_guard<std::mutex> lock(mu_);
  // Cached verifications stay valid while every key that admitted them is still trusted: a
  // reload that only repeats or extends the set (an unknown-kid refetch a stranger can trigger,
  // a rotation that adds a key) keeps them; one that withdraws or replaces a key drops them all.
  const bool admits_all = current_ != nullptr && set->AdmitsAllOf(*current_);
  current_ = std::move(set);
  if (!admits_all) generation_.fetch_add(1, std::memory_order_release);
  return Status::Ok();
}

bool JwksSource::RefetchForUnknownKid(int64_t now_unix_s) {
  // A refetch in progress is not waited for: its caller's thread alone waits on the network.
  std::unique_lock<std::mutex> lock(refetch_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (refetched_) {
    // Distance in either direction, so that a clock stepped back does not block refetches for
    // as long as it stepped.
    int64_t since_s = now_unix_s - last_refetch_unix_s_;
    if (since_s < 0) since_s = -since_s;
    if (since_s < config_.jwks_refetch_min_interval_s) return false;
  }
  refetched_ = true;
  last_refetch_unix_s_ = now_unix_s;
  return Reload().ok();
}

}  // namespace cairn::auth
