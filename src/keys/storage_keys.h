// StorageKeys: the AES-256 keys that encrypt records at rest, one per epoch.
//
// Epoch e's key is stored in the LogStore's key material as "storage-epoch/<e>", wrapped by the
// KMS provider with that name as context, beside the first position it encrypts. Old epochs stay
// readable; Rotate() makes new writes use a new key. Keys are unwrapped once at Load() and held
// in wiped memory. A key must be retired before 2^32 GCM encryptions with random IVs: the
// sequencer rotates when an epoch has encrypted `encryptions_max` records.
//
// Thread safety: readers (Key, current) and one writer (Rotate) may run concurrently; Key()
// returns a shared snapshot that stays valid after a rotation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "common/status.h"
#include "crypto/secure.h"
#include "keys/kms.h"
#include "storage/log_store.h"

namespace cairn::keys {

inline constexpr uint32_t kStorageEpochsMax = 1u << 20;

struct StorageEpoch {
  uint32_t epoch = 0;
  uint64_t start_position = 0;  // first position encrypted under this key
  std::shared_ptr<const crypto::SecureBytes> key;
};

class StorageKeys {
 public:
  // Creates epoch 0 in a new store. Fails kAlreadyExists if the store has one.
  static Status Initialize(storage::LogStore* store, KmsProvider* kms);
  // Loads and unwraps every epoch. Fails closed (kDataLoss/kUnavailable) if any cannot be unwrapped.
  static Result<std::unique_ptr<StorageKeys>> Load(storage::LogStore* store, KmsProvider* kms);

  StorageEpoch current() const;
  // nullptr when `epoch` is unknown.
  std::shared_ptr<const crypto::SecureBytes> Key(uint32_t epoch) const;
  size_t epoch_count() const;
  // Creates epoch current+1 starting at `start_position`, stores it durably, then makes it current.
  // On a shared store (several nodes) the caller holds the commit lock, and epochs made by other
  // nodes are loaded first; an epoch number is never overwritten (kAborted instead).
  Status Rotate(uint64_t start_position);
  // Loads epochs that other nodes sharing the store created since (a record naming an unknown
  // epoch, a commit under the lock). Logically const: it only learns keys that already exist.
  Status Refresh() const;
  // KEK rotation: stores every epoch's key wrapped under the provider's current KEK (durable put
  // per epoch; idempotent, so an interrupted run is finished by running it again). Excludes
  // Rotate while it runs. Returns the number of epochs re-wrapped.
  Result<uint64_t> RewrapAll();

 private:
  StorageKeys(storage::LogStore* store, KmsProvider* kms) : store_(store), kms_(kms) {}
  static Status StoreEpoch(storage::LogStore* store, KmsProvider* kms, uint32_t epoch,
                           uint64_t start_position, const crypto::SecureBytes& key);

  storage::LogStore* store_;
  KmsProvider* kms_;
  mutable std::mutex mu_;
  mutable std::mutex refresh_mu_;  // one Refresh at a time (taken before mu_)
  std::mutex rotate_mu_;  // serialises Rotate and RewrapAll (taken before mu_)
  mutable std::map<uint32_t, StorageEpoch> epochs_;  // grows by Rotate and Refresh
};

}  // namespace cairn::keys
