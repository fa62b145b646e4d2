// Full verification of a log (DESIGN.md, Verification): every record decrypts at its position,
// every entry's data and metadata hashes match the stored bytes, every stream chain links, every
// stored leaf hash equals the recomputed one, the root at every stored checkpoint equals the
// recomputed root and its signature verifies, consecutive checkpoints are consistent (RFC 9162
// proofs from stored nodes), every stored interior Merkle node is the hash of its children (the
// nodes proofs are built from), every stream's index names exactly the positions of its events in
// version order (the reads of a stream go through it), and the tree state and stream heads match
// what the records say.
// Stops at the first failure and names the position and what failed.
//
// Thread safety: reads only; may run while appends continue (it checks the prefix it reads).
#pragma once

#include "engine/event_store.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "keys/storage_keys.h"
#include "storage/log_store.h"

namespace cairn::engine {

// With `trusted` (a checkpoint the caller verified under a key from outside the log: VerifyAnchor),
// the log must also hold its tree: at least its size in events, and its root at that size
// (compared with a stored checkpoint of that size too), consistent with the stored checkpoints.
VerifyReport VerifyLog(storage::LogStore* store, const keys::StorageKeys* keys,
                       const integrity::NoteVerifier& checkpoint_key,
                       const integrity::Checkpoint* trusted = nullptr);

// VerifyLog of the prefix [0, size) of a log other nodes may extend meanwhile (`cairn verify` on
// a shared PostgreSQL log; `size` is its tree size when the run starts): what VerifyLogPrefix
// checks, unpaced, with the anchor of VerifyLog.
VerifyReport VerifyLogUpTo(storage::LogStore* store, const keys::StorageKeys* keys,
                           const integrity::NoteVerifier& checkpoint_key, uint64_t size,
                           const integrity::Checkpoint* trusted = nullptr);

// The same over the prefix [0, size) of a live log (the scrub): appends may continue meanwhile.
// Checkpoints beyond `size` are left for a later run; a tree state beyond `size` must be
// consistent (RFC 9162, from stored nodes) with the recomputed root at `size`; stream heads that
// moved past `size` are not compared. Paced as `pacing` says (report.stopped when it stops).
VerifyReport VerifyLogPrefix(storage::LogStore* store, const keys::StorageKeys* keys,
                             const integrity::NoteVerifier& checkpoint_key, uint64_t size,
                             const VerifyPacing& pacing);

}  // namespace cairn::engine
