#include "keys/subject_keys.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "common/bytes.h"
#include "common/wall_clock.h"
#include "crypto/aes_gcm.h"
#include "crypto/sha256.h"
#include "keys/kms_failure.h"

namespace cairn::keys {
namespace {

constexpr std::string_view kIndexPrefix = SubjectKeys::kIndexNamePrefix;
constexpr std::string_view kKeyPrefix = SubjectKeys::kKeyNamePrefix;
constexpr std::string_view kCurrentPrefix = "w/";  // cache name of a subject's current version
constexpr uint8_t kIndexFormat = 1;
constexpr uint8_t kKeyFormat = 1;
constexpr size_t kSubjectSaltSizeBytes = 32;
constexpr size_t kHandleHexDigits = 24;
constexpr size_t kSubjectHashHexSize = 64;  // SHA-256 of salt and subject, lowercase hex
const std::string kUsePrefix(SubjectKeys::kUseNamePrefix);
// Compare-and-swap attempts to claim a block of a version's use count (nodes racing for it).
constexpr int kUseClaimAttemptsMax = 16;
// Attempts of one rotation that other nodes rotating the same subject keep pre-empting, and the
// wait before the next (times the attempt: their index update is one store write away).
constexpr int kRotateAttemptsMax = 8;
constexpr int64_t kRotateRetryMs = 5;
// Rounds of a forget that other nodes' rotations of the same subject keep moving the index in.
constexpr int kForgetRoundsMax = 8;
constexpr size_t kVersionDigitsMax = 10;

std::string KeyName(std::string_view kid) { return std::string(kKeyPrefix) + std::string(kid); }
std::string IndexName(std::string_view hash_hex) {
  return std::string(kIndexPrefix) + std::string(hash_hex);
}
std::string CurrentName(std::string_view hash_hex) {
  return std::string(kCurrentPrefix) + std::string(hash_hex);
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// "s" + 24 lowercase hex + "." + version (decimal, no leading zero, 1..kSubjectKeyVersionsMax).
std::optional<uint32_t> ParseKid(std::string_view kid) {
  if (kid.size() < 1 + kHandleHexDigits + 2 || kid.size() > kSubjectKidSizeBytesMax) return {};
  if (kid[0] != 's' || kid[1 + kHandleHexDigits] != '.') return {};
  for (size_t i = 1; i <= kHandleHexDigits; ++i) {
    if (!IsLowerHex(kid[i])) return {};
  }
  const std::string_view digits = kid.substr(2 + kHandleHexDigits);
  if (digits.empty() || digits.size() > kVersionDigitsMax || digits[0] == '0') return {};
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return {};
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > kSubjectKeyVersionsMax) return {};
  return static_cast<uint32_t>(v);
}

std::string MakeKid(std::string_view handle_hex, uint32_t version) {
  return "s" + std::string(handle_hex) + "." + std::to_string(version);
}

struct KeyBlob {
  std::string_view kek_id;
  std::string_view wrapped;
};

std::optional<KeyBlob> ParseKeyBlob(std::string_view value) {
  ByteReader r(value);
  uint8_t format = 0, id_size = 0;
  KeyBlob blob;
  if (!r.GetU8(&format) || format != kKeyFormat || !r.GetU8(&id_size) ||
      !r.GetBytes(id_size, &blob.kek_id) || r.remaining() == 0) {
    return std::nullopt;
  }
  blob.wrapped = value.substr(r.offset());
  return blob;
}

Result<std::string> EncodeKeyBlob(std::string_view kek_id, std::string_view wrapped) {
  if (kek_id.size() > 255) return Status::InvalidArgument("KMS key id exceeds 255 bytes");
  std::string value;
  PutU8(&value, kKeyFormat);
  PutU8(&value, static_cast<uint8_t>(kek_id.size()));
  value += kek_id;
  value += wrapped;
  return value;
}

}  // namespace

SubjectKeys::SubjectKeys(storage::LogStore* store, KmsProvider* kms, std::string salt,
                         SubjectKeysOptions options)
    : store_(store),
      salt_(std::move(salt)),
      limits_{options.cache_entries_max, options.cache_ttl_ms, nullptr,
              options.encryptions_per_version_max, options.encryptions_per_write,
              options.use_reservation_writes},
      cache_(KeyCacheOptions{options.cache_entries_max, options.cache_ttl_ms,
                             std::move(options.cache_now_ms)}),
      kms_(kms),
      kek_id_(kms->kek_id()) {}

Status SubjectKeys::CreateSalt(storage::LogStore* store) {
  const std::string salt = crypto::RandomString(kSubjectSaltSizeBytes);
  return store->PutMetaIfAbsent(kSubjectKeySaltMeta, salt);
}

Result<std::unique_ptr<SubjectKeys>> SubjectKeys::Open(storage::LogStore* store, KmsProvider* kms,
                                                       SubjectKeysOptions options) {
  if (store == nullptr || kms == nullptr) return Status::InvalidArgument("no store or KMS");
  if (options.encryptions_per_write == 0 || options.use_reservation_writes == 0 ||
      options.encryptions_per_version_max < options.encryptions_per_write ||
      options.encryptions_per_version_max > (uint64_t{1} << 32)) {
    return Status::InvalidArgument("subject key rollover limits are inconsistent");
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> salt, store->ReadMeta(kSubjectKeySaltMeta));
  if (!salt) {
    // A store made before Init created the salt. Nodes of a shared store that start together
    // each propose one: the first stored wins and every node uses it (two salts would index one
    // subject's keys under two handles, and forget on one node would miss the other's).
    CAIRN_RETURN_IF_ERROR(CreateSalt(store));
    CAIRN_ASSIGN_OR_RETURN(salt, store->ReadMeta(kSubjectKeySaltMeta));
    if (!salt) return Status::DataLoss("the subject key salt vanished after it was stored");
  }
  if (salt->size() != kSubjectSaltSizeBytes) return Status::DataLoss("corrupt subject key salt");
  return std::unique_ptr<SubjectKeys>(
      new SubjectKeys(store, kms, std::move(*salt), std::move(options)));
}

Status SubjectKeys::CheckSubject(std::string_view subject) const {
  if (subject.empty() || subject.size() > kSubjectIdSizeBytesMax) {
    return Status::InvalidArgument("a subject must be 1.." + std::to_string(kSubjectIdSizeBytesMax) +
                                   " bytes");
  }
  return Status::Ok();
}

std::string SubjectKeys::HashHex(std::string_view subject) const {
  thread_local crypto::Sha256Hasher h;  // Final() resets it; no context set-up per call
  h.Update(salt_);
  h.Update(subject);
  return HexEncode(h.Final());
}

std::string SubjectKeys::SubjectHashHex(std::string_view subject) const { return HashHex(subject); }

namespace {

size_t LockStripe(std::string_view hash_hex, size_t stripes) {
  // The hash is uniform: a few of its hex digits pick a stripe.
  return std::hash<std::string_view>()(hash_hex.substr(0, 4)) % stripes;
}

}  // namespace

std::mutex& SubjectKeys::SubjectLock(std::string_view hash_hex) {
  return subject_locks_[LockStripe(hash_hex, kLockStripes)];
}

bool SubjectKeys::ShareLockStripe(std::string_view subject_a, std::string_view subject_b) const {
  return LockStripe(HashHex(subject_a), kLockStripes) == LockStripe(HashHex(subject_b), kLockStripes);
}

Result<std::optional<std::vector<SubjectKeys::Version>>> SubjectKeys::ReadIndex(
    const std::string& index_name) {
  using Out = std::optional<std::vector<Version>>;
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->ReadKeyMaterial(index_name));
  if (!value) return Out();
  CAIRN_ASSIGN_OR_RETURN(std::vector<Version> versions, ParseIndex(index_name, *value));
  return Out(std::move(versions));
}

Result<std::vector<std::string>> SubjectKeys::IndexedKids(std::string_view index_name,
                                                          std::string_view value) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<Version> versions, ParseIndex(index_name, value));
  std::vector<std::string> kids;
  for (Version& v : versions) kids.push_back(std::move(v.kid));
  return kids;
}

Result<std::vector<SubjectKeys::Version>> SubjectKeys::ParseIndex(std::string_view index_name,
                                                                 std::string_view value) {
  const std::string name(index_name);
  ByteReader r(value);
  uint8_t format = 0;
  uint32_t count = 0;
  if (!r.GetU8(&format) || format != kIndexFormat || !r.GetU32(&count) || count == 0 ||
      count > kSubjectKeyVersionsMax) {
    return Status::DataLoss("corrupt subject key index " + name);
  }
  std::vector<Version> versions;
  versions.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t kid_size = 0;
    std::string_view kid;
    uint64_t created = 0;
    if (!r.GetU8(&kid_size) || !r.GetBytes(kid_size, &kid) || !r.GetU64(&created) ||
        ParseKid(kid) != i + 1) {
      return Status::DataLoss("corrupt subject key index " + name);
    }
    versions.push_back(Version{std::string(kid), static_cast<int64_t>(created)});
  }
  if (r.remaining() != 0) return Status::DataLoss("corrupt subject key index " + name);
  return versions;
}

std::string SubjectKeys::EncodeIndex(const std::vector<Version>& versions) {
  std::string value;
  PutU8(&value, kIndexFormat);
  PutU32(&value, static_cast<uint32_t>(versions.size()));
  for (const Version& v : versions) {
    PutU8(&value, static_cast<uint8_t>(v.kid.size()));
    value += v.kid;
    PutU64(&value, static_cast<uint64_t>(v.created_unix_s));
  }
  return value;
}

void SubjectKeys::EvictCached() { cache_.Clear(); }

Result<KmsProvider*> SubjectKeys::ProviderFor(std::string_view kek_id) {
  std::lock_guard<std::mutex> lock(kms_mu_);
  if (kek_id == kek_id_ || kms_->HasKek(kek_id)) return kms_;
  if (rewrap_target_ != nullptr && kek_id == rewrap_kek_id_) return rewrap_target_;
  return Status::FailedPrecondition("a subject key is wrapped under KEK '" + std::string(kek_id) +
                                    "', not the configured '" + kek_id_ +
                                    "' (finish `cairn keys rotate --kek`)");
}

KmsProvider* SubjectKeys::WrapProvider() {
  std::lock_guard<std::mutex> lock(kms_mu_);
  return rewrap_target_ != nullptr ? rewrap_target_ : kms_;
}

Result<std::optional<std::shared_ptr<const crypto::SecureBytes>>> SubjectKeys::LoadKey(
    std::string_view kid) {
  using Out = std::optional<std::shared_ptr<const crypto::SecureBytes>>;
  const std::string name = KeyName(kid);
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->ReadKeyMaterial(name));
  if (!value) return Out();
  std::optional<KeyBlob> blob = ParseKeyBlob(*value);
  if (!blob) return Status::DataLoss("corrupt subject key " + std::string(kid));
  CAIRN_ASSIGN_OR_RETURN(KmsProvider * kms, ProviderFor(blob->kek_id));
  auto key = kms->Unwrap(blob->wrapped, name);
  if (!key.ok() && key.status().code() == StatusCode::kDataLoss) {  // the blob itself is damaged
    return key.status().Annotate("subject key " + std::string(kid));
  }
  if (!key.ok()) return KmsFailure(*kms, "unwrap subject keys", key.status());
  if (key->size() != crypto::kAes256KeySizeBytes) {
    return Status::DataLoss("subject key " + std::string(kid) + " has a bad size");
  }
  return Out(std::make_shared<const crypto::SecureBytes>(std::move(key).value()));
}

Result<std::shared_ptr<const crypto::SecureBytes>> SubjectKeys::CreateKey(const std::string& kid) {
  const std::string name = KeyName(kid);
  // 96 random bits make a collision implausible; never overwrite a key if one happens anyway.
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> existing, store_->ReadKeyMaterial(name));
  if (existing) return Status::AlreadyExists("subject key " + kid + " exists");
  crypto::SecureBytes key = crypto::RandomSecret(crypto::kAes256KeySizeBytes);
  KmsProvider* kms = WrapProvider();
  // The blob is tagged with the KEK that wrapped it. A provider's current KEK can change
  // (AddKekVersion) during Wrap: the tag is trusted only if it is the same before and after.
  std::string wrapped, kek_id;
  for (int attempt = 0;; ++attempt) {
    kek_id = kms->kek_id();
    auto wrap = kms->Wrap(key.view(), name);
    if (!wrap.ok()) return KmsFailure(*kms, "wrap subject keys", wrap.status());
    wrapped = std::move(wrap).value();
    if (kms->kek_id() == kek_id) break;
    if (attempt == 2) return Status::Unavailable("the key-encryption key keeps changing; retry");
  }
  CAIRN_ASSIGN_OR_RETURN(std::string value, EncodeKeyBlob(kek_id, wrapped));
  // Only if absent: another node rotating the same subject makes the same kid (version + 1), and
  // a key that may already protect data must never be replaced.
  CAIRN_ASSIGN_OR_RETURN(bool stored, store_->PutKeyMaterialIfAbsent(name, value));
  if (!stored) return Status::AlreadyExists("subject key " + kid + " exists");
  return std::make_shared<const crypto::SecureBytes>(std::move(key));
}

Result<SubjectKey> SubjectKeys::KeyForWrite(std::string_view subject) {
  CAIRN_ASSIGN_OR_RETURN(SubjectKey key, CurrentKey(subject));
  for (int attempt = 0; attempt < 4; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(Claim claim, Charge(key.kid));
    if (claim == Claim::kCharged) return key;
    if (claim == Claim::kDestroyed) {
      // Forgotten since it was current: the subject starts again with a new key.
      cache_.Erase(CurrentName(HashHex(subject)));
      cache_.Erase(key.kid);
      CAIRN_ASSIGN_OR_RETURN(key, CurrentKey(subject));
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(key, RotateImpl(subject, key.kid));
  }
  return Status::ResourceExhausted("subject key rollover did not settle; retry");
}

Result<SubjectKeys::Claim> SubjectKeys::Charge(const std::string& kid) {
  const uint64_t per = limits_.encryptions_per_write;
  std::lock_guard<std::mutex> lock(use_mu_);
  auto it = uses_.find(kid);
  if (it == uses_.end()) {
    // Full: one entry goes (the rest of its block is given up), not all of them — clearing the
    // map made every active subject claim a new block, wasting a version's budget.
    if (uses_.size() >= std::max(limits_.cache_entries_max, kUseEntriesMin)) {
      uses_.erase(uses_.begin());
    }
    it = uses_.emplace(kid, Use{}).first;  // no block yet: the first write claims one
  }
  Use& u = it->second;
  assert(u.used <= u.reserved);
  if (u.reserved - u.used >= per) {
    u.used += per;
    return Claim::kCharged;
  }
  CAIRN_ASSIGN_OR_RETURN(auto claimed, ClaimUseBlock(kid));
  const auto& [claim, block] = claimed;
  if (claim != Claim::kCharged) {
    uses_.erase(kid);
    return claim;
  }
  assert(block.reserved - block.used >= per);
  u.used = block.used + per;
  u.reserved = block.reserved;
  return Claim::kCharged;
}

// The version's count in "skey-use/<kid>" is what all users of the store together have claimed:
// a compare-and-swap moves it one block up, and the block below belongs to this object alone
// (the rest of an earlier block is given up: the count may overcount, never undercount).
// A version's first block makes its row; a forget destroys key and row together, so a row that
// is missing while the key is missing too means the version was forgotten, and a row made while a
// forget ran is deleted again once the key is seen gone.
Result<std::pair<SubjectKeys::Claim, SubjectKeys::Use>> SubjectKeys::ClaimUseBlock(
    const std::string& kid) {
  const uint64_t per = limits_.encryptions_per_write;
  const uint64_t max = limits_.encryptions_per_version_max;
  const uint64_t block = per * limits_.use_reservation_writes;
  const std::string name = kUsePrefix + kid;
  for (int attempt = 0; attempt < kUseClaimAttemptsMax; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, store_->ReadKeyMaterial(name));
    if (stored && stored->size() != 8) return Status::DataLoss("corrupt use count of subject key " + kid);
    const uint64_t claimed = stored ? DecodeU64(stored->data()) : 0;  // after a restart: all used
    if (claimed > max || max - claimed < per) return std::pair(Claim::kExhausted, Use{});
    const uint64_t end = max - claimed < block ? max : claimed + block;
    std::string value;
    PutU64(&value, end);
    bool won = false;
    if (stored) {
      CAIRN_ASSIGN_OR_RETURN(won, store_->ReplaceKeyMaterialIf(name, *stored, value));
    } else {
      CAIRN_ASSIGN_OR_RETURN(won, store_->PutKeyMaterialIfAbsent(name, value));
    }
    if (!won) continue;
    if (!stored) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> key, store_->ReadKeyMaterial(KeyName(kid)));
      if (!key) {
        CAIRN_RETURN_IF_ERROR(store_->DeleteUnusedKeyMaterial(name));
        return std::pair(Claim::kDestroyed, Use{});
      }
    }
    return std::pair(Claim::kCharged, Use{claimed, end});
  }
  return Status::Aborted("the use count of subject key " + kid +
                         " is contended by other nodes; retry");
}

Result<SubjectKey> SubjectKeys::CurrentKey(std::string_view subject) {
  CAIRN_RETURN_IF_ERROR(CheckSubject(subject));
  const std::string hash = HashHex(subject);
  const std::string current_name = CurrentName(hash);
  if (std::optional<SubjectKey> hit = cache_.Get(current_name)) return std::move(*hit);
  const std::string index_name = IndexName(hash);

  // Serves an existing subject; nullopt when it has no key yet. Called with the subject's lock.
  auto existing = [&]() -> Result<std::optional<SubjectKey>> {
    const uint64_t generation = cache_.generation();  // before the reads: see KeyCache
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::vector<Version>> versions, ReadIndex(index_name));
    if (!versions) return std::optional<SubjectKey>();
    const std::string& kid = versions->back().kid;
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::shared_ptr<const crypto::SecureBytes>> key,
                           LoadKey(kid));
    if (!key) {
      return Status::FailedPrecondition(
          "the subject's key was partly destroyed by an interrupted forget; run forget again");
    }
    SubjectKey out{kid, std::move(*key)};
    CacheCurrent(current_name, out, generation);
    return std::optional<SubjectKey>(std::move(out));
  };

  {
    std::lock_guard<std::mutex> lock(SubjectLock(hash));
    CAIRN_ASSIGN_OR_RETURN(std::optional<SubjectKey> found, existing());
    if (found) return std::move(*found);
  }
  // First write of this subject: create version 1, unless another thread just did.
  std::shared_lock<std::shared_mutex> rewrap(rewrap_mu_);
  std::lock_guard<std::mutex> lock(SubjectLock(hash));
  CAIRN_ASSIGN_OR_RETURN(std::optional<SubjectKey> found, existing());
  if (found) return std::move(*found);
  const uint64_t generation = cache_.generation();
  const std::string kid = MakeKid(HexEncode(crypto::RandomString(kHandleHexDigits / 2)), 1);
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<const crypto::SecureBytes> key, CreateKey(kid));
  // Only if no index exists: another node sharing the store may have created the subject's key
  // meanwhile. Its key wins; ours never protected anything and is deleted (no key row without an
  // index entry is left behind), without the purge of a destroy: its bytes protect no data, and on
  // PostgreSQL a purge would hold this append for seconds.
  CAIRN_ASSIGN_OR_RETURN(bool created, store_->PutKeyMaterialIfAbsent(
                                           index_name, EncodeIndex({Version{kid, NowUnixSeconds()}})));
  if (!created) {
    CAIRN_RETURN_IF_ERROR(store_->DeleteUnusedKeyMaterial(KeyName(kid)));
    CAIRN_ASSIGN_OR_RETURN(std::optional<SubjectKey> theirs, existing());
    if (!theirs) return Status::Aborted("the subject's key changed concurrently; retry");
    return std::move(*theirs);
  }
  SubjectKey out{kid, std::move(key)};
  CacheCurrent(current_name, out, generation);
  return out;
}

// Another engine sharing the store may forget the subject while this one reads or makes its key
// (its notification clears the cache): a key read before that clear is never cached after it.
//
// An insert refused because an erase of any name ran meanwhile (another subject's forget, too)
// must not leave an older current of this subject cached (a rotation's previous version would
// then keep protecting new events for up to the TTL): the current entry is dropped instead, and
// the next write reads the index.
void SubjectKeys::CacheCurrent(const std::string& current_name, const SubjectKey& key,
                               uint64_t generation) {
  if (cache_.InsertIfGeneration(key.kid, key, generation) &&
      cache_.InsertIfGeneration(current_name, key, generation)) {
    return;
  }
  cache_.DropUnlessKid(current_name, key.kid);
}

Result<SubjectKey> SubjectKeys::KeyForRead(std::string_view kid) {
  if (!ParseKid(kid)) return Status::InvalidArgument("malformed subject key id");
  if (std::optional<SubjectKey> hit = cache_.Get(kid)) return std::move(*hit);
  const uint64_t generation = cache_.generation();  // before the read: see KeyCache
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::shared_ptr<const crypto::SecureBytes>> key,
                         LoadKey(kid));
  if (!key) return Status::NotFound("subject key " + std::string(kid) + " does not exist (forgotten?)");
  SubjectKey out{std::string(kid), std::move(*key)};
  cache_.InsertIfGeneration(kid, out, generation);
  return out;
}

Result<ForgetReport> SubjectKeys::Forget(std::string_view subject) {
  CAIRN_RETURN_IF_ERROR(CheckSubject(subject));
  const std::string hash = HashHex(subject);
  const std::string index_name = IndexName(hash);
  std::shared_lock<std::shared_mutex> rewrap(rewrap_mu_);
  std::lock_guard<std::mutex> lock(SubjectLock(hash));
  ForgetReport report;
  cache_.Erase(CurrentName(hash));
  // Another node may rotate the subject meanwhile (this lock is this process's): the index is
  // deleted only while it still lists exactly what was destroyed; when it moved, the versions it
  // gained are destroyed too, and the index read again.
  std::set<std::string> destroyed_kids;
  std::string handle;
  for (int round = 0;; ++round) {
    if (round == kForgetRoundsMax) {
      return Status::Aborted("the subject's key is being rotated concurrently; run forget again");
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::vector<Version>> versions, ReadIndex(index_name));
    if (!versions) break;
    handle = versions->front().kid.substr(1, kHandleHexDigits);
    std::vector<std::string> kids;
    for (const Version& v : *versions) {
      if (!destroyed_kids.count(v.kid)) kids.push_back(v.kid);
    }
    CAIRN_RETURN_IF_ERROR(DestroyVersions(kids, &report));
    destroyed_kids.insert(kids.begin(), kids.end());
    const storage::LogStore::ExpectedKeyMaterial index[] = {{index_name, EncodeIndex(*versions)}};
    size_t deleted = 0;
    CAIRN_RETURN_IF_ERROR(store_->DestroyKeyMaterialsIf(index, &deleted).status());
    if (deleted == 1) break;
  }
  // Keys of this subject that no index lists (a rotation that stopped between its key and its
  // index update, on any node): destroyed too, so that nothing of the subject stays readable.
  if (!handle.empty()) {
    std::vector<std::string> orphans;
    CAIRN_RETURN_IF_ERROR(store_->ScanKeyMaterial(
        std::string(kKeyPrefix) + "s" + handle + ".", [&](std::string_view name, std::string_view) {
          const std::string kid(name.substr(kKeyPrefix.size()));
          if (!destroyed_kids.count(kid) && orphans.size() < kSubjectKeyVersionsMax) orphans.push_back(kid);
          return true;
        }));
    CAIRN_RETURN_IF_ERROR(DestroyVersions(orphans, &report));
  }
  cache_.Erase(CurrentName(hash));
  report.versions_destroyed = report.kids.size();
  return report;
}

// Destroys the keys and use rows of `kids` in one destroy (one purge of the store's files) and
// evicts them; adds them to the report.
Status SubjectKeys::DestroyVersions(const std::vector<std::string>& kids, ForgetReport* report) {
  if (kids.empty()) return Status::Ok();
  static_assert(2 * kSubjectKeyVersionsMax <= storage::LogStore::kDestroyBatchNamesMax);
  assert(kids.size() <= kSubjectKeyVersionsMax);
  std::vector<std::string> names;
  for (const std::string& kid : kids) {
    names.push_back(KeyName(kid));
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> use, store_->ReadKeyMaterial(kUsePrefix + kid));
    if (use) names.push_back(kUsePrefix + kid);
  }
  const Result<storage::DestroyReport> destroyed = store_->DestroyKeyMaterials(names);
  if (!destroyed.ok()) {
    // The delete may have committed before the purge failed: no unwrapped copy may stay here.
    for (const std::string& kid : kids) cache_.Erase(kid);
    return destroyed.status();
  }
  report->purge_pending = report->purge_pending || destroyed->purge_pending;
  for (const std::string& kid : kids) {
    // Destroyed first, then evicted: a concurrent reader that loaded the key before the destroy
    // cannot cache it after the eviction (the generation changed).
    cache_.Erase(kid);
    {
      std::lock_guard<std::mutex> use_lock(use_mu_);
      uses_.erase(kid);
    }
    report->kids.push_back(kid);
  }
  // After the eviction (no unwrapped copy stays, whatever fails here): a writer that claimed the
  // version's first use block between the read above and the destroy made a row this destroy did
  // not name (it sees the key gone at its next claim, and deletes a row it makes after now
  // itself), so no row of a destroyed key stays.
  for (const std::string& kid : kids) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> late, store_->ReadKeyMaterial(kUsePrefix + kid));
    if (late) CAIRN_RETURN_IF_ERROR(store_->DeleteUnusedKeyMaterial(kUsePrefix + kid));
  }
  return Status::Ok();
}

Status SubjectKeys::DeleteIfUnlisted(const std::string& index_name, const std::string& kid) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::vector<Version>> versions, ReadIndex(index_name));
  if (versions && std::any_of(versions->begin(), versions->end(),
                              [&](const Version& v) { return v.kid == kid; })) {
    return Status::Ok();
  }
  return store_->DeleteUnusedKeyMaterial(KeyName(kid));
}

Result<SubjectKey> SubjectKeys::Rotate(std::string_view subject) {
  return RotateImpl(subject, "");
}

Result<SubjectKey> SubjectKeys::RotateImpl(std::string_view subject,
                                           std::string_view only_if_current) {
  CAIRN_RETURN_IF_ERROR(CheckSubject(subject));
  const std::string hash = HashHex(subject);
  const std::string index_name = IndexName(hash);
  std::shared_lock<std::shared_mutex> rewrap(rewrap_mu_);
  std::lock_guard<std::mutex> lock(SubjectLock(hash));
  // Another node sharing the store may rotate the subject at the same time (the lock above is
  // this process's): the new key is written only if absent and the index by compare-and-swap,
  // so exactly one new version wins and every node uses that one.
  std::string wanted;  // the kid this call tried to make and another writer made first
  for (int attempt = 0; attempt < kRotateAttemptsMax; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kRotateRetryMs * attempt));
    const uint64_t generation = cache_.generation();  // before the reads: see CacheCurrent
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::vector<Version>> versions, ReadIndex(index_name));
    if (!versions) return Status::NotFound("the subject has no key");
    const std::string& current = versions->back().kid;
    const bool rolled_over = !only_if_current.empty() && current != only_if_current;
    if (rolled_over || (!wanted.empty() && current == wanted)) {  // another writer's version
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::shared_ptr<const crypto::SecureBytes>> key,
                             LoadKey(current));
      if (!key) return Status::FailedPrecondition("the subject's current key is missing");
      SubjectKey out{current, std::move(*key)};
      CacheCurrent(CurrentName(hash), out, generation);
      return out;
    }
    if (versions->size() >= kSubjectKeyVersionsMax) {
      return Status::ResourceExhausted("the subject has " + std::to_string(kSubjectKeyVersionsMax) +
                                       " key versions");
    }
    const std::string kid = MakeKid(std::string_view(current).substr(1, kHandleHexDigits),
                                    static_cast<uint32_t>(versions->size() + 1));
    std::shared_ptr<const crypto::SecureBytes> key;
    bool adopted = false;
    Result<std::shared_ptr<const crypto::SecureBytes>> created = CreateKey(kid);
    if (created.status().code() == StatusCode::kAlreadyExists) {
      if (wanted != kid) {  // made by another writer, whose index update is on its way
        wanted = kid;
        continue;
      }
      // Still not in the index after a wait: an orphan (its writer failed or stopped between its
      // key and its index update). Its key protects nothing yet, so it is taken as this version.
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::shared_ptr<const crypto::SecureBytes>> orphan,
                             LoadKey(kid));
      if (!orphan) continue;  // deleted meanwhile by the writer that lost: make it again
      key = std::move(*orphan);
      adopted = true;
    } else if (!created.ok()) {
      return created.status();
    } else {
      key = std::move(created).value();
    }
    const std::string before = EncodeIndex(*versions);
    versions->push_back(Version{kid, NowUnixSeconds()});
    Result<bool> won = store_->ReplaceKeyMaterialIf(index_name, before, EncodeIndex(*versions));
    // The write failed: the key stays as an orphan. Another writer that found it may be adopting
    // it right now (a look at the index, then a delete, could remove a key that writer's index
    // update lists a moment later); the next rotation adopts it, forget's sweep removes it.
    if (!won.ok()) return won.status();
    if (!*won) {
      // The index moved (a rotation, a forget): a key this call made is deleted unless an index
      // lists it now (another writer adopted it); an adopted one stays.
      if (!adopted) CAIRN_RETURN_IF_ERROR(DeleteIfUnlisted(index_name, kid));
      continue;
    }
    SubjectKey out{kid, std::move(key)};
    CacheCurrent(CurrentName(hash), out, generation);
    return out;
  }
  return Status::Aborted("the subject's key is being rotated concurrently by other nodes; retry");
}

Status SubjectKeys::RewrapAll(KmsProvider& new_kms) {
  const std::string new_id = new_kms.kek_id();
  std::unique_lock<std::shared_mutex> exclusive(rewrap_mu_);
  {
    std::lock_guard<std::mutex> lock(kms_mu_);
    if (new_id == kek_id_) return Status::InvalidArgument("the new KEK is the current one");
    rewrap_target_ = &new_kms;
    rewrap_kek_id_ = new_id;
  }
  auto run = [&]() -> Status {
    std::vector<std::string> names;
    CAIRN_RETURN_IF_ERROR(store_->ScanKeyMaterial(kKeyPrefix, [&](std::string_view name,
                                                                  std::string_view) {
      names.emplace_back(name);
      return true;
    }));
    for (const std::string& name : names) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->ReadKeyMaterial(name));
      if (!value) continue;
      std::optional<KeyBlob> blob = ParseKeyBlob(*value);
      if (!blob) return Status::DataLoss("corrupt subject key " + name);
      if (blob->kek_id == new_id) continue;  // done by an earlier, interrupted run
      CAIRN_ASSIGN_OR_RETURN(KmsProvider * old_kms, ProviderFor(blob->kek_id));
      auto key = old_kms->Unwrap(blob->wrapped, name);
      if (!key.ok()) return key.status().Annotate("re-wrapping " + name);
      CAIRN_ASSIGN_OR_RETURN(std::string wrapped, new_kms.Wrap(key->view(), name));
      CAIRN_ASSIGN_OR_RETURN(std::string encoded, EncodeKeyBlob(new_id, wrapped));
      // Only over what was read: a key that another engine forgot meanwhile stays forgotten.
      CAIRN_RETURN_IF_ERROR(store_->ReplaceKeyMaterialIf(name, *value, encoded).status());
    }
    return Status::Ok();
  };
  const Status status = run();
  std::lock_guard<std::mutex> lock(kms_mu_);
  if (status.ok()) {
    kms_ = &new_kms;
    kek_id_ = new_id;
  }
  rewrap_target_ = nullptr;
  rewrap_kek_id_.clear();
  return status;
}

Result<uint64_t> SubjectKeys::RewrapToCurrent() {
  std::unique_lock<std::shared_mutex> exclusive(rewrap_mu_);
  KmsProvider* kms = WrapProvider();
  const std::string current = kms->kek_id();
  std::vector<std::string> names;
  CAIRN_RETURN_IF_ERROR(store_->ScanKeyMaterial(kKeyPrefix, [&](std::string_view name,
                                                                std::string_view) {
    names.emplace_back(name);
    return true;
  }));
  uint64_t rewrapped = 0;
  for (const std::string& name : names) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->ReadKeyMaterial(name));
    if (!value) continue;  // destroyed meanwhile (forget is excluded, but a scan is a snapshot)
    std::optional<KeyBlob> blob = ParseKeyBlob(*value);
    if (!blob) return Status::DataLoss("corrupt subject key " + name);
    if (blob->kek_id == current) continue;  // done by an earlier, interrupted run
    CAIRN_ASSIGN_OR_RETURN(KmsProvider * old_kms, ProviderFor(blob->kek_id));
    auto key = old_kms->Unwrap(blob->wrapped, name);
    if (!key.ok()) return key.status().Annotate("re-wrapping " + name);
    CAIRN_ASSIGN_OR_RETURN(std::string wrapped, kms->Wrap(key->view(), name));
    if (kms->kek_id() != current) return Status::Aborted("the KEK changed during re-wrapping");
    CAIRN_ASSIGN_OR_RETURN(std::string encoded, EncodeKeyBlob(current, wrapped));
    // Only over what was read: a key that another engine forgot meanwhile stays forgotten.
    CAIRN_ASSIGN_OR_RETURN(bool replaced, store_->ReplaceKeyMaterialIf(name, *value, encoded));
    if (replaced) ++rewrapped;
  }
  return rewrapped;
}

Result<std::string> SubjectKeys::ListKeys(std::string_view after_hash, size_t keys_max,
                                          const std::function<bool(const SubjectKeyInfo&)>& fn) {
  assert(keys_max >= 1);
  // Collected first: the callback may call back into this object (a scan pins the store's
  // files). Every subject has at least one key, so keys_max + 1 subjects are enough to fill the
  // page and to know whether more remain.
  std::vector<std::string> hashes;
  const std::string after = after_hash.empty() ? std::string() : IndexName(after_hash);
  bool malformed = false;
  CAIRN_RETURN_IF_ERROR(store_->ScanKeyMaterialAfter(kIndexPrefix, after, [&](std::string_view name,
                                                                              std::string_view) {
    const std::string_view hash = name.substr(kIndexPrefix.size());
    // Only this code writes these names: anything but a hash is damage, not a subject. It is not
    // skipped (a listing could not page past it) but reported.
    malformed = hash.size() != kSubjectHashHexSize ||
                !std::all_of(hash.begin(), hash.end(), IsLowerHex);
    if (malformed) return false;
    hashes.emplace_back(hash);
    return hashes.size() <= keys_max;
  }));
  if (malformed) {
    return Status::DataLoss(
        "the subject key index holds an entry whose name is not a subject hash: the key store is "
        "damaged (restore it from a backup)");
  }
  const bool more_scanned = hashes.size() > keys_max;
  std::string done(after_hash);  // the last subject handled in full: where a listing resumes
  size_t listed = 0;
  for (const std::string& hash : hashes) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::vector<Version>> versions,
                           ReadIndex(IndexName(hash)));
    if (!versions) {  // forgotten meanwhile
      done = hash;
      continue;
    }
    // A subject's versions stay together: the first subject of a page is listed whatever its
    // count, a later one only when it fits.
    if (listed > 0 && listed + versions->size() > keys_max) return done;
    for (size_t i = 0; i < versions->size(); ++i) {
      SubjectKeyInfo info;
      info.kid = (*versions)[i].kid;
      info.version = static_cast<uint32_t>(i + 1);
      info.created_unix_s = (*versions)[i].created_unix_s;
      info.subject_hash_hex = hash;
      info.current = i + 1 == versions->size();
      if (!fn(info)) return done;  // this subject again, from its first version
    }
    listed += versions->size();
    done = hash;
  }
  return more_scanned ? done : std::string();
}

}  // namespace cairn::keys
