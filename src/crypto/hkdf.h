// HKDF-SHA256 (RFC 5869) through OpenSSL 3's EVP_KDF.
// Thread safety: thread-safe.
#pragma once

#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::crypto {

// Derives `size_bytes` (1..8160) bytes from `ikm` with `salt` (may be empty) and `info`.
Result<SecureBytes> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                               size_t size_bytes);

}  // namespace cairn::crypto
