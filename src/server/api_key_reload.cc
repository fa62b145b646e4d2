#include "server/api_key_reload.h"

#include <cassert>

#include "server/config.h"

namespace cairn::server {
namespace {

constexpr size_t kListedIdsMax = 32;  // ids named in one audit detail

std::string IdList(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kListedIdsMax; ++i) {
    if (i > 0) out += ",";
    out += ids[i];
  }
  if (ids.size() > kListedIdsMax) {
    out += ",+" + std::to_string(ids.size() - kListedIdsMax) + " more";
  }
  return out;
}

}  // namespace

ApiKeyReloader::ApiKeyReloader(std::string config_path, auth::Authenticator* authenticator)
    : config_path_(std::move(config_path)), authenticator_(authenticator) {
  assert(authenticator_ != nullptr);
}

Result<ApiKeysReloaded> ApiKeyReloader::Reload() {
  if (config_path_.empty()) {
    return Status::FailedPrecondition(
        "the server started without a configuration file: no API keys to reload");
  }
  std::lock_guard<std::mutex> lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Config config, LoadConfigFile(config_path_));
  return authenticator_->ReplaceApiKeys(config.auth.api_keys);
}

std::vector<std::pair<std::string, std::string>> ApiKeysReloadDetails(const ApiKeysReloaded& r) {
  std::vector<std::pair<std::string, std::string>> details = {{"keys", std::to_string(r.keys)}};
  if (!r.added.empty()) details.emplace_back("added", IdList(r.added));
  if (!r.removed.empty()) details.emplace_back("removed", IdList(r.removed));
  return details;
}

}  // namespace cairn::server
