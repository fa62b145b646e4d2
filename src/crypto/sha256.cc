#include "crypto/sha256.h"

#include <openssl/evp.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cairn::crypto {
namespace {

// Fetched once: implicit fetching by name on every call costs a lock and a lookup.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) {
    std::fputs("cairn: fatal: OpenSSL has no SHA-256\n", stderr);
    std::abort();
  }
  return md;
}

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "cairn: fatal: %s failed\n", what);
  std::abort();
}

}  // namespace

// One-shot hashing reuses a per-thread context: EVP_Digest allocates and frees one per call.
Hash Sha256(std::string_view bytes) {
  thread_local Sha256Hasher hasher;
  if (bytes.empty()) {  // most events have no metadata: its hash is computed once
    static const Hash empty = [] {
      Sha256Hasher h;
      return h.Final();
    }();
    return empty;
  }
  hasher.Update(bytes);
  return hasher.Final();
}

Hash HashFromBytes(std::string_view bytes) {
  assert(bytes.size() == kSha256SizeBytes);
  Hash h;
  std::memcpy(h.data(), bytes.data(), kSha256SizeBytes);
  return h;
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), Sha256Md(), nullptr) != 1) {
    Fatal("EVP_DigestInit_ex");
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(std::string_view bytes) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size()) != 1) {
    Fatal("EVP_DigestUpdate");
  }
}

Hash Sha256Hasher::Final() {
  Hash out;
  unsigned int n = 0;
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (EVP_DigestFinal_ex(ctx, out.data(), &n) != 1) Fatal("EVP_DigestFinal_ex");
  if (EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) != 1) Fatal("EVP_DigestInit_ex");
  return out;
}

}  // namespace cairn::crypto
