#include "protect/protector.h"

#include <utility>

#include "crypto/secure.h"
#include "protect/protector_paths.h"

namespace cairn::protect {
namespace internal {

std::string FormatEventId(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    if (id.size() == kEventIdSizeBytes && (i == 4 || i == 6 || i == 8 || i == 10)) {
      out.push_back('-');
    }
    const auto b = static_cast<unsigned char>(id[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string Where(std::string_view stream_id, std::string_view event_id16,
                  std::string_view pointer) {
  return "stream '" + std::string(stream_id) + "' event " + FormatEventId(event_id16) +
         " field " + std::string(pointer);
}

Result<std::string> CheckSubject(const Rule& rule, const SubjectValue& value,
                                 std::string_view append_subject) {
  const std::string prefix = "event type " + rule.event_type + " needs a subject: ";
  if (rule.subject_from_append) {
    if (append_subject.empty()) {
      return Status::InvalidArgument(prefix + "the append's subject attribute ($subject) is missing");
    }
    if (append_subject.size() > keys::kSubjectIdSizeBytesMax) {
      return Status::InvalidArgument(prefix + "the append's subject attribute is longer than " +
                                     std::to_string(keys::kSubjectIdSizeBytesMax) + " bytes");
    }
    return std::string(append_subject);
  }
  const std::string& name = rule.subject.text();
  switch (value.kind) {
    case SubjectValue::Kind::kMissing:
      return Status::InvalidArgument(prefix + name + " is missing");
    case SubjectValue::Kind::kOther:
      return Status::InvalidArgument(prefix + name + " is not a string or an integer");
    case SubjectValue::Kind::kString:
    case SubjectValue::Kind::kInteger:
      break;
  }
  if (value.text.empty()) return Status::InvalidArgument(prefix + name + " is empty");
  if (value.text.size() > keys::kSubjectIdSizeBytesMax) {
    return Status::InvalidArgument(prefix + name + " is longer than " +
                                   std::to_string(keys::kSubjectIdSizeBytesMax) + " bytes");
  }
  return value.text;
}

Status EncInDataError(const Rule& rule) {
  return Status::InvalidArgument(
      "event type " + rule.event_type +
      ": data contains a \"$enc\" member; protected-field objects are made by the server only");
}

Status BlockedFieldError(const Rule& rule, const JsonPointer& field) {
  return Status::InvalidArgument(
      "event type " + rule.event_type + ": protected field " + field.text() +
      " is blocked by a value that is not an object (or an array named by index); its personal "
      "data would be stored in the clear");
}

Status DataNotJsonError(const Rule& rule, const Status& parse_error) {
  return Status::InvalidArgument("event type " + rule.event_type +
                                 ": data is not acceptable JSON: " + parse_error.message());
}

Status StoredNotJsonError(std::string_view stream_id, std::string_view event_id16,
                          const Status& parse_error) {
  return Status::DataLoss("stream '" + std::string(stream_id) + "' event " +
                          FormatEventId(event_id16) + ": stored data of a protected event type "
                          "is not acceptable JSON: " + parse_error.message());
}

Result<keys::SubjectKey> KeyForWrite(const Rule& rule, std::string_view subject,
                                     keys::SubjectKeySource& keys) {
  Result<keys::SubjectKey> key = keys.KeyForWrite(subject);
  if (!key.ok()) {
    return key.status().Annotate("event type " + rule.event_type + ": subject key");
  }
  if (!IsValidKid(key->kid) || key->key == nullptr ||
      key->key->size() != crypto::kAes256KeySizeBytes) {
    return Status::Internal("the subject key source returned a malformed key");
  }
  return key;
}

Result<crypto::AesGcm*> EventKeys::For(std::string_view kid, std::string_view pointer) {
  for (Entry& e : entries_) {
    if (e.kid == kid) return e.lease ? &e.lease->gcm() : nullptr;
  }
  Entry fresh{std::string(kid), std::nullopt};
  Result<keys::SubjectKey> key = keys_.KeyForRead(kid);
  if (key.ok()) {
    if (key->key == nullptr || key->key->size() != crypto::kAes256KeySizeBytes) {
      return Status::Internal("the subject key source returned a malformed key");
    }
    CAIRN_ASSIGN_OR_RETURN(CipherCache::Lease lease,
                           CipherCache::Borrow(ciphers_, std::move(key->key)));
    fresh.lease.emplace(std::move(lease));
  } else if (key.status().code() != StatusCode::kNotFound) {
    return key.status().Annotate(Where(stream_id_, event_id16_, pointer) + ": key " +
                                 std::string(kid));
  }
  entries_.push_back(std::move(fresh));
  return entries_.back().lease ? &entries_.back().lease->gcm() : nullptr;
}

Status OpenField(crypto::AesGcm& gcm, std::string_view stream_id, std::string_view event_id16,
                 std::string_view pointer, const StoredField& field, std::string* plain) {
  Status opened = gcm.Open(FieldAad(stream_id, event_id16, pointer, field.kid), field.sealed,
                           plain);
  if (opened.ok() || opened.code() != StatusCode::kDataLoss) return opened;
  return Status::DataLoss(Where(stream_id, event_id16, pointer) +
                          ": protected field fails authentication (copied from another "
                          "stream, event or field, or tampered with)");
}

Status DecryptedNotJsonError(std::string_view stream_id, std::string_view event_id16,
                             std::string_view pointer) {
  return Status::DataLoss(Where(stream_id, event_id16, pointer) + ": decrypted value is not JSON");
}

Status MalformedStoredFieldError(std::string_view stream_id, std::string_view event_id16,
                                 std::string_view pointer, const Status& what) {
  return Status::DataLoss(Where(stream_id, event_id16, pointer) + ": " + what.message());
}

Result<std::string> MaskText(const Rule& rule, bool value_is_string) {
  if (!rule.mask) return std::string(value_is_string ? "\"***\"" : "null");
  if (!rule.mask_text.empty()) return rule.mask_text;
  return DumpDocument(*rule.mask);
}

Result<std::string> ErasedText(const Rule& rule) {
  if (!rule.erased_text.empty()) return rule.erased_text;
  return DumpDocument(rule.erased);
}

}  // namespace internal

Result<std::string> ProtectEvent(const Rule& rule, std::string_view stream_id,
                                 std::string_view event_id16, std::string_view data_json,
                                 std::string_view append_subject, keys::SubjectKeySource& keys,
                                 CipherCache* ciphers) {
  if (event_id16.size() != kEventIdSizeBytes) {
    return Status::InvalidArgument("protecting an event needs its 16-byte event id");
  }
  {
    internal::ScanLease lease(internal::ScanSlot::kDocument);
    if (lease.scan().Scan(data_json, NumberPolicy::kExact)) {
      std::optional<Result<std::string>> out =
          internal::ProtectWithSplice(rule, stream_id, event_id16, data_json, lease.scan(),
                                      append_subject, keys, ciphers);
      if (out) return std::move(*out);
    }
  }
  return internal::ProtectWithDom(rule, stream_id, event_id16, data_json, append_subject, keys,
                                  ciphers);
}

Result<ReadView> RevealEvent(const Rule& rule, std::string_view stream_id,
                             std::string_view event_id16, std::string_view stored_data_json,
                             bool may_read_pii, keys::SubjectKeySource& keys,
                             CipherCache* ciphers) {
  if (event_id16.size() != kEventIdSizeBytes) {
    return Status::InvalidArgument("revealing an event needs its 16-byte event id");
  }
  {
    internal::ScanLease lease(internal::ScanSlot::kDocument);
    if (lease.scan().Scan(stored_data_json)) {
      std::optional<Result<ReadView>> out =
          internal::RevealWithSplice(rule, stream_id, event_id16, stored_data_json, lease.scan(),
                                     may_read_pii, keys, ciphers);
      if (out) return std::move(*out);
    }
  }
  return internal::RevealWithDom(rule, stream_id, event_id16, stored_data_json, may_read_pii,
                                 keys, ciphers);
}

}  // namespace cairn::protect
