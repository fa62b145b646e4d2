// Pkcs11Keyring: the `pkcs11` KMS provider of a data directory, with KEK versions and recovery
// from a token that went away.
//
// Versions are AES key objects on the token: version 1 is labelled key_label, version n >= 2
// key_label + ".v" + n. Open() finds them (Pkcs11Kms::ListKeyLabels) and opens each one as a
// Pkcs11Kms; the highest version is current. AddKekVersion generates version max+1 on the token
// (non-extractable, as Pkcs11Kms does); RetireOldKekVersions destroys the older key objects.
// Blobs name their KEK (Pkcs11Kms format), so Unwrap goes to the right version.
//
// A blob that names a KEK none of the loaded versions is makes it look at the token again, as
// after token loss below, and try once more: another node sharing the token may have added a
// newer version (a KEK rotation) and re-wrapped the key under it.
//
// Token loss: the underlying providers fail with kUnavailable once the token or its login is
// gone, and cannot log in again (the PIN is not kept). When an operation or Health() meets
// kUnavailable, this class closes every version and opens them again from the options (reading
// the PIN again), at most once per reopen_interval_ms, doubling the wait after each failed
// reopen up to kReopenIntervalMsMax; until that succeeds every call is kUnavailable. So a token
// that comes back is used again without a restart. A reopen the token refused for the PIN
// (wrong or locked) is not tried again until the PIN source changes (the PIN file's inode,
// size or mtime, or the environment variable's value): many tokens lock the user after a few
// wrong PINs, and retrying every second would get there.
//
// Thread safety: safe for concurrent use. A reopen waits for the calls in progress.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "keys/pkcs11_kms.h"

namespace cairn::keys {

class Pkcs11Keyring final : public KmsProvider {
 public:
  // create_if_missing: generate version 1 when no version exists (`cairn init`).
  static Result<std::unique_ptr<Pkcs11Keyring>> Open(const Pkcs11Options& options,
                                                     bool create_if_missing,
                                                     int64_t reopen_interval_ms = 1000);

  std::string_view provider_name() const override { return "pkcs11"; }
  std::string kek_id() const override;
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  Status Health() override;
  bool HasKek(std::string_view kek_id) const override;
  size_t kek_version_count() const override;
  Result<std::string> AddKekVersion() override;
  Status RetireOldKekVersions() override;

  // The version a label names: 1 for key_label, n for key_label + ".v<n>" (n >= 2); 0 otherwise.
  static uint32_t VersionOfLabel(std::string_view base_label, std::string_view label);
  static std::string LabelOfVersion(const std::string& base_label, uint32_t version);

 private:
  struct Version {
    uint32_t number = 0;
    std::unique_ptr<Pkcs11Kms> kms;
  };
  Pkcs11Keyring(Pkcs11Options options, int64_t reopen_interval_ms)
      : options_(std::move(options)), reopen_interval_ms_(reopen_interval_ms) {}

  // Opens every version on the token; versions_mu_ held exclusively. With release_first, drops
  // the loaded versions before (so that the module is finalised and its slots read afresh);
  // otherwise they stay loaded when this fails.
  Status LoadLocked(bool create_if_missing, bool release_first);
  // Reopens (rate-limited) after kUnavailable (token_failed: the loaded versions are dropped, and
  // stay dropped when the reopen fails) or to find a version another node added (the loaded
  // versions stay usable when the reopen fails). Returns whether the versions were reloaded.
  bool TryReopen(bool token_failed);
  template <typename T, typename F>
  Result<T> WithRetry(F&& op);

  // The longest wait between reopen attempts after failures.
  static constexpr int64_t kReopenIntervalMsMax = 60000;

  const Pkcs11Options options_;
  const int64_t reopen_interval_ms_;
  mutable std::shared_mutex versions_mu_;  // shared: operations; exclusive: (re)open, rotation
  std::vector<Version> versions_;          // oldest first; empty while the token is gone
  std::vector<std::string> kek_ids_;       // of versions_, kept while the token is gone
  Status last_error_;
  std::atomic<int64_t> last_reopen_ms_{0};
  std::atomic<int64_t> reopen_wait_ms_{0};  // reopen_interval_ms_, doubled per failed reopen
  std::string refused_pin_source_;          // PinSourceFingerprint() of a PIN the token refused
};

}  // namespace cairn::keys
