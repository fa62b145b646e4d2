#include "subscribe/webhook_store.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "keys/component_secrets.h"
#include "keys/kms.h"
#include "keys/kms_failure.h"

namespace cairn::subscribe {
namespace {

constexpr std::string_view kIndexName = "webhook/index";
constexpr size_t kDefinitionSizeBytesMax = 64 << 10;

std::string DefinitionName(std::string_view name) { return "webhook/def/" + std::string(name); }
std::string PositionName(std::string_view name) { return "webhook/pos/" + std::string(name); }
constexpr std::string_view kSecretPrefix = "webhook/";
// A KEK rotation re-wraps the secrets under this prefix (keys/component_secrets.h).
static_assert(kSecretPrefix == keys::kComponentSecretPrefixes[0]);
std::string SecretName(std::string_view name, uint32_t version) {
  return std::string(kSecretPrefix) + std::string(name) + "/secret/" + std::to_string(version);
}
// The (webhook name, version) of a name exactly of the form SecretName makes (a valid webhook
// name, a decimal version >= 1 without leading zeros); nullopt for anything else, which a sweep
// leaves alone.
std::optional<std::pair<std::string_view, uint32_t>> ParseSecretName(std::string_view key_name) {
  if (!key_name.starts_with(kSecretPrefix)) return std::nullopt;
  const std::string_view rest = key_name.substr(kSecretPrefix.size());
  const size_t slash = rest.find("/secret/");
  if (slash == std::string_view::npos || !ValidateWebhookName(rest.substr(0, slash)).ok()) {
    return std::nullopt;
  }
  const std::string_view digits = rest.substr(slash + 8);
  uint32_t version = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (ec != std::errc() || end != digits.data() + digits.size() || version == 0 ||
      SecretName(rest.substr(0, slash), version) != key_name) {
    return std::nullopt;
  }
  return std::make_pair(rest.substr(0, slash), version);
}

nlohmann::json ToJson(const WebhookDefinition& d) {
  return {{"name", d.name},
          {"url", d.url},
          {"source", d.source},
          {"filter_types", d.filter_types},
          {"allow_addresses", d.allow_addresses},
          {"creator_id", d.creator.id},
          {"creator_roles", d.creator.roles},
          {"creator_method", static_cast<int>(d.creator.method)},
          {"run_as", d.run_as},
          {"created_unix_s", d.created_unix_s},
          {"secret_version", d.secret_version},
          {"previous_expires_unix_s", d.previous_expires_unix_s}};
}

Result<WebhookDefinition> FromJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::DataLoss("webhook definition unreadable");
  try {
    WebhookDefinition d;
    d.name = j.at("name").get<std::string>();
    d.url = j.at("url").get<std::string>();
    d.source = j.at("source").get<std::string>();
    d.filter_types = j.at("filter_types").get<std::vector<std::string>>();
    d.allow_addresses = j.at("allow_addresses").get<std::vector<std::string>>();
    d.creator.id = j.at("creator_id").get<std::string>();
    d.creator.roles = j.at("creator_roles").get<std::vector<std::string>>();
    d.creator.method = static_cast<AuthMethod>(j.at("creator_method").get<int>());
    d.run_as = j.at("run_as").get<std::string>();
    d.created_unix_s = j.at("created_unix_s").get<int64_t>();
    d.secret_version = j.at("secret_version").get<uint32_t>();
    d.previous_expires_unix_s = j.at("previous_expires_unix_s").get<int64_t>();
    return d;
  } catch (const nlohmann::json::exception&) {
    return Status::DataLoss("webhook definition unreadable");
  }
}

}  // namespace

Status ValidateWebhookName(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= kWebhookNameSizeBytesMax &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                  });
  if (!ok) return Status::InvalidArgument("a webhook name is 1..64 of [a-z0-9_-]");
  return Status::Ok();
}

std::string ParkedStreamName(std::string_view name) {
  return "$parked-webhook-" + std::string(name);
}

Status WebhookStore::CheckAvailable() const {
  if (store_->log_store() == nullptr || store_->kms() == nullptr) {
    return Status::FailedPrecondition("webhooks need a store with key material and a KMS");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> WebhookStore::ReadIndex() {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text, store_->ReadComponentState(kIndexName));
  if (!text || text->empty()) return std::vector<std::string>{};
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Status::DataLoss("webhook index unreadable");
  std::vector<std::string> names;
  for (const auto& n : j) {
    if (!n.is_string()) return Status::DataLoss("webhook index unreadable");
    names.push_back(n.get<std::string>());
  }
  return names;
}

Status WebhookStore::WriteIndex(const std::vector<std::string>& names) {
  assert(names.size() <= kWebhooksMax);
  return store_->PutComponentState(kIndexName, nlohmann::json(names).dump());
}

Result<std::optional<WebhookDefinition>> WebhookStore::ReadDefinition(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text,
                         store_->ReadComponentState(DefinitionName(name)));
  if (!text || text->empty()) return std::optional<WebhookDefinition>();
  CAIRN_ASSIGN_OR_RETURN(WebhookDefinition def, FromJson(*text));
  return std::optional<WebhookDefinition>(std::move(def));
}

Status WebhookStore::WriteDefinition(const WebhookDefinition& def) {
  const std::string text = ToJson(def).dump();
  if (text.size() > kDefinitionSizeBytesMax) {
    return Status::ResourceExhausted("webhook definition too large");
  }
  return store_->PutComponentState(DefinitionName(def.name), text);
}

Status WebhookStore::PutSecret(std::string_view name, uint32_t version,
                               const crypto::SecureBytes& secret) {
  return store_->PutComponentSecret(SecretName(name, version), secret);
}

Result<crypto::SecureBytes> WebhookStore::LoadSecret(std::string_view name, uint32_t version) {
  CAIRN_RETURN_IF_ERROR(CheckAvailable());
  const std::string key_name = SecretName(name, version);
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> wrapped,
                         store_->log_store()->ReadKeyMaterial(key_name));
  if (!wrapped) return Status::NotFound("webhook secret version " + std::to_string(version));
  Result<crypto::SecureBytes> secret = store_->kms()->Unwrap(*wrapped, key_name);
  // The provider's text (module, slot, token label) goes to the log, not to the webhook's
  // last_error that Webhooks.List shows.
  if (!secret.ok()) return keys::KmsFailure(*store_->kms(), "unwrap webhook secrets", secret.status());
  return secret;
}

Result<std::vector<WebhookDefinition>> WebhookStore::LoadAll() {
  std::lock_guard<std::mutex> lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadIndex());
  std::vector<WebhookDefinition> out;
  for (const std::string& name : names) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<WebhookDefinition> def, ReadDefinition(name));
    if (def) out.push_back(std::move(*def));
  }
  return out;
}

Status WebhookStore::Create(const WebhookDefinition& def, const crypto::SecureBytes& secret,
                            uint64_t start_position) {
  CAIRN_RETURN_IF_ERROR(CheckAvailable());
  CAIRN_RETURN_IF_ERROR(ValidateWebhookName(def.name));
  std::lock_guard<std::mutex> lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadIndex());
  if (std::find(names.begin(), names.end(), def.name) != names.end()) {
    return Status::AlreadyExists("webhook '" + def.name + "' already exists");
  }
  if (names.size() >= kWebhooksMax) {
    return Status::ResourceExhausted("at most " + std::to_string(kWebhooksMax) + " webhooks");
  }
  // Secret and position first, definition, then the index: a crash in between leaves pieces
  // that no index entry names (a later create of the name overwrites them; a sweep destroys an
  // unused secret).
  CAIRN_RETURN_IF_ERROR(CheckNotDestroying(def.name, def.secret_version));
  CAIRN_RETURN_IF_ERROR(PutSecret(def.name, def.secret_version, secret));
  CAIRN_RETURN_IF_ERROR(store_->PutComponentState(PositionName(def.name),
                                                  std::to_string(start_position)));
  CAIRN_RETURN_IF_ERROR(WriteDefinition(def));
  names.push_back(def.name);
  CAIRN_RETURN_IF_ERROR(WriteIndex(names));
  KeepSecret(def.name, def.secret_version, secret);
  return Status::Ok();
}

// The webhook change is stored by then: failing the call would hide that (and, for a rotation,
// lose the new secret its caller needs). A secret left behind is unused: a sweep destroys it.
void WebhookStore::WarnIfUndestroyed(std::string_view name, const Status& destroyed) {
  if (destroyed.ok()) return;
  log::Warn("could not destroy a retired webhook secret now; the unused-secret sweep will",
            {.action = "webhook.destroy_secret",
             .outcome = "failure",
             .extra = {{"cairn.webhook", std::string(name)}, {"cairn.error", destroyed.ToString()}}});
}

void WebhookStore::KeepSecret(std::string_view name, uint32_t version,
                              const crypto::SecureBytes& secret) {
  Result<std::optional<std::string>> stored =
      store_->log_store()->ReadKeyMaterial(SecretName(name, version));
  Status kept = Status::Ok();
  if (!stored.ok()) {
    kept = stored.status();
  } else if (!stored->has_value()) {
    kept = PutSecret(name, version, secret);
  }
  // The webhook is stored by now: failing the call would lose the secret its caller needs.
  if (!kept.ok()) {
    log::Warn("could not check a new webhook secret after storing it",
              {.action = "webhook.keep_secret",
               .outcome = "failure",
               .extra = {{"cairn.webhook", std::string(name)}, {"cairn.error", kept.ToString()}}});
  }
}

Status WebhookStore::Delete(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckAvailable());
  std::lock_guard<std::mutex> lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadIndex());
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) return Status::NotFound("no webhook named '" + std::string(name) + "'");
  CAIRN_ASSIGN_OR_RETURN(std::optional<WebhookDefinition> def, ReadDefinition(name));
  names.erase(it);
  CAIRN_RETURN_IF_ERROR(WriteIndex(names));
  CAIRN_RETURN_IF_ERROR(store_->PutComponentState(DefinitionName(name), ""));
  // Only the current and the previous version still exist (Rotate destroys older ones).
  const uint32_t version = def ? def->secret_version : 0;
  std::vector<std::string> secrets;
  for (uint32_t v = version; v >= 1 && v + 2 > version; --v) secrets.push_back(SecretName(name, v));
  WarnIfUndestroyed(name, store_->log_store()->DestroyKeyMaterials(secrets).status());
  return Status::Ok();
}

Result<WebhookDefinition> WebhookStore::Rotate(std::string_view name,
                                               const crypto::SecureBytes& secret,
                                               int64_t now_unix_s, int64_t grace_s) {
  CAIRN_RETURN_IF_ERROR(CheckAvailable());
  assert(grace_s >= 0);
  std::lock_guard<std::mutex> lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(std::optional<WebhookDefinition> found, ReadDefinition(name));
  if (!found) return Status::NotFound("no webhook named '" + std::string(name) + "'");
  WebhookDefinition def = std::move(*found);
  CAIRN_RETURN_IF_ERROR(CheckNotDestroying(name, def.secret_version + 1));
  CAIRN_RETURN_IF_ERROR(PutSecret(name, def.secret_version + 1, secret));
  def.secret_version += 1;
  def.previous_expires_unix_s = now_unix_s + grace_s;
  CAIRN_RETURN_IF_ERROR(WriteDefinition(def));
  KeepSecret(name, def.secret_version, secret);
  if (def.secret_version >= 3) {  // the secret before the previous one signs no more
    const std::string retired = SecretName(name, def.secret_version - 2);
    const std::string one[] = {retired};
    WarnIfUndestroyed(name, store_->log_store()->DestroyKeyMaterials(one).status());
  }
  return def;
}

Status WebhookStore::PutPosition(std::string_view name, uint64_t position) {
  return store_->PutComponentState(PositionName(name), std::to_string(position));
}

Result<uint64_t> WebhookStore::ReadPosition(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text,
                         store_->ReadComponentState(PositionName(name)));
  if (!text || text->empty()) return uint64_t{0};
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return Status::DataLoss("webhook position unreadable");
  }
  return value;
}

Result<std::map<std::string, std::string>> WebhookStore::UnusedSecrets() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadIndex());
  // An indexed webhook's versions from the previous one up are kept: the current and previous
  // sign, and a newer one is what a rotation in progress (or retried after a crash) writes.
  std::map<std::string, uint32_t, std::less<>> kept_from;
  for (const std::string& name : names) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<WebhookDefinition> def, ReadDefinition(name));
    if (def) kept_from[name] = def->secret_version >= 2 ? def->secret_version - 1 : 1;
  }
  std::map<std::string, std::string> unused;
  CAIRN_RETURN_IF_ERROR(store_->log_store()->ScanKeyMaterial(
      kSecretPrefix, [&](std::string_view key_name, std::string_view wrapped) {
        const std::optional<std::pair<std::string_view, uint32_t>> parsed = ParseSecretName(key_name);
        if (!parsed) return true;
        auto kept = kept_from.find(parsed->first);
        if (kept == kept_from.end() || parsed->second < kept->second) {
          unused.emplace(std::string(key_name), std::string(wrapped));
        }
        return unused.size() < kSweepTrackedMax;
      }));
  return unused;
}

Result<size_t> WebhookStore::SweepUnusedSecrets(int64_t now_ms, int64_t unused_age_ms_min) {
  CAIRN_RETURN_IF_ERROR(CheckAvailable());
  assert(unused_age_ms_min >= 0);
  std::vector<storage::LogStore::ExpectedKeyMaterial> doomed;  // (name, the bytes seen twice)
  {
    std::lock_guard<std::mutex> lock(mu_);
    CAIRN_ASSIGN_OR_RETURN(auto unused, UnusedSecrets());
    std::map<std::string, Sighting> seen;  // what this look found unused
    for (auto& [name, wrapped] : unused) {
      auto it = unused_since_.find(name);
      // The same stored bytes as at an earlier look, long enough ago: nobody wrote it since
      // (a create or rotation retried on another node would have written new bytes).
      if (it != unused_since_.end() && it->second.wrapped == wrapped &&
          now_ms - it->second.since_ms >= unused_age_ms_min) {
        doomed.emplace_back(name, std::move(wrapped));
        continue;
      }
      const bool same = it != unused_since_.end() && it->second.wrapped == wrapped;
      seen.emplace(name, Sighting{same ? it->second.since_ms : now_ms, std::move(wrapped)});
    }
    unused_since_ = std::move(seen);  // secrets used again (or rewritten) start over
    assert(unused_since_.size() <= kSweepTrackedMax);
    // Destroyed outside mu_ (on PostgreSQL a destroy may wait seconds for old snapshots, and
    // webhook changes and deliveries wait for mu_); this node's Create and Rotate refuse to
    // write these names meanwhile.
    for (const auto& secret : doomed) destroying_.insert(secret.first);
  }
  static_assert(kSweepTrackedMax <= storage::LogStore::kDestroyBatchNamesMax);
  // Only if the bytes are still those seen: a node that rewrote the name since (a create or a
  // rotation of the same name) keeps its secret.
  size_t destroyed = 0;
  const Status status = store_->log_store()->DestroyKeyMaterialsIf(doomed, &destroyed).status();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& secret : doomed) destroying_.erase(secret.first);
  CAIRN_RETURN_IF_ERROR(status);
  assert(destroyed <= doomed.size());
  return destroyed;
}

Status WebhookStore::CheckNotDestroying(std::string_view name, uint32_t version) const {
  if (destroying_.count(SecretName(name, version)) == 0) return Status::Ok();
  return Status::Unavailable("an unused stored secret of webhook '" + std::string(name) +
                             "' is being destroyed; retry");
}

}  // namespace cairn::subscribe
