// LocalKeyring: the `local` KMS provider of a data directory, with KEK versions. The keyring file
// holds one LocalKms line per version (keys/local_kms.h formats), oldest first; the last line is
// the current KEK. All lines are of one kind: random KEKs (v1) or passphrase-derived (v2, each
// version with its own salt, all from the same passphrase). A keyring of one line is exactly the
// LocalKms format, so directories made before KEK rotation open unchanged.
//
// Rotation: AddKekVersion appends a new line; RetireOldKekVersions leaves only the current one.
// Both replace the file atomically: a new file (O_EXCL, mode 0600) written and fsynced beside
// it, renamed over it, and the directory fsynced; a crash leaves the old or the new file, never a
// mix. For a v2 keyring the passphrase is read again and must open the current line.
//
// What it re-checks while running (Health, and before every Wrap): that the keyring file is still
// a private regular file that holds the current KEK's line. A keyring that was removed, made
// readable by others, emptied or replaced by another keyring makes the provider unhealthy
// (kUnavailable naming the file): nothing new is wrapped under a KEK a restart would not find.
// Unwrap keeps working from the KEK in memory (the process already holds it; refusing would
// protect nothing). Start-up with an unusable keyring fails with a one-line message naming it.
//
// Thread safety: safe for concurrent use; rotation calls are serialised with each other.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/sha256.h"
#include "keys/local_kms.h"

namespace cairn::keys {

class LocalKeyring final : public KmsProvider {
 public:
  // Creates the keyring (one version; never overwrites a file). kAlreadyExists if it exists.
  static Result<std::unique_ptr<LocalKeyring>> Create(const LocalKmsOptions& options);
  static Result<std::unique_ptr<LocalKeyring>> Open(const LocalKmsOptions& options);

  std::string_view provider_name() const override { return "local"; }
  std::string kek_id() const override;
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  Status Health() override;
  bool HasKek(std::string_view kek_id) const override;
  size_t kek_version_count() const override;
  Result<std::string> AddKekVersion() override;
  Status RetireOldKekVersions() override;

 private:
  struct Version {
    std::shared_ptr<LocalKms> kms;
    crypto::Hash line_hash;  // SHA-256 of its keyring line: what Health looks for in the file
  };
  explicit LocalKeyring(LocalKmsOptions options) : options_(std::move(options)) {}
  Status Load();
  Result<std::vector<crypto::Hash>> ReadLineHashes() const;
  std::shared_ptr<LocalKms> Current() const;
  std::vector<std::shared_ptr<LocalKms>> NewestFirst() const;

  const LocalKmsOptions options_;
  mutable std::mutex mu_;  // guards versions_
  std::vector<Version> versions_;  // oldest first; never empty once loaded
  std::mutex rotate_mu_;  // serialises AddKekVersion and RetireOldKekVersions
};

}  // namespace cairn::keys
