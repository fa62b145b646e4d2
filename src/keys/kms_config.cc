#include "keys/kms_config.h"

#include "keys/local_keyring.h"
#include "keys/pkcs11_keyring.h"

namespace cairn::keys {
namespace {

Status Refuse(const std::string& why) { return Status::FailedPrecondition("[keys] " + why); }

Status CheckLocal(const KmsConfig& c) {
  const Pkcs11Options& p = c.pkcs11;
  if (!p.module_path.empty() || !p.token_label.empty() || p.slot_id || !p.pin_file.empty() ||
      !p.pin_env.empty() || !p.key_label.empty()) {
    return Refuse("provider = \"local\" takes no module, slot, token_label, pin_file, pin_env or "
                  "key_label (those are for provider = \"pkcs11\")");
  }
  if (!c.local.passphrase_file.empty() && !c.local.passphrase_env.empty()) {
    return Refuse("set at most one of passphrase_file and passphrase_env");
  }
  return Status::Ok();
}

Status CheckPkcs11(const KmsConfig& c) {
  const Pkcs11Options& p = c.pkcs11;
  if (!c.local.keyring_path.empty() || !c.local.passphrase_file.empty() ||
      !c.local.passphrase_env.empty()) {
    return Refuse("provider = \"pkcs11\" takes no keyring, passphrase_file or passphrase_env "
                  "(those are for provider = \"local\")");
  }
  if (p.module_path.empty()) return Refuse("provider = \"pkcs11\" needs module (the PKCS#11 library)");
  if (p.token_label.empty() && !p.slot_id) {
    return Refuse("provider = \"pkcs11\" needs token_label or slot");
  }
  if (p.pin_file.empty() == p.pin_env.empty()) {
    return Refuse("provider = \"pkcs11\" needs exactly one of pin_file and pin_env");
  }
  if (p.key_label.empty()) return Refuse("provider = \"pkcs11\" needs key_label");
  return Status::Ok();
}

}  // namespace

Status CheckKmsConfig(const KmsConfig& config) {
  if (config.provider == kProviderLocal) return CheckLocal(config);
  if (config.provider == kProviderPkcs11) return CheckPkcs11(config);
  return Status::InvalidArgument("[keys] provider = \"" + config.provider +
                                 "\": must be \"local\" or \"pkcs11\"");
}

Result<std::unique_ptr<KmsProvider>> OpenKms(const KmsConfig& config, bool create) {
  CAIRN_RETURN_IF_ERROR(CheckKmsConfig(config));
  if (config.provider == kProviderPkcs11) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Keyring> kms,
                           Pkcs11Keyring::Open(config.pkcs11, create, config.reopen_interval_ms));
    return std::unique_ptr<KmsProvider>(std::move(kms));
  }
  auto kms = create ? LocalKeyring::Create(config.local) : LocalKeyring::Open(config.local);
  if (!kms.ok()) return kms.status();
  return std::unique_ptr<KmsProvider>(std::move(kms).value());
}

}  // namespace cairn::keys
