// The incremental check of the scrub (engine/scrubber.h): verifies the committed records
// [from, to) of a live log without reading the prefix before them.
//
// For each record: it is stored at its position and decrypts there, its entry names that
// position, its data and metadata hashes match the stored bytes, and its stream chain links:
// stream_prev is zero at version 0, else the leaf hash of the stream's previous event — taken
// from the range itself, or, for a predecessor before `from`, the stored leaf hash at the position
// the stream index names for the previous version, whose record is opened too: it must check, be
// that version of that stream, hash to that stored leaf, and not be a tombstone (so an event right
// after a tombstone is caught whether or not the tombstone is in the range). The stream index must map the
// record's (stream, version) to its position.
// For the range: the leaf hashes and every Merkle node the range completes equal what is stored
// (proofs are served from those nodes); starting from the compact range of [0, from) read from
// stored nodes, the recomputed root equals the root of the stored tree state and of the latest
// stored checkpoint when either ends inside (from, to] (or at `from`); when either ends beyond
// `to` (a live log moved on, a checkpoint signed since), it must extend the recomputed tree (an
// RFC 9162 consistency proof from stored nodes), so every step is bound to the latest signed root.
// Stops at the first failure and names the position and what failed (a predecessor before
// `from` that does not check is named at its own position) (identifiers only: positions,
// stream ids, node ids; never payload bytes).
//
// Requires from <= to <= the committed tree size and to - from <= kVerifyChunkRecordsMax
// (else the report fails with a message saying so). Thread safety: reads only; safe while
// appends continue.
#pragma once

#include <cstdint>

#include "engine/event_store.h"
#include "integrity/note.h"
#include "keys/storage_keys.h"
#include "storage/log_store.h"

namespace cairn::engine {

VerifyReport VerifyLogRange(storage::LogStore* store, const keys::StorageKeys* keys,
                            const integrity::NoteVerifier& checkpoint_key, uint64_t from,
                            uint64_t to);

}  // namespace cairn::engine
