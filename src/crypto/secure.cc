#include "crypto/secure.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstring>
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

namespace {

constexpr size_t kPublicPoolSizeBytes = 4096;
constexpr size_t kPublicRequestSizeBytesMax = 256;

std::atomic<uint64_t> g_fork_generation{0};

void OnForkInChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct PublicPool {
  uint8_t bytes[kPublicPoolSizeBytes];
  size_t used = kPublicPoolSizeBytes;  // empty
  uint64_t generation = UINT64_MAX;
  ~PublicPool() { Cleanse(bytes, sizeof bytes); }
};

}  // namespace

Status RandomPublicBytes(std::span<uint8_t> out) {
  static const bool registered = [] { return pthread_atfork(nullptr, nullptr, OnForkInChild) == 0; }();
  if (!registered || out.size() > kPublicRequestSizeBytesMax) return RandomBytes(out);
  thread_local PublicPool pool;
  const uint64_t generation = g_fork_generation.load(std::memory_order_relaxed);
  if (pool.generation != generation || kPublicPoolSizeBytes - pool.used < out.size()) {
    CAIRN_RETURN_IF_ERROR(RandomBytes({pool.bytes, sizeof pool.bytes}));
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out.data(), pool.bytes + pool.used, out.size());
  Cleanse(pool.bytes + pool.used, out.size());  // each byte is handed out once
  pool.used += out.size();
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
