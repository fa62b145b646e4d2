// JWT bearer tokens (RFC 7519) signed as compact JWS (RFC 7515), verified per RFC 8725.
//
// What is accepted:
//   - exactly three base64url parts without padding, the whole token ≤ kJwtSizeMaxBytes, the
//     signature part non-empty;
//   - a header that is a JSON object with `alg` ∈ {RS256, ES256, EdDSA, HS256} (exact case;
//     "none" in any spelling is refused), optional `kid` (see IsValidKid), optional `typ` equal
//     to "JWT" or "at+jwt" (case-insensitive), no `crit`. `jku`, `jwk`, `x5u`, `x5c` are ignored:
//     keys only ever come from the configured JWKS, nothing is fetched because a token says so;
//   - a payload that is a JSON object without duplicate keys.
// Key selection: the issuer is found by the (not yet verified) `iss` claim; the `kid` is looked
// up only among THAT issuer's keys, so a key of another trusted issuer never verifies a token.
// Without a kid the issuer must have exactly one key. An unknown kid triggers one rate-limited
// JWKS refetch (JwksSource::RefetchForUnknownKid), then the lookup is tried once more. The
// token's `alg` must equal the algorithm the key pins (auth/jwk.h): this is what defeats
// "alg: none" and "HS256 keyed with the RSA public key".
// Claims: `exp` required (a number); rejected when now > exp + leeway; `nbf` when present:
// rejected when now + leeway < nbf; `iat` when present: rejected when now + leeway < iat; `aud`
// (string or array of strings) must contain the configured audience; `sub` required, 1..256
// bytes, no control characters. Roles come from `roles_claim`: absent = none, a string = one
// role, an array of strings = those roles (≤ kRolesMax, each 1..kRoleSizeMaxBytes); any other
// type rejects the token. With `roles_allowed` set, claimed roles outside it are dropped: each
// issuer asserts only the roles it is trusted with (a partner's IdP cannot claim "admin").
//
// Errors: always kUnauthenticated with a short generic reason ("token expired", "unknown key
// id", "signature invalid", "issuer not trusted", ...). Messages never contain the token, a
// claim value or key material.
// Thread safety: Verify() is thread-safe; ReloadKeys() may run concurrently with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_config.h"
#include "auth/jwks_source.h"
#include "common/principal.h"
#include "common/status.h"

namespace cairn::auth {

inline constexpr size_t kJwtSizeMaxBytes = 8192;
inline constexpr size_t kSubjectSizeMaxBytes = 256;
inline constexpr size_t kRolesMax = 64;
inline constexpr size_t kRoleSizeMaxBytes = 128;
inline constexpr size_t kAudiencesMax = 64;
inline constexpr int64_t kLeewayMaxS = 60;
inline constexpr int64_t kJwksIntervalMaxS = 86400;
inline constexpr size_t kJwtIssuersMax = 32;
inline constexpr size_t kIssuerNameSizeMaxBytes = 64;

// Checks one issuer's settings (required fields, exactly one JWKS source, an allowed URL,
// leeway 0..60, intervals 1..86400 s, the name's characters). kInvalidArgument naming the field
// otherwise.
Status ValidateJwtIssuerConfig(const JwtIssuerConfig& config);

class JwtVerifier {
 public:
  // Validates every issuer (no issuer twice; at most one without a name, no name twice) and
  // loads every key set; the first failing load is the error (a JWKS URL that cannot
  // be fetched at start is a startup error).
  static Result<std::unique_ptr<JwtVerifier>> Create(const std::vector<JwtIssuerConfig>& issuers);

  // Verifies `token` at `now_unix_s`. On success: Principal{id, roles, kJwt, exp} with id
  // "jwt:<name>:<sub>" for an issuer with a name, "jwt:<sub>" otherwise. A token of the issuer
  // without a name whose sub starts with "<name>:" of a named issuer is rejected, so that no
  // issuer can name another's principals.
  Result<Principal> Verify(std::string_view token, int64_t now_unix_s) const;

  size_t issuer_count() const { return issuers_.size(); }
  const JwtIssuerConfig& issuer_config(size_t i) const { return issuers_[i].config; }
  // Periodic refresh of issuer i's keys; a failure keeps the old keys (see JwksSource).
  Status ReloadKeys(size_t i) const { return issuers_[i].keys->Reload(); }
  uint64_t key_load_count(size_t i) const { return issuers_[i].keys->load_count(); }
  // Changes whenever any issuer's key set is replaced (JwksSource::generation, summed).
  uint64_t key_generation() const;

 private:
  struct Issuer {
    JwtIssuerConfig config;
    std::unique_ptr<JwksSource> keys;
  };
  JwtVerifier() = default;
  const Issuer* FindIssuer(std::string_view iss) const;

  std::vector<Issuer> issuers_;
  std::vector<std::string> named_prefixes_;  // "<name>:" of every issuer with a name
};

}  // namespace cairn::auth
