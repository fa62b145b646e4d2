// Helpers shared by the fuzz targets of tests/fuzz. A fuzz target must never crash, leak, hang or
// trip a sanitizer on any input; a property it checks that fails aborts through FUZZ_CHECK, which
// libFuzzer reports as a crash (and the replayer as a failed test).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "integrity/note.h"

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace cairn::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// --- The fixed signed-note key of the note and checkpoint targets ---------------------------
// A test key whose seed is public (it is right here): the committed seed notes and checkpoints are
// signed by it. Its name is also the checkpoint origin, as VerifyCheckpoint requires.
inline constexpr std::string_view kFixedNoteKeyName = "fuzz.cairn.test/log";
inline constexpr std::string_view kFixedNoteSeed = "cairn fuzz note key seed, public";  // 32 B

inline const integrity::NoteSigner& FixedNoteSigner() {
  static const integrity::NoteSigner signer = [] {
    auto key = crypto::Ed25519PrivateKey::FromSeed(kFixedNoteSeed);
    FUZZ_CHECK(key.ok());
    return integrity::NoteSigner{std::string(kFixedNoteKeyName), std::move(key).value()};
  }();
  return signer;
}

inline const integrity::NoteVerifier& FixedNoteVerifier() {
  static const integrity::NoteVerifier verifier = integrity::VerifierForSigner(FixedNoteSigner());
  return verifier;
}

// Checks that `note`, which OpenNote accepted with FixedNoteVerifier() and whose text is `text`,
// was signed by the fixed key: Ed25519 signing is deterministic and the fuzzer does not hold the
// key, so every signature line naming the fixed key (name and key id) must be exactly the line
// the key itself puts under `text`, and there must be at least one.
inline void CheckSignedByFixedKey(std::string_view note, std::string_view text) {
  FUZZ_CHECK(note.size() > text.size() && note.substr(0, text.size()) == text);
  FUZZ_CHECK(note[text.size()] == '\n');
  auto signed_text = integrity::SignNote(text, FixedNoteSigner());
  FUZZ_CHECK(signed_text.ok());
  const std::string expected_line = signed_text->substr(text.size() + 1);  // ends in '\n'
  const std::string name_prefix =
      std::string(integrity::kNoteSignaturePrefix) + std::string(kFixedNoteKeyName) + " ";
  std::string_view lines = note.substr(text.size() + 1);
  size_t by_fixed_key = 0;
  for (size_t n = 0; !lines.empty() && n <= integrity::kNoteSignatureLinesMax; ++n) {
    const size_t end = lines.find('\n');
    FUZZ_CHECK(end != std::string_view::npos);
    const std::string_view line = lines.substr(0, end + 1);
    lines.remove_prefix(end + 1);
    if (!line.starts_with(name_prefix)) continue;
    auto blob = Base64Decode(line.substr(name_prefix.size(), line.size() - name_prefix.size() - 1));
    if (!blob || blob->size() < 4 || DecodeU32(blob->data()) != FixedNoteVerifier().key_id) continue;
    FUZZ_CHECK(line == expected_line);
    ++by_fixed_key;
  }
  FUZZ_CHECK(lines.empty() && by_fixed_key > 0);
}

}  // namespace cairn::fuzz
