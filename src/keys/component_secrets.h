// Component secrets: secrets that cairn's own components keep in the LogStore's key material
// (webhook signing secrets), each a plain KmsProvider::Wrap of the secret with its key material
// name as context, under the component's prefix.
//
// The keys/ module re-wraps its own key material on a KEK rotation (subject keys, storage epochs)
// and the engine re-wraps the checkpoint key; RewrapComponentSecrets does the same for every
// component prefix in kComponentSecretPrefixes, before the old KEK versions are retired. A
// component that keeps a secret must put it under one of these prefixes: a secret left out would
// be unwrappable once the old KEK is gone, and must write it through
// engine::EventStore::PutComponentSecret, whose wrap and write a rotation waits for (a secret
// wrapped under the old KEK and written after this collected the secrets would be stranded).
//
// Thread safety: call under the caller's KEK rotation lock (one rotation at a time). Secrets
// written or deleted concurrently are safe: each replacement is a compare-and-set on the value
// read, so a deleted secret stays deleted and a secret written meanwhile (already under the new
// KEK) is left as it is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "keys/kms.h"
#include "storage/log_store.h"

namespace cairn::keys {

inline constexpr std::array<std::string_view, 1> kComponentSecretPrefixes = {"webhook/"};
// At most this many component secrets are re-wrapped by one call (webhooks are bounded far
// below it); more fails with kResourceExhausted and retires nothing.
inline constexpr size_t kComponentSecretsMax = size_t{1} << 16;

// A kDataLoss unwrap is tried this many times in all before the secret counts as unreadable: some
// tokens report a transient failure the way they report a blob that does not authenticate.
inline constexpr int kComponentUnwrapAttemptsMax = 3;
inline constexpr int kComponentUnwrapRetryMs = 20;  // times the attempt number
// Only the first few unreadable secrets are retried (a KEK that opens none of them is not a
// passing failure): the rotation holds its lock meanwhile.
inline constexpr uint64_t kComponentUnreadableRetriedMax = 4;

struct ComponentRewrap {
  uint64_t rewrapped = 0;   // secrets replaced by their re-wrapped form
  uint64_t unreadable = 0;  // secrets no KEK version opened (left as they are, each logged)
};

// Unwraps every component secret and wraps it again under `kms`'s current KEK. A secret that
// cannot be unwrapped for now (the KMS unavailable) fails the call with its name (never its
// value), so that a rotation stops before retiring anything. One that no KEK version opens, even
// after retries (kDataLoss: damaged, left under a KEK an earlier rotation retired, or a token
// failing the same way for now), is logged by name, left as it is and counted: the caller must
// then keep the old KEK versions, since retiring them could make a secret that failed only for
// now unreadable for good.
Result<ComponentRewrap> RewrapComponentSecrets(storage::LogStore* store, KmsProvider* kms);

}  // namespace cairn::keys
