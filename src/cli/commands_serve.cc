// cairn serve: the gRPC server (TLS, authentication, policy) and the admin HTTP listener.
#include <pthread.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/serve_config.h"
#include "common/core_dumps.h"
#include "common/log.h"
#include "server/cidr.h"
#include "server/config.h"
#include "server/dev_setup.h"
#include "server/server.h"

namespace cairn::cli {
namespace {

constexpr char kDefaultDevDataDir[] = "cairn-data";

struct ServeArgs {
  std::string config_file;
  std::string data_dir;
  bool dev = false;
  std::vector<std::string> accept_risks;  // posture check ids to start despite
};

// Signals are taken synchronously by the main thread (sigwait); every thread the server starts
// inherits this mask, so none of them is interrupted.
sigset_t BlockServeSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void PrintDevSetup(const server::DevSetup& dev, const std::string& client_config) {
  std::cout << (dev.created ? "created the dev set-up:\n" : "dev set-up:\n")
            << "  server config:  " << dev.config_file << "\n"
            << "  policy:         " << dev.policy_file << "\n"
            << "  admin API key:  " << dev.admin_key_file << " (0600; shown nowhere else)\n"
            << "  dev CA:         " << dev.ca_cert << "\n"
            << "  client config:  " << client_config << "\n"
            << "  tokens:         cairn token mint --sub NAME --role reader|writer|admin\n";
}

// Writes the client config that points `cairn` at this dev server (its bound port) with the
// admin key, replacing a previous one: `serve --dev` is the newcomer's one server.
Result<std::string> WriteDevClientConfig(const std::string& dir, const server::DevSetup& dev,
                                         const std::string& listen, int port) {
  auto host_port = server::ParseHostPort(listen);
  ClientConfigFile client;
  client.server = host_port.ok() ? (host_port->host.find(':') != std::string::npos
                                        ? "[" + host_port->host + "]"
                                        : host_port->host) +
                                       ":" + std::to_string(port)
                                 : listen;
  client.ca_file = std::filesystem::absolute(dev.ca_cert).string();
  client.token_file = std::filesystem::absolute(dev.admin_key_file).string();
  client.data_dir = std::filesystem::absolute(dir).string();
  const std::string path = DefaultClientConfigPath();
  if (path.empty()) return Status::FailedPrecondition("no $HOME for the client config");
  if (Status s = WriteClientConfig(path, client); !s.ok()) return s;
  return path;
}

Result<server::Config> LoadServeConfig(const ServeArgs& args, const std::string& dir) {
  auto config = LoadServerConfig(args.config_file, dir, !args.data_dir.empty());
  if (!config.ok()) return config.status();
  for (const std::string& id : args.accept_risks) config->doctor.accept_risks.push_back(id);
  return config;
}

void ReloadPolicyOnSignal(server::Server& srv) {
  Status s = srv.ReloadPolicy();
  if (s.ok()) {
    log::Info("policy reloaded", {.action = "policy.reload", .outcome = "success"});
  } else {  // the message says that the old policy stays in force
    log::Error("policy reload failed", {.action = "policy.reload",
                                        .outcome = "failure",
                                        .extra = {{"error.message", s.message()}}});
  }
}

// SIGHUP also re-reads [[auth.api_keys]] (server/api_key_reload.h).
void ReloadApiKeysOnSignal(server::Server& srv) {
  Result<server::ApiKeysReloaded> reloaded = srv.ReloadApiKeys();
  if (reloaded.ok()) {
    const auto details = server::ApiKeysReloadDetails(*reloaded);
    log::Fields fields{.action = "apikeys.reload", .outcome = "success"};
    for (const auto& [name, value] : details) fields.extra.emplace_back(name, value);
    log::Info("API keys reloaded", fields);
  } else {  // the keys in force stay
    log::Error("API key reload failed",
               {.action = "apikeys.reload",
                .outcome = "failure",
                .extra = {{"error.message", reloaded.status().message()}}});
  }
}

// With TLS on, SIGHUP also re-reads the certificate files (server/tls_reload.h).
void ReloadTlsOnSignal(server::Server& srv, const server::TlsSection& tls) {
  if (!tls.enabled) return;
  if (Status fixed = srv.TlsReloadRefusal(); !fixed.ok()) {  // not a failure: said once per signal
    log::Info("TLS certificates not reloaded", {.action = "tls.reload",
                                                .extra = {{"cairn.reason", fixed.message()}}});
    return;
  }
  Result<server::TlsReloaded> reloaded = srv.ReloadTls();
  if (reloaded.ok()) {
    log::Info("TLS certificates reloaded",
              {.action = "tls.reload",
               .outcome = "success",
               .extra = {{"tls.server.x509.subject.distinguished_name", reloaded->cert.subject},
                         {"tls.server.hash.sha256", reloaded->cert.sha256_hex},
                         {"tls.server.not_after",
                          std::to_string(reloaded->cert.not_after_unix_s)}}});
  } else {  // the message says that the served certificate stays
    log::Error("TLS reload failed", {.action = "tls.reload",
                                     .outcome = "failure",
                                     .extra = {{"error.message", reloaded.status().message()}}});
  }
}

int WaitForSignals(server::Server& srv, const server::Config& config, const sigset_t& signals) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      ReloadPolicyOnSignal(srv);
      ReloadTlsOnSignal(srv, config.tls);
      ReloadApiKeysOnSignal(srv);
      continue;
    }
    log::Info("shutting down (finishing in-flight calls)", {.action = "server.stop"});
    srv.Shutdown();
    return kExitOk;
  }
}

// Core dumps stay off (cli::Run turned them off) unless server.core_dumps; a server that cannot
// turn them off does not start, since a crash would write its keys to disk.
Status ApplyCoreDumpSetting(const server::Config& config) {
  if (config.server.core_dumps) {
    CAIRN_RETURN_IF_ERROR(RestoreCoreDumps());
    log::Warn("server.core_dumps = true: a crash may write keys and personal data to a core file",
              {.action = "server.start"});
    return Status::Ok();
  }
  if (Status s = DisableCoreDumps(); !s.ok()) {
    return Status::FailedPrecondition("cannot turn core dumps off (" + s.message() +
                                      "); set server.core_dumps = true to start anyway");
  }
  return Status::Ok();
}

int RunServe(const CliContext& ctx, const ServeArgs& args) {
  const sigset_t signals = BlockServeSignals();
  log::InstallCrashFlush();  // what was logged just before a crash reaches stderr
  auto resolved = ResolveDataDir(ctx, args.data_dir);
  std::string dir = resolved.ok() ? *resolved : (args.dev ? kDefaultDevDataDir : "");
  std::optional<server::DevSetup> dev;
  if (args.dev) {
    auto created = server::CreateDevSetup(dir, "");
    if (!created.ok()) return Fail(created.status());
    dev = std::move(created).value();
  }
  auto config = LoadServeConfig(args, dir);
  if (!config.ok()) return Fail(config.status());
  log::SetLevel(config->log.level);
  if (config->data_dir.empty()) return UsageError("no data directory: pass --data-dir or --dev");
  if (args.config_file.empty() && config->source_path.empty()) {
    return Fail(Status::FailedPrecondition(
        "no configuration: " + server::DevSetupPaths(dir).config_file +
        " does not exist; pass --config FILE, or --dev for the dev set-up"));
  }
  if (Status s = ApplyCoreDumpSetting(*config); !s.ok()) return Fail(s);
  auto srv = server::Server::Start(*config);
  if (!srv.ok()) return Fail(srv.status());
  if (dev) {
    auto client_config = WriteDevClientConfig(dir, *dev, config->server.listen, (*srv)->grpc_port());
    if (!client_config.ok()) return Fail(client_config.status());
    PrintDevSetup(*dev, *client_config);
  }
  // The line below is for the person (and scripts) that started the server; the log line for
  // log shippers. CLI errors before this point stay plain text (exit codes say what failed).
  log::Info("listening", {.action = "server.listen",
                          .extra = {{"cairn.grpc_listen", config->server.listen},
                                    {"cairn.grpc_port", std::to_string((*srv)->grpc_port())},
                                    {"cairn.tls", config->tls.enabled ? "true" : "false"},
                                    {"cairn.admin_listen", config->server.admin_listen},
                                    {"cairn.admin_port", std::to_string((*srv)->admin_port())}}});
  std::cout << "cairn serving gRPC on " << config->server.listen << " (port " << (*srv)->grpc_port()
            << (config->tls.enabled ? ", TLS" : ", PLAINTEXT") << "), admin HTTP on "
            << config->server.admin_listen << " (port " << (*srv)->admin_port() << ")"
            << std::endl;
  return WaitForSignals(**srv, *config, signals);
}

}  // namespace

void RegisterServeCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the server: gRPC over TLS on 127.0.0.1:7400, admin HTTP on 127.0.0.1:7401");
  cmd->add_option("--config", args->config_file,
                  "Configuration file (default: DIR/cairn.toml when it exists)")
      ->option_text("FILE");
  cmd->add_option("--data-dir", args->data_dir, "Data directory (default: $CAIRN_DATA_DIR)")
      ->option_text("DIR");
  cmd->add_flag("--dev", args->dev,
                "Create the dev set-up on first use (dev CA, admin key, policy, client config; "
                "data directory default ./cairn-data) and serve it");
  cmd->add_option("--accept-risk", args->accept_risks,
                  "Start despite the critical posture finding with this check id (repeatable; "
                  "see `cairn doctor`)")
      ->option_text("ID")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->callback([&ctx, args] { ctx.exit_code = RunServe(ctx, *args); });
}

}  // namespace cairn::cli
