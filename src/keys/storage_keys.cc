#include "keys/storage_keys.h"

#include <algorithm>
#include <cassert>

#include "common/bytes.h"
#include "crypto/aes_gcm.h"
#include "keys/kms_failure.h"

namespace cairn::keys {
namespace {

constexpr std::string_view kCurrentEpochMeta = "storage_epoch_current";

std::string EpochName(uint32_t epoch) { return "storage-epoch/" + std::to_string(epoch); }

Result<uint32_t> ReadCurrentEpoch(storage::LogStore* store) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> v, store->ReadMeta(kCurrentEpochMeta));
  if (!v) return Status::NotFound("the store has no storage key (run `cairn init`)");
  if (v->size() != 4) return Status::DataLoss("corrupt storage epoch metadata");
  return DecodeU32(v->data());
}

}  // namespace

Status StorageKeys::StoreEpoch(storage::LogStore* store, KmsProvider* kms, uint32_t epoch,
                               uint64_t start_position, const crypto::SecureBytes& key) {
  auto wrap = kms->Wrap(key.view(), EpochName(epoch));
  // A rotation runs on the append path: its failure is every waiting appender's answer.
  if (!wrap.ok()) {
    return KmsFailure(*kms, "wrap storage key epoch " + std::to_string(epoch), wrap.status());
  }
  const std::string wrapped = std::move(wrap).value();
  std::string value;
  PutU64(&value, start_position);
  value += wrapped;
  // Never overwrite an epoch: on a shared store another node may have made this one.
  CAIRN_ASSIGN_OR_RETURN(bool stored, store->PutKeyMaterialIfAbsent(EpochName(epoch), value));
  if (!stored) {
    return Status::Aborted("storage key epoch " + std::to_string(epoch) +
                           " was created by another node; retry");
  }
  std::string cur;
  PutU32(&cur, epoch);
  return store->PutMeta(kCurrentEpochMeta, cur);
}

Status StorageKeys::Initialize(storage::LogStore* store, KmsProvider* kms) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> existing, store->ReadMeta(kCurrentEpochMeta));
  if (existing) return Status::AlreadyExists("the store already has storage keys");
  return StoreEpoch(store, kms, 0, 0, crypto::RandomSecret(crypto::kAes256KeySizeBytes));
}

Result<std::unique_ptr<StorageKeys>> StorageKeys::Load(storage::LogStore* store, KmsProvider* kms) {
  std::unique_ptr<StorageKeys> keys(new StorageKeys(store, kms));
  CAIRN_RETURN_IF_ERROR(keys->Refresh());
  return keys;
}

Status StorageKeys::Refresh() const {
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  CAIRN_ASSIGN_OR_RETURN(uint32_t current, ReadCurrentEpoch(store_));
  if (current >= kStorageEpochsMax) return Status::DataLoss("corrupt storage epoch metadata");
  uint32_t first = 0;
  uint64_t prev_start = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!epochs_.empty()) {
      first = epochs_.rbegin()->first + 1;
      prev_start = epochs_.rbegin()->second.start_position;
    }
  }
  // Epochs up to the recorded current one must all exist. Beyond it, an epoch may exist whose
  // rotation stopped between storing the key and recording it current (a crash, or another node
  // right now): it is taken too, so the next rotation goes past it instead of failing on it
  // forever, and a record it encrypts is readable here.
  for (uint32_t e = first; e < kStorageEpochsMax; ++e) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> v, store_->ReadKeyMaterial(EpochName(e)));
    if (!v && e > current) break;
    if (!v || v->size() < 8) return Status::DataLoss("storage key epoch " + std::to_string(e) + " is missing");
    uint64_t start = DecodeU64(v->data());
    if (e > 0 && start < prev_start) return Status::DataLoss("storage key epochs out of order");
    auto key = kms_->Unwrap(std::string_view(*v).substr(8), EpochName(e));
    if (!key.ok() && key.status().code() == StatusCode::kDataLoss) {
      return key.status().Annotate("storage key epoch " + std::to_string(e));
    }
    if (!key.ok()) return KmsFailure(*kms_, "unwrap storage key epoch " + std::to_string(e), key.status());
    if (key->size() != crypto::kAes256KeySizeBytes) return Status::DataLoss("storage key has a bad size");
    std::lock_guard<std::mutex> lock(mu_);
    epochs_[e] = {e, start, std::make_shared<const crypto::SecureBytes>(std::move(key).value())};
    prev_start = start;
  }
  return Status::Ok();
}

StorageEpoch StorageKeys::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  assert(!epochs_.empty());
  return epochs_.rbegin()->second;
}

std::shared_ptr<const crypto::SecureBytes> StorageKeys::Key(uint32_t epoch) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = epochs_.find(epoch);
  return it == epochs_.end() ? nullptr : it->second.key;
}

size_t StorageKeys::epoch_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epochs_.size();
}

Status StorageKeys::Rotate(uint64_t start_position) {
  std::lock_guard<std::mutex> rotate(rotate_mu_);
  // Epochs other nodes made, or one this object stored but could not record current (its meta
  // write failed): without this a single node would retry that epoch, refused, until restart.
  CAIRN_RETURN_IF_ERROR(Refresh());
  StorageEpoch cur = current();
  if (cur.epoch + 1 >= kStorageEpochsMax) return Status::ResourceExhausted("too many storage epochs");
  // Epoch starts never decrease (Load checks it); an encryption count uses them, nothing else.
  start_position = std::max(start_position, cur.start_position);
  crypto::SecureBytes key = crypto::RandomSecret(crypto::kAes256KeySizeBytes);
  CAIRN_RETURN_IF_ERROR(StoreEpoch(store_, kms_, cur.epoch + 1, start_position, key));
  std::lock_guard<std::mutex> lock(mu_);
  epochs_[cur.epoch + 1] = {cur.epoch + 1, start_position,
                            std::make_shared<const crypto::SecureBytes>(std::move(key))};
  return Status::Ok();
}

Result<uint64_t> StorageKeys::RewrapAll() {
  std::lock_guard<std::mutex> rotate(rotate_mu_);
  // Epochs other nodes made, or one this object stored but could not record current (its meta
  // write failed): left out, it would stay under the KEK the caller retires next, and the store
  // would not open again.
  CAIRN_RETURN_IF_ERROR(Refresh());
  std::map<uint32_t, StorageEpoch> epochs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    epochs = epochs_;
  }
  for (const auto& [e, epoch] : epochs) {
    CAIRN_ASSIGN_OR_RETURN(std::string wrapped, kms_->Wrap(epoch.key->view(), EpochName(e)));
    std::string value;
    PutU64(&value, epoch.start_position);
    value += wrapped;
    CAIRN_RETURN_IF_ERROR(store_->PutKeyMaterial(EpochName(e), value));
  }
  return static_cast<uint64_t>(epochs.size());
}

}  // namespace cairn::keys
