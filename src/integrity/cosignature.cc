#include "integrity/cosignature.h"

#include <algorithm>
#include <cassert>

#include "common/bytes.h"
#include "crypto/ed25519.h"

namespace cairn::integrity {
namespace {

constexpr std::string_view kCosignatureHeader = "cosignature/v1\n";
constexpr size_t kTimestampSizeBytes = 8;

// The note's text (up to and with the newline before the blank line); nullopt when malformed.
std::optional<std::string_view> NoteText(std::string_view note) {
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return std::nullopt;
  return note.substr(0, split + 1);
}

}  // namespace

std::string CosignedMessage(std::string_view note_text, uint64_t timestamp) {
  std::string message(kCosignatureHeader);
  message += "time ";
  message += std::to_string(timestamp);
  message += '\n';
  message += note_text;
  return message;
}

Result<std::string> AddCosignature(std::string_view note, const NoteSigner& cosigner,
                                   uint64_t timestamp) {
  if (timestamp > kCosignatureTimestampMax) {
    return Status::InvalidArgument("a cosignature timestamp must be at most 2^63 - 1");
  }
  if (!IsValidNoteKeyName(cosigner.name)) return Status::InvalidArgument("invalid cosigner key name");
  if (note.size() > kNoteSizeBytesMax || !IsValidNoteText(note) || note.empty() ||
      note.back() != '\n') {
    return Status::InvalidArgument("not a signed note");
  }
  std::optional<std::string_view> text = NoteText(note);
  if (!text) return Status::InvalidArgument("not a signed note: no blank line before its signatures");
  CAIRN_ASSIGN_OR_RETURN(std::string signature, cosigner.key.Sign(CosignedMessage(*text, timestamp)));
  assert(signature.size() == crypto::kEd25519SignatureSizeBytes);
  std::string blob;
  PutU32(&blob, NoteKeyId(cosigner.name, cosigner.key.public_key(), kCosignatureAlgorithmEd25519));
  PutU64(&blob, timestamp);
  blob += signature;
  std::string out(note);
  out += kNoteSignaturePrefix;
  out += cosigner.name;
  out += ' ';
  out += Base64Encode(blob);
  out += '\n';
  if (out.size() > kNoteSizeBytesMax) return Status::InvalidArgument("note is too large");
  return out;
}

namespace {

// Opens `note` with `cosigner`'s cosignature check; the latest timestamp of its lines.
Result<uint64_t> OpenCosigned(std::string_view note, const NoteVerifier& cosigner,
                              std::string* own_lines) {
  uint64_t latest = 0;
  auto check = [&](std::string_view text, std::string_view signature) {
    if (signature.size() != kTimestampSizeBytes + crypto::kEd25519SignatureSizeBytes) return false;
    const uint64_t timestamp = DecodeU64(signature.data());
    if (timestamp > kCosignatureTimestampMax) return false;
    if (!crypto::Ed25519Verify(cosigner.public_key, CosignedMessage(text, timestamp),
                               signature.substr(kTimestampSizeBytes))) {
      return false;
    }
    latest = std::max(latest, timestamp);
    return true;
  };
  CAIRN_RETURN_IF_ERROR(OpenNoteWith(note, cosigner, check, own_lines).status());
  return latest;
}

}  // namespace

Result<uint64_t> VerifyCosignature(std::string_view note, const NoteVerifier& cosigner) {
  return OpenCosigned(note, cosigner, nullptr);
}

Result<std::string> CosignatureLines(std::string_view note, const NoteVerifier& cosigner) {
  std::string lines;
  CAIRN_RETURN_IF_ERROR(OpenCosigned(note, cosigner, &lines).status());
  return lines;
}

}  // namespace cairn::integrity
