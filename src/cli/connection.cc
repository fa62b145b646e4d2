#include "cli/connection.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "common/trusted_file.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "server/cidr.h"

namespace cairn::cli {
namespace {

constexpr size_t kTokenFileSizeBytesMax = 64 << 10;
constexpr size_t kClientConfigSizeBytesMax = 64 << 10;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

Result<std::string> ReadToken(const std::string& path) {
  // A bearer credential: refused when group or others may read it (as ssh refuses its keys).
  auto read = ReadPrivateFile(path, "client config token_file", kTokenFileSizeBytesMax);
  if (!read.ok()) return Status::InvalidArgument(read.status().message());
  std::string token = std::move(read).value();
  const auto blank = [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; };
  while (!token.empty() && blank(token.back())) token.pop_back();
  size_t lead = 0;
  while (lead < token.size() && blank(token[lead])) ++lead;
  std::string trimmed = token.substr(lead);
  crypto::Cleanse(&token);
  return trimmed;
}

}  // namespace

ConnectionFlags& GlobalConnectionFlags() {
  static ConnectionFlags flags;
  return flags;
}

void AddConnectionOptions(CLI::App* command) {
  ConnectionFlags& f = GlobalConnectionFlags();
  command->add_option("--server", f.server, "cairn server HOST:PORT (default: the client config)")
      ->option_text("HOST:PORT");
  command->add_option("--ca", f.ca_file, "PEM CA certificate(s) that sign the server's certificate")
      ->option_text("FILE");
  command->add_option("--token", f.token, "JWT or API key (default: $CAIRN_TOKEN)")
      ->option_text("TOKEN");
  command->add_option("--cert", f.cert_file, "Client certificate (PEM) for mTLS")->option_text("FILE");
  command->add_option("--key", f.key_file, "Private key (PEM) of --cert")->option_text("FILE");
  command->add_flag("--plaintext", f.plaintext,
                    "No TLS (only for a loopback server with tls.enabled = false)");
}

std::string DefaultClientConfigPath() {
  std::string explicit_path = Env("CAIRN_CLIENT_CONFIG");
  if (!explicit_path.empty()) return explicit_path;
  std::string home = Env("HOME");
  if (home.empty()) return "";
  return home + "/.config/cairn/client.toml";
}

Result<ClientConfigFile> LoadClientConfig() {
  ClientConfigFile config;
  const std::string path = DefaultClientConfigPath();
  if (path.empty() || !std::filesystem::exists(path)) return config;
  // It decides which server gets the token file: refused when another user owns it or group or
  // others may write it (a file planted where CAIRN_CLIENT_CONFIG points would send the token
  // elsewhere).
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadOwnedFile(path, "client config", kClientConfigSizeBytesMax));
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument("client config " + path + ": " + std::string(e.description()));
  }
  const std::string base = std::filesystem::path(path).parent_path().string();
  for (const auto& [key, value] : table) {
    const std::string k(key.str());
    auto text = value.value<std::string>();
    if (!text) return Status::InvalidArgument("client config " + path + ": " + k + " must be a string");
    if (k == "server") config.server = *text;
    else if (k == "ca") config.ca_file = Resolve(base, *text);
    else if (k == "cert") config.cert_file = Resolve(base, *text);
    else if (k == "key") config.key_file = Resolve(base, *text);
    else if (k == "token_file") config.token_file = Resolve(base, *text);
    else if (k == "data_dir") config.data_dir = Resolve(base, *text);
    else return Status::InvalidArgument("client config " + path + ": unknown key '" + k + "'");
  }
  config.path = path;
  return config;
}

// The file names the token file cairn sends to the server it names: owner-only (0600, in a
// directory made 0700), written through a temporary file and rename (crypto::ReplaceFile), so a
// crash leaves the old file or the new one.
Status WriteClientConfig(const std::string& path, const ClientConfigFile& config) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || ::chmod(dir.c_str(), 0700) != 0) return Status::IOError("cannot create " + dir.string());
  }
  toml::table table;
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) table.insert(key, value);
  };
  put("server", config.server);
  put("ca", config.ca_file);
  put("cert", config.cert_file);
  put("key", config.key_file);
  put("token_file", config.token_file);
  put("data_dir", config.data_dir);
  std::ostringstream text;
  text << "# cairn client configuration (written by cairn init)\n" << table << "\n";
  return crypto::ReplaceFile(path, text.str(), 0600);
}

Result<ClientOptions> ResolveClientOptions(bool explicit_only) {
  const ConnectionFlags& f = GlobalConnectionFlags();
  ClientOptions options;
  options.server = !f.server.empty() ? f.server : Env("CAIRN_SERVER");
  ClientConfigFile config;
  if (options.server.empty()) {
    if (explicit_only) return Status::NotFound("no server selected");
    auto loaded = LoadClientConfig();
    if (!loaded.ok()) return loaded.status();
    config = std::move(loaded).value();
    if (config.path.empty() || config.server.empty()) return Status::NotFound("no server selected");
    options.server = config.server;
  } else {
    auto loaded = LoadClientConfig();  // still the source of ca/token defaults
    if (loaded.ok()) config = std::move(loaded).value();
  }
  // The config's credentials belong to the config's server: never send them to another one.
  // (Its CA only narrows whom we trust, so it applies to any server.)
  const bool config_server = !config.server.empty() && config.server == options.server;
  options.ca_file = !f.ca_file.empty() ? f.ca_file : config.ca_file;
  options.cert_file = !f.cert_file.empty() ? f.cert_file : (config_server ? config.cert_file : "");
  options.key_file = !f.key_file.empty() ? f.key_file : (config_server ? config.key_file : "");
  options.plaintext = f.plaintext;
  if (options.plaintext) {
    auto host_port = server::ParseHostPort(options.server);
    if (!host_port.ok() || !server::IsLoopbackHost(host_port->host)) {
      return Status::InvalidArgument(
          "--plaintext is only allowed to a loopback server (credentials would cross the network "
          "in clear)");
    }
  }
  options.token = !f.token.empty() ? f.token : Env("CAIRN_TOKEN");
  if (options.token.empty() && config_server && !config.token_file.empty()) {
    auto token = ReadToken(config.token_file);
    if (!token.ok()) return token.status();
    options.token = std::move(token).value();
  }
  return options;
}

}  // namespace cairn::cli
