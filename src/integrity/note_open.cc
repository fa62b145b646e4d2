// OpenNote: parsing and verifying a signed note from untrusted bytes.
#include <cassert>
#include <optional>

#include "common/bytes.h"
#include "integrity/note.h"

namespace cairn::integrity {
namespace {


struct SignatureLine {
  std::string_view name;
  uint32_t key_id;
  std::string signature;  // without the key id
};

// "— <name> <base64(key id || signature)>" without its newline.
Result<SignatureLine> ParseSignatureLine(std::string_view line) {
  if (!line.starts_with(kNoteSignaturePrefix)) {
    return Status::DataLoss("note signature line does not start with an em dash and a space");
  }
  line.remove_prefix(kNoteSignaturePrefix.size());
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) {
    return Status::DataLoss("note signature line has no space between name and signature");
  }
  std::string_view name = line.substr(0, space);
  // The spec's rule, not cairn's stricter one: another signer's line must not fail the note.
  if (!IsValidNoteSignerName(name)) return Status::DataLoss("note signature has an invalid key name");
  std::optional<std::string> blob = Base64Decode(line.substr(space + 1));
  if (!blob || blob->size() <= kNoteKeyIdSizeBytes) {
    return Status::DataLoss("note signature by " + std::string(name) + " is not valid base64");
  }
  return SignatureLine{name, DecodeU32(blob->data()), blob->substr(kNoteKeyIdSizeBytes)};
}

}  // namespace

// OpenNote; with `own_lines`, also the signature lines by `verifier` (each with its newline).
Result<std::string> OpenNoteWith(std::string_view note, const NoteVerifier& verifier,
                                 const NoteSignatureCheck& check, std::string* own_lines) {
  if (note.size() > kNoteSizeBytesMax) return Status::DataLoss("note is larger than 1 MiB");
  if (!IsValidNoteText(note)) {
    return Status::DataLoss("note is not UTF-8 text without control characters");
  }
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return Status::DataLoss("note has no blank line before its signatures");
  }
  const std::string_view text = note.substr(0, split + 1);
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') {
    return Status::DataLoss("note signature block is empty or does not end in a newline");
  }
  size_t lines = 0;
  bool verified = false;
  while (!signatures.empty()) {
    const size_t newline = signatures.find('\n');
    assert(newline != std::string_view::npos);
    const std::string_view line = signatures.substr(0, newline);
    signatures.remove_prefix(newline + 1);
    if (++lines > kNoteSignatureLinesMax) {
      return Status::DataLoss("note has more than 100 signature lines");
    }
    CAIRN_ASSIGN_OR_RETURN(SignatureLine signature, ParseSignatureLine(line));
    if (signature.name != verifier.name || signature.key_id != verifier.key_id) continue;
    // Every line by this key must verify, not just one: a bad one means tampering.
    if (!check(text, signature.signature)) {
      return Status::DataLoss("note signature by " + verifier.name + " does not verify");
    }
    verified = true;
    if (own_lines != nullptr) own_lines->append(line).push_back('\n');
  }
  if (!verified) return Status::DataLoss("note has no signature by key " + verifier.name);
  return std::string(text);
}

namespace {
NoteSignatureCheck Ed25519NoteCheck(const NoteVerifier& verifier) {
  return [&verifier](std::string_view text, std::string_view signature) {
    return crypto::Ed25519Verify(verifier.public_key, text, signature);
  };
}
}  // namespace

Result<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier) {
  return OpenNoteWith(note, verifier, Ed25519NoteCheck(verifier), nullptr);
}

Result<std::string> NoteSignedOnlyBy(std::string_view note, const NoteVerifier& verifier) {
  std::string own;
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         OpenNoteWith(note, verifier, Ed25519NoteCheck(verifier), &own));
  assert(!own.empty());
  return text + "\n" + own;
}

}  // namespace cairn::integrity
