// ParseJwks (auth/jwk.h) over hostile JSON. Properties: never crashes; a document that parses
// holds 1..kJwksKeysMax keys; every kid is empty or valid and no non-empty kid appears twice;
// every key carries exactly the material its pinned algorithm needs (an EVP public key of the
// matching type, RSA within 2048..8192 bits, or an HS256 secret of 32..1024 bytes); Find() returns
// each key by its kid, and a kid-less lookup finds a key only in a one-key set.
#include <openssl/evp.h>

#include <set>

#include "auth/jwk.h"
#include "fuzz_util.h"

namespace cairn::fuzz {
namespace {

const char* PkeyType(auth::JwsAlg alg) {
  switch (alg) {
    case auth::JwsAlg::kRS256: return "RSA";
    case auth::JwsAlg::kES256: return "EC";
    case auth::JwsAlg::kEdDSA: return "ED25519";
    case auth::JwsAlg::kHS256: return nullptr;
  }
  return nullptr;
}

void CheckKey(const auth::Jwk& key) {
  FUZZ_CHECK(key.kid.empty() || auth::IsValidKid(key.kid));
  const char* type = PkeyType(key.alg);
  if (type == nullptr) {
    FUZZ_CHECK(key.public_key == nullptr && key.hmac_key != nullptr);
    FUZZ_CHECK(key.hmac_key->size() >= auth::kHmacKeySizeMinBytes &&
               key.hmac_key->size() <= auth::kHmacKeySizeMaxBytes);
    return;
  }
  FUZZ_CHECK(key.hmac_key == nullptr && key.public_key != nullptr);
  FUZZ_CHECK(EVP_PKEY_is_a(key.public_key.get(), type) == 1);
  if (key.alg == auth::JwsAlg::kRS256) {
    const int bits = EVP_PKEY_get_bits(key.public_key.get());
    FUZZ_CHECK(bits >= static_cast<int>(auth::kRsaModulusBitsMin) &&
               bits <= static_cast<int>(auth::kRsaModulusBitsMax));
  }
}

}  // namespace
}  // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  auto set = auth::ParseJwks(fuzz::AsView(data, size));
  if (!set.ok()) return 0;
  FUZZ_CHECK(!set->keys.empty() && set->keys.size() <= auth::kJwksKeysMax);
  std::set<std::string> kids;
  for (const auth::Jwk& key : set->keys) {
    fuzz::CheckKey(key);
    if (key.kid.empty()) continue;
    FUZZ_CHECK(kids.insert(key.kid).second);
    FUZZ_CHECK(set->Find(key.kid) == &key);
  }
  FUZZ_CHECK((set->Find("") != nullptr) == (set->keys.size() == 1));
  return 0;
}
