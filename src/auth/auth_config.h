// Authentication settings, as read from the `[auth]` tables of the configuration file
// (server/config parses the TOML; auth/ consumes these plain values and validates them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cairn::auth {

// One trusted JWT issuer ([[auth.jwt]]). Keys come from `jwks_file` or `jwks_url` (exactly one).
// Each JWK pins its algorithm: RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA,
// oct (≥ 32 bytes) → HS256. The token's `alg` header must equal the key's algorithm.
struct JwtIssuerConfig {
  std::string issuer;                     // required; equals the token's `iss`
  // The issuer's short name: its principals are jwt:<name>:<sub> (jwt:<sub> without one). With
  // several issuers at most one may go without a name, and names are unique: a `sub` is unique
  // only within its issuer (RFC 7519 4.1.2), so one issuer must not name another's principals.
  std::string name;                       // [A-Za-z0-9._-]{1,64}, or empty
  std::string audience;                   // required; one of the token's `aud`
  std::string jwks_file;                  // a JWKS document on disk
  std::string jwks_url;                   // https:// only (http:// only for loopback in tests)
  std::string jwks_ca_file;               // CA bundle for jwks_url; empty = system store
  std::string roles_claim = "roles";      // claim holding a string or an array of strings
  // The roles this issuer may assert (`roles_allowed`): claimed roles not listed are dropped
  // (the token is still accepted, with the listed ones). Unset: every claimed role counts; an
  // empty list: none does (an issuer trusted for identity only; bindings give the roles).
  std::optional<std::vector<std::string>> roles_allowed;  // at most kRolesMax names
  // The token type this issuer's tokens must declare in their `typ` header: "" (none required;
  // a `typ` present must still be JWT or at+jwt), "at+jwt" (RFC 9068 access tokens: an OIDC ID
  // token of the same provider, with the same audience, is then refused) or "jwt".
  // Compared case-insensitively, with or without "application/" (RFC 7515 4.1.9).
  std::string require_typ;
  int64_t leeway_s = 30;                  // clock skew allowed on exp/nbf/iat; 0..60
  int64_t jwks_refresh_interval_s = 300;  // periodic refetch of jwks_url / reread of jwks_file
  int64_t jwks_refetch_min_interval_s = 30;  // rate limit of refetches on an unknown kid
};

// One API key ([[auth.api_keys]]): only the hash of the whole key string is configured.
struct ApiKeyConfig {
  std::string id;                         // [A-Za-z0-9-]{1,64}; the key is cairn_<id>_<secret>
  std::string secret_sha256;              // lowercase hex SHA-256 of the whole key string
  std::vector<std::string> roles;
  std::optional<int64_t> expires_unix_s;  // from `expires` (RFC 3339 in the file)
  std::optional<int64_t> created_unix_s;  // from `created`: only for the key-age posture check
};

// One mTLS mapping rule ([auth.mtls] rules = [{ match = "...", principal = "..." }, ...]).
// Rules are tried in order on the client certificate's subject DN (RFC 2253 text, e.g.
// "CN=billing,O=Acme"); the first match names the principal. A SPIFFE URI SAN, when present,
// is the principal without any rule.
struct MtlsRule {
  std::string match;      // DN pattern; see auth/mtls.h for the syntax
  std::string principal;  // name, may reference RDN values of the match (see auth/mtls.h)
};

struct MtlsConfig {
  std::vector<MtlsRule> rules;
  // SPIFFE trust domains whose IDs name the caller ("prod.acme.example"); empty = SPIFFE IDs are
  // not used and the subject DN rules decide (see auth/mtls.h).
  std::vector<std::string> spiffe_trust_domains;
};

struct AuthConfig {
  std::vector<JwtIssuerConfig> jwt;
  std::vector<ApiKeyConfig> api_keys;
  MtlsConfig mtls;
  int64_t failures_per_minute_max = 30;   // per source address, then UNAUTHENTICATED at once
  int64_t failure_sources_max = 10000;    // bound on tracked addresses (memory)
};

}  // namespace cairn::auth
