// Secret byte buffers that are zeroed when dropped, constant-time comparison, and the CSPRNG.
//
// SecureBytes owns a secret (a key, a seed). Its destructor and Clear() wipe the memory with
// OPENSSL_cleanse, which the compiler may not optimise away. It is movable and deliberately not
// implicitly copyable: copy with Clone() so every copy of a key is visible in the code.
// Thread safety: SecureBytes is a value (no internal sharing); RandomBytes is thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::crypto {

class SecureBytes {
 public:
  SecureBytes() = default;
  explicit SecureBytes(size_t size_bytes) : bytes_(size_bytes, '\0') {}
  explicit SecureBytes(std::string_view bytes) : bytes_(bytes) {}
  ~SecureBytes() { Clear(); }
  SecureBytes(SecureBytes&& other) noexcept;
  SecureBytes& operator=(SecureBytes&& other) noexcept;
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;

  SecureBytes Clone() const { return SecureBytes(view()); }
  void Clear();  // wipes and empties

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(bytes_.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  std::string_view view() const { return bytes_; }
  std::span<const uint8_t> span() const { return {data(), size()}; }

 private:
  std::string bytes_;
};

// Wipes a buffer that held a secret.
void Cleanse(void* p, size_t size_bytes);
void Cleanse(std::string* s);

// Constant-time equality (time depends only on the lengths). Use it for every comparison of a
// secret or a MAC.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Fills `out` from OpenSSL's CSPRNG (RAND_bytes). Fails only if the CSPRNG is not seeded.
Status RandomBytes(std::span<uint8_t> out);
// Random bytes for values that are not secret but must never repeat: GCM IVs and UUIDs. Served
// from a per-thread buffer refilled from the same CSPRNG 4 KiB at a time, because every RAND_bytes
// call costs a getpid() syscall (OpenSSL's fork check). Fork-safe: a child process discards the
// buffers it inherited (pthread_atfork), so parent and child never hand out the same bytes.
// Requests larger than 256 bytes go straight to RAND_bytes. Never use it for keys.
Status RandomPublicBytes(std::span<uint8_t> out);
// Returns `size_bytes` random bytes; aborts the process if the CSPRNG fails (it never should:
// continuing without randomness would be worse).
std::string RandomString(size_t size_bytes);
SecureBytes RandomSecret(size_t size_bytes);

}  // namespace cairn::crypto
