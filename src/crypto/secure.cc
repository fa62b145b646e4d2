#include "crypto/secure.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <limits>

namespace cairn::crypto {

SecureBytes::SecureBytes(SecureBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.Clear();
}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
    other.Clear();
  }
  return *this;
}

void SecureBytes::Clear() { Cleanse(&bytes_); }

void Cleanse(void* p, size_t size_bytes) {
  if (size_bytes > 0) OPENSSL_cleanse(p, size_bytes);
}

void Cleanse(std::string* s) {
  // Wipe the whole capacity: a shrink may have left secret bytes beyond size().
  s->resize(s->capacity());
  Cleanse(s->data(), s->size());
  s->clear();
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status RandomBytes(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    size_t n = std::min<size_t>(out.size() - done, std::numeric_limits<int>::max());
    if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
      return Status::Internal("CSPRNG failure (RAND_bytes)");
    }
    done += n;
  }
  return Status::Ok();
}

std::string RandomString(size_t size_bytes) {
  std::string s(size_bytes, '\0');
  if (!RandomBytes({reinterpret_cast<uint8_t*>(s.data()), s.size()}).ok()) {
    std::fputs("cairn: fatal: the CSPRNG failed\n", stderr);
    std::abort();
  }
  return s;
}

SecureBytes RandomSecret(size_t size_bytes) {
  SecureBytes s(size_bytes);
  if (!RandomBytes({s.data(), s.size()}).ok()) {
    std::fputs("cairn: fatal: the CSPRNG failed\n", stderr);
    std::abort();
  }
  return s;
}

}  // namespace cairn::crypto
