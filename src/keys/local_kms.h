// LocalKms: the embedded KMS provider. Its KEK is 32 bytes that are either random and kept in a
// keyring file (v1), derived from a passphrase with scrypt (v2, the keyring holds no key), or
// sealed under a key derived from a passphrase (v3, after a passphrase change).
//
// Keyring files are one line and must be regular files with mode 0600 or stricter owned by the
// current user: Open() refuses a file that group or others may access. Create() makes a new file
// with O_EXCL and mode 0600 and never overwrites one.
//   v1: "cairn-local-kek-v1 <base64 KEK>"
//   v2: "cairn-local-kek-v2 scrypt N=<n> r=<r> p=<p> salt=<base64 32 bytes> check=<base64 32 bytes>"
//       KEK   = scrypt(passphrase, salt, N, r, p, 32 bytes)
//       check = HMAC-SHA256(KEK, "cairn-kek-check-v1"): verifies a passphrase without revealing the
//               KEK (compared in constant time). A wrong passphrase, or a keyring whose salt, cost
//               or check was modified, gives kPermissionDenied "wrong passphrase for keyring <path>".
//       The cost parameters are stored, so new keyrings can use higher ones later; Open() accepts
//       N >= 2^14, r >= 8, 1 <= p <= 16, at most 256 MiB of memory (N=2^18 at r=8) and
//       N * r * p <= 2^21 (the work of N=2^18, r=8, p=1: 8x the default), so a modified file can
//       make start-up neither much costlier nor the KDF weaker.
//   v3: "cairn-local-kek-v3 scrypt N=<n> r=<r> p=<p> salt=<base64 32 bytes> kek=<base64 60 bytes>"
//       kek   = AES-256-GCM(scrypt(passphrase, salt, N, r, p, 32 bytes), AAD "cairn-local-kek-v3",
//               KEK): IV || ciphertext || tag. The KEK itself is random or an earlier v2 line's;
//               a passphrase change (KeyringLineUnder) seals the same KEK under the new
//               passphrase, so nothing wrapped under it changes. A wrong passphrase or a modified
//               line fails the tag: kPermissionDenied as for v2. Same cost limits as v2.
// The passphrase comes from a file (same rules as the keyring: regular, owned by the user, no
// group/other access; symlinks to such a file are followed; one trailing "\n" or "\r\n" removed)
// or from an environment variable; it must be 12..1024 bytes. It is held in SecureBytes and wiped.
// Wrapped blob format (both versions): u8 version (1) || 12-byte IV || AES-256-GCM ciphertext ||
// 16-byte tag, with AAD "cairn-wrap-v1" || u32 len || context.
// KEK rotation: any number of LocalKms instances (different keyrings) may be open at once, so key
// material can be unwrapped with the old one and wrapped with the new one.
//
// Thread safety: safe for concurrent use (each call uses its own cipher context). Reading
// passphrase_env calls getenv(): do not modify the environment concurrently.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>
#include <string_view>

#include "crypto/scrypt.h"
#include "keys/kms.h"

namespace cairn::keys {

// The conventional environment variable for the keyring passphrase (callers choose to use it).
inline constexpr std::string_view kKekPassphraseEnv = "CAIRN_KEK_PASSPHRASE";
inline constexpr size_t kPassphraseSizeBytesMin = 12;
inline constexpr size_t kPassphraseSizeBytesMax = 1024;
// The least scrypt cost a v2 keyring may use, and the default (about 32 MiB).
inline constexpr crypto::ScryptParams kKeyringScryptMin{uint64_t{1} << 14, 8, 1};
inline constexpr crypto::ScryptParams kKeyringScryptDefault{uint64_t{1} << 15, 8, 1};

struct LocalKmsOptions {
  std::string keyring_path;
  // Where the passphrase comes from: at most one of the two. Both empty: a v1 keyring (key in the
  // file). passphrase_env names the variable (e.g. kKekPassphraseEnv), it is not the passphrase.
  std::string passphrase_file;
  std::string passphrase_env;
  // Create() only: Open() reads the parameters from the keyring.
  crypto::ScryptParams scrypt = kKeyringScryptDefault;
};

class LocalKms final : public KmsProvider {
 public:
  // v1 keyrings (random KEK in the file). Open(path) of a v2 keyring: kFailedPrecondition (it
  // needs a passphrase).
  static Result<std::unique_ptr<LocalKms>> Create(const std::string& keyring_path);
  static Result<std::unique_ptr<LocalKms>> Open(const std::string& keyring_path);

  // v1 or v2, chosen by the options. Open() detects the keyring's version: a v2 keyring without a
  // passphrase source, or a v1 keyring given one, is kFailedPrecondition (a passphrase that
  // protects nothing would mislead the operator).
  static Result<std::unique_ptr<LocalKms>> Create(const LocalKmsOptions& options);
  static Result<std::unique_ptr<LocalKms>> Open(const LocalKmsOptions& options);

  // v2 with the passphrase in hand (Create/Open with options read it and call these).
  static Result<std::unique_ptr<LocalKms>> CreateWithPassphrase(
      const std::string& keyring_path, const crypto::SecureBytes& passphrase,
      const crypto::ScryptParams& params = kKeyringScryptDefault);
  static Result<std::unique_ptr<LocalKms>> OpenWithPassphrase(const std::string& keyring_path,
                                                              const crypto::SecureBytes& passphrase);

  // Keyrings with several KEK versions (keys/local_keyring.h) are one line per version. A line
  // (without its "\n") to a LocalKms: `passphrase` must be non-null for a v2 line and null for a
  // v1 line (kFailedPrecondition otherwise). Errors as Open(); `keyring_path` names the file.
  static Result<std::unique_ptr<LocalKms>> FromKeyringLine(std::string_view line,
                                                          const std::string& keyring_path,
                                                          const crypto::SecureBytes* passphrase);
  // A new KEK: random (v1) when `passphrase` is null, else derived from it with a new salt (v2).
  // *line receives its keyring line, "\n"-terminated (the caller wipes it).
  static Result<std::unique_ptr<LocalKms>> NewKeyringLine(const crypto::SecureBytes* passphrase,
                                                         const crypto::ScryptParams& params,
                                                         std::string* line);

  // The passphrase from options.passphrase_file or options.passphrase_env (exactly one must be
  // set). kFailedPrecondition for an exposed file or an unset variable, kInvalidArgument for a
  // passphrase outside 12..1024 bytes. Messages never contain passphrase bytes.
  static Result<crypto::SecureBytes> ReadPassphrase(const LocalKmsOptions& options);

  std::string_view provider_name() const override { return "local"; }
  std::string kek_id() const override { return kek_id_; }
  // True for a v2 or v3 keyring (a passphrase opens the KEK).
  bool passphrase_protected() const { return passphrase_protected_; }
  // A v3 keyring line ("\n"-terminated) that seals this KEK under `passphrase` with a new salt:
  // the same KEK id, opened by that passphrase only. The caller wipes the line.
  Result<std::string> KeyringLineUnder(const crypto::SecureBytes& passphrase,
                                       const crypto::ScryptParams& params) const;
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  Status Health() override { return Status::Ok(); }

 private:
  LocalKms(crypto::SecureBytes kek, bool passphrase_protected);
  static Result<std::unique_ptr<LocalKms>> FromV2Line(std::string_view body,
                                                      const std::string& keyring_path,
                                                      const crypto::SecureBytes& passphrase);
  static Result<std::unique_ptr<LocalKms>> FromV3Line(std::string_view body,
                                                      const std::string& keyring_path,
                                                      const crypto::SecureBytes& passphrase);
  crypto::SecureBytes kek_;
  std::string kek_id_;
  bool passphrase_protected_;
};

// Opens a secret file for reading (the caller closes the descriptor). Refuses, on the file that
// was opened (fstat, so a file swapped in after a check cannot slip through), one that is not a
// regular file, not owned by the user running cairn, or that group or others may access; never
// follows a symlink or blocks on a FIFO.
Result<int> OpenPrivateFile(const std::string& path);
Status CheckPrivateStat(const std::string& path, const struct stat& st);

// The text of a keyring file (opened with OpenPrivateFile, at most 4 KiB), without one trailing
// newline. The caller wipes it.
Result<std::string> ReadKeyringFile(const std::string& path);

}  // namespace cairn::keys
