// A witness's cosigner key on the command line: read from its private file (mode 0600, the
// "PRIVATE+KEY+…" text of integrity/note.h with algorithm 0x04), for `cairn checkpoint
// --cosign-key-file` and `cairn witness`.
#pragma once

#include <string>

#include "common/status.h"
#include "integrity/note.h"

namespace cairn::cli {

inline constexpr size_t kWitnessKeyFileSizeBytesMax = 4096;

// kFailedPrecondition for a file group or others may read, kInvalidArgument for a text that is
// not a cosigner key (a log's signer key is refused: algorithm 0x01). Never echoes the key.
Result<integrity::NoteSigner> ReadCosignerKeyFile(const std::string& path);

}  // namespace cairn::cli
