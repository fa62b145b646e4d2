// JWS signature verification (RFC 7515/7518) with a pinned key, through OpenSSL 3 EVP.
//
//   RS256: RSASSA-PKCS1-v1_5 with SHA-256; the signature is exactly the modulus size.
//   ES256: ECDSA P-256 with SHA-256; the JOSE signature is r || s (32 + 32 bytes), converted to
//          DER. r and s must both be in [1, n-1] (checked here as well as by OpenSSL: the
//          "psychic signatures" attack, CVE-2022-21449, used r = s = 0).
//   EdDSA: Ed25519 (RFC 8037); 64-byte signature.
//   HS256: HMAC-SHA-256 through EVP_MAC, compared in constant time.
// The key decides the algorithm; callers have already checked that the token's `alg` equals
// key.alg. Thread safety: thread-safe (each call uses its own EVP contexts).
#pragma once

#include <string_view>

#include "auth/jwk.h"

namespace cairn::auth {

// True only when `signature` is a valid signature of `signing_input` under `key`.
bool VerifyJwsSignature(const Jwk& key, std::string_view signing_input, std::string_view signature);

}  // namespace cairn::auth
