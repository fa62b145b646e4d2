// scrypt (RFC 7914), the memory-hard password KDF, through OpenSSL 3's EVP_KDF "SCRYPT".
//
// Used to turn a passphrase into a key-encryption key (keys/local_kms.h). The cost parameters are
// stored next to whatever the key protects, so they can be raised later without breaking old data.
// Memory used: about 128 * r * N bytes (N=2^15, r=8: 32 MiB); time grows with N * r * p.
// Thread safety: thread-safe (each call uses its own KDF context).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::crypto {

struct ScryptParams {
  uint64_t n = uint64_t{1} << 15;  // CPU/memory cost: a power of two > 1
  uint32_t r = 8;                  // block size
  uint32_t p = 1;                  // parallelisation (OpenSSL runs the p lanes one after another)
};

// The largest working memory Scrypt() accepts (128 * r * (N + p + 2) bytes): 1 GiB + a margin.
inline constexpr uint64_t kScryptMemoryBytesMax = (uint64_t{1} << 30) + (uint64_t{1} << 24);

// Memory one derivation with `params` needs, in bytes (saturates at UINT64_MAX).
uint64_t ScryptMemoryBytes(const ScryptParams& params);

// Derives `size_bytes` (1..1024) bytes. kInvalidArgument when N is not a power of two > 1, r or p
// is 0, r * p >= 2^30, or the memory needed exceeds kScryptMemoryBytesMax.
Result<SecureBytes> Scrypt(std::string_view passphrase, std::string_view salt,
                           const ScryptParams& params, size_t size_bytes);

}  // namespace cairn::crypto
