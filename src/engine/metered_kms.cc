#include "engine/metered_kms.h"

#include <cassert>

#include "engine/engine_metrics.h"

namespace cairn::engine {

namespace {
constexpr std::array<const char*, 5> kOpNames = {"wrap", "unwrap", "health", "add_kek_version",
                                                 "retire_kek_versions"};

bool Failed(const Status& s) { return !s.ok(); }
template <typename T>
bool Failed(const Result<T>& r) {
  return !r.ok();
}
}  // namespace

MeteredKms::MeteredKms(std::unique_ptr<keys::KmsProvider> inner, audit::MetricsRegistry* registry)
    : inner_(std::move(inner)) {
  assert(inner_ != nullptr && registry != nullptr);
  static_assert(kOpNames.size() == kOpCount);
  for (size_t i = 0; i < kOpCount; ++i) {
    const audit::Labels labels = {{"operation", kOpNames[i]}};
    ops_[i].calls = registry->GetCounter("cairn_kms_operations_total",
                                         "KMS provider calls by operation.", labels);
    ops_[i].errors = registry->GetCounter("cairn_kms_errors_total",
                                          "KMS provider calls that returned an error.", labels);
    ops_[i].latency = registry->GetHistogram("cairn_kms_operation_latency_seconds",
                                             "KMS provider call latency by operation.",
                                             audit::LatencyBucketsSeconds(), labels);
  }
}

template <typename F>
auto MeteredKms::Measure(Op op, F&& call) -> decltype(call()) {
  const OpMetrics& m = ops_[op];
  const int64_t start_ns = MonotonicNowNs();
  auto result = call();
  m.latency->Observe(static_cast<double>(MonotonicNowNs() - start_ns) * 1e-9);
  m.calls->Increment();
  if (Failed(result)) m.errors->Increment();
  return result;
}

Result<std::string> MeteredKms::Wrap(std::string_view plaintext_key, std::string_view context) {
  return Measure(kWrap, [&] { return inner_->Wrap(plaintext_key, context); });
}

Result<crypto::SecureBytes> MeteredKms::Unwrap(std::string_view wrapped, std::string_view context) {
  return Measure(kUnwrap, [&] { return inner_->Unwrap(wrapped, context); });
}

Status MeteredKms::Health() {
  return Measure(kHealth, [&] { return inner_->Health(); });
}

Result<std::string> MeteredKms::AddKekVersion() {
  return Measure(kAddKekVersion, [&] { return inner_->AddKekVersion(); });
}

Status MeteredKms::RetireOldKekVersions() {
  return Measure(kRetire, [&] { return inner_->RetireOldKekVersions(); });
}

std::unique_ptr<keys::KmsProvider> MeterKms(std::unique_ptr<keys::KmsProvider> inner,
                                            audit::MetricsRegistry* registry) {
  if (registry == nullptr || inner == nullptr) return inner;
  return std::make_unique<MeteredKms>(std::move(inner), registry);
}

}  // namespace cairn::engine
