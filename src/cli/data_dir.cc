#include "cli/data_dir.h"

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "cli/connection.h"
#include "cli/errors.h"
#include "server/config.h"
#include "server/dev_setup.h"
#include "cli/remote_store.h"

namespace cairn::cli {

void AddDataDirOption(CLI::App* command, std::string* data_dir) {
  command->add_option("--data-dir", *data_dir, "Data directory (default: $CAIRN_DATA_DIR)")
      ->option_text("DIR");
  AddConnectionOptions(command);
}

Result<std::string> ResolveDataDir(const CliContext& ctx, const std::string& command_value) {
  if (!command_value.empty()) return command_value;
  if (!ctx.global_data_dir.empty()) return ctx.global_data_dir;
  const char* env = std::getenv("CAIRN_DATA_DIR");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::InvalidArgument("no data directory or server: pass --data-dir DIR (or set CAIRN_DATA_DIR), or --server HOST:PORT");
}

namespace {

// $CAIRN_CONFIG when set, else DIR/cairn.toml; nullopt when neither exists.
Result<std::optional<server::Config>> DirConfig(const std::string& data_dir) {
  const char* env = std::getenv("CAIRN_CONFIG");
  const bool from_env = env != nullptr && *env != '\0';
  const std::string config_file = from_env ? std::string(env) : server::DevSetupPaths(data_dir).config_file;
  if (!from_env && !std::filesystem::exists(config_file)) return std::optional<server::Config>();
  CAIRN_ASSIGN_OR_RETURN(server::Config config, server::LoadConfigFile(config_file));
  return std::optional<server::Config>(std::move(config));
}

}  // namespace

Result<std::unique_ptr<engine::EventStore>> OpenStoreWith(const std::string& data_dir,
                                                          const server::Config& config) {
  // The same [storage] rules as `cairn serve`: no password in the DSN, TLS off loopback.
  CAIRN_RETURN_IF_ERROR(server::ValidateStorage(config.storage));
  engine::Options options;
  options.data_dir = data_dir;
  // Offline appends follow the same protection rules as the server of this directory, so that
  // personal data never goes into the log in the clear through the back door.
  options.protect_rules_file = config.protect.file;
  options.limits = server::EngineLimits(config.limits);  // the server's append limits
  options.kms = config.keys;
  options.postgres = server::PostgresOptions(config.storage);
  if (options.postgres) {
    options.postgres->listen = false;   // offline tools: no notifications,
    options.postgres->migrate = false;  // and no schema change under the nodes serving it
  }
  // A directory served with the configuration in /etc/cairn/cairn.toml has the dev DIR/cairn.toml
  // of `cairn init` beside it: its missing [protect] must not let an offline append through.
  options.protect_rules_must_match_recorded = true;
  return engine::EventStore::Open(options);  // its messages already say to run `cairn init`
}

Status ValidatePgFlags(const server::StorageSection& storage, const PgFlagNames& flags) {
  const Status status = server::ValidateStorage(storage);
  if (status.ok()) return status;
  std::string message = status.message();
  const std::pair<std::string, std::string> names[] = {
      {"storage.postgres_sslmode = \"verify-full\"", flags.sslmode_fix},
      {"storage.postgres_password_file", flags.password_file},
      {"storage.postgres_sslmode", flags.sslmode},
      {"storage.postgres_dsn", flags.dsn}};
  for (const auto& [setting, flag] : names) {
    size_t at = message.find(setting);
    for (int replaced = 0; at != std::string::npos && replaced < 8; ++replaced) {
      message.replace(at, setting.size(), flag);
      at = message.find(setting, at + flag.size());
    }
  }
  return Status(status.code(), message);
}

Result<std::unique_ptr<engine::EventStore>> OpenStore(const std::string& data_dir) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<server::Config> config, DirConfig(data_dir));
  return OpenStoreWith(data_dir, config ? *config : server::DefaultConfig());
}

Result<server::Config> DirOrFileConfig(const std::string& data_dir, const std::string& config_file) {
  server::Config config = server::DefaultConfig();
  if (!config_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(config, server::LoadConfigFile(config_file));
  } else {
    CAIRN_ASSIGN_OR_RETURN(std::optional<server::Config> found, DirConfig(data_dir));
    if (found) config = std::move(*found);
  }
  CAIRN_RETURN_IF_ERROR(server::ValidateStorage(config.storage));
  return config;
}

Result<keys::KmsConfig> DirKmsConfig(const std::string& data_dir) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<server::Config> config, DirConfig(data_dir));
  return config ? config->keys : keys::KmsConfig{};
}

namespace {

// Network mode: --server/$CAIRN_SERVER, or the client config when no directory is selected.
std::unique_ptr<engine::EventStore> ConnectOrReport(const ClientOptions& options, int* exit_code) {
  auto client = Client::Connect(options);
  if (!client.ok()) {
    *exit_code = Fail(client.status());
    return nullptr;
  }
  return std::make_unique<RemoteEventStore>(std::move(client).value());
}

}  // namespace

std::unique_ptr<engine::EventStore> OpenOrReport(const CliContext& ctx,
                                                const std::string& command_value,
                                                int* exit_code, std::string* offline_data_dir) {
  const bool explicit_dir = !command_value.empty() || !ctx.global_data_dir.empty();
  if (explicit_dir && !GlobalConnectionFlags().server.empty()) {
    *exit_code = UsageError("--data-dir and --server select different stores: give one");
    return nullptr;
  }
  auto remote = explicit_dir ? Result<ClientOptions>(Status::NotFound("offline"))
                             : ResolveClientOptions(/*explicit_only=*/true);
  const char* env_dir = std::getenv("CAIRN_DATA_DIR");
  if (!explicit_dir && remote.status().code() == StatusCode::kNotFound &&
      (env_dir == nullptr || *env_dir == '\0')) {
    remote = ResolveClientOptions(/*explicit_only=*/false);
  }
  if (remote.ok()) return ConnectOrReport(*remote, exit_code);
  if (remote.status().code() != StatusCode::kNotFound) {
    *exit_code = UsageError(remote.status().message());
    return nullptr;
  }
  auto dir = ResolveDataDir(ctx, command_value);
  if (!dir.ok()) {
    *exit_code = UsageError(dir.status().message());
    return nullptr;
  }
  auto store = OpenStore(*dir);
  if (!store.ok()) {
    *exit_code = Fail(store.status());
    return nullptr;
  }
  if (offline_data_dir != nullptr) *offline_data_dir = *dir;
  return std::move(store).value();
}

}  // namespace cairn::cli
