#include "keys/kms_failure.h"

#include <atomic>
#include <cassert>
#include <string>

#include "common/log.h"
#include "common/steady_clock.h"

namespace cairn::keys {

Status KmsFailure(const KmsProvider& kms, std::string_view op, const Status& detail) {
  assert(!detail.ok());
  constexpr int64_t kLogIntervalMs = 60000;
  static std::atomic<int64_t> last_logged_ms{-kLogIntervalMs};
  const int64_t now_ms = SteadyNowMs();
  int64_t last_ms = last_logged_ms.load();
  if (now_ms - last_ms >= kLogIntervalMs && last_logged_ms.compare_exchange_strong(last_ms, now_ms)) {
    log::Error("the key provider failed to " + std::string(op) + " a subject key",
               {.action = "keys.kms",
                .outcome = "failure",
                .extra = {{"cairn.provider", std::string(kms.provider_name())},
                          {"error.message", detail.ToString()}}});
  }
  const std::string provider =
      kms.provider_name() == "local" ? "local keyring" : std::string(kms.provider_name()) + " token";
  const StatusCode code =
      detail.code() == StatusCode::kPermissionDenied ? StatusCode::kFailedPrecondition : detail.code();
  return Status(code, "the " + provider + " cannot " + std::string(op) +
                          " subject keys now (the server log has the reason)");
}

}  // namespace cairn::keys
