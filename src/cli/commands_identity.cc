// cairn whoami | token mint | apikey new | reload-policy | reload-tls | reload-api-keys:
// identities, the policy and the credentials the server accepts.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>

#include "auth/api_key.h"
#include "auth/dev_issuer.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/utf8.h"
#include "cli/output_json.h"
#include "cli/remote_store.h"
#include "common/wall_clock.h"
#include "crypto/secure.h"
#include "policy/parse.h"
#include "server/dev_setup.h"

namespace cairn::cli {
namespace {

// Network-only commands: the client from --server or the client config.
Result<std::unique_ptr<Client>> ConnectForCommand() {
  auto options = ResolveClientOptions(/*explicit_only=*/false);
  if (!options.ok()) {
    if (options.status().code() == StatusCode::kNotFound) {
      return Status::InvalidArgument(
          "no server: pass --server HOST:PORT (or run cairn init / serve --dev for a client config)");
    }
    return options.status();
  }
  return Client::Connect(*options);
}

// A missing server is a usage error (exit 2); a failed connection a failure (exit 1).
int ReportConnectError(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument ? UsageError(status.message())
                                                       : Fail(status);
}

int RunWhoAmI(bool json) {
  auto client = ConnectForCommand();
  if (!client.ok()) return ReportConnectError(client.status());
  auto who = (*client)->WhoAmI();
  if (!who.ok()) return Fail(who.status());
  const v1::AppendQuota& quota = who->append_quota();
  if (json) {
    Json roles = Json::array();
    for (const auto& r : who->roles()) roles.push_back(r);
    Json out{{"principal", who->principal()},
             {"method", who->method()},
             {"roles", roles},
             {"expires_unix_s", who->expires_unix_s()},
             {"append_quota", nullptr}};
    if (who->has_append_quota()) {
      out["append_quota"] = Json{{"events_per_s", quota.events_per_s()},
                                 {"bytes_per_s", quota.bytes_per_s()},
                                 {"burst_s", quota.burst_s()}};
    }
    std::cout << JsonLine(out) << "\n";
    return kExitOk;
  }
  std::cout << TerminalSafe(who->principal()) << " (" << TerminalSafe(who->method()) << ")";
  if (who->roles_size() > 0) {
    std::cout << " roles:";
    for (const auto& r : who->roles()) std::cout << " " << TerminalSafe(r);
  }
  if (who->has_append_quota()) {
    std::cout << " append quota:";
    if (quota.events_per_s() != 0) std::cout << " " << quota.events_per_s() << " events/s";
    if (quota.bytes_per_s() != 0) std::cout << " " << quota.bytes_per_s() << " bytes/s";
    std::cout << " burst " << quota.burst_s() << " s";
  }
  std::cout << "\n";
  return kExitOk;
}

int RunReloadPolicy() {
  auto client = ConnectForCommand();
  if (!client.ok()) return ReportConnectError(client.status());
  auto reloaded = (*client)->ReloadPolicy();
  if (!reloaded.ok()) return Fail(reloaded.status());
  std::cout << "policy reloaded (generation " << reloaded->generation() << ")\n";
  return kExitOk;
}

int RunReloadTls(bool json) {
  auto client = ConnectForCommand();
  if (!client.ok()) return ReportConnectError(client.status());
  auto reloaded = (*client)->ReloadTls();
  if (!reloaded.ok()) return Fail(reloaded.status());
  if (json) {
    std::cout << JsonLine(Json{{"cert_subject", reloaded->cert_subject()},
                               {"cert_sha256", reloaded->cert_sha256()},
                               {"cert_not_after_unix_s", reloaded->cert_not_after_unix_s()},
                               {"client_ca_certs", reloaded->client_ca_certs()},
                               {"generation", reloaded->generation()}})
              << "\n";
    return kExitOk;
  }
  std::cout << "TLS certificates reloaded (generation " << reloaded->generation() << ")\n"
            << "  subject:    " << TerminalSafe(reloaded->cert_subject()) << "\n"
            << "  sha256:     " << reloaded->cert_sha256() << "\n"
            << "  not after:  " << UnixSecondsUtcText(reloaded->cert_not_after_unix_s()) << "\n"
            << "  client CAs: " << reloaded->client_ca_certs() << "\n";
  return kExitOk;
}

int RunReloadApiKeys(bool json) {
  auto client = ConnectForCommand();
  if (!client.ok()) return ReportConnectError(client.status());
  auto reloaded = (*client)->ReloadApiKeys();
  if (!reloaded.ok()) return Fail(reloaded.status());
  const std::vector<std::string> added(reloaded->added().begin(), reloaded->added().end());
  const std::vector<std::string> removed(reloaded->removed().begin(), reloaded->removed().end());
  const std::vector<std::string> changed(reloaded->changed().begin(), reloaded->changed().end());
  if (json) {
    std::cout << JsonLine(Json{{"keys", reloaded->keys()},
                               {"added", added},
                               {"removed", removed},
                               {"changed", changed}})
              << "\n";
    return kExitOk;
  }
  auto list = [](const std::vector<std::string>& ids) {
    std::string out;
    for (const std::string& id : ids) out += " " + TerminalSafe(id);
    return ids.empty() ? std::string(" none") : out;
  };
  std::cout << "API keys reloaded: " << reloaded->keys() << " configured\n"
            << "  added:" << list(added) << "\n"
            << "  removed:" << list(removed) << "\n"
            << "  changed:" << list(changed) << "\n";
  return kExitOk;
}

// "90s", "15m", "1h", "7d" or plain seconds.
Result<int64_t> ParseTtl(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("--ttl: empty");
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's': unit = 1; digits.pop_back(); break;
    case 'm': unit = 60; digits.pop_back(); break;
    case 'h': unit = 3600; digits.pop_back(); break;
    case 'd': unit = 86400; digits.pop_back(); break;
    default: break;
  }
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("--ttl: '" + text + "' is not a duration such as 90s, 15m, 1h");
  }
  return std::stoll(digits) * unit;
}

struct MintArgs {
  std::string data_dir;
  std::string sub;
  std::vector<std::string> roles;
  std::string ttl = "1h";
  std::string audience = server::kDevAudience;
};

int RunMint(const CliContext& ctx, const MintArgs& args) {
  auto ttl = ParseTtl(args.ttl);
  if (!ttl.ok()) return UsageError(ttl.status().message());
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) {
    auto client_config = LoadClientConfig();
    if (!client_config.ok() || client_config->data_dir.empty()) {
      return UsageError("token mint needs the dev data directory: pass --data-dir DIR");
    }
    dir = client_config->data_dir;
  }
  auth::MintRequest request;
  request.issuer = server::kDevIssuer;
  request.audience = args.audience;
  request.sub = args.sub;
  request.roles = args.roles;
  request.ttl_s = *ttl;
  request.now_unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  auto token = auth::MintToken(server::DevSetupPaths(*dir).issuer_key_file, request);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return kExitOk;
}

struct ApiKeyArgs {
  std::string id;
  std::vector<std::string> roles;
  std::string expires;
};

// RFC 3339 with a required offset, as the server config's `expires` accepts it.
bool IsRfc3339(const std::string& text) {
  static const std::regex kPattern(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$)");
  return std::regex_match(text, kPattern);
}

int RunApiKeyNew(const ApiKeyArgs& args) {
  if (!args.expires.empty() && !IsRfc3339(args.expires)) {
    return UsageError("--expires: '" + args.expires +
                      "' is not an RFC 3339 time with an offset, e.g. 2027-01-31T00:00:00Z");
  }
  // The roles are printed into TOML for the operator to paste: only names a policy accepts.
  for (const std::string& role : args.roles) {
    if (!policy::IsValidRoleName(role)) {
      return UsageError("--role: a role name is 1..128 letters, digits and . _ : @ / -");
    }
  }
  auto key = auth::GenerateApiKey(args.id);
  if (!key.ok()) return UsageError(key.status().message());
  std::cout << key->key << "\n\n"
            << "# The key above is shown once; only its hash goes into the server config:\n"
            << "[[auth.api_keys]]\n"
            << "id = \"" << args.id << "\"\n"
            << "secret_sha256 = \"" << key->secret_sha256 << "\"\n"
            << "roles = [";
  for (size_t i = 0; i < args.roles.size(); ++i) {
    std::cout << (i ? ", " : "") << "\"" << args.roles[i] << "\"";
  }
  std::cout << "]\n";
  if (!args.expires.empty()) std::cout << "expires = " << args.expires << "\n";
  crypto::Cleanse(&key->key);
  return kExitOk;
}

}  // namespace

void RegisterIdentityCommands(CLI::App& app, CliContext& ctx) {
  auto json = std::make_shared<bool>(false);
  CLI::App* who = app.add_subcommand("whoami", "Show the principal and roles the server sees");
  who->add_flag("--json", *json, "Print the result as JSON");
  AddConnectionOptions(who);
  who->callback([&ctx, json] { ctx.exit_code = RunWhoAmI(*json); });

  CLI::App* reload = app.add_subcommand("reload-policy", "Ask the server to reload its policy file");
  AddConnectionOptions(reload);
  reload->callback([&ctx] { ctx.exit_code = RunReloadPolicy(); });

  auto tls_json = std::make_shared<bool>(false);
  CLI::App* reload_tls = app.add_subcommand(
      "reload-tls", "Ask the server to re-read its TLS certificate, key and client CA files");
  reload_tls->add_flag("--json", *tls_json, "Print the result as JSON");
  AddConnectionOptions(reload_tls);
  reload_tls->callback([&ctx, tls_json] { ctx.exit_code = RunReloadTls(*tls_json); });

  auto keys_json = std::make_shared<bool>(false);
  CLI::App* reload_keys = app.add_subcommand(
      "reload-api-keys", "Ask the server to re-read [[auth.api_keys]] from its configuration file");
  reload_keys->add_flag("--json", *keys_json, "Print the result as JSON");
  AddConnectionOptions(reload_keys);
  reload_keys->callback([&ctx, keys_json] { ctx.exit_code = RunReloadApiKeys(*keys_json); });

  auto mint = std::make_shared<MintArgs>();
  CLI::App* token = app.add_subcommand("token", "Dev tokens");
  token->require_subcommand(1);
  CLI::App* mint_cmd = token->add_subcommand(
      "mint", "Sign a JWT with the dev issuer that init created (EdDSA, issuer cairn-dev)");
  mint_cmd->add_option("--sub", mint->sub, "Subject (the principal is jwt:<sub>)")->required();
  mint_cmd->add_option("--role", mint->roles, "Role claim (repeatable)");
  mint_cmd->add_option("--ttl", mint->ttl, "Lifetime: 90s, 15m, 1h, 7d (max 31d)")
      ->capture_default_str();
  mint_cmd->add_option("--audience", mint->audience, "Audience")->capture_default_str();
  mint_cmd->add_option("--data-dir", mint->data_dir, "Dev data directory (default: client config)")
      ->option_text("DIR");
  mint_cmd->callback([&ctx, mint] { ctx.exit_code = RunMint(ctx, *mint); });

  auto key = std::make_shared<ApiKeyArgs>();
  CLI::App* apikey = app.add_subcommand("apikey", "API keys");
  apikey->require_subcommand(1);
  CLI::App* key_new = apikey->add_subcommand(
      "new", "Print a fresh API key once, with the config lines that admit it");
  key_new->add_option("--id", key->id, "Key id [A-Za-z0-9-]")->required();
  key_new->add_option("--role", key->roles, "Role (repeatable)");
  key_new->add_option("--expires", key->expires, "Expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z)");
  key_new->callback([&ctx, key] { ctx.exit_code = RunApiKeyNew(*key); });
}

}  // namespace cairn::cli
