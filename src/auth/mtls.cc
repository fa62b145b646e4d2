#include "auth/mtls.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <ctime>

namespace cairn::auth {
namespace {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool TypeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsTypeChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

Result<X509Ptr> ParsePem(std::string_view pem) {
  if (pem.empty() || pem.size() > kCertPemSizeMaxBytes) {
    return Status::Unauthenticated("invalid client certificate");
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status::Internal("out of memory");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::Unauthenticated("invalid client certificate");
  return cert;
}

// The SPIFFE ID syntax (SPIFFE-ID standard §2): "spiffe://" + a trust domain of [a-z0-9.-_] +
// a path of "/"-separated segments of [A-Za-z0-9.-_], none empty, "." or "..". No port, user,
// query, fragment or percent-encoding: one workload has one spelling, so a deny on it holds.
bool IsValidSpiffeId(std::string_view id) {
  constexpr std::string_view kScheme = "spiffe://";
  if (id.substr(0, kScheme.size()) != kScheme) return false;
  id.remove_prefix(kScheme.size());
  const size_t slash = id.find('/');
  const std::string_view domain = id.substr(0, slash);
  if (domain.empty() || domain.size() > 255) return false;
  for (char c : domain) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) return false;
  }
  if (slash == std::string_view::npos) return true;
  std::string_view path = id.substr(slash);
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const std::string_view segment = path.substr(0, path.find('/'));
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
            c == '-' || c == '_')) {
        return false;
      }
    }
    path.remove_prefix(segment.size());
  }
  return true;
}

// The URI SANs of a certificate that bear on its SPIFFE identity.
struct UriSans {
  std::string spiffe_id;  // "" when there is none
  int uri_count = 0;      // every URI SAN, SPIFFE or not
};

// The SPIFFE ID among the URI SANs: none, or an error when there are several or the one present
// is not a valid SPIFFE ID (IsValidSpiffeId).
Result<UriSans> ReadUriSans(X509* cert) {
  int crit = -1;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr));
  if (names == nullptr) {
    if (crit == -1) return UriSans{};  // no SAN extension
    return Status::Unauthenticated("invalid client certificate");
  }
  UriSans out;
  int spiffe_count = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_URI) continue;
    ++out.uri_count;
    const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
    std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                          static_cast<size_t>(ASN1_STRING_length(uri)));
    if (text.substr(0, 9) != "spiffe://") continue;
    ++spiffe_count;
    out.spiffe_id = std::string(text);
  }
  GENERAL_NAMES_free(names);
  if (spiffe_count > 1) return Status::Unauthenticated("certificate has several SPIFFE IDs");
  if (spiffe_count == 1 &&
      (out.spiffe_id.size() > kSpiffeIdSizeMaxBytes || !IsValidSpiffeId(out.spiffe_id))) {
    return Status::Unauthenticated("invalid SPIFFE ID");
  }
  return out;
}

// "prod.acme" of "spiffe://prod.acme/billing" (the ID is valid: IsValidSpiffeId).
std::string_view TrustDomainOf(std::string_view spiffe_id) {
  spiffe_id.remove_prefix(std::string_view("spiffe://").size());
  return spiffe_id.substr(0, spiffe_id.find('/'));
}

std::string SubjectRfc2253(X509* cert) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (!bio) return "";
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

int64_t NotAfterUnixS(X509* cert) {
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// Parses a principal template; on success `attrs_used` lists the placeholder types.
bool CheckTemplate(std::string_view t, std::vector<std::string>* attrs_used) {
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '{') {
      if (i + 1 < t.size() && t[i + 1] == '{') {
        ++i;
        continue;
      }
      size_t end = t.find('}', i);
      if (end == std::string_view::npos || end == i + 1) return false;
      std::string_view type = t.substr(i + 1, end - i - 1);
      for (char x : type) {
        if (!IsTypeChar(x)) return false;
      }
      attrs_used->emplace_back(type);
      i = end;
    } else if (c == '}') {
      if (i + 1 < t.size() && t[i + 1] == '}') {
        ++i;
        continue;
      }
      return false;
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return false;
    }
  }
  return true;
}

const DnAttribute* FindType(const std::vector<DnAttribute>& dn, std::string_view type) {
  for (const DnAttribute& a : dn) {
    if (TypeEquals(a.type, type)) return &a;
  }
  return nullptr;
}

// Expands a checked template with the values of `dn`.
std::string Expand(std::string_view t, const std::vector<DnAttribute>& dn) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      out.push_back(c);
      ++i;
    } else if (c == '{') {
      size_t end = t.find('}', i);
      assert(end != std::string_view::npos);
      const DnAttribute* a = FindType(dn, t.substr(i + 1, end - i - 1));
      assert(a != nullptr);  // same types as the matched pattern
      out += a->value;
      i = end;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The attributes [begin, end) of each RDN: a run of attributes joined by '+'.
std::vector<std::pair<size_t, size_t>> Rdns(const std::vector<DnAttribute>& attrs) {
  std::vector<std::pair<size_t, size_t>> rdns;
  size_t begin = 0;
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (!attrs[i].joins_next) {
      rdns.emplace_back(begin, i + 1);
      begin = i + 1;
    }
  }
  if (begin < attrs.size()) rdns.emplace_back(begin, attrs.size());  // a trailing '+' (none in practice)
  return rdns;
}

bool AttributeMatches(const DnAttribute& p, const DnAttribute& d) {
  return TypeEquals(p.type, d.type) && (p.wildcard || p.value == d.value);
}

// One RDN of the pattern against one of the DN: the same attributes in any order (DER sorts a
// multi-valued RDN's members by their encoding, so the printed order depends on the values).
// Exact values are matched first, then wildcards take what is left of their type.
bool RdnMatches(const std::vector<DnAttribute>& pattern, std::pair<size_t, size_t> p,
                const std::vector<DnAttribute>& dn, std::pair<size_t, size_t> d) {
  if (p.second - p.first != d.second - d.first) return false;
  std::vector<bool> used(d.second - d.first, false);
  for (bool wildcards : {false, true}) {
    for (size_t i = p.first; i < p.second; ++i) {
      if (pattern[i].wildcard != wildcards) continue;
      bool found = false;
      for (size_t j = d.first; j < d.second && !found; ++j) {
        if (used[j - d.first] || !AttributeMatches(pattern[i], dn[j])) continue;
        used[j - d.first] = true;
        found = true;
      }
      if (!found) return false;
    }
  }
  return true;
}

bool Matches(const std::vector<DnAttribute>& pattern, const std::vector<DnAttribute>& dn) {
  if (pattern.size() != dn.size()) return false;
  const auto pattern_rdns = Rdns(pattern);
  const auto dn_rdns = Rdns(dn);
  if (pattern_rdns.size() != dn_rdns.size()) return false;
  for (size_t r = 0; r < dn_rdns.size(); ++r) {
    if (!RdnMatches(pattern, pattern_rdns[r], dn, dn_rdns[r])) return false;
  }
  return true;
}

// True for "spiffe:" in any case: a principal name only a URI SAN may give.
bool StartsWithSpiffeScheme(std::string_view name) {
  constexpr std::string_view kScheme = "spiffe:";
  if (name.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kScheme[i]) return false;
  }
  return true;
}

}  // namespace

bool ParseRfc2253(std::string_view dn, std::vector<DnAttribute>* out) {
  out->clear();
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dn.size() && dn[i] == ' ') ++i;
  };
  while (true) {
    if (out->size() >= kDnAttributesMax) return false;
    DnAttribute attr;
    skip_spaces();
    while (i < dn.size() && IsTypeChar(dn[i])) attr.type.push_back(dn[i++]);
    skip_spaces();
    if (attr.type.empty() || i >= dn.size() || dn[i] != '=') return false;
    ++i;
    skip_spaces();
    bool escaped_any = false;
    size_t trailing_spaces = 0;  // unescaped spaces at the end of the value, trimmed
    while (i < dn.size() && dn[i] != ',' && dn[i] != '+') {
      char c = dn[i];
      if (c == '\\') {
        if (i + 1 >= dn.size()) return false;
        int h1 = HexDigit(dn[i + 1]);
        int h2 = i + 2 < dn.size() ? HexDigit(dn[i + 2]) : -1;
        if (h1 >= 0 && h2 >= 0) {
          attr.value.push_back(static_cast<char>(h1 * 16 + h2));
          i += 3;
        } else {
          attr.value.push_back(dn[i + 1]);
          i += 2;
        }
        escaped_any = true;
        trailing_spaces = 0;
        continue;
      }
      attr.value.push_back(c);
      trailing_spaces = (c == ' ') ? trailing_spaces + 1 : 0;
      ++i;
    }
    attr.value.resize(attr.value.size() - trailing_spaces);
    attr.wildcard = !escaped_any && attr.value == "*";
    attr.joins_next = i < dn.size() && dn[i] == '+';
    out->push_back(std::move(attr));
    if (i >= dn.size()) break;
    ++i;  // ',' or '+'
  }
  return !out->empty();
}

Result<std::string> CertificateSubjectRfc2253(std::string_view pem) {
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParsePem(pem));
  return SubjectRfc2253(cert.get());
}

Result<std::unique_ptr<MtlsMapper>> MtlsMapper::Create(const MtlsConfig& config) {
  if (config.rules.size() > kMtlsRulesMax) return Status::InvalidArgument("more than 1024 mtls rules");
  std::unique_ptr<MtlsMapper> m(new MtlsMapper());
  if (config.spiffe_trust_domains.size() > kSpiffeTrustDomainsMax) {
    return Status::InvalidArgument("auth.mtls.spiffe_trust_domains: more than 64 trust domains");
  }
  for (const std::string& domain : config.spiffe_trust_domains) {
    // A trust domain is valid when "spiffe://<domain>" is a valid SPIFFE ID (no path).
    if (domain.find('/') != std::string::npos || !IsValidSpiffeId("spiffe://" + domain)) {
      return Status::InvalidArgument("auth.mtls.spiffe_trust_domains: \"" + domain +
                                     "\" is not a SPIFFE trust domain (lowercase letters, digits, "
                                     "'.', '-', '_')");
    }
    m->spiffe_trust_domains_.push_back(domain);
  }
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const std::string where = "auth.mtls.rules[" + std::to_string(i) + "]: ";
    Rule rule;
    if (!ParseRfc2253(config.rules[i].match, &rule.match)) {
      return Status::InvalidArgument(where + "match is not an RFC 2253 DN pattern");
    }
    std::vector<std::string> used;
    const std::string& t = config.rules[i].principal;
    if (t.empty() || t.size() > kMtlsNameSizeMaxBytes || !CheckTemplate(t, &used)) {
      return Status::InvalidArgument(where + "principal must be 1..256 printable characters with {TYPE} placeholders");
    }
    for (const std::string& type : used) {
      if (FindType(rule.match, type) == nullptr) {
        return Status::InvalidArgument(where + "placeholder {" + type + "} is not in match");
      }
    }
    rule.principal = t;
    m->rules_.push_back(std::move(rule));
  }
  return m;
}

Result<Principal> MtlsMapper::Map(std::string_view cert_pem) const {
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParsePem(cert_pem));
  Principal p;
  p.method = AuthMethod::kMtls;
  p.expires_unix_s = NotAfterUnixS(cert.get());
  CAIRN_ASSIGN_OR_RETURN(UriSans sans, ReadUriSans(cert.get()));
  if (!sans.spiffe_id.empty() &&
      std::find(spiffe_trust_domains_.begin(), spiffe_trust_domains_.end(),
                TrustDomainOf(sans.spiffe_id)) != spiffe_trust_domains_.end()) {
    if (sans.uri_count != 1) return Status::Unauthenticated("SPIFFE certificate has other URI SANs");
    p.id = "mtls:" + sans.spiffe_id;
    return p;
  }
  std::vector<DnAttribute> dn;
  if (!ParseRfc2253(SubjectRfc2253(cert.get()), &dn)) {
    return Status::Unauthenticated("certificate not mapped");
  }
  for (const Rule& rule : rules_) {
    if (!Matches(rule.match, dn)) continue;
    std::string name = Expand(rule.principal, dn);
    if (name.empty() || name.size() > kMtlsNameSizeMaxBytes || !PrintableAscii(name)) {
      return Status::Unauthenticated("certificate not mapped");
    }
    // SPIFFE ids come from a URI SAN only: a subject DN whose attributes expand to one (a CA
    // that issued "CN=spiffe://prod/admin") must not become that workload's principal.
    if (StartsWithSpiffeScheme(name)) return Status::Unauthenticated("certificate not mapped");
    p.id = "mtls:" + name;
    return p;
  }
  return Status::Unauthenticated("certificate not mapped");
}

}  // namespace cairn::auth
