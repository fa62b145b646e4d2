#include "audit/audit_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "prom_parser.h"

namespace cairn::audit {
namespace CAIRN_UNITY_ID {

using cairn::testing::PromExposition;

PromExposition Scrape(const MetricsRegistry& registry) {
  return cairn::testing::ParseOrFail(registry.RenderPrometheus());
}

AuditRecord Record(AuditKind kind) {
  AuditRecord r;
  r.kind = kind;
  r.principal = "alice@example.com";
  r.source_ip = "192.0.2.7";
  r.resource = "orders-42";
  r.event_type = "OrderPlaced";
  return r;
}

class AuditMetricsTest : public ::testing::Test {
 protected:
  MetricsRegistry registry_;
  AuditMetrics metrics_{&registry_, {"append", "read", "admin"}};
};

TEST_F(AuditMetricsTest, AuthFailuresByMethodAndReasonFromAFixedTable) {
  AuditRecord r = Record(AuditKind::kAuthFailure);
  r.auth_method = "jwt";
  r.reason = "token expired";
  metrics_.OnAuditRecord(r);
  metrics_.OnAuditRecord(r);
  r.auth_method = "apikey";
  r.reason = "unknown api key";
  metrics_.OnAuditRecord(r);
  r.auth_method = "";
  r.reason = "no credentials";
  metrics_.OnAuditRecord(r);
  // An unknown reason or method is never a label value of its own.
  r.auth_method = "eyJhbGciOi";
  r.reason = "eyJhbGciOiJIUzI1NiJ9.secret-part";
  metrics_.OnAuditRecord(r);

  PromExposition e = Scrape(registry_);
  EXPECT_EQ(e.Value("cairn_auth_failures_total", {{"method", "jwt"}, {"reason", "expired"}}), 2);
  EXPECT_EQ(e.Value("cairn_auth_failures_total", {{"method", "apikey"}, {"reason", "untrusted"}}),
            1);
  EXPECT_EQ(
      e.Value("cairn_auth_failures_total", {{"method", "none"}, {"reason", "no_credentials"}}), 1);
  EXPECT_EQ(e.Value("cairn_auth_failures_total", {{"method", "other"}, {"reason", "other"}}), 1);
  for (const std::string& v : e.AllLabelValues()) {
    EXPECT_EQ(v.find("eyJ"), std::string::npos) << v;
    EXPECT_NE(v, "alice@example.com");
    EXPECT_NE(v, "192.0.2.7");
  }
}

TEST_F(AuditMetricsTest, DenialsRefusalsAndViolations) {
  AuditRecord d = Record(AuditKind::kAccessDenied);
  d.action = "append";
  metrics_.OnAuditRecord(d);
  d.action = "made-up";
  metrics_.OnAuditRecord(d);
  metrics_.OnAuditRecord(Record(AuditKind::kConnectionRefused));
  AuditRecord v = Record(AuditKind::kIntegrityViolation);
  v.action = "integrity.report";
  metrics_.OnAuditRecord(v);
  v.action = "scrub";
  v.details = {{"source", "scrub"}};
  metrics_.OnAuditRecord(v);
  metrics_.OnAuditRecord(Record(AuditKind::kAdmin));  // not counted here

  PromExposition e = Scrape(registry_);
  EXPECT_EQ(e.Value("cairn_denials_total", {{"action", "append"}}), 1);
  EXPECT_EQ(e.Value("cairn_denials_total", {{"action", "read"}}), 0);
  EXPECT_EQ(e.Value("cairn_denials_total", {{"action", "other"}}), 1);
  EXPECT_EQ(e.Value("cairn_refused_connections_total"), 1);
  EXPECT_EQ(e.Value("cairn_integrity_violations_total", {{"source", "report"}}), 1);
  EXPECT_EQ(e.Value("cairn_integrity_violations_total", {{"source", "scrub"}}), 1);
  for (const std::string& v : e.AllLabelValues()) {
    EXPECT_NE(v, "orders-42");
    EXPECT_NE(v, "OrderPlaced");
    EXPECT_NE(v, "made-up");
  }
}

TEST(AuditMetricsLabels, ReasonTable) {
  EXPECT_EQ(AuthFailureReasonLabel("signature invalid"), "bad_signature");
  EXPECT_EQ(AuthFailureReasonLabel("too many authentication failures"), "rate_limited");
  EXPECT_EQ(AuthFailureReasonLabel("token not yet valid"), "not_yet_valid");
  EXPECT_EQ(AuthFailureReasonLabel("malformed token"), "malformed");
  // A flood of tokens with unknown key ids (each may refetch the JWKS) is "untrusted", not other.
  EXPECT_EQ(AuthFailureReasonLabel("unknown key id"), "untrusted");
  EXPECT_EQ(AuthFailureReasonLabel("key id required"), "untrusted");
  EXPECT_EQ(AuthFailureReasonLabel("malformed basic credentials"), "malformed");
  // mTLS: a certificate past notAfter on a long-lived connection (checked on every call).
  EXPECT_EQ(AuthFailureReasonLabel("certificate expired"), "expired");
  EXPECT_EQ(AuthFailureReasonLabel("SPIFFE certificate has other URI SANs"), "untrusted");
  EXPECT_EQ(AuthFailureReasonLabel("Token Expired"), "other");
  EXPECT_EQ(AuthFailureReasonLabel(""), "other");
  EXPECT_EQ(AuthMethodLabel("mtls"), "mtls");
  EXPECT_EQ(AuthMethodLabel(""), "none");
  EXPECT_EQ(AuthMethodLabel("basic"), "other");
}

}  // namespace
}  // namespace cairn::audit
