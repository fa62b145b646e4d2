// CarryErasuresForward: after a restore, the erasures (`forget`) made since the backup was taken
// are made again in the restored store, so that a restore never brings personal data back.
//
// A subject key version is destroyed only by `forget` (and a never-used key by the cleanup of a
// failed creation): so every subject key version ("skey/<kid>") that the restored store holds and
// the replaced store — a later state of the same log — no longer does was destroyed after the
// backup. Those versions, their use rows and the subject indexes that list only such versions are
// destroyed in the restored store (physically, LogStore::DestroyKeyMaterials). Keys created after
// the backup are in the replaced store only and are not touched.
//
// The caller must have shown that `replaced` is a later state of the log `restored` was copied
// from (e.g. it holds the backup's signed checkpoint): against an older or a foreign store this
// would destroy keys that were never forgotten. Neither store may be in use meanwhile.
//
// Memory: the kids of `replaced` (~40 bytes each) are held while `restored` is scanned.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::keys {

struct CarriedErasures {
  uint64_t versions_destroyed = 0;  // subject key versions destroyed in the restored store
  uint64_t subjects_erased = 0;     // subject indexes destroyed with them
};

Result<CarriedErasures> CarryErasuresForward(storage::LogStore& replaced, storage::LogStore& restored);

}  // namespace cairn::keys
