// Test-only JWT minting with OpenSSL: keys of every supported kind, their public JWKs, and
// compact JWS signing with any header and payload (including malformed ones), so the
// integration tests can present the server with forged and broken tokens.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

namespace cairn::testing {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Pkey GenerateRsa2048();
Pkey GenerateP256();
Pkey GenerateEd25519();

// The public JWK (JSON object text) of `key` with `kid`.
std::string PublicJwk(EVP_PKEY* key, const std::string& kid);
// The JWK of an HMAC secret (kty oct).
std::string OctJwk(const std::string& secret, const std::string& kid);
// The SubjectPublicKeyInfo PEM of `key` (what an attacker would use as an HS256 secret).
std::string PublicKeyPem(EVP_PKEY* key);

std::string Base64Url(const std::string& bytes);

// header.payload.signature with the signature made by `alg` ("RS256", "ES256", "EdDSA")
// over the given header and payload JSON texts.
std::string SignJws(const std::string& alg, EVP_PKEY* key, const std::string& header_json,
                    const std::string& payload_json);
// The same for HS256 with a raw secret.
std::string SignHs256(const std::string& secret, const std::string& header_json,
                      const std::string& payload_json);

}  // namespace cairn::testing
