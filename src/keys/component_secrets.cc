#include "keys/component_secrets.h"

#include <cassert>
#include <chrono>
#include <string>
#include <thread>
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

Result<crypto::SecureBytes> UnwrapWithRetries(KmsProvider* kms, const Stored& s, int attempts_max) {
  Result<crypto::SecureBytes> secret = kms->Unwrap(s.wrapped, s.name);
  for (int attempt = 1; attempt < attempts_max && !secret.ok() &&
                        secret.status().code() == StatusCode::kDataLoss;
       ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kComponentUnwrapRetryMs * attempt));
    secret = kms->Unwrap(s.wrapped, s.name);
  }
  return secret;
}

}  // namespace

Result<ComponentRewrap> RewrapComponentSecrets(storage::LogStore* store, KmsProvider* kms) {
  assert(store != nullptr && kms != nullptr);
  std::vector<Stored> secrets;
  for (std::string_view prefix : kComponentSecretPrefixes) {
    assert(!prefix.empty() && prefix.back() == '/');
    CAIRN_RETURN_IF_ERROR(Collect(store, prefix, &secrets));
  }
  const std::string current = kms->kek_id();
  ComponentRewrap out;
  for (const Stored& s : secrets) {
    const bool retry = out.unreadable < kComponentUnreadableRetriedMax;
    auto secret = UnwrapWithRetries(kms, s, retry ? kComponentUnwrapAttemptsMax : 1);
    if (!secret.ok() && secret.status().code() == StatusCode::kDataLoss) {
      // No KEK version the provider holds opens it: damaged, left under a KEK an earlier
      // rotation retired, or a token failing this way for now. Its webhook is listed as not
      // loaded; the caller keeps the old KEK versions.
      log::Warn("keys: a component secret does not unwrap under any KEK version; left as it is "
                "and the old KEK versions kept (delete or re-create its webhook)",
                {.action = "keys.rotate_kek", .outcome = "failure",
                 .extra = {{"cairn.key_material", s.name}}});
      ++out.unreadable;
      continue;
    }
    if (!secret.ok()) return secret.status().Annotate("re-wrapping " + s.name);
    CAIRN_ASSIGN_OR_RETURN(std::string wrapped, kms->Wrap(secret->view(), s.name));
    if (kms->kek_id() != current) return Status::Aborted("the KEK changed during re-wrapping");
    // Only over what was read: a secret deleted meanwhile stays deleted.
    CAIRN_ASSIGN_OR_RETURN(bool replaced, store->ReplaceKeyMaterialIf(s.name, s.wrapped, wrapped));
    if (replaced) ++out.rewrapped;
  }
  assert(out.rewrapped + out.unreadable <= secrets.size());
  return out;
}

}  // namespace cairn::keys
