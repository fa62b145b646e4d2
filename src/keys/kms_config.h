// KmsConfig: which KMS provider holds a data directory's key-encryption key, with its settings
// (the [keys] section of cairn.toml), and OpenKms, which builds that provider.
//
//   local  (default): keys/local_keyring.h. local.keyring_path empty means <data_dir>/keyring.
//          No passphrase source: the KEK is random and kept in the keyring file (mode 0600);
//          passphrase_file or passphrase_env: the KEK is derived from the passphrase (scrypt).
//   pkcs11: keys/pkcs11_keyring.h: module path, token (label or slot), PIN (file or variable),
//          key label.
// CheckKmsConfig refuses the combinations that make no sense (settings of the other provider,
// two passphrase or PIN sources, a missing module or key label) with a one-line reason naming
// the setting as it is written in [keys].
//
// Thread safety: plain values and functions.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "keys/kms.h"
#include "keys/local_kms.h"
#include "keys/pkcs11_kms.h"

namespace cairn::keys {

inline constexpr std::string_view kProviderLocal = "local";
inline constexpr std::string_view kProviderPkcs11 = "pkcs11";

struct KmsConfig {
  std::string provider = std::string(kProviderLocal);
  LocalKmsOptions local;
  Pkcs11Options pkcs11;
  // pkcs11: how often a provider whose token went away tries to open it again.
  int64_t reopen_interval_ms = 1000;
};

Status CheckKmsConfig(const KmsConfig& config);

// `create` (cairn init): a new local keyring, or, for pkcs11, the KEK generated on the token when
// no key has the label. Otherwise the provider must already hold its KEK.
Result<std::unique_ptr<KmsProvider>> OpenKms(const KmsConfig& config, bool create);

}  // namespace cairn::keys
