// HMAC-SHA256 (RFC 2104) through OpenSSL 3's EVP_MAC.
//
// The key may be any length (HMAC hashes keys longer than the block). Compare MACs only with
// ConstantTimeEquals (crypto/secure.h). Thread safety: thread-safe; no state is kept.
#pragma once

#include <string_view>

#include "common/status.h"
#include "crypto/sha256.h"

namespace cairn::crypto {

// HMAC-SHA256(key, message). kInternal only if OpenSSL cannot provide HMAC (never in practice).
Result<Hash> HmacSha256(std::string_view key, std::string_view message);

}  // namespace cairn::crypto
