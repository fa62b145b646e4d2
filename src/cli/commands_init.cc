// cairn init: creates a data directory (keyring, store, checkpoint key, origin).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "server/config.h"
#include "server/dev_setup.h"

namespace cairn::cli {
namespace {

struct InitArgs {
  std::string data_dir;
  std::string config_file;
  std::string origin;
  bool json = false;
};

void PrintInitResult(const InitArgs& args, const std::string& dir, engine::EventStore& store,
                     const server::DevSetup& dev, const std::string& client_config) {
  if (args.json) {
    std::cout << JsonLine(Json{{"data_dir", dir},
                               {"origin", store.origin()},
                               {"verifier_key", store.verifier_key()},
                               {"server_config", dev.config_file},
                               {"admin_key_file", dev.admin_key_file},
                               {"ca_cert", dev.ca_cert},
                               {"client_config", client_config}})
              << "\n";
    return;
  }
  std::cout << "initialised data directory " << dir << "\n"
            << "origin: " << store.origin() << "\n"
            << "verifier key: " << store.verifier_key() << "\n"
            << "server config: " << dev.config_file << " (cairn serve --data-dir " << dir << ")\n"
            << "admin API key: " << dev.admin_key_file << " (0600)\n"
            << "dev CA: " << dev.ca_cert << "\n"
            << "client config: " << client_config << "\n";
  if (client_config != DefaultClientConfigPath()) {
    std::cout << "  (" << DefaultClientConfigPath() << " exists and was left as it was; "
              << "export CAIRN_CLIENT_CONFIG=" << client_config << " to use this one)\n";
  }
}

// Writes DIR/client.toml for this directory's dev server (with the admin key), and the default
// client config too when there is none yet (an existing one is left alone: it may point at a
// server the user is working with). Returns the path `cairn` will use.
Result<std::string> WriteClientConfigFor(const std::string& dir, const server::DevSetup& dev) {
  ClientConfigFile client;
  client.server = "127.0.0.1:7400";
  client.ca_file = std::filesystem::absolute(dev.ca_cert).string();
  client.token_file = std::filesystem::absolute(dev.admin_key_file).string();
  client.data_dir = std::filesystem::absolute(dir).string();
  const std::string own = (std::filesystem::absolute(dir) / "client.toml").string();
  if (Status s = WriteClientConfig(own, client); !s.ok()) return s;
  const std::string path = DefaultClientConfigPath();
  if (path.empty() || std::filesystem::exists(path)) return own;
  if (Status s = WriteClientConfig(path, client); !s.ok()) return s;
  return path;
}

// --config FILE: its [keys] choose the KMS provider, and its data_dir is the default directory.
Result<std::optional<server::Config>> InitConfig(const InitArgs& args) {
  if (args.config_file.empty()) return std::optional<server::Config>();
  CAIRN_ASSIGN_OR_RETURN(server::Config config, server::LoadConfigFile(args.config_file));
  CAIRN_RETURN_IF_ERROR(
      server::ApplyEnvOverrides(&config, [](const char* n) { return std::getenv(n); }));
  CAIRN_RETURN_IF_ERROR(keys::CheckKmsConfig(config.keys));
  CAIRN_RETURN_IF_ERROR(server::ValidateStorage(config.storage));
  return std::optional<server::Config>(std::move(config));
}

int RunInit(const CliContext& ctx, const InitArgs& args) {
  auto config = InitConfig(args);
  if (!config.ok()) return Fail(config.status());
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok() && *config && !(*config)->data_dir.empty()) dir = (*config)->data_dir;
  if (!dir.ok()) return UsageError(dir.status().message());
  engine::InitOptions options;
  options.data_dir = *dir;
  options.origin = args.origin;
  if (*config) options.kms = (*config)->keys;
  if (*config) options.postgres = server::PostgresOptions((*config)->storage);
  if (options.postgres) options.postgres->listen = false;  // offline: no other nodes to hear
  if (Status s = engine::EventStore::Init(options); !s.ok()) return Fail(s);
  // The store is made (above, where the configuration says): the dev set-up must not make
  // another one in the directory (a decoy log that `cairn verify --data-dir` would check).
  auto dev = server::CreateDevSetup(*dir, args.origin, /*init_store=*/false);
  if (!dev.ok()) return Fail(dev.status());
  auto client_config = WriteClientConfigFor(*dir, *dev);
  if (!client_config.ok()) return Fail(client_config.status());
  auto store = *config ? OpenStoreWith(*dir, **config) : OpenStore(*dir);
  if (!store.ok()) return Fail(store.status());
  PrintInitResult(args, *dir, **store, *dev, *client_config);
  return kExitOk;
}

}  // namespace

void RegisterInitCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* cmd = app.add_subcommand(
      "init", "Create a new data directory: keyring (0600), store, checkpoint signing key");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->add_option("--config", args->config_file,
                  "Server configuration whose [keys] choose the KMS provider (default: local "
                  "keyring DIR/keyring)")
      ->option_text("FILE");
  cmd->add_option("--origin", args->origin,
                  "Checkpoint origin (log name); default cairn.local/<random id>");
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->callback([&ctx, args] { ctx.exit_code = RunInit(ctx, *args); });
}

}  // namespace cairn::cli
