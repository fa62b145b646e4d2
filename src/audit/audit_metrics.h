// AuditMetrics: an AuditListener that turns audit records into counters, so that failed logins,
// denials, refused connections and integrity violations show on /metrics without a second code
// path at every call site.
//
//   cairn_auth_failures_total{method,reason}   method: jwt | apikey | mtls | none | other;
//                                              reason: the authenticator's reason text mapped by
//                                              a fixed table to no_credentials | malformed |
//                                              expired | not_yet_valid | bad_signature |
//                                              untrusted | rate_limited | other
//   cairn_denials_total{action}                action: one of the names given at construction
//                                              (the policy actions), else "other"
//   cairn_refused_connections_total            peers outside server.allow_cidrs
//   cairn_integrity_violations_total{source}   source: scrub | report | other
//
// Labels come only from these closed sets, never from a record's principal, address, resource or
// event type. Every series is registered at construction (so rates start from 0).
//
// Thread safety: OnAuditRecord is called from any thread; it only reads constant tables and
// increments atomics. The registry must outlive this object.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/metrics.h"
#include "audit/record.h"

namespace cairn::audit {

// The label value for an auth failure reason / method (exposed for tests). Texts not in the
// fixed table count as "other".
std::string_view AuthFailureReasonLabel(std::string_view reason);
std::string_view AuthMethodLabel(std::string_view method);

// The cairn_auth_failures_total series for `method` and `reason` (mapped as above), registered
// on first use: for failures counted without an audit record (a rate-limited source's repeated
// refusals, server/call_audit.h).
Counter* AuthFailureCounter(MetricsRegistry* registry, std::string_view method,
                            std::string_view reason);

// The cairn_denials_total series for `action` (one of the names AuditMetrics was given), for
// policy denials counted without an audit record (a principal's denials beyond its share of the
// trail, server/denial_throttle.h).
Counter* DenialCounter(MetricsRegistry* registry, std::string_view action);

class AuditMetrics final : public AuditListener {
 public:
  // `actions`: the closed set of action names denials are counted under (at most 32).
  AuditMetrics(MetricsRegistry* registry, const std::vector<std::string>& actions);

  void OnAuditRecord(const AuditRecord& record) override;

 private:
  Counter* AuthFailures(std::string_view method, std::string_view reason) const;

  // method label → reason label → counter; filled at construction, read-only afterwards.
  std::map<std::string, std::map<std::string, Counter*, std::less<>>, std::less<>> auth_failures_;
  std::map<std::string, Counter*, std::less<>> denials_;
  std::map<std::string, Counter*, std::less<>> violations_;
  Counter* refused_ = nullptr;
};

}  // namespace cairn::audit
