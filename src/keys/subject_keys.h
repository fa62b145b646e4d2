// SubjectKeys: the subject key store, the SubjectKeySource over a LogStore's key material and a
// KmsProvider, with a KeyCache of unwrapped keys (DESIGN.md, Keys and data protection).
//
// Storage layout (all in the LogStore's key material, durable on return of each put):
//   meta "subject_key_salt"      32 random bytes, created once by Open(). Subjects are personal
//                                data: the store never holds a subject identifier in clear, only
//                                SHA-256(salt || subject). Limitation: the salt is not secret to
//                                someone holding the data directory, who can test guessed subjects.
//   "subject/<hex hash>"         the subject's index: u8 format (1) || u32 count || count x
//                                (u8 kid size || kid || u64 created_unix_s), oldest first; the last
//                                version is current for writes.
//   "skey/<kid>"                 one key version: u8 format (1) || u8 kek_id size || kek_id ||
//                                KmsProvider::Wrap(32-byte AES key, context = "skey/<kid>").
//                                The kek_id names the KEK that wrapped the blob (see RewrapAll).
//   "skey-use/<kid>"             u64: encryptions reserved under that version (rollover below).
// kid = "s" + 24 random hex digits (one per subject) + "." + version (1, 2, ...): printable,
// at most kSubjectKidSizeBytesMax bytes, and unrelated to the subject's identifier.
//
// Creation writes skey/<kid> then the index, each durably: a crash between them leaves an
// unreferenced, never-used wrapped key. Forget destroys every skey/<kid> of the subject, then
// the index (DestroyKeyMaterial: physically gone from every file); a crash in between leaves an
// index naming destroyed keys: KeyForWrite then fails kFailedPrecondition until Forget is run
// again (it finishes the job). KeyForRead of a destroyed kid gives kNotFound.
//
// Rollover: KeyForWrite counts the encryptions each version may have done. The count is
// reserved durably in blocks: "skey-use/<kid>" is what every user of the store (every node of a
// shared store) has claimed, moved up one block of use_reservation_writes writes at a time by a
// compare-and-swap; the block is this object's alone, and after a restart it is assumed used:
// the count never undercounts, also across nodes. A version that
// reached encryptions_per_version_max is rotated (like Rotate) before the write that would pass
// it; concurrent writers roll it over once.
//
// Errors: kInvalidArgument for an empty or oversized subject or a malformed kid; kNotFound for a
// destroyed or never-created kid; the KMS's kUnavailable/kDataLoss are passed on (callers fail
// closed); kFailedPrecondition for a blob wrapped under a KEK this object does not have.
//
// Thread safety: safe for concurrent use. Creation, Rotate and Forget of one subject are
// serialised (striped per-subject locks), so concurrent first writes agree on one version.
// RewrapAll excludes creation, Rotate and Forget while it runs; reads continue. Use one
// SubjectKeys per store.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "keys/key_cache.h"
#include "keys/kms.h"
#include "keys/subject_key_source.h"
#include "storage/log_store.h"

namespace cairn::keys {

inline constexpr uint32_t kSubjectKeyVersionsMax = 4096;  // per subject
inline constexpr std::string_view kSubjectKeySaltMeta = "subject_key_salt";
// The use counts of at least this many key versions are kept in memory (about 100 bytes each),
// whatever the key cache's size.
inline constexpr size_t kUseEntriesMin = 16384;

struct SubjectKeysOptions {
  size_t cache_entries_max = 10000;  // each cached subject uses up to 2 entries (current + kid)
  int64_t cache_ttl_ms = 300000;
  std::function<int64_t()> cache_now_ms;  // for tests; steady_clock when empty
  // Automatic rollover (AES-GCM with random IVs: at most 2^32 encryptions under one key). Each
  // KeyForWrite counts as encryptions_per_write (one event encrypts at most kRuleFieldsMax = 64
  // fields); a version that would pass encryptions_per_version_max is replaced by a new one.
  uint64_t encryptions_per_version_max = uint64_t{1} << 31;
  uint64_t encryptions_per_write = 64;
  uint64_t use_reservation_writes = 4096;  // writes reserved per durable put of the count
};

struct ForgetReport {
  uint64_t versions_destroyed = 0;
  std::vector<std::string> kids;  // the destroyed versions, oldest first
  // The store could not yet purge the keys' bytes from its files (storage::DestroyReport). The
  // keys are unreadable either way.
  bool purge_pending = false;
};

struct SubjectKeyInfo {
  std::string kid;
  uint32_t version = 0;
  int64_t created_unix_s = 0;
  std::string subject_hash_hex;  // hex SHA-256(salt || subject); not reversible without a guess
  bool current = false;          // the version new writes use
};

class SubjectKeys final : public SubjectKeySource {
 public:
  // Creates the store's subject-hash salt unless it has one (EventStore::Init does, so that the
  // nodes of a shared store never race to make it).
  static Status CreateSalt(storage::LogStore* store);
  // Loads the store's salt, creating it in a store that has none (one salt wins however many
  // nodes open at once). `store` and `kms` must outlive the returned object.
  static Result<std::unique_ptr<SubjectKeys>> Open(storage::LogStore* store, KmsProvider* kms,
                                                   SubjectKeysOptions options = {});

  // The subject's current version, counted for rollover (see above).
  Result<SubjectKey> KeyForWrite(std::string_view subject) override;
  Result<SubjectKey> KeyForRead(std::string_view kid) override;

  // Destroys every version of the subject's key and its index (physically, before returning) and
  // evicts them from this object's cache. Idempotent: an unknown subject reports nothing. Other
  // nodes' caches drop the keys within their TTL.
  Result<ForgetReport> Forget(std::string_view subject);
  // Creates a new version, current for writes from now on; older versions stay readable.
  // kNotFound for a subject that has no key yet.
  Result<SubjectKey> Rotate(std::string_view subject);

  // KEK rotation: re-wraps every skey/* under `new_kms` (unwrap with the KEK named in the blob,
  // wrap with new_kms, durable put). While it runs, new keys are wrapped under new_kms and reads
  // unwrap with whichever KEK a blob names. On success this object uses only new_kms (which must
  // outlive it); the caller then switches the configuration and the other users of the provider
  // (storage keys, checkpoint key) to the new KEK, and must keep the old KEK until then.
  // Crash safety: every put is durable and each blob names its KEK, so a crash leaves a mix;
  // running RewrapAll(new_kms) again from an object opened with the old provider finishes it
  // (blobs already under new_kms are skipped). Until then, blobs under the new KEK read as
  // kFailedPrecondition through an object holding only the old one. Cost: one synced put per key.
  Status RewrapAll(KmsProvider& new_kms);
  // KEK rotation inside one provider that holds several KEK versions (KmsProvider::AddKekVersion):
  // re-wraps every skey/* not already under the provider's current KEK (durable put per key);
  // excludes creation, Rotate and Forget while it runs. Idempotent: a second run after a crash
  // finishes the job. Returns the number of keys re-wrapped.
  Result<uint64_t> RewrapToCurrent();

  // Key versions of the subjects whose hash (hex) is greater than `after_hash` (empty: from the
  // first), grouped by subject in hash order, oldest version first: at most `keys_max` (≥ 1)
  // versions, except that a subject's versions are never split (the first subject is listed
  // whole even when it alone has more). Stops when `fn` returns false. Returns the hash to resume
  // after when subjects may remain (after a stop by `fn`: the subject before the one it stopped
  // in), empty when none do. For `cairn keys list`, a page at a time. kDataLoss when an index
  // entry's name is not a subject hash (damage: only this class writes them).
  Result<std::string> ListKeys(std::string_view after_hash, size_t keys_max,
                        const std::function<bool(const SubjectKeyInfo&)>& fn);

  // The kids an index entry ("subject/<hash>" and its value) lists, oldest first; kDataLoss when
  // the value is not an index.
  static Result<std::vector<std::string>> IndexedKids(std::string_view index_name,
                                                      std::string_view value);
  // The names of key material this class writes: the index of a subject hash, a key version,
  // a version's use row (for keys/erasure_carry.h).
  static constexpr std::string_view kIndexNamePrefix = "subject/";
  static constexpr std::string_view kKeyNamePrefix = "skey/";
  static constexpr std::string_view kUseNamePrefix = "skey-use/";

  // The index name's hash for `subject` (hex), as ListKeys shows it.
  std::string SubjectHashHex(std::string_view subject) const;

  KeyCacheStats cache_stats() const { return cache_.stats(); }
  // Drops every cached unwrapped key (another node sharing the store destroyed or may have
  // destroyed key material): later uses re-read the store.
  void EvictCached();
  // True when two subjects share one of this process's lock stripes (for tests that run two
  // subjects' operations inside each other).
  bool ShareLockStripe(std::string_view subject_a, std::string_view subject_b) const;
  // Drops every cached key (for tests and the benchmark's cache-miss measurements).
  void ClearCache() { cache_.Clear(); }
  // Drops the cached keys whose TTL passed (KeyCache::DropExpired); the engine calls it with
  // every checkpoint round, so expired keys do not linger in memory on an idle node.
  size_t DropExpiredKeys() { return cache_.DropExpired(); }

 private:
  struct Version {
    std::string kid;
    int64_t created_unix_s = 0;
  };
  static constexpr size_t kLockStripes = 64;

  SubjectKeys(storage::LogStore* store, KmsProvider* kms, std::string salt,
              SubjectKeysOptions options);

  struct Use {
    uint64_t used = 0;
    uint64_t reserved = 0;
  };
  Status CheckSubject(std::string_view subject) const;
  Result<SubjectKey> CurrentKey(std::string_view subject);  // KeyForWrite without counting
  // What a claim on a version's use count found.
  enum class Claim { kCharged, kExhausted, kDestroyed };
  // Claims the next block of `kid`'s shared use count: {start, end}. kExhausted when the version
  // has had its share of encryptions; kDestroyed when its key was destroyed (a forget here since
  // the key was looked up, or on another node whose notification has not arrived yet): then no
  // use row is left behind, and nothing may be written under the key.
  Result<std::pair<Claim, Use>> ClaimUseBlock(const std::string& kid);
  // Counts one write under `kid`.
  Result<Claim> Charge(const std::string& kid);
  // Rotate(), unless the current version is no longer `only_if_current` (another writer rolled
  // it over): then the current version. Empty: always rotate.
  Result<SubjectKey> RotateImpl(std::string_view subject, std::string_view only_if_current);
  // Caches `key` under its kid and `current_name`, unless the cache was cleared since
  // `generation` (a forget, here or on another engine) — read before the key was.
  void CacheCurrent(const std::string& current_name, const SubjectKey& key, uint64_t generation);
  std::string HashHex(std::string_view subject) const;
  std::mutex& SubjectLock(std::string_view hash_hex);
  Result<std::optional<std::vector<Version>>> ReadIndex(const std::string& index_name);
  static Result<std::vector<Version>> ParseIndex(std::string_view index_name, std::string_view value);
  static std::string EncodeIndex(const std::vector<Version>& versions);
  // Reads and unwraps skey/<kid>; nullopt when it does not exist.
  Result<std::optional<std::shared_ptr<const crypto::SecureBytes>>> LoadKey(std::string_view kid);
  // Creates and durably stores a new key version `kid`; returns its key.
  Result<std::shared_ptr<const crypto::SecureBytes>> CreateKey(const std::string& kid);
  // Deletes the key `kid` (never used) unless the index lists it.
  Status DeleteIfUnlisted(const std::string& index_name, const std::string& kid);
  Status DestroyVersions(const std::vector<std::string>& kids, ForgetReport* report);
  // The provider whose KEK is `kek_id`, or kFailedPrecondition.
  Result<KmsProvider*> ProviderFor(std::string_view kek_id);
  KmsProvider* WrapProvider();

  storage::LogStore* const store_;
  const std::string salt_;
  const SubjectKeysOptions limits_;  // the rollover settings (the cache has its own copy)
  std::mutex use_mu_;
  // Guarded by use_mu_; at most max(cache_entries_max, kUseEntriesMin) entries. Its own bound:
  // tied to the key cache (which may be off), every write of more subjects than that evicted
  // another's entry, giving up the rest of its reserved block and putting the count again.
  std::unordered_map<std::string, Use> uses_;
  KeyCache cache_;
  std::array<std::mutex, kLockStripes> subject_locks_;
  std::shared_mutex rewrap_mu_;  // shared: creation, Rotate, Forget; exclusive: RewrapAll

  std::mutex kms_mu_;  // guards the four fields below
  KmsProvider* kms_;
  std::string kek_id_;
  KmsProvider* rewrap_target_ = nullptr;  // set while RewrapAll runs
  std::string rewrap_kek_id_;
};

}  // namespace cairn::keys
