// CarryErasuresForward: after a restore, the erasures (`forget`) made since the backup was taken
// are made again in the restored store, so that a restore never brings personal data back.
//
// A subject's key versions are destroyed only by `forget`, all of them at once (and a never-used
// key no index lists by the cleanup of a failed creation): so a subject of the restored store
// none of whose versions ("skey/<kid>") the replaced store — a later state of the same log —
// still holds was forgotten after the backup. Its versions, their use rows and its index are
// destroyed in the restored store (physically, LogStore::DestroyKeyMaterials); so are versions no
// index lists that the replaced store does not hold. A subject the replaced store still holds any
// version of is not touched; keys created after the backup are in the replaced store only.
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
