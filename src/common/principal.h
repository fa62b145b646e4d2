// Principal: who is calling, as established by authentication (auth/) and judged by policy/.
//
// A principal id names the method and the identity: "jwt:<sub>", "apikey:<id>",
// "mtls:<SPIFFE id or mapped name>". Roles come from the token's roles claim, the API key's
// configured roles, and the policy's bindings (policy/ adds those; auth/ never reads policy).
//
// Thread safety: a value; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cairn {

enum class AuthMethod : uint8_t { kNone = 0, kJwt, kApiKey, kMtls };

inline const char* AuthMethodName(AuthMethod m) {
  switch (m) {
    case AuthMethod::kJwt: return "jwt";
    case AuthMethod::kApiKey: return "apikey";
    case AuthMethod::kMtls: return "mtls";
    case AuthMethod::kNone: break;
  }
  return "none";
}

struct Principal {
  std::string id;                  // "jwt:alice", "apikey:ci-bot", "mtls:spiffe://acme/billing"
  std::vector<std::string> roles;  // roles the credential itself carries (claim or key config)
  AuthMethod method = AuthMethod::kNone;
  int64_t expires_unix_s = 0;      // when the credential stops being valid; 0 = no expiry
  // API keys: the configured secret_sha256 that admitted the call, so that a call that runs on
  // can tell whether its key is still configured as it was (auth/api_key.h InForce). A hash of
  // the key, not the key; never logged or sent. Empty for other methods.
  std::string api_key_sha256;
};

}  // namespace cairn
