// ApiKeyReloader: `[[auth.api_keys]]` re-read from the configuration file the server started
// with, without a restart (SIGHUP and Admin.ReloadApiKeys), so that a key can be added before
// its service uses it and a leaked or retired one removed.
//
// The whole file must parse as at start (ParseConfig: strict, line-numbered errors); only its
// API keys are applied — every other setting waits for a restart. A refused reload leaves the
// keys in force. API keys are checked on every call and never cached, so a removed key is refused
// from the next call on, also on connections that are open (JWTs and client certificates are
// not affected: their issuers and CAs have their own reloads).
//
// Thread safety: Reload() may be called from any thread; concurrent reloads are serialized.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "auth/authenticator.h"
#include "common/status.h"

namespace cairn::server {

using ApiKeysReloaded = auth::Authenticator::ApiKeysReplaced;

class ApiKeyReloader {
 public:
  // `config_path`: the file the server's configuration came from ("" when it started without
  // one). `authenticator` is not owned and outlives the reloader.
  ApiKeyReloader(std::string config_path, auth::Authenticator* authenticator);

  // kFailedPrecondition without a configuration file; the parser's kInvalidArgument (or
  // kNotFound / kIOError for a file that cannot be read) otherwise, keys unchanged.
  Result<ApiKeysReloaded> Reload();

 private:
  const std::string config_path_;
  auth::Authenticator* authenticator_;
  std::mutex mu_;  // one reload at a time
};

// The audit details of a reload: keys, added and removed (ids, comma-separated; at most
// kListedIdsMax of each, then "+N more").
std::vector<std::pair<std::string, std::string>> ApiKeysReloadDetails(const ApiKeysReloaded& r);

}  // namespace cairn::server
