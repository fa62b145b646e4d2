// MeteredKms: a KmsProvider decorator that counts and times every KMS operation, so that an
// operator sees a slow or failing KMS (HSM, cloud KMS) before appends of protected types fail.
//
// Metrics (labels: operation = wrap | unwrap | health | add_kek_version | retire_kek_versions):
// cairn_kms_operations_total, cairn_kms_errors_total (the call returned an error),
// cairn_kms_operation_latency_seconds. Never a key id, context or key byte in a label.
//
// Ownership: owns the inner provider; the registry must outlive this object.
// Thread safety: as the inner provider (the metrics are thread-safe).
#pragma once

#include <array>
#include <memory>

#include "audit/metrics.h"
#include "keys/kms.h"

namespace cairn::engine {

class MeteredKms final : public keys::KmsProvider {
 public:
  MeteredKms(std::unique_ptr<keys::KmsProvider> inner, audit::MetricsRegistry* registry);

  std::string_view provider_name() const override { return inner_->provider_name(); }
  std::string kek_id() const override { return inner_->kek_id(); }
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  Status Health() override;
  bool HasKek(std::string_view kek_id) const override { return inner_->HasKek(kek_id); }
  size_t kek_version_count() const override { return inner_->kek_version_count(); }
  Result<std::string> AddKekVersion() override;
  Status RetireOldKekVersions() override;

 private:
  enum Op : size_t { kWrap = 0, kUnwrap, kHealth, kAddKekVersion, kRetire, kOpCount };
  struct OpMetrics {
    audit::Counter* calls = nullptr;
    audit::Counter* errors = nullptr;
    audit::Histogram* latency = nullptr;
  };
  // Runs `call` (returning a Status or Result), recording it under `op`.
  template <typename F>
  auto Measure(Op op, F&& call) -> decltype(call());

  std::unique_ptr<keys::KmsProvider> inner_;
  std::array<OpMetrics, kOpCount> ops_;
};

// `inner` wrapped in a MeteredKms when `registry` is set; `inner` itself otherwise.
std::unique_ptr<keys::KmsProvider> MeterKms(std::unique_ptr<keys::KmsProvider> inner,
                                            audit::MetricsRegistry* registry);

}  // namespace cairn::engine
