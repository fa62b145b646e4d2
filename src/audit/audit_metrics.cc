#include "audit/audit_metrics.h"

#include <array>
#include <algorithm>
#include <cassert>

namespace cairn::audit {

namespace {

constexpr std::string_view kOther = "other";
constexpr std::array<std::string_view, 5> kMethodLabels = {"jwt", "apikey", "mtls", "none",
                                                           "other"};
constexpr std::array<std::string_view, 9> kReasonLabels = {
    "no_credentials", "malformed",    "expired", "not_yet_valid", "bad_signature",
    "untrusted",      "rate_limited", "revoked", "other"};
constexpr std::array<std::string_view, 3> kViolationSources = {"scrub", "report", "other"};
constexpr size_t kActionsMax = 32;

// The authenticator's reason texts (auth/*.cc) and their label.
constexpr std::pair<std::string_view, std::string_view> kReasons[] = {
    {"no credentials", "no_credentials"},
    {"too many authentication failures", "rate_limited"},
    {"token expired", "expired"},
    {"api key expired", "expired"},
    {"credential expired", "expired"},
    {"certificate expired", "expired"},
    {"api key revoked", "revoked"},  // a reload removed or changed a running call's key
    {"token not yet valid", "not_yet_valid"},
    {"token issued in the future", "not_yet_valid"},
    {"signature invalid", "bad_signature"},
    {"api key invalid", "bad_signature"},
    {"algorithm does not match key", "bad_signature"},
    {"issuer not trusted", "untrusted"},
    {"audience not accepted", "untrusted"},
    {"unknown api key", "untrusted"},
    {"invalid key id", "untrusted"},
    {"unknown key id", "untrusted"},
    {"key id required", "untrusted"},
    {"token type not accepted", "untrusted"},
    {"algorithm not allowed", "untrusted"},
    {"certificate not mapped", "untrusted"},
    {"invalid client certificate", "untrusted"},
    {"invalid SPIFFE ID", "untrusted"},
    {"certificate has several SPIFFE IDs", "untrusted"},
    {"SPIFFE certificate has other URI SANs", "untrusted"},
    {"malformed token", "malformed"},
    {"malformed token claims", "malformed"},
    {"malformed token header", "malformed"},
    {"malformed authorization", "malformed"},
    {"malformed api key", "malformed"},
    {"unsupported authorization scheme", "malformed"},
    {"malformed basic credentials", "malformed"},
    {"basic credentials: the username must be the api key's id, the password the key", "malformed"},
    {"credential too large", "malformed"},
    {"token too large", "malformed"},
    {"critical header not supported", "malformed"},
    {"invalid audience claim", "malformed"},
    {"invalid expiry claim", "malformed"},
    {"invalid issued-at claim", "malformed"},
    {"invalid not-before claim", "malformed"},
    {"invalid roles claim", "malformed"},
    {"invalid subject", "malformed"},
    {"token has no expiry", "malformed"},
};

// The value of detail `name`, or "".
std::string_view Detail(const AuditRecord& r, std::string_view name) {
  for (const auto& [k, v] : r.details) {
    if (k == name) return v;
  }
  return {};
}

std::string_view ViolationSource(const AuditRecord& r) {
  std::string_view source = Detail(r, "source");
  if (source.empty()) {
    source = r.action == "integrity.report" ? std::string_view("report") : std::string_view(r.action);
  }
  for (std::string_view s : kViolationSources) {
    if (s == source) return s;
  }
  return kOther;
}

// The one place that names the series (labels already mapped to the closed sets).
Counter* LabelledAuthFailureCounter(MetricsRegistry* registry, std::string_view method_label,
                                    std::string_view reason_label) {
  return registry->GetCounter("cairn_auth_failures_total",
                              "Failed authentications, by method and reason.",
                              {{"method", std::string(method_label)},
                               {"reason", std::string(reason_label)}});
}

}  // namespace

std::string_view AuthFailureReasonLabel(std::string_view reason) {
  for (const auto& [text, label] : kReasons) {
    if (text == reason) return label;
  }
  return kOther;
}

std::string_view AuthMethodLabel(std::string_view method) {
  if (method.empty()) return "none";
  for (std::string_view m : kMethodLabels) {
    if (m == method) return m;
  }
  return kOther;
}

AuditMetrics::AuditMetrics(MetricsRegistry* registry, const std::vector<std::string>& actions) {
  assert(registry != nullptr);
  assert(actions.size() <= kActionsMax);
  static_assert(kMethodLabels.size() * kReasonLabels.size() <= kSeriesPerFamilyMax);
  for (std::string_view m : kMethodLabels) {
    auto& by_reason = auth_failures_[std::string(m)];
    for (std::string_view r : kReasonLabels) {
      by_reason[std::string(r)] = LabelledAuthFailureCounter(registry, m, r);
    }
  }
  std::vector<std::string> action_labels(actions.begin(),
                                         actions.begin() + std::min(actions.size(), kActionsMax));
  action_labels.emplace_back(kOther);
  for (const std::string& a : action_labels) {
    denials_[a] = DenialCounter(registry, a);
  }
  for (std::string_view s : kViolationSources) {
    violations_[std::string(s)] = registry->GetCounter(
        "cairn_integrity_violations_total", "Integrity violations found or reported, by source.",
        {{"source", std::string(s)}});
  }
  refused_ = registry->GetCounter("cairn_refused_connections_total",
                                   "Connections refused at accept: the peer is outside allow_cidrs, or the connection "
                                 "limits were reached.");
}

Counter* DenialCounter(MetricsRegistry* registry, std::string_view action) {
  assert(registry != nullptr);
  return registry->GetCounter("cairn_denials_total", "Calls the policy denied, by action.",
                              {{"action", std::string(action)}});
}

Counter* AuthFailureCounter(MetricsRegistry* registry, std::string_view method,
                            std::string_view reason) {
  assert(registry != nullptr);
  return LabelledAuthFailureCounter(registry, AuthMethodLabel(method),
                                    AuthFailureReasonLabel(reason));
}

Counter* AuditMetrics::AuthFailures(std::string_view method, std::string_view reason) const {
  auto by_reason = auth_failures_.find(AuthMethodLabel(method));
  assert(by_reason != auth_failures_.end());
  auto it = by_reason->second.find(AuthFailureReasonLabel(reason));
  assert(it != by_reason->second.end());
  return it->second;
}

void AuditMetrics::OnAuditRecord(const AuditRecord& record) {
  switch (record.kind) {
    case AuditKind::kAuthFailure:
      AuthFailures(record.auth_method, record.reason)->Increment();
      return;
    case AuditKind::kAccessDenied: {
      // An append quota's refusals (rule "quota[<i>]") are recorded at most once per principal per
      // 10 s and counted each in cairn_quota_refusals_total (server/append_quota.h): not policy
      // denials here.
      if (record.rule.starts_with(kQuotaRulePrefix)) return;
      auto it = denials_.find(record.action);
      if (it == denials_.end()) it = denials_.find(kOther);
      it->second->Increment();
      return;
    }
    case AuditKind::kConnectionRefused:
      refused_->Increment();
      return;
    case AuditKind::kIntegrityViolation:
      violations_.find(ViolationSource(record))->second->Increment();
      return;
    default:
      return;
  }
}

}  // namespace cairn::audit
