#include "auth/mtls.h"

#include <gtest/gtest.h>

#include "auth_test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

using testing::MakeCertificate;

std::unique_ptr<MtlsMapper> Mapper(std::vector<MtlsRule> rules,
                                   std::vector<std::string> trust_domains = {"acme.org", "a"}) {
  auto m = MtlsMapper::Create(MtlsConfig{std::move(rules), std::move(trust_domains)});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(MtlsTest, SpiffeUriSanIsThePrincipal) {
  auto m = Mapper({});
  std::string cert = MakeCertificate({{"O", "Acme"}, {"CN", "ignored"}},
                                     {"spiffe://acme.org/ns/prod/sa/billing"});
  auto r = m->Map(cert);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "mtls:spiffe://acme.org/ns/prod/sa/billing");
  EXPECT_EQ(r->method, AuthMethod::kMtls);
  EXPECT_TRUE(r->roles.empty());
  EXPECT_GT(r->expires_unix_s, 0);
  // Two SPIFFE IDs are ambiguous.
  std::string two = MakeCertificate({{"CN", "x"}}, {"spiffe://a/1", "spiffe://a/2"});
  EXPECT_FALSE(m->Map(two).ok());
}

// An X.509-SVID carries exactly one URI SAN: a certificate that adds another beside its SPIFFE
// ID is refused, not mapped by the SPIFFE ID.
TEST(MtlsTest, ASpiffeCertificateWithAnotherUriSanIsRefused) {
  auto m = Mapper({{"CN=*,O=Acme", "{CN}"}});
  std::string cert = MakeCertificate({{"O", "Acme"}, {"CN", "x"}},
                                     {"https://example.com/x", "spiffe://acme.org/billing"});
  auto r = m->Map(cert);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
}

// Only listed trust domains name a caller: a SPIFFE ID from any other (a corporate CA in the same
// bundle issuing "spiffe://evil.example/admin") is no identity, and the DN rules decide.
TEST(MtlsTest, SpiffeIdsOfUnlistedTrustDomainsAreNotIdentities) {
  std::string evil = MakeCertificate({{"O", "Acme"}, {"CN", "intruder"}}, {"spiffe://evil.example/admin"});
  auto no_rules = Mapper({});
  auto r = no_rules->Map(evil);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  auto ruled = Mapper({{"CN=*,O=Acme", "{CN}"}});
  r = ruled->Map(evil);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "mtls:intruder");
  // With no trust domain listed, SPIFFE IDs are not used at all.
  auto none = Mapper({{"CN=*,O=Acme", "{CN}"}}, {});
  r = none->Map(MakeCertificate({{"O", "Acme"}, {"CN", "billing"}}, {"spiffe://acme.org/billing"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "mtls:billing");
  // A trust domain is matched whole: "acme.org" does not admit "acme.org.evil".
  r = no_rules->Map(MakeCertificate({{"CN", "x"}}, {"spiffe://acme.org.evil/billing"}));
  EXPECT_FALSE(r.ok());
}

TEST(MtlsTest, TrustDomainsOutsideTheSyntaxAreRefusedAtLoad) {
  for (const char* bad : {"", "ACME.org", "acme.org/ns", "spiffe://acme.org", "acme org", "acme:443"}) {
    auto m = MtlsMapper::Create(MtlsConfig{{}, {bad}});
    EXPECT_FALSE(m.ok()) << bad;
    if (!m.ok()) EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(MtlsMapper::Create(MtlsConfig{{}, {"prod.acme-corp_1.example"}}).ok());
}

// One workload, one spelling: SPIFFE IDs outside the standard's syntax (which would each be
// another principal, and so slip past a deny on the canonical one) are refused.
TEST(MtlsTest, SpiffeIdsOutsideTheStandardSyntaxAreRefused) {
  auto m = Mapper({}, {"prod", "a-b.c_d"});
  for (const char* good : {"spiffe://prod/admin", "spiffe://prod", "spiffe://a-b.c_d/x.y/Z-9_"}) {
    auto r = m->Map(MakeCertificate({{"CN", "x"}}, {good}));
    ASSERT_TRUE(r.ok()) << good << ": " << r.status().ToString();
    EXPECT_EQ(r->id, std::string("mtls:") + good);
  }
  for (const char* bad : {"spiffe:///admin", "spiffe://prod//admin", "spiffe://prod/a/../admin",
                          "spiffe://prod/./admin", "spiffe://PROD/admin", "spiffe://prod/admin?x",
                          "spiffe://prod/admin#f", "spiffe://prod:443/admin", "spiffe://u@prod/admin",
                          "spiffe://prod/ad%6Din", "spiffe://prod/admin/", "spiffe://"}) {
    auto r = m->Map(MakeCertificate({{"CN", "x"}}, {bad}));
    ASSERT_FALSE(r.ok()) << bad << " became " << r->id;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << bad;
  }
}

TEST(MtlsTest, SubjectDnRulesWithWildcardAndPlaceholder) {
  auto m = Mapper({{"CN=admin,OU=ops,O=Acme", "ops-admin"},
                   {"CN=*,OU=payments,O=Acme", "payments/{CN}"},
                   {"cn=*, ou=*, o=Acme", "acme/{OU}/{cn}"}});
  auto name = [&](std::vector<std::pair<std::string, std::string>> subject) -> std::string {
    auto r = m->Map(MakeCertificate(subject, {}));
    return r.ok() ? r->id : "rejected: " + r.status().message();
  };
  EXPECT_EQ(name({{"O", "Acme"}, {"OU", "payments"}, {"CN", "ledger"}}), "mtls:payments/ledger");
  EXPECT_EQ(name({{"O", "Acme"}, {"OU", "ops"}, {"CN", "admin"}}), "mtls:ops-admin");
  EXPECT_EQ(name({{"O", "Acme"}, {"OU", "ops"}, {"CN", "bob"}}), "mtls:acme/ops/bob");
  // No rule matches: a different O, a different attribute count, different order.
  EXPECT_EQ(name({{"O", "Evil"}, {"OU", "payments"}, {"CN", "ledger"}}), "rejected: certificate not mapped");
  EXPECT_EQ(name({{"OU", "payments"}, {"CN", "ledger"}}), "rejected: certificate not mapped");
  EXPECT_EQ(name({{"C", "DE"}, {"O", "Acme"}, {"OU", "payments"}, {"CN", "ledger"}}),
            "rejected: certificate not mapped");
  EXPECT_EQ(name({{"CN", "ledger"}, {"OU", "payments"}, {"O", "Acme"}}), "rejected: certificate not mapped");
  // Values are compared exactly.
  EXPECT_EQ(name({{"O", "acme"}, {"OU", "payments"}, {"CN", "ledger"}}), "rejected: certificate not mapped");
}

// A multi-valued RDN ("CN=x+OU=payments") is one RDN, not two: a rule written for separate CN and
// OU RDNs does not match it, and a rule with the same '+' does.
TEST(MtlsTest, RulesMatchTheDnsRdnStructure) {
  // CNs of different lengths: DER sorts a multi-valued RDN's members by their encoding, so the
  // printed order of CN and OU differs between these two; one pattern (either order) fits both.
  for (const std::string cn : {"x", "ledger-service-with-a-long-name"}) {
    const std::string joined =
        MakeCertificate({{"O", "Acme"}, {"OU", "payments"}, {"+CN", cn}}, {});
    auto subject = CertificateSubjectRfc2253(joined);
    ASSERT_TRUE(subject.ok());
    ASSERT_NE(subject->find('+'), std::string::npos) << *subject;
    auto separate = Mapper({{"CN=*,OU=payments,O=Acme", "payments/{CN}"}});
    auto r = separate->Map(joined);
    EXPECT_FALSE(r.ok()) << *subject << " mapped to " << (r.ok() ? r->id : "");
    for (const char* pattern : {"CN=*+OU=payments,O=Acme", "OU=payments+CN=*,O=Acme"}) {
      auto same = Mapper({{pattern, "payments/{CN}"}});
      r = same->Map(joined);
      ASSERT_TRUE(r.ok()) << pattern << " vs " << *subject << ": " << r.status().ToString();
      EXPECT_EQ(r->id, "mtls:payments/" + cn);
      // And the other way round: a '+' rule does not match separate RDNs.
      EXPECT_FALSE(same->Map(MakeCertificate({{"O", "Acme"}, {"OU", "payments"}, {"CN", cn}}, {})).ok());
    }
    // The values still count: another OU in the RDN does not match.
    auto other = Mapper({{"CN=*+OU=billing,O=Acme", "{CN}"}});
    EXPECT_FALSE(other->Map(joined).ok());
  }
}

TEST(MtlsTest, EscapedValues) {
  auto m = Mapper({{"CN=*,O=Acme\\, Inc.", "acme/{CN}"}});
  auto r = m->Map(MakeCertificate({{"O", "Acme, Inc."}, {"CN", "svc"}}, {}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "mtls:acme/svc");
  // A CN that needs escaping cannot inject an attribute boundary.
  auto m2 = Mapper({{"CN=*,O=Acme", "{CN}"}});
  auto inj = m2->Map(MakeCertificate({{"CN", "x,O=Acme"}}, {}));
  EXPECT_FALSE(inj.ok());
  // A substituted value that is not printable ASCII is refused.
  EXPECT_FALSE(m2->Map(MakeCertificate({{"O", "Acme"}, {"CN", "caf\xc3\xa9"}}, {})).ok());
}

// A SPIFFE principal comes from a URI SAN only: a certificate whose subject DN expands to a
// SPIFFE id (any case) through a mapping rule does not become that workload.
TEST(MtlsTest, ADnRuleCannotYieldASpiffePrincipal) {
  auto m = Mapper({{"CN=*,O=Acme", "{CN}"}});
  for (const char* cn : {"spiffe://prod/admin", "SPIFFE://prod/admin", "Spiffe:x"}) {
    auto r = m->Map(MakeCertificate({{"O", "Acme"}, {"CN", cn}}, {}));
    EXPECT_FALSE(r.ok()) << cn << " became " << (r.ok() ? r->id : "");
  }
  auto ok = m->Map(MakeCertificate({{"O", "Acme"}, {"CN", "spiffe-reporter"}}, {}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->id, "mtls:spiffe-reporter");
}

TEST(MtlsTest, NoRulesNoSpiffeIsRejected) {
  auto m = Mapper({});
  auto r = m->Map(MakeCertificate({{"CN", "x"}}, {}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "certificate not mapped");
  EXPECT_FALSE(m->Map("not a pem").ok());
  EXPECT_FALSE(m->Map("").ok());
}

TEST(MtlsTest, RuleValidation) {
  EXPECT_FALSE(MtlsMapper::Create({{{"CN=*", "{OU}"}}}).ok());        // placeholder not in match
  EXPECT_FALSE(MtlsMapper::Create({{{"CN=*", "{CN"}}}).ok());         // unterminated
  EXPECT_FALSE(MtlsMapper::Create({{{"CN=*", ""}}}).ok());
  EXPECT_FALSE(MtlsMapper::Create({{{"", "x"}}}).ok());
  EXPECT_FALSE(MtlsMapper::Create({{{"CN", "x"}}}).ok());
  EXPECT_FALSE(MtlsMapper::Create({{{"CN=*", "a\nb"}}}).ok());
  EXPECT_TRUE(MtlsMapper::Create({{{"CN=*", "{{literal}}-{cn}"}}}).ok());
  auto m = Mapper({{"CN=*", "{{x}}-{CN}"}});
  auto r = m->Map(MakeCertificate({{"CN", "svc"}}, {}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "mtls:{x}-svc");
}

TEST(MtlsTest, ParseRfc2253) {
  std::vector<DnAttribute> a;
  ASSERT_TRUE(ParseRfc2253("CN=a\\,b,OU=x+UID=7,O=\\41cme", &a));
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].value, "a,b");
  EXPECT_EQ(a[1].type, "OU");
  EXPECT_EQ(a[2].type, "UID");
  EXPECT_EQ(a[3].value, "Acme");
  ASSERT_TRUE(ParseRfc2253("CN=*,O=\\*", &a));
  EXPECT_TRUE(a[0].wildcard);
  EXPECT_FALSE(a[1].wildcard);
  EXPECT_FALSE(ParseRfc2253("CN=a,", &a));
  EXPECT_FALSE(ParseRfc2253("=a", &a));
  EXPECT_FALSE(ParseRfc2253("CN=a\\", &a));
  auto subject = CertificateSubjectRfc2253(MakeCertificate({{"O", "Acme"}, {"CN", "x"}}, {}));
  ASSERT_TRUE(subject.ok());
  EXPECT_EQ(*subject, "CN=x,O=Acme");
}

}  // namespace
}  // namespace cairn::auth
