#include "protect/field_cipher.h"

#include <array>
#include <cassert>
#include <vector>

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

namespace {

constexpr std::array<int8_t, 256> MakeBase64Table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}

}  // namespace

bool AppendBase64Decoded(std::string_view in, std::string* out) {
  static constexpr std::array<int8_t, 256> kTable = MakeBase64Table();
  if (in.size() % 4 != 0) return false;
  if (in.empty()) return true;
  const size_t pad = in.back() != '=' ? 0 : in[in.size() - 2] == '=' ? 2 : 1;
  const size_t base = out->size();
  const size_t groups = in.size() / 4;
  out->resize(base + groups * 3);
  auto* dst = reinterpret_cast<unsigned char*>(out->data() + base);
  auto value = [&](size_t i) { return kTable[static_cast<unsigned char>(in[i])]; };
  int bad = 0;  // any negative table value (not in the alphabet, or '=' out of place)
  for (size_t g = 0; g + 1 < groups; ++g) {
    const int a = value(4 * g), b = value(4 * g + 1), c = value(4 * g + 2), d = value(4 * g + 3);
    bad |= a | b | c | d;
    const uint32_t n = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
    dst[3 * g] = static_cast<unsigned char>(n >> 16);
    dst[3 * g + 1] = static_cast<unsigned char>(n >> 8);
    dst[3 * g + 2] = static_cast<unsigned char>(n);
  }
  const size_t last = 4 * (groups - 1);
  const int a = value(last), b = value(last + 1);
  const int c = pad >= 2 ? 0 : value(last + 2);
  const int d = pad >= 1 ? 0 : value(last + 3);
  bad |= a | b | c | d;
  // Canonical form: the bits dropped by padding are zero.
  if (bad < 0 || (pad == 1 && (c & 0x3) != 0) || (pad == 2 && (b & 0xf) != 0)) {
    out->resize(base);
    return false;
  }
  const uint32_t n = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
  dst[3 * (groups - 1)] = static_cast<unsigned char>(n >> 16);
  dst[3 * (groups - 1) + 1] = static_cast<unsigned char>(n >> 8);
  dst[3 * (groups - 1) + 2] = static_cast<unsigned char>(n);
  out->resize(base + groups * 3 - pad);
  return true;
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
  std::vector<StoredFieldMember> members;
  members.reserve(object.size());
  for (const auto& [key, member] : object) {
    StoredFieldMember& m = members.emplace_back();
    m.name = key;
    if (member.is_string()) m.value = *member.get_ptr<const std::string*>();
  }
  return ParseStoredFieldMembers(members);
}

Result<StoredField> ParseStoredFieldMembers(std::span<const StoredFieldMember> members) {
  std::optional<std::string_view> version, kid, iv, ct;
  for (const StoredFieldMember& member : members) {
    std::optional<std::string_view>* slot = member.name == "$enc" ? &version
                                            : member.name == "kid" ? &kid
                                            : member.name == "iv"  ? &iv
                                            : member.name == "ct"  ? &ct
                                                                   : nullptr;
    if (slot == nullptr) {
      return Status::InvalidArgument("protected field has an unexpected member");
    }
    if (!member.value) {
      return Status::InvalidArgument("protected field member '" + std::string(member.name) +
                                     "' is not a string");
    }
    *slot = member.value;
  }
  if (!version || !kid || !iv || !ct) {
    return Status::InvalidArgument("protected field lacks one of $enc, kid, iv, ct");
  }
  if (*version != kEncVersion) {
    return Status::InvalidArgument("protected field has an unknown $enc version");
  }
  if (!IsValidKid(*kid)) return Status::InvalidArgument("protected field has an invalid kid");
  StoredField field;
  field.sealed.reserve(iv->size() / 4 * 3 + ct->size() / 4 * 3);
  if (!AppendBase64Decoded(*iv, &field.sealed) ||
      field.sealed.size() != crypto::kGcmIvSizeBytes) {
    return Status::InvalidArgument("protected field has an invalid iv");
  }
  if (!AppendBase64Decoded(*ct, &field.sealed) ||
      field.sealed.size() < crypto::kGcmIvSizeBytes + crypto::kGcmTagSizeBytes) {
    return Status::InvalidArgument("protected field has an invalid ct");
  }
  field.kid = std::string(*kid);
  return field;
}

namespace {

// A fresh seal (iv || ciphertext || tag) of `plaintext`, in a per-thread buffer that the next
// call overwrites. Only ciphertext and the public IV are kept there.
Result<std::string_view> Seal(crypto::AesGcm& gcm, std::string_view aad,
                              std::string_view plaintext) {
  thread_local std::string sealed;
  sealed.clear();
  CAIRN_RETURN_IF_ERROR(gcm.Seal(aad, plaintext, &sealed));
  assert(sealed.size() == crypto::kGcmOverheadBytes + plaintext.size());
  return std::string_view(sealed);
}

// `s` (printable ASCII or base64) as the body of a JSON string, escaped as DumpDocument does.
void AppendAsciiJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

Result<Json> SealField(crypto::AesGcm& gcm, std::string_view kid, std::string_view aad,
                       std::string_view plaintext) {
  CAIRN_ASSIGN_OR_RETURN(std::string_view sealed, Seal(gcm, aad, plaintext));
  Json stored(Json::value_t::object);
  stored["$enc"] = kEncVersion;
  stored["kid"] = kid;
  stored["iv"] = Base64Encode(sealed.substr(0, crypto::kGcmIvSizeBytes));
  stored["ct"] = Base64Encode(sealed.substr(crypto::kGcmIvSizeBytes));
  return stored;
}

Result<std::string> SealFieldText(crypto::AesGcm& gcm, std::string_view kid,
                                  std::string_view aad, std::string_view plaintext) {
  assert(IsValidKid(kid));
  CAIRN_ASSIGN_OR_RETURN(std::string_view sealed, Seal(gcm, aad, plaintext));
  const std::string_view iv = sealed.substr(0, crypto::kGcmIvSizeBytes);
  const std::string_view ct = sealed.substr(crypto::kGcmIvSizeBytes);
  std::string out;
  out.reserve(40 + kid.size() + (iv.size() + 2) / 3 * 4 + (ct.size() + 2) / 3 * 4);
  out += "{\"$enc\":\"";
  out += kEncVersion;
  out += "\",\"kid\":";
  AppendAsciiJsonString(&out, kid);
  out += ",\"iv\":\"";
  AppendBase64(AsBytes(iv), &out);
  out += "\",\"ct\":\"";
  AppendBase64(AsBytes(ct), &out);
  out += "\"}";
  return out;
}

}  // namespace cairn::protect
