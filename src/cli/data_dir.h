// Locating and opening the data directory of an offline command.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/context.h"
#include "common/status.h"
#include "engine/event_store.h"
#include "server/config.h"

namespace cairn::cli {

// Adds the per-subcommand --data-dir option (it wins over the global one and $CAIRN_DATA_DIR).
void AddDataDirOption(CLI::App* command, std::string* data_dir);

// The subcommand's --data-dir, else the global --data-dir, else $CAIRN_DATA_DIR;
// kInvalidArgument when none is set (a usage error).
Result<std::string> ResolveDataDir(const CliContext& ctx, const std::string& command_value);

// Opens the store with the protection rules ([protect]) and the KMS provider ([keys]) of
// DIR/cairn.toml when it exists (defaults otherwise). A locked directory fails with the engine's
// kUnavailable message, which names the process holding the lock.
Result<std::unique_ptr<engine::EventStore>> OpenStore(const std::string& data_dir);
// The same with the settings of `config` instead of DIR/cairn.toml (`cairn init --config`).
Result<std::unique_ptr<engine::EventStore>> OpenStoreWith(const std::string& data_dir,
                                                          const server::Config& config);
// The [keys] settings of DIR/cairn.toml (defaults when it does not exist), for commands that
// open the directory without OpenStore (verify).
Result<keys::KmsConfig> DirKmsConfig(const std::string& data_dir);
// The configuration in `config_file` when set, else DIR/cairn.toml, else the defaults.
Result<server::Config> DirOrFileConfig(const std::string& data_dir, const std::string& config_file);

// The command-line flags that stand for [storage]'s PostgreSQL settings in a command that takes
// them as flags (migrate, bench).
struct PgFlagNames {
  std::string dsn;           // e.g. "--to-postgres"
  std::string sslmode;       // e.g. "--postgres-sslmode"
  std::string sslmode_fix;   // what to give for TLS, e.g. "--postgres-sslmode verify-full"
  std::string password_file; // e.g. "--postgres-password-file"
};
// server::ValidateStorage of `storage` (backend "postgres"), with the settings' names in its
// message replaced by the flags': the same rules as `cairn serve` (no password in the DSN, TLS
// off loopback, a private password file).
Status ValidatePgFlags(const server::StorageSection& storage, const PgFlagNames& flags);

// ResolveDataDir + OpenStore for a command handler (or a connection to a server, when one is
// configured): on failure prints the error, sets *exit_code (kExitUsage without a directory,
// kExitFailure otherwise) and returns null. `offline_data_dir`, when given, is set to the data
// directory when the store was opened offline, and left alone for a server.
std::unique_ptr<engine::EventStore> OpenOrReport(const CliContext& ctx,
                                                const std::string& command_value,
                                                int* exit_code, std::string* offline_data_dir = nullptr);

}  // namespace cairn::cli
