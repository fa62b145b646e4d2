// Ed25519 signatures (RFC 8032) through OpenSSL 3 EVP.
//
// An Ed25519PrivateKey holds the 32-byte seed in wiped memory. Thread safety: Sign() and the
// free functions are thread-safe (each call uses its own EVP contexts).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::crypto {

inline constexpr size_t kEd25519SeedSizeBytes = 32;
inline constexpr size_t kEd25519PublicKeySizeBytes = 32;
inline constexpr size_t kEd25519SignatureSizeBytes = 64;

class Ed25519PrivateKey {
 public:
  static Result<Ed25519PrivateKey> Generate();
  // `seed` must be 32 bytes (the RFC 8032 private key).
  static Result<Ed25519PrivateKey> FromSeed(std::string_view seed);

  const SecureBytes& seed() const { return seed_; }
  const std::string& public_key() const { return public_key_; }  // 32 bytes
  Result<std::string> Sign(std::string_view message) const;     // 64 bytes

 private:
  SecureBytes seed_;
  std::string public_key_;
};

// True only when `signature` is a valid Ed25519 signature of `message` under `public_key`.
bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

}  // namespace cairn::crypto
