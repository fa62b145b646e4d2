#include "protect/protector.h"

#include <optional>
#include <utility>

#include "crypto/aes_gcm.h"
#include "crypto/secure.h"
#include "protect/field_cipher.h"

namespace cairn::protect {
namespace {

// 8-4-4-4-12 hex, for messages.
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

Result<std::string> ResolveSubject(const Rule& rule, const Json& doc,
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
  const Json* value = Resolve(rule.subject, doc);
  if (value == nullptr) return Status::InvalidArgument(prefix + name + " is missing");
  std::string subject;
  if (value->is_string()) {
    subject = value->get_ref<const std::string&>();
  } else if (value->is_number_unsigned()) {
    subject = std::to_string(value->get<uint64_t>());
  } else if (value->is_number_integer()) {
    subject = std::to_string(value->get<int64_t>());
  } else {
    return Status::InvalidArgument(prefix + name + " is not a string or an integer");
  }
  if (subject.empty()) return Status::InvalidArgument(prefix + name + " is empty");
  if (subject.size() > keys::kSubjectIdSizeBytesMax) {
    return Status::InvalidArgument(prefix + name + " is longer than " +
                                   std::to_string(keys::kSubjectIdSizeBytesMax) + " bytes");
  }
  return subject;
}

struct Target {
  std::string pointer;
  Json* node;
};

// Like Resolve, but nullptr when the path runs through a "$enc" object (the object itself is the
// protected value; the document walk finds it).
Json* ResolveOutsideEnc(const JsonPointer& pointer, Json& doc) {
  Json* node = &doc;
  for (const std::string& token : pointer.tokens()) {
    if (IsEncObject(*node)) return nullptr;
    if (node->is_object()) {
      auto& object = *node->get_ptr<Json::object_t*>();
      Json* next = nullptr;
      for (auto& member : object) {
        if (member.first == token) {
          next = &member.second;
          break;
        }
      }
      if (next == nullptr) return nullptr;
      node = next;
    } else if (node->is_array()) {
      auto& array = *node->get_ptr<Json::array_t*>();
      std::optional<size_t> index = ParseArrayIndex(token);
      if (!index || *index >= array.size()) return nullptr;
      node = &array[*index];
    } else {
      return nullptr;
    }
  }
  return node;
}

// Every "$enc" object in `node` (not descending into them). Depth is bounded by the parser.
void FindEncObjects(Json& node, std::vector<std::string>& path, std::vector<Target>& out) {
  if (IsEncObject(node)) {
    out.push_back(Target{JsonPointer::Format(path), &node});
    return;
  }
  if (node.is_object()) {
    for (auto& member : *node.get_ptr<Json::object_t*>()) {
      path.push_back(member.first);
      FindEncObjects(member.second, path, out);
      path.pop_back();
    }
  } else if (node.is_array()) {
    auto& array = *node.get_ptr<Json::array_t*>();
    for (size_t i = 0; i < array.size(); ++i) {
      path.push_back(std::to_string(i));
      FindEncObjects(array[i], path, out);
      path.pop_back();
    }
  }
}

// A plaintext string wiped when dropped.
struct Plaintext {
  std::string text;
  ~Plaintext() { crypto::Cleanse(&text); }
};

}  // namespace

Result<std::string> ProtectEvent(const Rule& rule, std::string_view stream_id,
                                 std::string_view event_id16, std::string_view data_json,
                                 std::string_view append_subject, keys::SubjectKeySource& keys) {
  if (event_id16.size() != kEventIdSizeBytes) {
    return Status::InvalidArgument("protecting an event needs its 16-byte event id");
  }
  Result<ParsedDocument> parsed = ParseDocument(data_json);
  if (!parsed.ok()) {
    return Status::InvalidArgument("event type " + rule.event_type +
                                   ": data is not acceptable JSON: " + parsed.status().message());
  }
  if (parsed->enc_objects != 0) {
    return Status::InvalidArgument(
        "event type " + rule.event_type +
        ": data contains a \"$enc\" member; protected-field objects are made by the server only");
  }
  Json& doc = parsed->value;
  CAIRN_ASSIGN_OR_RETURN(std::string subject, ResolveSubject(rule, doc, append_subject));

  std::vector<std::pair<const JsonPointer*, Json*>> targets;
  targets.reserve(rule.fields.size());
  for (const JsonPointer& field : rule.fields) {
    // Fields are disjoint (rules.h), so replacing one never moves another.
    if (Json* node = Resolve(field, doc); node != nullptr) targets.emplace_back(&field, node);
  }
  if (targets.empty()) return std::string(data_json);  // nothing personal present

  Result<keys::SubjectKey> key = keys.KeyForWrite(subject);
  crypto::Cleanse(&subject);
  if (!key.ok()) {
    return key.status().Annotate("event type " + rule.event_type + ": subject key");
  }
  if (!IsValidKid(key->kid) || key->key == nullptr ||
      key->key->size() != crypto::kAes256KeySizeBytes) {
    return Status::Internal("the subject key source returned a malformed key");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(key->key->view()));
  for (auto& [field, node] : targets) {
    Plaintext plain;
    CAIRN_ASSIGN_OR_RETURN(plain.text, DumpDocument(*node));
    CAIRN_ASSIGN_OR_RETURN(
        Json stored,
        SealField(gcm, key->kid, FieldAad(stream_id, event_id16, field->text(), key->kid),
                  plain.text));
    *node = std::move(stored);
  }
  return DumpDocument(doc);
}

Result<ReadView> RevealEvent(const Rule& rule, std::string_view stream_id,
                             std::string_view event_id16, std::string_view stored_data_json,
                             bool may_read_pii, keys::SubjectKeySource& keys) {
  if (event_id16.size() != kEventIdSizeBytes) {
    return Status::InvalidArgument("revealing an event needs its 16-byte event id");
  }
  Result<ParsedDocument> parsed = ParseDocument(stored_data_json);
  if (!parsed.ok()) {
    return Status::DataLoss("stream '" + std::string(stream_id) + "' event " +
                            FormatEventId(event_id16) + ": stored data of a protected event type "
                            "is not acceptable JSON: " + parsed.status().message());
  }
  Json& doc = parsed->value;

  std::vector<Target> encrypted;  // "$enc" objects
  std::vector<Target> clear;      // plaintext at a rule pointer
  for (const JsonPointer& field : rule.fields) {
    Json* node = ResolveOutsideEnc(field, doc);
    if (node == nullptr) continue;
    (IsEncObject(*node) ? encrypted : clear).push_back(Target{field.text(), node});
  }
  if (encrypted.size() < parsed->enc_objects) {
    // Some "$enc" objects sit where the rule no longer points: find them all.
    encrypted.clear();
    std::vector<std::string> path;
    FindEncObjects(doc, path, encrypted);
  }

  ReadView view;
  if (encrypted.empty() && (clear.empty() || may_read_pii)) {
    view.data_json = std::string(stored_data_json);
    return view;
  }

  struct KeyEntry {
    std::string kid;
    std::optional<crypto::AesGcm> gcm;  // nullopt: destroyed
  };
  std::vector<KeyEntry> key_cache;
  for (Target& target : encrypted) {
    Result<StoredField> field = ParseStoredField(*target.node);
    if (!field.ok()) {
      return Status::DataLoss(Where(stream_id, event_id16, target.pointer) + ": " +
                              field.status().message());
    }
    KeyEntry* entry = nullptr;
    for (KeyEntry& e : key_cache) {
      if (e.kid == field->kid) entry = &e;
    }
    if (entry == nullptr) {
      KeyEntry fresh{field->kid, std::nullopt};
      Result<keys::SubjectKey> key = keys.KeyForRead(field->kid);
      if (key.ok()) {
        if (key->key == nullptr || key->key->size() != crypto::kAes256KeySizeBytes) {
          return Status::Internal("the subject key source returned a malformed key");
        }
        CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(key->key->view()));
        fresh.gcm.emplace(std::move(gcm));
      } else if (key.status().code() != StatusCode::kNotFound) {
        return key.status().Annotate(Where(stream_id, event_id16, target.pointer) + ": key " +
                                     field->kid);
      }
      key_cache.push_back(std::move(fresh));
      entry = &key_cache.back();
    }
    if (!entry->gcm) {
      *target.node = rule.erased;
      view.erased.push_back(target.pointer);
      continue;
    }
    Plaintext plain;
    Status opened = entry->gcm->Open(
        FieldAad(stream_id, event_id16, target.pointer, field->kid), field->sealed, &plain.text);
    if (!opened.ok()) {
      if (opened.code() != StatusCode::kDataLoss) return opened;
      return Status::DataLoss(Where(stream_id, event_id16, target.pointer) +
                              ": protected field fails authentication (copied from another "
                              "stream, event or field, or tampered with)");
    }
    Result<ParsedDocument> value = ParseDocument(plain.text);
    if (!value.ok()) {
      return Status::DataLoss(Where(stream_id, event_id16, target.pointer) +
                              ": decrypted value is not JSON");
    }
    if (may_read_pii) {
      *target.node = std::move(value->value);
    } else {
      *target.node = rule.MaskFor(value->value);
      view.masked.push_back(target.pointer);
    }
  }
  if (!may_read_pii) {
    for (Target& target : clear) {
      *target.node = rule.MaskFor(*target.node);
      view.masked.push_back(target.pointer);
    }
  }
  CAIRN_ASSIGN_OR_RETURN(view.data_json, DumpDocument(doc));
  return view;
}

}  // namespace cairn::protect
