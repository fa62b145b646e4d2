#include "server/api_key_reload.h"

#include <cassert>

#include "server/config.h"

namespace cairn::server {
namespace {

// The ids named in one audit detail, so that the list and its "+N more" fit a field
// (kAuditFieldBytesMax = 1024, where longer fields are cut): 64-byte ids and commas, and room
// for the count.
constexpr size_t kListedIdsBytesMax = 900;

std::string IdList(const std::vector<std::string>& ids) {
  std::string out;
  size_t listed = 0;
  for (; listed < ids.size(); ++listed) {
    if (out.size() + 1 + ids[listed].size() > kListedIdsBytesMax) break;
    if (listed > 0) out += ",";
    out += ids[listed];
  }
  if (listed < ids.size()) out += ",+" + std::to_string(ids.size() - listed) + " more";
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
  CAIRN_ASSIGN_OR_RETURN(Config config, LoadTrustedConfigFile(config_path_));
  return authenticator_->ReplaceApiKeys(config.auth.api_keys);
}

std::vector<std::pair<std::string, std::string>> ApiKeysReloadDetails(const ApiKeysReloaded& r) {
  std::vector<std::pair<std::string, std::string>> details = {{"keys", std::to_string(r.keys)}};
  if (!r.added.empty()) details.emplace_back("added", IdList(r.added));
  if (!r.removed.empty()) details.emplace_back("removed", IdList(r.removed));
  if (!r.changed.empty()) details.emplace_back("changed", IdList(r.changed));
  return details;
}

}  // namespace cairn::server
