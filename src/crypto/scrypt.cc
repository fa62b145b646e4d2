#include "crypto/scrypt.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <limits>
#include <memory>

namespace cairn::crypto {
namespace {

constexpr size_t kScryptOutputSizeBytesMax = 1024;

struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};

// a * b, saturating at UINT64_MAX.
uint64_t MulSat(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::numeric_limits<uint64_t>::max();
  return a * b;
}

uint64_t AddSat(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

}  // namespace

uint64_t ScryptMemoryBytes(const ScryptParams& params) {
  // OpenSSL allocates B (128 * r * p) and V plus X (128 * r * (N + 2)).
  const uint64_t block = MulSat(128, params.r);
  return MulSat(block, AddSat(AddSat(params.n, params.p), 2));
}

Result<SecureBytes> Scrypt(std::string_view passphrase, std::string_view salt,
                           const ScryptParams& params, size_t size_bytes) {
  if (size_bytes == 0 || size_bytes > kScryptOutputSizeBytesMax) {
    return Status::InvalidArgument("scrypt output must be 1..1024 bytes");
  }
  if (params.n < 2 || (params.n & (params.n - 1)) != 0) {
    return Status::InvalidArgument("scrypt N must be a power of two greater than 1");
  }
  if (params.r == 0 || params.p == 0 || uint64_t{params.r} * params.p >= (uint64_t{1} << 30)) {
    return Status::InvalidArgument("scrypt r and p must be at least 1 with r * p < 2^30");
  }
  const uint64_t memory = ScryptMemoryBytes(params);
  if (memory > kScryptMemoryBytesMax) {
    return Status::InvalidArgument("scrypt parameters need more than 1 GiB of memory");
  }
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (kdf == nullptr) return Status::Internal("OpenSSL has no SCRYPT");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf));
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return Status::Internal("EVP_KDF_CTX_new failed");

  // OpenSSL copies the passphrase into its context and wipes it when the context is freed.
  // An empty octet string still needs a valid pointer.
  static char empty[1] = {0};
  char* pass = passphrase.empty() ? empty : const_cast<char*>(passphrase.data());
  char* salt_bytes = salt.empty() ? empty : const_cast<char*>(salt.data());
  uint64_t n = params.n;
  uint32_t r = params.r;
  uint32_t p = params.p;
  uint64_t maxmem = memory + (uint64_t{1} << 20);  // OpenSSL's own bound; ours is checked above
  OSSL_PARAM ossl[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, pass, passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_bytes, salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  SecureBytes out(size_bytes);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), ossl) != 1) {
    return Status::Internal("scrypt derivation failed (parameters refused or out of memory)");
  }
  return out;
}

}  // namespace cairn::crypto
