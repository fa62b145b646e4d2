// AES-256-GCM authenticated encryption with associated data, through OpenSSL 3 EVP.
//
// Sealed format: 12-byte IV || ciphertext || 16-byte tag. Every Seal() draws a fresh 96-bit IV
// from the CSPRNG: IVs are never derived from positions or counters (DESIGN.md, Keys).
// One AesGcm holds one key and keeps one cipher context per direction, so the key schedule is
// computed once and only the IV changes per message.
//
// Thread safety: an AesGcm is NOT thread-safe (it reuses its contexts); give each thread its own
// (construct one from the same key). The key is copied into memory that is wiped on destruction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::crypto {

inline constexpr size_t kAes256KeySizeBytes = 32;
inline constexpr size_t kGcmIvSizeBytes = 12;
inline constexpr size_t kGcmTagSizeBytes = 16;
inline constexpr size_t kGcmOverheadBytes = kGcmIvSizeBytes + kGcmTagSizeBytes;

class AesGcm {
 public:
  // `key` must be exactly 32 bytes.
  static Result<AesGcm> Create(std::string_view key);
  ~AesGcm();
  AesGcm(AesGcm&& other) noexcept;
  AesGcm& operator=(AesGcm&& other) noexcept;
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // Appends IV || ciphertext || tag to *out (existing contents are kept).
  Status Seal(std::string_view aad, std::string_view plaintext, std::string* out);
  // Same, with a caller-chosen IV. For known-answer tests only: production code calls Seal().
  Status SealWithIvForTest(std::string_view iv, std::string_view aad, std::string_view plaintext,
                           std::string* out);
  // Verifies and decrypts `sealed`; on success replaces *out with the plaintext. A wrong key, a
  // wrong AAD or any modified byte gives kDataLoss and leaves *out empty.
  Status Open(std::string_view aad, std::string_view sealed, std::string* out);

 private:
  AesGcm() = default;
  void Free();
  void* enc_ = nullptr;  // EVP_CIPHER_CTX, key set, IV per call
  void* dec_ = nullptr;
};

}  // namespace cairn::crypto
