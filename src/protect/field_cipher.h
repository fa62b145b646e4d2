// One protected field: the stored form and its AAD (DESIGN.md, Keys and data protection).
//
// Stored form (a JSON object replacing the field's value, members in this order):
//   {"$enc":"v1","kid":"<subject key id>","iv":"<base64, 12 bytes>","ct":"<base64, ciphertext||tag>"}
// AES-256-GCM under the subject key `kid`; the plaintext is the field value's compact JSON text;
// iv is 96 random bits from the CSPRNG per field (crypto::AesGcm::Seal), tag 16 bytes. Base64 is
// the standard alphabet, padded (common/bytes.h).
//
// AAD byte layout. DESIGN.md writes "cairn-field-v1" || stream_id || event_id || json_pointer ||
// kid; a bare concatenation of several variable-length strings is ambiguous (stream "ab" with
// pointer "/c" could collide with another split of the same bytes), so every variable-length part
// carries a 4-byte big-endian length prefix:
//   "cairn-field-v1"            14 bytes, ASCII, no prefix
//   u32be(len) || stream_id     the stream id bytes
//   event_id                    16 raw bytes (UUID, RFC 4122 byte order), no prefix
//   u32be(len) || json_pointer  the RFC 6901 text of the field's location, escaped form ("/a~1b")
//   u32be(len) || kid           the subject key id
// A ciphertext cut from one event and pasted into another stream, event, pointer, or relabelled
// with another kid fails to decrypt (kDataLoss).
//
// Thread safety: pure functions; an AesGcm passed in is used by one thread at a time.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "protect/json_document.h"

namespace cairn::protect {

inline constexpr std::string_view kFieldAadLabel = "cairn-field-v1";
inline constexpr std::string_view kEncVersion = "v1";
inline constexpr size_t kEventIdSizeBytes = 16;
inline constexpr size_t kStoredFieldMembersMax = 4;  // $enc, kid, iv, ct

// The AAD above. `event_id16` must be 16 bytes (asserted).
std::string FieldAad(std::string_view stream_id, std::string_view event_id16,
                     std::string_view json_pointer, std::string_view kid);

// True when `value` is an object with a "$enc" member (well-formed or not): such an object is a
// protected field and never plaintext.
bool IsEncObject(const Json& value);

// A stored field, parsed and checked for form (not yet authenticated).
struct StoredField {
  std::string kid;
  std::string sealed;  // iv || ciphertext || tag, as crypto::AesGcm::Open takes it
};

// kInvalidArgument naming what is wrong (never content) when `value` is not exactly the stored
// form: members $enc="v1", kid (printable ASCII, 1..keys::kSubjectKidSizeBytesMax), iv (base64 of
// 12 bytes), ct (base64 of at least the 16-byte tag), and no other member.
Result<StoredField> ParseStoredField(const Json& value);

// The same checks on an object's members given as (name, value): the value is nullopt when the
// member is not a JSON string, else the string's (unescaped) content.
struct StoredFieldMember {
  std::string_view name;
  std::optional<std::string_view> value;
};
Result<StoredField> ParseStoredFieldMembers(std::span<const StoredFieldMember> members);

// Appends the bytes of `in`, canonical padded standard base64 (common/bytes.h's Base64Decode
// rules), to *out without a temporary; false (and *out unchanged) when `in` is not canonical.
bool AppendBase64Decoded(std::string_view in, std::string* out);

// A kid is 1..keys::kSubjectKidSizeBytesMax bytes of printable ASCII (0x21..0x7e).
bool IsValidKid(std::string_view kid);

// Encrypts `plaintext` under `gcm` and returns the stored form.
Result<Json> SealField(crypto::AesGcm& gcm, std::string_view kid, std::string_view aad,
                       std::string_view plaintext);
// Same, as compact JSON text: byte for byte SealField's result through DumpDocument.
Result<std::string> SealFieldText(crypto::AesGcm& gcm, std::string_view kid, std::string_view aad,
                                  std::string_view plaintext);

}  // namespace cairn::protect
