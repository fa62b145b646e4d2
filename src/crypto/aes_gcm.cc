#include "crypto/aes_gcm.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cassert>
#include <climits>

namespace cairn::crypto {
namespace {

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

Result<AesGcm> AesGcm::Create(std::string_view key) {
  if (key.size() != kAes256KeySizeBytes) {
    return Status::InvalidArgument("AES-256-GCM key must be 32 bytes");
  }
  if (Aes256Gcm() == nullptr) return Status::Internal("OpenSSL has no AES-256-GCM");
  AesGcm g;
  g.enc_ = EVP_CIPHER_CTX_new();
  g.dec_ = EVP_CIPHER_CTX_new();
  if (g.enc_ == nullptr || g.dec_ == nullptr) return Status::Internal("EVP_CIPHER_CTX_new failed");
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_EncryptInit_ex2(Ctx(g.enc_), Aes256Gcm(), k, nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(Ctx(g.dec_), Aes256Gcm(), k, nullptr, nullptr) != 1) {
    return Status::Internal("AES-256-GCM key setup failed");
  }
  return g;
}

AesGcm::~AesGcm() { Free(); }

void AesGcm::Free() {
  // EVP_CIPHER_CTX_free cleanses the key schedule.
  EVP_CIPHER_CTX_free(Ctx(enc_));
  EVP_CIPHER_CTX_free(Ctx(dec_));
  enc_ = dec_ = nullptr;
}

AesGcm::AesGcm(AesGcm&& other) noexcept : enc_(other.enc_), dec_(other.dec_) {
  other.enc_ = other.dec_ = nullptr;
}

AesGcm& AesGcm::operator=(AesGcm&& other) noexcept {
  if (this != &other) {
    Free();
    enc_ = other.enc_;
    dec_ = other.dec_;
    other.enc_ = other.dec_ = nullptr;
  }
  return *this;
}

Status AesGcm::Seal(std::string_view aad, std::string_view plaintext, std::string* out) {
  char iv[kGcmIvSizeBytes];
  CAIRN_RETURN_IF_ERROR(RandomPublicBytes({reinterpret_cast<uint8_t*>(iv), sizeof iv}));
  return SealWithIvForTest({iv, sizeof iv}, aad, plaintext, out);
}

Status AesGcm::SealWithIvForTest(std::string_view iv, std::string_view aad,
                                 std::string_view plaintext, std::string* out) {
  assert(enc_ != nullptr);
  if (iv.size() != kGcmIvSizeBytes) return Status::InvalidArgument("GCM IV must be 12 bytes");
  if (!FitsInt(aad.size()) || !FitsInt(plaintext.size())) {
    return Status::InvalidArgument("AES-GCM input too large");
  }
  auto* ctx = Ctx(enc_);
  const size_t base = out->size();
  out->resize(base + kGcmIvSizeBytes + plaintext.size() + kGcmTagSizeBytes);
  auto* p = reinterpret_cast<unsigned char*>(out->data() + base);
  std::copy(iv.begin(), iv.end(), p);
  int len = 0;
  bool ok = EVP_EncryptInit_ex2(ctx, nullptr, nullptr, p, nullptr) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size())) == 1;
  }
  unsigned char* ct = p + kGcmIvSizeBytes;
  int ct_len = 0;
  if (ok) {
    ok = EVP_EncryptUpdate(ctx, ct, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                           static_cast<int>(plaintext.size())) == 1;
    ct_len = len;
  }
  if (ok) ok = EVP_EncryptFinal_ex(ctx, ct + ct_len, &len) == 1;
  if (ok) {
    // The tag through the provider's parameters directly (EVP_CIPHER_CTX_ctrl translates to
    // the same call with more work).
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                              ct + plaintext.size(),
                                                              kGcmTagSizeBytes),
                            OSSL_PARAM_construct_end()};
    ok = EVP_CIPHER_CTX_get_params(ctx, params) == 1;
  }
  if (!ok) {
    out->resize(base);
    return Status::Internal("AES-256-GCM encryption failed");
  }
  return Status::Ok();
}

Status AesGcm::Open(std::string_view aad, std::string_view sealed, std::string* out) {
  assert(dec_ != nullptr);
  out->clear();
  if (sealed.size() < kGcmOverheadBytes) return Status::DataLoss("sealed data too short");
  if (!FitsInt(aad.size()) || !FitsInt(sealed.size())) return Status::DataLoss("sealed data too large");
  auto* ctx = Ctx(dec_);
  const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
  const size_t ct_size = sealed.size() - kGcmOverheadBytes;
  out->resize(ct_size);
  auto* pt = reinterpret_cast<unsigned char*>(out->data());
  int len = 0;
  bool ok = EVP_DecryptInit_ex2(ctx, nullptr, nullptr, p, nullptr) == 1;
  if (ok && !aad.empty()) {
    ok = EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size())) == 1;
  }
  if (ok) ok = EVP_DecryptUpdate(ctx, pt, &len, p + kGcmIvSizeBytes, static_cast<int>(ct_size)) == 1;
  // The tag is only read, but the EVP API takes a non-const pointer.
  unsigned char tag[kGcmTagSizeBytes];
  std::copy(p + kGcmIvSizeBytes + ct_size, p + sealed.size(), tag);
  if (ok) {
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kGcmTagSizeBytes),
        OSSL_PARAM_construct_end()};
    ok = EVP_CIPHER_CTX_set_params(ctx, params) == 1;
  }
  if (ok) ok = EVP_DecryptFinal_ex(ctx, pt + len, &len) == 1;
  if (!ok) {
    Cleanse(out);
    return Status::DataLoss("authentication failed (wrong key, wrong place, or modified bytes)");
  }
  return Status::Ok();
}

}  // namespace cairn::crypto
