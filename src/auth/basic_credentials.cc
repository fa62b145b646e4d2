#include "auth/basic_credentials.h"

#include <optional>

#include "auth/api_key.h"
#include "common/bytes.h"
#include "crypto/secure.h"

namespace cairn::auth {
namespace {

// "Basic " + base64 of "<64-byte id>:<key of at most ~330 bytes>", with room to spare.
constexpr size_t kBasicHeaderSizeBytesMax = 1024;

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool HasAuthScheme(std::string_view header, std::string_view scheme_lower) {
  if (header.size() <= scheme_lower.size() || header[scheme_lower.size()] != ' ') return false;
  for (size_t i = 0; i < scheme_lower.size(); ++i) {
    if (LowerAscii(header[i]) != scheme_lower[i]) return false;
  }
  return true;
}

Result<BasicApiKey> BasicApiKey::Parse(std::string_view header) {
  static constexpr std::string_view kMalformed = "malformed basic credentials";
  if (header.size() > kBasicHeaderSizeBytesMax) return Status::Unauthenticated("credential too large");
  const size_t space = header.find(' ');
  if (space == std::string_view::npos) return Status::Unauthenticated(std::string(kMalformed));
  std::optional<std::string> decoded = Base64Decode(header.substr(space + 1));
  if (!decoded) return Status::Unauthenticated(std::string(kMalformed));
  BasicApiKey result("");
  const size_t colon = decoded->find(':');
  bool ok = colon != std::string::npos;
  if (ok) {
    const std::string_view username = std::string_view(*decoded).substr(0, colon);
    const std::string_view password = std::string_view(*decoded).substr(colon + 1);
    std::string_view id, secret;
    // The username names the key; a mismatch is refused before any hash is compared.
    ok = SplitApiKey(password, &id, &secret) && id == username;
    if (ok) result.key_.assign(password);
  }
  crypto::Cleanse(&*decoded);
  if (!ok) {
    return Status::Unauthenticated(
        colon == std::string::npos
            ? std::string(kMalformed)
            : "basic credentials: the username must be the api key's id, the password the key");
  }
  return result;
}

BasicApiKey::~BasicApiKey() { crypto::Cleanse(&key_); }

BasicApiKey::BasicApiKey(BasicApiKey&& other) noexcept : key_(std::move(other.key_)) {
  crypto::Cleanse(&other.key_);
}

}  // namespace cairn::auth
