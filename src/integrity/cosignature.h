// C2SP tlog-cosignature/v1 (https://c2sp.org/tlog-cosignature) with Ed25519: a witness's
// signature line on a checkpoint, stating that as of its timestamp the checkpoint is the largest
// consistent tree it has observed for the log.
//
// A cosignature is a signed-note line "— <name> base64(key id || timestamp || signature)":
//   key id    = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]
//   timestamp = u64, big-endian, POSIX seconds (at most 2^63 - 1)
//   signature = Ed25519 over "cosignature/v1\n" || "time <timestamp in decimal>\n" || the note's
//               text (every line before the blank line, with its final newline)
// Cosigner keys use the signed-note key texts (integrity/note.h) with algorithm byte 0x04:
// verifier "<name>+<id hex>+<base64(0x04 || public key)>", signer
// "PRIVATE+KEY+<name>+<id hex>+<base64(0x04 || seed)>".
//
// Errors: key texts kInvalidArgument; a note that is malformed, has no line by the cosigner or
// one that does not verify, kDataLoss. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "integrity/note.h"

namespace cairn::integrity {

inline constexpr uint64_t kCosignatureTimestampMax = (uint64_t{1} << 63) - 1;

// The message a cosignature signs: the header, the time line and the note's text.
std::string CosignedMessage(std::string_view note_text, uint64_t timestamp);

// `note` (a signed note, e.g. a checkpoint) with one more signature line: `cosigner`'s
// cosignature at `timestamp`. kInvalidArgument for a malformed note or a timestamp beyond 2^63-1.
Result<std::string> AddCosignature(std::string_view note, const NoteSigner& cosigner,
                                   uint64_t timestamp);

// The timestamp of `cosigner`'s cosignature on `note` (the latest when it signed more than once;
// every one of its lines must verify). kDataLoss when there is none or one does not verify.
Result<uint64_t> VerifyCosignature(std::string_view note, const NoteVerifier& cosigner);

// `cosigner`'s signature lines on `note`, all verified (each with its final newline); errors as
// VerifyCosignature. What a log keeps of a witness's answer: nothing else that came with it.
Result<std::string> CosignatureLines(std::string_view note, const NoteVerifier& cosigner);

}  // namespace cairn::integrity
