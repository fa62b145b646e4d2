#include "crypto/ed25519.h"

#include <openssl/evp.h>

#include "crypto/openssl_ptr.h"

namespace cairn::crypto {
namespace {

PkeyPtr PrivateKeyFromSeed(std::string_view seed) {
  return PkeyPtr(EVP_PKEY_new_raw_private_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
}

}  // namespace

Result<Ed25519PrivateKey> Ed25519PrivateKey::Generate() {
  SecureBytes seed = RandomSecret(kEd25519SeedSizeBytes);
  return FromSeed(seed.view());
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(std::string_view seed) {
  if (seed.size() != kEd25519SeedSizeBytes) {
    return Status::InvalidArgument("Ed25519 seed must be 32 bytes");
  }
  PkeyPtr pkey = PrivateKeyFromSeed(seed);
  if (!pkey) return Status::Internal("Ed25519 key import failed");
  std::string pub(kEd25519PublicKeySizeBytes, '\0');
  size_t pub_len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char*>(pub.data()),
                                  &pub_len) != 1 ||
      pub_len != kEd25519PublicKeySizeBytes) {
    return Status::Internal("Ed25519 public key derivation failed");
  }
  Ed25519PrivateKey key;
  key.seed_ = SecureBytes(seed);
  key.public_key_ = std::move(pub);
  return key;
}

Result<std::string> Ed25519PrivateKey::Sign(std::string_view message) const {
  PkeyPtr pkey = PrivateKeyFromSeed(seed_.view());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return Status::Internal("Ed25519 signing setup failed");
  std::string sig(kEd25519SignatureSizeBytes, '\0');
  size_t sig_len = sig.size();
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      sig_len != kEd25519SignatureSizeBytes) {
    return Status::Internal("Ed25519 signing failed");
  }
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  if (public_key.size() != kEd25519PublicKeySizeBytes ||
      signature.size() != kEd25519SignatureSizeBytes) {
    return false;
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return false;
  if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(), nullptr) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace cairn::crypto
