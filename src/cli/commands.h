// Registration of every subcommand on the CLI11 app. Each Register* adds one subcommand (with
// --help), and a callback that runs the command and stores its exit code in the context.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace cairn::cli {

void RegisterInitCommand(CLI::App& app, CliContext& ctx);
void RegisterAppendCommand(CLI::App& app, CliContext& ctx);
void RegisterDeleteCommand(CLI::App& app, CliContext& ctx);
void RegisterReadCommands(CLI::App& app, CliContext& ctx);  // read, read-all
// subscribe STREAM|$all (live subscription; network only).
void RegisterSubscribeCommand(CLI::App& app, CliContext& ctx);
void RegisterStreamInfoCommand(CLI::App& app, CliContext& ctx);
void RegisterCheckpointCommands(CLI::App& app, CliContext& ctx);  // checkpoint, vkey
void RegisterProofCommands(CLI::App& app, CliContext& ctx);  // proof inclusion|consistency|verify-*
// The offline verify-inclusion / verify-consistency subcommands of `proof`.
void RegisterProofVerifyCommands(CLI::App& proof, CliContext& ctx);
void RegisterVerifyCommand(CLI::App& app, CliContext& ctx);
// recover [--apply] [--json]: point-in-time recovery of a damaged RocksDB write-ahead log.
void RegisterRecoverCommand(CLI::App& app, CliContext& ctx);
void RegisterBenchCommand(CLI::App& app, CliContext& ctx);
void RegisterServeCommand(CLI::App& app, CliContext& ctx);
// doctor [--config FILE] [--json]: posture checks (server/posture.h).
void RegisterDoctorCommand(CLI::App& app, CliContext& ctx);
void RegisterForgetCommand(CLI::App& app, CliContext& ctx);
// keys list, keys rotate --storage | --subject ID.
void RegisterKeysCommands(CLI::App& app, CliContext& ctx);
// keys passphrase (commands_keys_passphrase.cc), under the `keys` command.
void RegisterKeysPassphraseCommand(CLI::App& keys, CliContext& ctx);
// whoami, reload-policy, token mint, apikey new.
void RegisterIdentityCommands(CLI::App& app, CliContext& ctx);
// webhook create|list|delete|rotate-secret (network only).
void RegisterWebhookCommands(CLI::App& app, CliContext& ctx);
// group create|update|delete|list|replay-parked|connect (network only).
void RegisterGroupCommands(CLI::App& app, CliContext& ctx);
// audit [--follow] [--since TIME] [--json] (network only; action audit.read).
void RegisterAuditCommand(CLI::App& app, CliContext& ctx);
// migrate --from-data-dir DIR --to-postgres DSN: copy a RocksDB log into PostgreSQL and prove it.
void RegisterMigrateCommand(CLI::App& app, CliContext& ctx);
void RegisterBackupCommands(CLI::App& app, CliContext& ctx);  // backup, restore
void RegisterWitnessCommands(CLI::App& app, CliContext& ctx);  // witness keygen|verify|serve
void RegisterWitnessServe(CLI::App* witness, CliContext& ctx);  // commands_witness_serve.cc

}  // namespace cairn::cli
