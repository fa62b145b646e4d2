// LocalKeyring: the `local` KMS provider of a data directory, with KEK versions. The keyring file
// holds one LocalKms line per version (keys/local_kms.h formats), oldest first; the last line is
// the current KEK. All lines are of one kind: random KEKs (v1), or opened by one passphrase (v2
// derived from it, v3 sealed under it; each version with its own salt). A keyring of one line is exactly the
// LocalKms format, so directories made before KEK rotation open unchanged.
//
// A passphrase change (ChangePassphrase) rewrites every line as v3 under the new passphrase.
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

  // Changes the passphrase of the keyring at `keyring_path`: every KEK version is opened with
  // `old_passphrase` (null for a keyring without one: its keys are in the file) and sealed under
  // `new_passphrase` (a v3 line each, with a new salt). The KEKs and their ids stay the same, so
  // nothing wrapped under them changes. The new text is checked to open under the new passphrase
  // to the same KEK ids before it replaces the file (atomically, as rotation does). Returns the
  // number of KEK versions. Errors as Open (a wrong old passphrase: kPermissionDenied); the file
  // is unchanged on any error but one: when replacing it failed after the rename (syncing the
  // directory), the kIOError says that the file now opens with the new passphrase. No process may
  // use the keyring meanwhile: the caller holds the data directory's lock.
  static Result<size_t> ChangePassphrase(const std::string& keyring_path,
                                         const crypto::SecureBytes* old_passphrase,
                                         const crypto::SecureBytes& new_passphrase,
                                         const crypto::ScryptParams& params);

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
