// The files that anchor verification outside the store, for `cairn verify` and
// `cairn subscribe --verify`: the pinned verifier key (--verifier-key-file) and the checkpoint
// kept between runs (--checkpoint-file). Whoever can change them decides what is trusted, so both
// are read only when they are the user's own (ReadOwnedFile).
//
// Thread safety: the functions keep no state; two processes keeping one checkpoint file are
// serialised by ReplaceKeptCheckpoint.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::cli {

inline constexpr size_t kVerifierKeyFileSizeBytesMax = 4096;
// How long ReplaceKeptCheckpoint waits for another cairn process keeping a checkpoint file in the
// same directory.
inline constexpr int kKeptCheckpointLockWaitMsMax = 10000;

// The pinned key line: `key`, or the content of `key_file` with trailing whitespace dropped; ""
// when neither is given. kInvalidArgument when both are.
Result<std::string> PinnedVerifierKey(const std::string& key, const std::string& key_file);

// The signed note kept in `path`; "" when the file does not exist yet. An error naming
// --checkpoint-file for a file that is too large (kResourceExhausted), not a regular file, or not
// the user's (ReadOwnedFile).
Result<std::string> ReadKeptCheckpoint(const std::string& path, size_t size_bytes_max);

// Replaces the note kept in `path` with `note` (mode 0644, atomically, durably) if the file still
// holds `expected` ("": it does not exist). Returns false and leaves the file as it is when
// another run changed it since this one read it: with two runs on one file, the one that ends
// last must not move the anchor back to what it verified before the other's. The comparison and
// the replacement are one step among cairn processes (an flock(2) on the file's directory,
// waited for at most kKeptCheckpointLockWaitMsMax, kUnavailable after that; where the file
// system offers no flock on it, e.g. NFS, the comparison runs without it).
Result<bool> ReplaceKeptCheckpoint(const std::string& path, std::string_view expected,
                                   std::string_view note);

}  // namespace cairn::cli
