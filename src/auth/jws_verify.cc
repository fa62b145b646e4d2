#include "auth/jws_verify.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <cassert>
#include <memory>
#include <string>

#include "crypto/openssl_ptr.h"
#include "crypto/secure.h"

namespace cairn::auth {
namespace {

constexpr size_t kEs256SignatureSizeBytes = 64;
constexpr size_t kEd25519SignatureSizeBytes = 64;
constexpr size_t kHs256SizeBytes = 32;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct SigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct GroupDeleter {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct MacDeleter {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};

const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

bool DigestVerify(EVP_PKEY* pkey, const EVP_MD* md, std::string_view message,
                  std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) return false;
  return EVP_DigestVerify(ctx.get(), U8(signature), signature.size(), U8(message), message.size()) == 1;
}

bool VerifyRs256(EVP_PKEY* pkey, std::string_view message, std::string_view signature) {
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey))) return false;
  return DigestVerify(pkey, EVP_sha256(), message, signature);  // default padding: PKCS#1 v1.5
}

// The order n of P-256, computed once.
const BIGNUM* P256Order() {
  static const EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  assert(group != nullptr);
  return EC_GROUP_get0_order(group);
}

bool VerifyEs256(EVP_PKEY* pkey, std::string_view message, std::string_view signature) {
  if (signature.size() != kEs256SignatureSizeBytes) return false;
  crypto::BnPtr r(BN_bin2bn(U8(signature), 32, nullptr));
  crypto::BnPtr s(BN_bin2bn(U8(signature) + 32, 32, nullptr));
  if (!r || !s) return false;
  const BIGNUM* n = P256Order();
  if (n == nullptr) return false;
  // 0 < r < n and 0 < s < n, whatever the ECDSA implementation underneath does.
  if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), n) >= 0 ||
      BN_cmp(s.get(), n) >= 0) {
    return false;
  }
  std::unique_ptr<ECDSA_SIG, SigDeleter> sig(ECDSA_SIG_new());
  if (!sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0 || der == nullptr) return false;
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  return DigestVerify(pkey, EVP_sha256(), message, der_sig);
}

bool VerifyEdDsa(EVP_PKEY* pkey, std::string_view message, std::string_view signature) {
  if (signature.size() != kEd25519SignatureSizeBytes) return false;
  return DigestVerify(pkey, nullptr, message, signature);
}

bool VerifyHs256(const crypto::SecureBytes& key, std::string_view message,
                 std::string_view signature) {
  if (signature.size() != kHs256SizeBytes) return false;
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return false;
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) return false;
  if (EVP_MAC_update(ctx.get(), U8(message), message.size()) != 1) return false;
  uint8_t out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (EVP_MAC_final(ctx.get(), out, &out_len, sizeof out) != 1 || out_len != kHs256SizeBytes) {
    return false;
  }
  bool equal = crypto::ConstantTimeEquals(
      std::string_view(reinterpret_cast<const char*>(out), out_len), signature);
  crypto::Cleanse(out, sizeof out);
  return equal;
}

}  // namespace

bool VerifyJwsSignature(const Jwk& key, std::string_view signing_input, std::string_view signature) {
  switch (key.alg) {
    case JwsAlg::kRS256:
      return key.public_key && VerifyRs256(key.public_key.get(), signing_input, signature);
    case JwsAlg::kES256:
      return key.public_key && VerifyEs256(key.public_key.get(), signing_input, signature);
    case JwsAlg::kEdDSA:
      return key.public_key && VerifyEdDsa(key.public_key.get(), signing_input, signature);
    case JwsAlg::kHS256:
      return key.hmac_key && VerifyHs256(*key.hmac_key, signing_input, signature);
  }
  return false;
}

}  // namespace cairn::auth
