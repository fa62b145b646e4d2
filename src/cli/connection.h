// Where a CLI command runs: on a data directory (offline) or against a cairn server.
//
// The network flags (--server, --ca, --token, --cert, --key, --plaintext) exist on every
// command that touches a store. The choice, in order:
//   1. --data-dir on the command line            → offline;
//   2. --server (or $CAIRN_SERVER)               → network;
//   3. $CAIRN_DATA_DIR                           → offline;
//   4. the client config file (below)            → network;
//   otherwise a usage error.
// Giving both --data-dir and --server flags is a usage error (--data-dir beats $CAIRN_SERVER).
//
// The client config file is $CAIRN_CLIENT_CONFIG, else ~/.config/cairn/client.toml. `cairn init`
// writes it; its keys: server, ca, cert, key, token_file, data_dir (all optional; relative paths
// resolve against the file's folder). The token is --token, else $CAIRN_TOKEN, else the
// contents of token_file. The config's token, client certificate and key are used only when the
// selected server is the config's own `server` (they are never sent to another server); its CA
// applies to any server. --plaintext is refused unless the server is on loopback.
//
// Thread safety: one command per process; the flags are process-wide.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cairn/client.h"
#include "common/status.h"

namespace cairn::cli {

struct ConnectionFlags {
  std::string server;
  std::string ca_file;
  std::string token;
  std::string cert_file;
  std::string key_file;
  bool plaintext = false;
};

// The process-wide flags bound by AddConnectionOptions.
ConnectionFlags& GlobalConnectionFlags();
void AddConnectionOptions(CLI::App* command);

struct ClientConfigFile {
  std::string path;  // where it was read from; empty when there is none
  std::string server, ca_file, cert_file, key_file, token_file, data_dir;
};

std::string DefaultClientConfigPath();
// Reads the client config; an absent file gives an empty path and no error.
Result<ClientConfigFile> LoadClientConfig();
// Writes `config` to `path` (0600, parent folders created), replacing a previous file.
Status WriteClientConfig(const std::string& path, const ClientConfigFile& config);

// The client options for network mode, or kNotFound when nothing selects network mode.
// `explicit_only`: consider only --server / $CAIRN_SERVER, not the config file.
Result<ClientOptions> ResolveClientOptions(bool explicit_only);

}  // namespace cairn::cli
