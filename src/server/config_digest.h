// ConfigDigest: the SHA-256 of a canonical rendering of the effective configuration, recorded in
// the `$server.start` audit record (details.config_sha256) so that an auditor can tell when the
// configuration changed between two starts.
//
// The rendering ("cairn-config-v1" then one `key=value` line per setting, in a fixed order) holds
// every setting's value, file paths as paths (never the files' contents), and never a secret:
// API keys appear by id, roles and dates (not their hashes), the PostgreSQL DSN only as set/unset,
// passphrase and PIN sources only by the variable or file that holds them. Settings added after
// the rendering was first recorded appear only when they differ from their defaults, so that an
// upgrade alone does not change the digest.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "server/config.h"

namespace cairn::server {

std::string CanonicalConfigText(const Config& config);
// Lowercase hex SHA-256 of CanonicalConfigText.
std::string ConfigSha256Hex(const Config& config);

}  // namespace cairn::server
