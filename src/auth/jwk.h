// JSON Web Keys (RFC 7517) for verifying JWTs: parsing a JWKS document into pinned keys.
//
// Every key pins exactly one JWS algorithm, derived from the key itself, never from a token:
//   kty RSA (n, e; modulus 2048..8192 bits)      → RS256
//   kty EC, crv P-256 (x, y; point on the curve)  → ES256
//   kty OKP, crv Ed25519 (x)                      → EdDSA
//   kty oct (k; 32..1024 bytes)                   → HS256
// A JWK `alg` member, when present, must name that algorithm; a key with another `alg` (say
// RS512) or with `use` other than "sig" is not usable for cairn and is skipped. Keys of other
// kty (or EC curves other than P-256, OKP curves other than Ed25519) are skipped too. A key of a
// supported type that is malformed (bad base64url, short RSA modulus, point not on the curve, an
// oct key shorter than 32 bytes) fails the whole document: a half-understood key set is a
// configuration error, not something to guess around. Duplicate `kid` values fail the document.
//
// Limits: document ≤ kJwksSizeMaxBytes, ≤ kJwksKeysMax entries in `keys`.
// Thread safety: a JwkSet is immutable once built; share it through shared_ptr<const JwkSet>.
// The EVP_PKEY objects inside are only used for verification, which OpenSSL allows concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/secure.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace cairn::auth {

inline constexpr size_t kJwksSizeMaxBytes = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kJwksCaSizeMaxBytes = size_t{1} << 20;  // PEM trust roots for jwks_url
inline constexpr size_t kJwksKeysMax = 64;
inline constexpr size_t kKidSizeMaxBytes = 128;
inline constexpr size_t kRsaModulusBitsMin = 2048;
inline constexpr size_t kRsaModulusBitsMax = 8192;
inline constexpr size_t kHmacKeySizeMinBytes = 32;
inline constexpr size_t kHmacKeySizeMaxBytes = 1024;

enum class JwsAlg : uint8_t { kRS256, kES256, kEdDSA, kHS256 };

// "RS256", "ES256", "EdDSA", "HS256".
const char* JwsAlgName(JwsAlg alg);
// Exact, case-sensitive match of one of the four names above; false for anything else.
bool ParseJwsAlg(std::string_view name, JwsAlg* alg);

// A kid is 1..128 characters of [A-Za-z0-9._-+/=:] (base64, base64url, hex and URN-style ids
// of common identity providers) and never contains "..": no spaces, quotes or control
// characters, so it is safe in a log line.
bool IsValidKid(std::string_view kid);

struct EvpPkeyDeleter {
  void operator()(evp_pkey_st* p) const;
};

struct Jwk {
  std::string kid;  // empty when the JWK had none
  JwsAlg alg = JwsAlg::kEdDSA;
  std::shared_ptr<evp_pkey_st> public_key;  // RS256, ES256, EdDSA; null for HS256
  std::shared_ptr<const crypto::SecureBytes> hmac_key;  // HS256 only
};

struct JwkSet {
  std::vector<Jwk> keys;
  // The key with this kid, or nullptr. An empty `kid` (token without kid) finds the only key
  // when the set has exactly one key, and nothing otherwise.
  const Jwk* Find(std::string_view kid) const;
  // True when every token that `earlier` admits, this set admits with the same key: each key of
  // `earlier` is here with the same kid, algorithm and key material, and a token without kid
  // finds the same key (or none) in both. Adding keys keeps the answer true; withdrawing or
  // replacing one makes it false.
  bool AdmitsAllOf(const JwkSet& earlier) const;
};

// Where a JWKS comes from. Symmetric (`oct`, HS256) keys are secrets: they are taken only from
// a file the operator controls, never from a URL anyone who reaches it can read.
enum class JwksOrigin : uint8_t { kFile, kUrl };

// Parses a JWKS document. Keys cairn does not verify with (other key types and curves,
// encryption keys, keys pinned to another alg or whose key_ops do not allow verifying, a kid
// outside IsValidKid) are skipped. From kFile, errors are kInvalidArgument with a message naming
// the key index and the problem (never key material): a malformed or unusable key, a duplicate
// kid, or no usable key at all. From kUrl those keys are left out instead (every key of a
// duplicated kid, and `oct` keys, too) and the set may be empty; only a malformed document is
// an error.
Result<JwkSet> ParseJwks(std::string_view json_text, JwksOrigin origin = JwksOrigin::kFile);

}  // namespace cairn::auth
