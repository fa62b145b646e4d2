// KmsProvider: the key-encryption key (KEK) seam.
//
// Every secret cairn keeps at rest (storage-key epochs, the checkpoint signing key, later the
// subject keys) is stored wrapped by a KMS provider's KEK and unwrapped into memory only while in
// use. A provider wraps small secrets (≤ 4 KiB); the `context` is bound to the wrapping (AAD for
// AES-GCM) so a wrapped blob cannot be swapped for another one. Providers: `local` (a keyring
// file, this module); PKCS#11 and others plug in behind the same interface.
//
// KEK versions (`cairn keys rotate --kek`): a provider may hold several KEK versions at once.
// Wrap always uses the current (newest) one; Unwrap accepts a blob from any version it holds;
// kek_id() names the current one and HasKek() says whether a version is held. AddKekVersion makes
// a new version current (durably, in the keyring or on the token); RetireOldKekVersions drops
// every older one, which the caller does only once every wrapped secret is re-wrapped. Providers
// that hold one KEK keep the defaults (rotation refused with kFailedPrecondition).
//
// Errors: Unwrap of a modified blob, a blob for another context or another KEK gives kDataLoss;
// an unreachable KMS gives kUnavailable (callers fail closed). Never logs key bytes.
// Thread safety: implementations are safe for concurrent use.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::keys {

inline constexpr size_t kWrapPlaintextSizeBytesMax = 4096;

class KmsProvider {
 public:
  virtual ~KmsProvider() = default;
  virtual std::string_view provider_name() const = 0;  // "local", "pkcs11", ...
  // A public identifier of the KEK (a fingerprint, never the key), for diagnostics.
  virtual std::string kek_id() const = 0;
  virtual Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) = 0;
  virtual Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) = 0;
  virtual Status Health() = 0;

  virtual bool HasKek(std::string_view kek_id) const { return kek_id == this->kek_id(); }
  virtual size_t kek_version_count() const { return 1; }
  // Returns the new current kek_id.
  virtual Result<std::string> AddKekVersion() {
    return Status::FailedPrecondition("the " + std::string(provider_name()) +
                                      " provider here holds one KEK and cannot rotate it");
  }
  virtual Status RetireOldKekVersions() { return Status::Ok(); }
};

// At most this many KEK versions at once (normally 1; 2 while a rotation runs).
inline constexpr size_t kKekVersionsMax = 16;

}  // namespace cairn::keys
