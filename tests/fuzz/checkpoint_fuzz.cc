// C2SP checkpoints (integrity/checkpoint.h) over hostile text: ParseCheckpoint on the input as a
// bare checkpoint body, VerifyCheckpoint on it as a signed note with the fixed verifier.
// Properties: never crashes; the text format is canonical (one decimal spelling of the size, one
// base64 spelling of the root, no empty lines), so a checkpoint that parses formats back to
// exactly the input; a checkpoint that verifies has the fixed key's name as its origin, is the
// parse of the note's text, and that note was signed by the fixed key (CheckSignedByFixedKey).
#include "fuzz_util.h"
#include "integrity/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string_view input = fuzz::AsView(data, size);
  if (auto parsed = integrity::ParseCheckpoint(input); parsed.ok()) {
    FUZZ_CHECK(integrity::ValidateCheckpoint(*parsed).ok());
    FUZZ_CHECK(integrity::FormatCheckpoint(*parsed) == input);
  }
  const integrity::NoteVerifier& verifier = fuzz::FixedNoteVerifier();
  if (auto verified = integrity::VerifyCheckpoint(input, verifier); verified.ok()) {
    FUZZ_CHECK(verified->origin == verifier.name);
    auto text = integrity::OpenNote(input, verifier);
    FUZZ_CHECK(text.ok());
    FUZZ_CHECK(integrity::FormatCheckpoint(*verified) == *text);
    fuzz::CheckSignedByFixedKey(input, *text);
  }
  return 0;
}
