#include "keys/kms_failure.h"

#include <cassert>
#include <map>
#include <mutex>
#include <string>

#include "common/log.h"
#include "common/steady_clock.h"

namespace cairn::keys {
namespace {

// Whether this failure is worth a log line: the first of its kind (provider, what failed, code)
// in a minute. Keyed by kind, not text: a PKCS#11 text names the key, so an outage would log once
// per subject read. At most kKindsMax kinds are remembered (there are a handful).
bool ShouldLog(const std::string& kind) {
  constexpr int64_t kRepeatIntervalMs = 60000;
  constexpr size_t kKindsMax = 64;
  static std::mutex mu;
  static std::map<std::string, int64_t> logged_ms;  // guarded by mu
  const int64_t now_ms = SteadyNowMs();
  std::lock_guard<std::mutex> lock(mu);
  auto it = logged_ms.find(kind);
  if (it != logged_ms.end() && now_ms - it->second < kRepeatIntervalMs) return false;
  if (it == logged_ms.end() && logged_ms.size() >= kKindsMax) logged_ms.clear();
  logged_ms[kind] = now_ms;
  return true;
}

}  // namespace

Status KmsFailure(const KmsProvider& kms, std::string_view what, const Status& detail) {
  assert(!detail.ok());
  const std::string text = detail.ToString();
  if (ShouldLog(std::string(kms.provider_name()) + "/" + std::string(what) + "/" +
                std::to_string(static_cast<int>(detail.code())))) {
    log::Error("the key provider failed: cannot " + std::string(what),
               {.action = "keys.kms",
                .outcome = "failure",
                .extra = {{"cairn.provider", std::string(kms.provider_name())},
                          {"error.message", text}}});
  }
  const std::string provider =
      kms.provider_name() == "local" ? "local keyring" : std::string(kms.provider_name()) + " token";
  const StatusCode code =
      detail.code() == StatusCode::kPermissionDenied ? StatusCode::kFailedPrecondition : detail.code();
  return Status(code, "the " + provider + " cannot " + std::string(what) +
                          " now (the server log has the reason)");
}

}  // namespace cairn::keys
