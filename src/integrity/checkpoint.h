// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head.
//
// The note text is "<origin>\n<decimal tree size>\n<base64 root>\n" followed by zero or more
// non-empty extension lines, each ending in "\n". By C2SP convention, and as a rule here, the
// checkpoint is signed by a key whose name equals the origin: SignCheckpoint refuses another
// signer and VerifyCheckpoint rejects a checkpoint whose origin is not the verifier's key name,
// so a valid signature from log A can never vouch for a tree head claiming to be log B.
//
// ParseCheckpoint and VerifyCheckpoint fail with kDataLoss on anything malformed; the formatting
// side fails with kInvalidArgument. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "integrity/entry.h"
#include "integrity/note.h"

namespace cairn::integrity {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extension_lines;  // each non-empty, without its newline

  bool operator==(const Checkpoint&) const = default;
};

// kInvalidArgument unless the origin and every extension line are non-empty note text without
// newlines.
Status ValidateCheckpoint(const Checkpoint& checkpoint);
// Requires ValidateCheckpoint(checkpoint).ok().
std::string FormatCheckpoint(const Checkpoint& checkpoint);
Result<Checkpoint> ParseCheckpoint(std::string_view text);

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer);
Result<Checkpoint> VerifyCheckpoint(std::string_view note, const NoteVerifier& verifier);

}  // namespace cairn::integrity
