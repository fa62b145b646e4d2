// KmsHealthGate: a KMS provider's Health() at most once per interval, for hot paths (the append
// of a protected event asks it every time). A failed check is cached for the interval too, so an
// unavailable KMS costs one probe per interval, not one per call. Check() answers as the caller
// of the append path may see it (keys/kms_failure.h: the provider's detail goes to the log);
// Health() itself stays for the operator's tools (/readyz, cairn doctor).
//
// Thread safety: safe for concurrent use; concurrent callers may probe together after expiry.
#pragma once

#include <cstdint>
#include <mutex>

#include "common/steady_clock.h"
#include "keys/kms.h"
#include "keys/kms_failure.h"

namespace cairn::keys {

class KmsHealthGate {
 public:
  // `kms` must outlive the gate. interval_ms <= 0 probes on every call.
  KmsHealthGate(KmsProvider* kms, int64_t interval_ms) : kms_(kms), interval_ms_(interval_ms) {}

  Status Check() {
    const int64_t now = SteadyNowMs();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (checked_ && now - checked_at_ms_ < interval_ms_) return last_;
    }
    Status s = kms_->Health();
    if (!s.ok()) s = KmsFailure(*kms_, "wrap subject keys", s);
    std::lock_guard<std::mutex> lock(mu_);
    checked_ = true;
    checked_at_ms_ = now;
    last_ = s;
    return s;
  }

 private:
  KmsProvider* const kms_;
  const int64_t interval_ms_;
  std::mutex mu_;
  bool checked_ = false;
  int64_t checked_at_ms_ = 0;
  Status last_;
};

}  // namespace cairn::keys
