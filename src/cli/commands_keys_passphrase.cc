// cairn keys passphrase: changes the passphrase of a data directory's local keyring, offline
// (the keyring is the server's own file; a running server holds the directory's lock and the
// command is refused). Every KEK version is sealed under the new passphrase (keyring format v3);
// the keys stay the same, so nothing wrapped under them is touched. The act is audited in
// `$audit` like an offline key rotation.
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/offline_audit.h"
#include "cli/output_json.h"
#include "engine/data_dir.h"
#include "keys/local_keyring.h"

namespace cairn::cli {
namespace {

struct PassphraseArgs {
  std::string data_dir;
  std::string config_file;
  std::string new_file;
  std::string new_env;
  bool json = false;
};

// The passphrases, old (none for a keyring that holds its key) and new; a usage error when the
// new source is missing, doubled, or gives the current passphrase.
struct Passphrases {
  std::optional<crypto::SecureBytes> old_one;
  crypto::SecureBytes new_one;
};

Result<Passphrases> ReadPassphrases(const keys::LocalKmsOptions& current, const PassphraseArgs& args) {
  Passphrases p;
  if (!current.passphrase_file.empty() || !current.passphrase_env.empty()) {
    CAIRN_ASSIGN_OR_RETURN(p.old_one, keys::LocalKms::ReadPassphrase(current));
  }
  keys::LocalKmsOptions fresh;
  fresh.passphrase_file = args.new_file;
  fresh.passphrase_env = args.new_env;
  CAIRN_ASSIGN_OR_RETURN(p.new_one, keys::LocalKms::ReadPassphrase(fresh));
  if (p.old_one && crypto::ConstantTimeEquals(p.old_one->view(), p.new_one.view())) {
    return Status::InvalidArgument("the new passphrase is the current one");
  }
  return p;
}

int RunKeysPassphrase(const CliContext& ctx, const PassphraseArgs& args) {
  if (args.new_file.empty() == args.new_env.empty()) {
    return UsageError("give the new passphrase's source: --new-passphrase-file FILE or --new-passphrase-env VAR");
  }
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  auto config = DirOrFileConfig(*dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  if (config->keys.provider != keys::kProviderLocal) {
    return UsageError("the keys are on a PKCS#11 token: change its PIN with the token's own tools");
  }
  // Opening the store proves the current passphrase opens every key and holds the directory's
  // lock (a running server holds it: refused) until the act is audited.
  auto store = OpenStoreWith(*dir, *config);
  if (!store.ok()) return Fail(store.status());
  auto passphrases = ReadPassphrases(config->keys.local, args);
  if (!passphrases.ok()) {
    return passphrases.status().code() == StatusCode::kInvalidArgument
               ? UsageError(passphrases.status().message())
               : Fail(passphrases.status());
  }
  std::string keyring = config->keys.local.keyring_path;
  if (keyring.empty()) keyring = engine::DataDirPaths(*dir).keyring;
  const crypto::SecureBytes* old_one = passphrases->old_one ? &*passphrases->old_one : nullptr;
  auto versions = keys::LocalKeyring::ChangePassphrase(keyring, old_one, passphrases->new_one,
                                                       config->keys.local.scrypt);
  OfflineAct act{"key.passphrase", "keyring", versions.status(), {}};
  if (versions.ok()) act.details = {{"kek_versions", std::to_string(*versions)}};
  const Status audited = AuditOfflineActWith(store->get(), *config, std::move(act));
  if (!versions.ok()) return Fail(versions.status());
  if (args.json) {
    std::cout << JsonLine(Json{{"kek_versions", *versions},
                               {"had_passphrase", old_one != nullptr},
                               {"audited", audited.ok()}})
              << "\n";
  } else {
    std::cout << "keyring passphrase " << (old_one ? "changed" : "set") << ": " << *versions
              << " key-encryption key version(s) sealed under the new passphrase, key ids unchanged.\n"
              << "Point [keys] passphrase_file (or passphrase_env) at the new passphrase before "
                 "starting cairn. "
              << (old_one ? "Copies of the old keyring still open with the old passphrase"
                          : "Copies of the old keyring hold the key in clear")
              << ": run `cairn keys rotate --kek` to retire that key.\n";
  }
  if (!audited.ok()) {
    return Fail(audited.Annotate("the passphrase was changed, but its audit record was not written"));
  }
  return kExitOk;
}

}  // namespace

void RegisterKeysPassphraseCommand(CLI::App& keys, CliContext& ctx) {
  auto args = std::make_shared<PassphraseArgs>();
  CLI::App* cmd = keys.add_subcommand(
      "passphrase", "Change (or set) the local keyring's passphrase, offline; the keys stay the same");
  cmd->add_option("--new-passphrase-file", args->new_file,
                  "File holding the new passphrase (mode 0600, 12..1024 bytes)")
      ->option_text("FILE");
  cmd->add_option("--new-passphrase-env", args->new_env,
                  "Environment variable holding the new passphrase")
      ->option_text("VAR");
  cmd->add_option("--config", args->config_file,
                  "Configuration whose [keys] opens the keyring now (default: DIR/cairn.toml)")
      ->option_text("FILE");
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunKeysPassphrase(ctx, *args); });
}

}  // namespace cairn::cli
