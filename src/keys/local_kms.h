// LocalKms: the embedded KMS provider. Its KEK is 32 random bytes in a keyring file.
//
// The keyring file holds one line, "cairn-local-kek-v1 <base64 KEK>", and must be a regular file
// with mode 0600 or stricter owned by the current user: Open() refuses a file that group or others
// may read. Create() makes a new file with O_EXCL and mode 0600 and never overwrites one.
// Wrapped blob format: u8 version (1) || 12-byte IV || AES-256-GCM ciphertext || 16-byte tag, with
// AAD "cairn-wrap-v1" || u32 len || context.
//
// Thread safety: safe for concurrent use (each call uses its own cipher context).
#pragma once

#include <memory>
#include <string>

#include "keys/kms.h"

namespace cairn::keys {

class LocalKms final : public KmsProvider {
 public:
  static Result<std::unique_ptr<LocalKms>> Create(const std::string& keyring_path);
  static Result<std::unique_ptr<LocalKms>> Open(const std::string& keyring_path);

  std::string_view provider_name() const override { return "local"; }
  std::string kek_id() const override { return kek_id_; }
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  Status Health() override { return Status::Ok(); }

 private:
  explicit LocalKms(crypto::SecureBytes kek);
  crypto::SecureBytes kek_;
  std::string kek_id_;
};

// Refuses a secret file that is not a regular file or that group or others may access.
Status CheckPrivateFile(const std::string& path);

}  // namespace cairn::keys
