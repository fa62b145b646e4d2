// C2SP signed notes and note keys (integrity/note.h) over hostile text. Each input is tried as a
// note opened with the fixed verifier, as a verifier key text and as a signer key text.
// Properties: never crashes; a note OpenNote accepts was signed by the fixed key (its signature
// lines by that key are exactly the ones the key makes, see CheckSignedByFixedKey) and its text
// is the note up to the blank line; a key text that parses is the canonical text of that key
// (lowercase hex id, canonical base64), so formatting the parsed key gives the input back.
#include "fuzz_util.h"
#include "integrity/note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string_view input = fuzz::AsView(data, size);
  if (auto text = integrity::OpenNote(input, fuzz::FixedNoteVerifier()); text.ok()) {
    FUZZ_CHECK(integrity::IsValidNoteText(*text) && text->ends_with('\n'));
    fuzz::CheckSignedByFixedKey(input, *text);
  }
  if (auto verifier = integrity::ParseVerifierKey(input); verifier.ok()) {
    FUZZ_CHECK(verifier->key_id == integrity::NoteKeyId(verifier->name, verifier->public_key));
    FUZZ_CHECK(integrity::VerifierKeyText(verifier->name, verifier->public_key) == input);
  }
  if (auto signer = integrity::ParseSignerKey(input); signer.ok()) {
    FUZZ_CHECK(integrity::SignerKeyText(signer->name, signer->key).view() == input);
  }
  return 0;
}
