#include "keys/component_secrets.h"

#include <cassert>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"

namespace cairn::keys {

namespace {

struct Stored {
  std::string name;
  std::string wrapped;
};

Status Collect(storage::LogStore* store, std::string_view prefix, std::vector<Stored>* out) {
  bool too_many = false;
  CAIRN_RETURN_IF_ERROR(store->ScanKeyMaterial(prefix, [&](std::string_view name,
                                                           std::string_view wrapped) {
    if (out->size() >= kComponentSecretsMax) {
      too_many = true;
      return false;
    }
    out->push_back({std::string(name), std::string(wrapped)});
    return true;
  }));
  if (too_many) {
    return Status::ResourceExhausted("more than " + std::to_string(kComponentSecretsMax) +
                                     " component secrets to re-wrap");
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> RewrapComponentSecrets(storage::LogStore* store, KmsProvider* kms) {
  assert(store != nullptr && kms != nullptr);
  std::vector<Stored> secrets;
  for (std::string_view prefix : kComponentSecretPrefixes) {
    assert(!prefix.empty() && prefix.back() == '/');
    CAIRN_RETURN_IF_ERROR(Collect(store, prefix, &secrets));
  }
  const std::string current = kms->kek_id();
  uint64_t rewrapped = 0;
  for (const Stored& s : secrets) {
    auto secret = kms->Unwrap(s.wrapped, s.name);
    if (!secret.ok() && secret.status().code() == StatusCode::kDataLoss) {
      // No KEK version the provider holds opens it (damaged, or left under a KEK an earlier
      // rotation retired): retiring more versions cannot make it any less readable. Its webhook
      // is listed as not loaded; re-create it.
      log::Warn("keys: a component secret does not unwrap under any KEK; left as it is",
                {.action = "keys.rotate_kek", .outcome = "failure",
                 .extra = {{"cairn.key_material", s.name}}});
      continue;
    }
    if (!secret.ok()) return secret.status().Annotate("re-wrapping " + s.name);
    CAIRN_ASSIGN_OR_RETURN(std::string wrapped, kms->Wrap(secret->view(), s.name));
    if (kms->kek_id() != current) return Status::Aborted("the KEK changed during re-wrapping");
    // Only over what was read: a secret deleted meanwhile stays deleted.
    CAIRN_ASSIGN_OR_RETURN(bool replaced, store->ReplaceKeyMaterialIf(s.name, s.wrapped, wrapped));
    if (replaced) ++rewrapped;
  }
  return rewrapped;
}

}  // namespace cairn::keys
