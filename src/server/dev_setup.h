// The development set-up that `cairn init` and the first `cairn serve --dev` create, so that a
// newcomer gets a secure server with no default credentials and nothing to configure:
//
//   <dir>/cairn.toml          server configuration (TLS on, loopback, the files below)
//   <dir>/policy.toml         roles admin, writer, reader; binding apikey:admin → admin
//   <dir>/dev/ca.crt, ca.key  a dev CA (key 0600) and server.crt/server.key for localhost,
//                             127.0.0.1 and ::1
//   <dir>/dev/dev-issuer.key  the dev JWT issuer's Ed25519 key (0600), dev-jwks.json its JWKS:
//                             `cairn token mint` signs with it (issuer "cairn-dev", audience
//                             "cairn")
//   <dir>/dev/admin.apikey    the one admin API key, written once (0600); only its hash is in
//                             cairn.toml
//
// Nothing existing is overwritten: a directory that already has cairn.toml is left as it is.
#pragma once

#include <string>

#include "common/status.h"

namespace cairn::server {

inline constexpr char kConfigFileName[] = "cairn.toml";
inline constexpr char kDevIssuer[] = "cairn-dev";
inline constexpr char kDevAudience[] = "cairn";

struct DevSetup {
  std::string config_file;
  std::string policy_file;
  std::string admin_key_file;
  std::string ca_cert;
  std::string issuer_key_file;
  bool created = false;  // false: the directory already had its set-up
};

// Writes the dev set-up into `data_dir` unless its cairn.toml exists (written last: the set-up
// is complete). With `init_store`, first initialises an embedded store there if the directory
// has none (`serve --dev`); `cairn init` made the store itself and passes false. A set-up
// interrupted before cairn.toml is completed by the next call (a new admin API key replaces a
// left-over one). Errors of the store's initialisation are returned as they are.
Result<DevSetup> CreateDevSetup(const std::string& data_dir, const std::string& origin,
                                bool init_store = true);

// The paths of the set-up inside `data_dir` (whether or not they exist).
DevSetup DevSetupPaths(const std::string& data_dir);

}  // namespace cairn::server
