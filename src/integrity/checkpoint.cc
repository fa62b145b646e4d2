#include "integrity/checkpoint.h"

#include <cassert>
#include <optional>

#include "common/bytes.h"
#include "common/decimal.h"

namespace cairn::integrity {
namespace {

bool IsValidLine(std::string_view line) {
  return !line.empty() && line.find('\n') == std::string_view::npos && IsValidNoteText(line);
}

// Splits text that ends in '\n' into its lines (without newlines).
std::vector<std::string_view> SplitLines(std::string_view text) {
  assert(!text.empty() && text.back() == '\n');
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  return lines;
}

}  // namespace

Status ValidateCheckpoint(const Checkpoint& checkpoint) {
  if (!IsValidLine(checkpoint.origin)) {
    return Status::InvalidArgument("checkpoint origin must be one non-empty line of text");
  }
  for (const std::string& line : checkpoint.extension_lines) {
    if (!IsValidLine(line)) {
      return Status::InvalidArgument("checkpoint extension lines must be non-empty text lines");
    }
  }
  return Status::Ok();
}

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  assert(ValidateCheckpoint(checkpoint).ok());
  std::string text = checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
                     Base64Encode(checkpoint.root) + "\n";
  for (const std::string& line : checkpoint.extension_lines) text += line + "\n";
  return text;
}

Result<Checkpoint> ParseCheckpoint(std::string_view text) {
  if (text.empty() || text.back() != '\n' || !IsValidNoteText(text)) {
    return Status::DataLoss("checkpoint is not UTF-8 text lines ending in a newline");
  }
  std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < 3) return Status::DataLoss("checkpoint needs origin, size and root lines");
  for (std::string_view line : lines) {
    if (line.empty()) return Status::DataLoss("checkpoint has an empty line");
  }
  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  std::optional<uint64_t> size = ParseDecimal(lines[1]);
  if (!size) return Status::DataLoss("checkpoint tree size is not a canonical decimal number");
  checkpoint.size = *size;
  std::optional<std::string> root = Base64Decode(lines[2]);
  if (!root || root->size() != crypto::kSha256SizeBytes) {
    return Status::DataLoss("checkpoint root is not the base64 of 32 bytes");
  }
  checkpoint.root = crypto::HashFromBytes(*root);
  for (size_t i = 3; i < lines.size(); ++i) checkpoint.extension_lines.emplace_back(lines[i]);
  assert(FormatCheckpoint(checkpoint) == text);
  return checkpoint;
}

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer) {
  CAIRN_RETURN_IF_ERROR(ValidateCheckpoint(checkpoint));
  if (checkpoint.origin != signer.name) {
    return Status::InvalidArgument("checkpoint origin " + checkpoint.origin +
                                   " is not the signing key's name " + signer.name);
  }
  return SignNote(FormatCheckpoint(checkpoint), signer);
}

Result<Checkpoint> VerifyCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, OpenNote(note, verifier));
  CAIRN_ASSIGN_OR_RETURN(Checkpoint checkpoint, ParseCheckpoint(text));
  if (checkpoint.origin != verifier.name) {
    return Status::DataLoss("checkpoint origin " + checkpoint.origin +
                            " is not the verifier key's name " + verifier.name);
  }
  return checkpoint;
}

}  // namespace cairn::integrity
