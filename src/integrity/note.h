// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.
//
// A signed note is a text ending in "\n", a blank line, then one or more signature lines
// "— <key name> <base64(4-byte key id || 64-byte signature)>\n" (U+2014 EM DASH, then a space).
// The signature covers the text including its final newline. Key names are non-empty UTF-8
// without spaces, '+' or control characters. Key id = the first 4 bytes (big-endian) of
// SHA-256(name || 0x0A || 0x01 || public key). Key texts:
//   verifier: <name>+<8 lowercase hex digits of the key id>+<base64(0x01 || public key)>
//   signer:   PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>
//
// Parsing of keys fails with kInvalidArgument (they come from configuration). OpenNote fails
// with kDataLoss for a malformed note, for any signature by the given key that does not verify,
// and when no signature by the key is present; lines by other keys are checked for syntax and
// otherwise ignored. Messages name keys, never key bytes. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/secure.h"

namespace cairn::integrity {

inline constexpr uint8_t kNoteAlgorithmEd25519 = 0x01;
// C2SP tlog-cosignature/v1 with Ed25519 (integrity/cosignature.h): the same key texts and key id
// rule with this algorithm byte.
inline constexpr uint8_t kCosignatureAlgorithmEd25519 = 0x04;
inline constexpr size_t kNoteSignatureLinesMax = 100;
inline constexpr size_t kNoteSizeBytesMax = 1 << 20;  // defensive cap on untrusted input
// A signature's key id: the first 4 bytes of SHA-256(name || 0x0A || algorithm || public key).
inline constexpr size_t kNoteKeyIdSizeBytes = 4;
// Starts every signature line: U+2014 EM DASH (E2 80 94) and a space.
inline constexpr std::string_view kNoteSignaturePrefix = "\xE2\x80\x94 ";

struct NoteVerifier {
  std::string name;
  uint32_t key_id = 0;
  std::string public_key;  // 32 bytes
};

struct NoteSigner {
  std::string name;
  crypto::Ed25519PrivateKey key;
};

// Non-empty, valid UTF-8, no Unicode space, no '+', no control character: the names cairn
// makes and accepts for its own keys.
bool IsValidNoteKeyName(std::string_view name);
// The C2SP signed-note rule for a name on a signature line, which any signer's may follow:
// non-empty, valid UTF-8, no Unicode space, no '+' (DEL and C1 characters allowed; the note
// text check refuses the rest of the controls).
bool IsValidNoteSignerName(std::string_view name);
// Valid UTF-8 without ASCII control characters other than '\n'.
bool IsValidNoteText(std::string_view text);

// `algorithm`: kNoteAlgorithmEd25519 for note signers (the log's checkpoint key), or
// kCosignatureAlgorithmEd25519 for cosigners (witnesses); a key of one is refused as the other.
uint32_t NoteKeyId(std::string_view name, std::string_view public_key,
                   uint8_t algorithm = kNoteAlgorithmEd25519);
// Requires a valid name and a 32-byte public key.
std::string VerifierKeyText(std::string_view name, std::string_view public_key,
                            uint8_t algorithm = kNoteAlgorithmEd25519);
// The signer key text holds the seed: it is returned in wiped memory.
crypto::SecureBytes SignerKeyText(std::string_view name, const crypto::Ed25519PrivateKey& key,
                                  uint8_t algorithm = kNoteAlgorithmEd25519);

Result<NoteVerifier> ParseVerifierKey(std::string_view text,
                                      uint8_t algorithm = kNoteAlgorithmEd25519);
Result<NoteSigner> ParseSignerKey(std::string_view text, uint8_t algorithm = kNoteAlgorithmEd25519);
NoteVerifier VerifierForSigner(const NoteSigner& signer, uint8_t algorithm = kNoteAlgorithmEd25519);

// `text` must be non-empty, end in '\n' and pass IsValidNoteText (else kInvalidArgument).
Result<std::string> SignNote(std::string_view text, const NoteSigner& signer);
// Returns the note's text (with its final newline) when it carries a valid signature by
// `verifier`.
Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier);
// The note as OpenNote accepts it, reduced to its text and the signature lines by `verifier`
// (other signers' lines, e.g. witness cosignatures, dropped): what a consumer keeps as trusted,
// bounded by the text rather than by what else a server attached. Errors as OpenNote.
Result<std::string> NoteSignedOnlyBy(std::string_view note, const NoteVerifier& verifier);

// OpenNote with another signature scheme (integrity/cosignature.cc): `check(text, signature)`
// decides each line by (verifier.name, verifier.key_id), all of which must pass; `signature` is
// the line's bytes after the key id. With `own_lines`, those lines are appended to it.
using NoteSignatureCheck = std::function<bool(std::string_view text, std::string_view signature)>;
Result<std::string> OpenNoteWith(std::string_view note, const NoteVerifier& verifier,
                                 const NoteSignatureCheck& check, std::string* own_lines);

}  // namespace cairn::integrity
