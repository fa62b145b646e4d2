#include "jwt_signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <vector>

namespace cairn::testing {
// A plain anonymous namespace: the file's functions below it use these helpers (a test file
// keeps its own in CAIRN_UNITY_ID, CMakeLists.txt).
namespace {

std::string BnBytes(EVP_PKEY* key, const char* name, size_t pad_to = 0) {
  BIGNUM* bn = nullptr;
  if (!EVP_PKEY_get_bn_param(key, name, &bn)) throw std::runtime_error("bn param");
  std::string out(std::max<size_t>(pad_to, BN_num_bytes(bn)), '\0');
  if (pad_to > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(pad_to));
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  BN_free(bn);
  return out;
}

std::string DerToJose(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) throw std::runtime_error("ecdsa der");
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return out;
}

}  // namespace

Pkey GenerateRsa2048() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})); }
Pkey GenerateP256() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }
Pkey GenerateEd25519() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

std::string Base64Url(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string PublicJwk(EVP_PKEY* key, const std::string& kid) {
  const std::string kid_field = "\"kid\":\"" + kid + "\",\"use\":\"sig\"";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "{\"kty\":\"RSA\"," + kid_field + ",\"n\":\"" +
             Base64Url(BnBytes(key, OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
             Base64Url(BnBytes(key, OSSL_PKEY_PARAM_RSA_E)) + "\"}";
    case EVP_PKEY_EC:
      return "{\"kty\":\"EC\",\"crv\":\"P-256\"," + kid_field + ",\"x\":\"" +
             Base64Url(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + "\",\"y\":\"" +
             Base64Url(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"}";
    case EVP_PKEY_ED25519: {
      std::string pub(32, '\0');
      size_t len = pub.size();
      EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(pub.data()), &len);
      return "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," + kid_field + ",\"x\":\"" + Base64Url(pub) +
             "\"}";
    }
  }
  throw std::runtime_error("unsupported key");
}

std::string OctJwk(const std::string& secret, const std::string& kid) {
  return "{\"kty\":\"oct\",\"kid\":\"" + kid + "\",\"alg\":\"HS256\",\"k\":\"" + Base64Url(secret) +
         "\"}";
}

std::string PublicKeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string SignJws(const std::string& alg, EVP_PKEY* key, const std::string& header_json,
                    const std::string& payload_json) {
  const std::string input = Base64Url(header_json) + "." + Base64Url(payload_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const EVP_MD* md = alg == "EdDSA" ? nullptr : EVP_sha256();
  EVP_DigestSignInit(ctx, nullptr, md, nullptr, key);
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg == "ES256") sig = DerToJose(sig);
  return input + "." + Base64Url(sig);
}

std::string SignHs256(const std::string& secret, const std::string& header_json,
                      const std::string& payload_json) {
  const std::string input = Base64Url(header_json) + "." + Base64Url(payload_json);
  unsigned char mac[32];
  size_t len = sizeof mac;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &len);
  return input + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace cairn::testing
