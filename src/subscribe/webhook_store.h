// WebhookStore: the durable state of webhook subscriptions, beside the log.
//
// Layout (EventStore component state, "webhook/" prefix; each put durable on return):
//   webhook/index            JSON array of webhook names (at most kWebhooksMax)
//   webhook/def/<name>       JSON definition (no secret); "" once deleted
//   webhook/pos/<name>       decimal: the next log position to deliver
// Secrets are key material (LogStore), stored only wrapped by the KMS:
//   webhook/<name>/secret/<version>   KmsProvider::Wrap(secret bytes, context = that name)
// so deleting a webhook or retiring a rotated secret destroys them physically
// (DestroyKeyMaterial). Unwrapped secrets live in SecureBytes (zeroed when dropped) and are
// never logged or put in an error message.
//
// Thread safety: safe for concurrent use; index changes are serialised.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/principal.h"
#include "common/status.h"
#include "crypto/secure.h"
#include "engine/event_store.h"

namespace cairn::subscribe {

inline constexpr size_t kWebhooksMax = 256;
inline constexpr size_t kWebhookNameSizeBytesMax = 64;
inline constexpr size_t kFilterTypesMax = 64;
inline constexpr std::string_view kAllSource = "$all";

struct WebhookDefinition {
  std::string name;
  std::string url;
  std::string source;  // a stream id or "$all"
  std::vector<std::string> filter_types;
  std::vector<std::string> allow_addresses;
  Principal creator;   // deliveries are judged as this principal (and run_as, when set)
  std::string run_as;  // "" or a principal id
  int64_t created_unix_s = 0;
  uint32_t secret_version = 1;
  // The previous secret (secret_version - 1) signs too until then; 0 = no previous secret.
  int64_t previous_expires_unix_s = 0;
};

// [a-z0-9_-]{1,64}; kInvalidArgument otherwise.
Status ValidateWebhookName(std::string_view name);
// "$parked-webhook-<name>".
std::string ParkedStreamName(std::string_view name);

class WebhookStore {
 public:
  // `store` (with its log_store() and kms()) must outlive this object.
  explicit WebhookStore(engine::EventStore* store) : store_(store) {}

  // kFailedPrecondition when the store has no component state, key material or KMS.
  Status CheckAvailable() const;
  Result<std::vector<WebhookDefinition>> LoadAll();
  // Stores the definition, its first secret (version def.secret_version) and start position.
  // kAlreadyExists for a taken name; kResourceExhausted beyond kWebhooksMax.
  Status Create(const WebhookDefinition& def, const crypto::SecureBytes& secret,
                uint64_t start_position);
  // Removes the definition and destroys every stored secret (a destroy that fails once the
  // definition is gone is logged; the unused-secret sweep retries it). kNotFound for an unknown
  // name.
  Status Delete(std::string_view name);
  // Stores `secret` as the next version; the current one becomes the previous (signing until
  // now + grace_s); an older previous secret is destroyed. Returns the updated definition.
  Result<WebhookDefinition> Rotate(std::string_view name, const crypto::SecureBytes& secret,
                                   int64_t now_unix_s, int64_t grace_s);
  Result<crypto::SecureBytes> LoadSecret(std::string_view name, uint32_t version);
  Status PutPosition(std::string_view name, uint64_t position);
  Result<uint64_t> ReadPosition(std::string_view name);
  // Destroys stored secrets that no webhook uses: left by a crash between a secret's write and
  // the index's, or by a delete or rotation whose destroy did not happen. Unused: its webhook is
  // not indexed, or the secret is older than the previous version (the previous, current and any
  // newer version — a rotation between its writes — are kept). Two looks: an unused secret is
  // destroyed only once an earlier look, at least unused_age_ms_min before (now_ms on a steady
  // clock), found it unused with the same stored bytes, so that a create or rotation between
  // its writes on another node (which writes new bytes) keeps its secret; the destroy itself is
  // conditional on those bytes (LogStore::DestroyKeyMaterialsIf), so a node that rewrites the
  // name between this look and the destroy keeps its secret too. At most kSweepTrackedMax unused
  // secrets are tracked and destroyed per look; the destroy runs outside the store's lock.
  // Returns how many were destroyed.
  static constexpr size_t kSweepTrackedMax = 1024;
  Result<size_t> SweepUnusedSecrets(int64_t now_ms, int64_t unused_age_ms_min);

 private:
  Result<std::vector<std::string>> ReadIndex();
  Status WriteIndex(const std::vector<std::string>& names);
  Result<std::optional<WebhookDefinition>> ReadDefinition(std::string_view name);
  Status WriteDefinition(const WebhookDefinition& def);
  Status PutSecret(std::string_view name, uint32_t version, const crypto::SecureBytes& secret);
  // PutSecret again when a sweep on another node destroyed it between our writes. Best effort:
  // the webhook is stored already, so a failure is logged, not returned.
  void KeepSecret(std::string_view name, uint32_t version, const crypto::SecureBytes& secret);
  static void WarnIfUndestroyed(std::string_view name, const Status& destroyed);
  // The stored secrets (name -> wrapped bytes) that are unused (see SweepUnusedSecrets), at
  // most kSweepTrackedMax. Under mu_.
  Result<std::map<std::string, std::string>> UnusedSecrets();
  // kUnavailable while a sweep destroys that secret name. Under mu_.
  Status CheckNotDestroying(std::string_view name, uint32_t version) const;

  struct Sighting {
    int64_t since_ms = 0;  // the first look that found it unused with these bytes
    std::string wrapped;   // the stored (wrapped) bytes then
  };

  engine::EventStore* store_;
  std::mutex mu_;  // serialises index and definition changes, and sweeps' looks
  std::map<std::string, Sighting> unused_since_;  // guarded by mu_
  std::set<std::string> destroying_;               // guarded by mu_: names a sweep destroys now
};

}  // namespace cairn::subscribe
