// HTTP Basic credentials as the EventStoreDB/KurrentDB clients send them
// (`authorization: Basic base64(username:password)`), read as a cairn API key: the password is
// the whole key `cairn_<id>_<secret>` and the username must be its id. There are no users or
// passwords in cairn (docs/eventstoredb-clients.md, "Credentials").
//
// Errors: kUnauthenticated with "malformed basic credentials" or "basic credentials: the
// username must be the api key's id"; never the password. The decoded password lives in a
// buffer that is zeroed when the BasicApiKey is dropped.
//
// Thread safety: pure function; BasicApiKey is a plain value.
#pragma once
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::auth {

// Scheme names are case-insensitive (RFC 9110); true when `header` starts "<scheme> ".
bool HasAuthScheme(std::string_view header, std::string_view scheme_lower);

class BasicApiKey {
 public:
  // Parses "Basic <base64>" (the caller checked the scheme) into the API key it carries.
  static Result<BasicApiKey> Parse(std::string_view header);
  ~BasicApiKey();
  BasicApiKey(BasicApiKey&& other) noexcept;
  BasicApiKey& operator=(BasicApiKey&&) = delete;
  BasicApiKey(const BasicApiKey&) = delete;
  BasicApiKey& operator=(const BasicApiKey&) = delete;

  std::string_view key() const { return key_; }

 private:
  explicit BasicApiKey(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace cairn::auth
