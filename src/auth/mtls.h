// mTLS client certificates → principals.
//
// The TLS layer has already verified the certificate chain; this only names the caller.
//  1. A URI SAN starting with "spiffe://" whose trust domain is one of spiffe_trust_domains is
//     the identity: principal "mtls:" + that URI. Such a certificate must carry exactly one URI
//     SAN (an X.509-SVID does). A SPIFFE ID of another trust domain (or any, when the list is
//     empty) is not an identity; the DN rules decide. The list names domains, not CAs: which CA
//     issued the certificate is not checked here (the TLS layer accepted it against client_ca).
//     More than one SPIFFE URI SAN, or one outside the SPIFFE ID syntax, is refused
//     (ambiguous). The URI must be printable ASCII, ≤ 2048.
//  2. Otherwise the subject DN, printed as RFC 2253 text (X509_NAME_print_ex, XN_FLAG_RFC2253:
//     most specific attribute first, e.g. "CN=billing,OU=payments,O=Acme"), is matched against
//     the configured rules in order; the first match names the principal "mtls:" + name.
//     No match → kUnauthenticated "certificate not mapped".
//
// Rule syntax.
//   match:     an RFC 2253 DN whose attribute values may be `*`:
//                "CN=*,OU=payments,O=Acme"
//              Both the pattern and the certificate DN are split into attributes at unescaped ','
//              and '+' ('+' joins the attributes of one multi-valued RDN). A pattern matches when
//              it has the same RDNs in the same order (a ',' where the DN has a '+' does not
//              match; within one multi-valued RDN the attributes may come in any order, as DER
//              sorts them by value), each attribute type equals (ASCII case-insensitive, e.g.
//              "cn" = "CN") the DN's type at the same position, and each value is `*` (any
//              value, including empty) or equals the DN's value exactly (case-sensitive, after
//              RFC 2253 unescaping of both, so "O=Acme\, Inc." works). A literal star value is
//              written `\*`.
//   principal: the name, in which `{TYPE}` (e.g. `{CN}`, `{OU}`) is replaced by the value of
//              the first attribute of that type in the matched DN; `{{` and `}}` are literal
//              braces. Every placeholder must name an attribute type present in `match` (checked
//              when the rules are loaded). The resulting name must be 1..256 bytes of printable
//              ASCII; a substituted value that would break that refuses the certificate.
//   Example: { match = "CN=*,OU=payments,O=Acme", principal = "payments/{CN}" } maps the
//            certificate "CN=ledger,OU=payments,O=Acme" to principal "mtls:payments/ledger".
//
// Limits: PEM ≤ kCertPemSizeMaxBytes, ≤ kMtlsRulesMax rules, ≤ 32 attributes per DN,
// ≤ kSpiffeTrustDomainsMax trust domains (each a valid SPIFFE trust domain name).
// Errors: kUnauthenticated "certificate not mapped" / "invalid client certificate"; rule errors
// at load are kInvalidArgument. Thread safety: immutable after Create; Map() is thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_config.h"
#include "common/principal.h"
#include "common/status.h"

namespace cairn::auth {

inline constexpr size_t kCertPemSizeMaxBytes = 64 * 1024;
inline constexpr size_t kMtlsRulesMax = 1024;
inline constexpr size_t kDnAttributesMax = 32;
inline constexpr size_t kMtlsNameSizeMaxBytes = 256;
inline constexpr size_t kSpiffeIdSizeMaxBytes = 2048;
inline constexpr size_t kSpiffeTrustDomainsMax = 64;

struct DnAttribute {
  std::string type;   // as written ("CN", "OU", "1.2.3.4")
  std::string value;  // unescaped
  bool wildcard = false;  // only in patterns: the value was an unescaped `*`
  bool joins_next = false;  // a '+' follows: the next attribute is in the same RDN
};

// Splits an RFC 2253 DN into attributes (see the syntax above); false when malformed.
bool ParseRfc2253(std::string_view dn, std::vector<DnAttribute>* out);

// The subject DN of the certificate in `pem`, as RFC 2253 text.
Result<std::string> CertificateSubjectRfc2253(std::string_view pem);

class MtlsMapper {
 public:
  static Result<std::unique_ptr<MtlsMapper>> Create(const MtlsConfig& config);

  // Principal{"mtls:" + name, {}, kMtls, certificate notAfter (0 if unknown)}.
  Result<Principal> Map(std::string_view cert_pem) const;

 private:
  struct Rule {
    std::vector<DnAttribute> match;
    std::string principal;
  };
  MtlsMapper() = default;
  std::vector<Rule> rules_;
  std::vector<std::string> spiffe_trust_domains_;
};

}  // namespace cairn::auth
