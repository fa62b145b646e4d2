// A development JWT issuer: one Ed25519 key on disk, for `cairn serve --dev` and tests.
//
// Files written by CreateDevIssuer(dir, issuer):
//   dir/dev-issuer.key   mode 0600, one line:
//                          cairn-dev-issuer-v1 <kid> <base64 seed> <issuer>\n
//                        <kid> is "dev-" + 16 hex digits of SHA-256(public key); <base64 seed>
//                        is the 32-byte Ed25519 seed in standard padded base64; <issuer> has no
//                        whitespace.
//   dir/dev-jwks.json    mode 0644, {"keys":[{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,
//                        "alg":"EdDSA","use":"sig"}]}: point [[auth.jwt]] jwks_file at it.
// An existing key file is kAlreadyExists (never overwritten); the JWKS is replaced whole (rename).
// EnsureDevIssuerJwks(dir) writes the JWKS from an existing key file when it is missing (a crash
// between the two writes), and does nothing when it is there.
//
// MintToken(key_file, request) signs an EdDSA compact JWT with header {alg, typ "JWT", kid} and
// claims iss (request.issuer, or the file's issuer when empty), aud, sub, roles (when non-empty,
// as the "roles" claim), iat = nbf = now_unix_s, exp = now_unix_s + ttl_s. The key file is
// refused when group or others may read it (like ssh does).
//
// Errors: kInvalidArgument for bad requests or a malformed key file, kIOError for files,
// kPermissionDenied for a key file with loose permissions. Never key bytes in messages.
// Thread safety: thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace cairn::auth {

inline constexpr char kDevIssuerKeyFile[] = "dev-issuer.key";
inline constexpr char kDevIssuerJwksFile[] = "dev-jwks.json";
inline constexpr char kDevIssuerFormat[] = "cairn-dev-issuer-v1";
inline constexpr int64_t kMintTtlMaxS = 31 * 86400;

Status CreateDevIssuer(const std::string& dir, const std::string& issuer);
Status EnsureDevIssuerJwks(const std::string& dir);

struct MintRequest {
  std::string issuer;  // empty = the issuer recorded in the key file
  std::string audience;
  std::string sub;
  std::vector<std::string> roles;
  int64_t ttl_s = 3600;  // 1..kMintTtlMaxS
  int64_t now_unix_s = 0;
};

Result<std::string> MintToken(const std::string& key_file, const MintRequest& request);

}  // namespace cairn::auth
