// FieldProtection: the engine's use of protect/ and the subject key store (DESIGN.md, Keys and
// data protection). It owns the protection rules and the SubjectKeys of one open store.
//
// On append (before validation and hashing; the caller's thread for Append, a protect thread
// for AppendAsync: engine/protect_queue.h): every event whose type has a rule
// gets an event id now (the field AAD binds it), its subject resolved and its declared fields
// encrypted under the subject's current key. An event of a protected type whose subject cannot be
// resolved fails the whole batch (kInvalidArgument) before anything is queued; an unreachable KMS
// fails it with kUnavailable. What is hashed into the log is the protected (stored) form, so
// `forget` never changes what the Merkle tree covers.
//
// On read: Reveal() turns a stored event into the reader's view — decrypted with `read.pii`,
// masked without it, erased once the subject's key is destroyed — and lists the masked and erased
// pointers. A protected field that fails to decrypt (ciphertext moved from another event or
// tampered) is kDataLoss naming stream, position and pointer: never returned as if plaintext.
//
// AES-GCM contexts are reused across events (protect::CipherCache, keyed by the key object the
// subject key store returns for each event); Forget() clears them, so no key schedule of a
// forgotten subject survives the call.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/types.h"
#include "keys/kms.h"
#include "keys/subject_keys.h"
#include "protect/cipher_cache.h"
#include "protect/rules.h"
#include "storage/log_store.h"

namespace cairn::engine {

class FieldProtection {
 public:
  // `rules_file` empty: no protected event types (the subject key store still opens, so that
  // `forget` works on a store whose rules were removed). `store` and `kms` must outlive it.
  static Result<std::unique_ptr<FieldProtection>> Open(storage::LogStore* store,
                                                       keys::KmsProvider* kms,
                                                       const std::string& rules_file,
                                                       keys::SubjectKeysOptions key_options);

  // Protects, in place, the events of one append to `stream_id`.
  Status ProtectAppend(std::string_view stream_id, std::vector<ProposedEvent>* events);
  // The reader's view of `event` (unchanged for unprotected types).
  Result<RecordedEvent> Reveal(RecordedEvent event, bool may_read_pii);
  // Reveal() of many events in place, on two threads for long runs (EventStore::RevealMany).
  Status RevealMany(std::span<RecordedEvent> events, std::span<const FieldView> views);
  bool IsProtected(std::string_view event_type) const { return rules_->Find(event_type) != nullptr; }
  std::string RulesDigestHex() const { return rules_->DigestHex(); }
  Result<ForgetResult> Forget(std::string_view subject);
  // Another engine on a shared store destroyed key material (a forget there): drop every cached
  // subject key and every cipher context made from one (they hold the expanded key).
  void ForgetCachedKeys();
  keys::SubjectKeys& subject_keys() { return *subject_keys_; }
  // The periodic round: drops the subject keys past their TTL, then the cipher contexts of every
  // key object that died, so that no expanded key outlives its cached key by more than a round.
  void DropExpiredKeys();
  protect::CipherCacheStats cipher_stats() const { return ciphers_.stats(); }

 private:
  FieldProtection(std::shared_ptr<const protect::RuleSet> rules,
                  std::unique_ptr<keys::SubjectKeys> subject_keys)
      : rules_(std::move(rules)), subject_keys_(std::move(subject_keys)) {}

  std::shared_ptr<const protect::RuleSet> rules_;
  std::unique_ptr<keys::SubjectKeys> subject_keys_;
  protect::CipherCache ciphers_;
};

}  // namespace cairn::engine
