#include "protect/field_cipher.h"

#include <cassert>

#include "common/bytes.h"
#include "keys/subject_key_source.h"

namespace cairn::protect {

std::string FieldAad(std::string_view stream_id, std::string_view event_id16,
                     std::string_view json_pointer, std::string_view kid) {
  assert(event_id16.size() == kEventIdSizeBytes);
  std::string aad;
  aad.reserve(kFieldAadLabel.size() + 12 + stream_id.size() + event_id16.size() +
              json_pointer.size() + kid.size());
  aad.append(kFieldAadLabel);
  PutLengthPrefixed(&aad, stream_id);
  aad.append(event_id16);
  PutLengthPrefixed(&aad, json_pointer);
  PutLengthPrefixed(&aad, kid);
  return aad;
}

bool IsEncObject(const Json& value) { return value.is_object() && value.contains("$enc"); }

bool IsValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > keys::kSubjectKidSizeBytesMax) return false;
  for (char c : kid) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

Result<StoredField> ParseStoredField(const Json& value) {
  if (!value.is_object()) return Status::InvalidArgument("protected field is not an object");
  const auto& object = *value.get_ptr<const Json::object_t*>();
  const std::string* version = nullptr;
  const std::string* kid = nullptr;
  const std::string* iv = nullptr;
  const std::string* ct = nullptr;
  for (const auto& [key, member] : object) {
    const std::string** slot = key == "$enc" ? &version
                               : key == "kid" ? &kid
                               : key == "iv"  ? &iv
                               : key == "ct"  ? &ct
                                              : nullptr;
    if (slot == nullptr) {
      return Status::InvalidArgument("protected field has an unexpected member");
    }
    if (!member.is_string()) {
      return Status::InvalidArgument("protected field member '" + key + "' is not a string");
    }
    *slot = member.get_ptr<const std::string*>();
  }
  if (version == nullptr || kid == nullptr || iv == nullptr || ct == nullptr) {
    return Status::InvalidArgument("protected field lacks one of $enc, kid, iv, ct");
  }
  if (*version != kEncVersion) {
    return Status::InvalidArgument("protected field has an unknown $enc version");
  }
  if (!IsValidKid(*kid)) return Status::InvalidArgument("protected field has an invalid kid");
  std::optional<std::string> iv_bytes = Base64Decode(*iv);
  if (!iv_bytes || iv_bytes->size() != crypto::kGcmIvSizeBytes) {
    return Status::InvalidArgument("protected field has an invalid iv");
  }
  std::optional<std::string> ct_bytes = Base64Decode(*ct);
  if (!ct_bytes || ct_bytes->size() < crypto::kGcmTagSizeBytes) {
    return Status::InvalidArgument("protected field has an invalid ct");
  }
  StoredField field;
  field.kid = *kid;
  field.sealed = std::move(*iv_bytes);
  field.sealed += *ct_bytes;
  return field;
}

Result<Json> SealField(crypto::AesGcm& gcm, std::string_view kid, std::string_view aad,
                       std::string_view plaintext) {
  std::string sealed;
  CAIRN_RETURN_IF_ERROR(gcm.Seal(aad, plaintext, &sealed));
  assert(sealed.size() == crypto::kGcmOverheadBytes + plaintext.size());
  const std::string_view view = sealed;
  Json stored(Json::value_t::object);
  stored["$enc"] = kEncVersion;
  stored["kid"] = kid;
  stored["iv"] = Base64Encode(view.substr(0, crypto::kGcmIvSizeBytes));
  stored["ct"] = Base64Encode(view.substr(crypto::kGcmIvSizeBytes));
  return stored;
}

}  // namespace cairn::protect
