// ApiKeyReloader: `[[auth.api_keys]]` re-read from the configuration file the server started
// with, without a restart (SIGHUP and Admin.ReloadApiKeys), so that a key can be added before
// its service uses it and a leaked or retired one removed.
//
// The whole file must parse as at start (ParseConfig: strict, line-numbered errors) and must not
// be writable by others (as ValidateForServe demands at start); only its API keys are applied —
// every other setting (and what the posture checks and the configuration digest saw) waits for a
// restart. A refused reload leaves the keys in force. API keys are checked on every call and
// never cached, so a removed key is refused from the next call on, also on connections that are
// open; calls that run on under a removed or changed key (subscriptions, consumer-group members,
// an EventStoreDB BatchAppend, a read between pages) end at their next check
// (Authenticator::CheckApiKeyInForce). JWTs and client certificates are not affected: their
// issuers and CAs have their own reloads.
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

  // kFailedPrecondition without a configuration file or for one others may write; the parser's
  // kInvalidArgument (or kNotFound / kIOError for a file that cannot be read) otherwise; the keys
  // stay unchanged on every error.
  Result<ApiKeysReloaded> Reload();

 private:
  const std::string config_path_;
  auth::Authenticator* authenticator_;
  std::mutex mu_;  // one reload at a time
};

// The audit details of a reload: keys, added, removed and changed (ids, comma-separated; as many
// as fit an audit field, then "+N more").
std::vector<std::pair<std::string, std::string>> ApiKeysReloadDetails(const ApiKeysReloaded& r);

}  // namespace cairn::server
