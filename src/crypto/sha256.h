// SHA-256 through OpenSSL 3 EVP, one-shot and incremental.
//
// Thread safety: Sha256() is thread-safe. A Sha256Hasher is not: use one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::crypto {

inline constexpr size_t kSha256SizeBytes = 32;
using Hash = std::array<uint8_t, kSha256SizeBytes>;

Hash Sha256(std::string_view bytes);
inline std::string_view HashView(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}
inline std::string HashString(const Hash& h) { return std::string(HashView(h)); }
// Copies exactly 32 bytes into a Hash; `bytes.size()` must be 32.
Hash HashFromBytes(std::string_view bytes);

class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view bytes);
  void Update(uint8_t byte) { Update(std::string_view(reinterpret_cast<const char*>(&byte), 1)); }
  // Returns the digest and resets the hasher for reuse.
  Hash Final();

 private:
  void* ctx_;  // EVP_MD_CTX
};

}  // namespace cairn::crypto
