// The DOM path of protector.h: parse strictly, edit the tree, dump compactly. It decides every
// document the splice path declines, and words the errors.
#include <optional>
#include <utility>

#include "crypto/secure.h"
#include "protect/protector_paths.h"

namespace cairn::protect::internal {
namespace {

SubjectValue SubjectOf(const Json* value) {
  SubjectValue out;
  if (value == nullptr) return out;
  if (value->is_string()) {
    out.kind = SubjectValue::Kind::kString;
    out.text = value->get_ref<const std::string&>();
  } else if (value->is_number_unsigned()) {
    out.kind = SubjectValue::Kind::kInteger;
    out.text = std::to_string(value->get<uint64_t>());
  } else if (value->is_number_integer()) {
    out.kind = SubjectValue::Kind::kInteger;
    out.text = std::to_string(value->get<int64_t>());
  } else {
    out.kind = SubjectValue::Kind::kOther;
  }
  return out;
}

struct DomTarget {
  std::string pointer;
  Json* node;
};

// Every "$enc" object in `node` (not descending into them). Depth is bounded by the parser.
void FindEncObjects(Json& node, std::vector<std::string>& path, std::vector<DomTarget>& out) {
  if (IsEncObject(node)) {
    out.push_back(DomTarget{JsonPointer::Format(path), &node});
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

}  // namespace

Result<std::string> ProtectWithDom(const Rule& rule, std::string_view stream_id,
                                   std::string_view event_id16, std::string_view data_json,
                                   std::string_view append_subject, keys::SubjectKeySource& keys,
                                   CipherCache* ciphers) {
  Result<ParsedDocument> parsed = ParseDocument(data_json, NumberPolicy::kExact);
  if (!parsed.ok()) return DataNotJsonError(rule, parsed.status());
  if (parsed->enc_objects != 0) return EncInDataError(rule);
  Json& doc = parsed->value;
  const Json* subject_node = rule.subject_from_append ? nullptr : Resolve(rule.subject, doc);
  CAIRN_ASSIGN_OR_RETURN(std::string subject,
                         CheckSubject(rule, SubjectOf(subject_node), append_subject));

  std::vector<std::pair<const JsonPointer*, Json*>> targets;
  targets.reserve(rule.fields.size());
  for (const JsonPointer& field : rule.fields) {
    // Fields are disjoint (rules.h), so replacing one never moves another.
    if (Json* node = Resolve(field, doc); node != nullptr) {
      targets.emplace_back(&field, node);
    } else if (PathBlocked(field, doc)) {
      return BlockedFieldError(rule, field);
    }
  }
  if (targets.empty()) return std::string(data_json);  // nothing personal present

  Result<keys::SubjectKey> key = KeyForWrite(rule, subject, keys);
  crypto::Cleanse(&subject);
  if (!key.ok()) return key.status();
  // The key object moves into the lease: on return, a key the source has dropped meanwhile (a
  // `forget`, an expiry) is then held by the lease alone, and its context is freed, not kept.
  CAIRN_ASSIGN_OR_RETURN(CipherCache::Lease lease, CipherCache::Borrow(ciphers, std::move(key->key)));
  for (auto& [field, node] : targets) {
    Secret plain;
    CAIRN_ASSIGN_OR_RETURN(plain.text, DumpDocument(*node));
    CAIRN_ASSIGN_OR_RETURN(
        Json stored,
        SealField(lease.gcm(), key->kid, FieldAad(stream_id, event_id16, field->text(), key->kid),
                  plain.text));
    *node = std::move(stored);
  }
  return DumpDocument(doc);
}

Result<ReadView> RevealWithDom(const Rule& rule, std::string_view stream_id,
                               std::string_view event_id16, std::string_view stored_data_json,
                               bool may_read_pii, keys::SubjectKeySource& keys,
                               CipherCache* ciphers) {
  Result<ParsedDocument> parsed = ParseDocument(stored_data_json);
  if (!parsed.ok()) return StoredNotJsonError(stream_id, event_id16, parsed.status());
  Json& doc = parsed->value;

  std::vector<DomTarget> encrypted;  // "$enc" objects
  std::vector<DomTarget> clear;      // plaintext at a rule pointer
  for (const JsonPointer& field : rule.fields) {
    Json* node = ResolveOutsideEnc(field, doc);
    if (node == nullptr) continue;
    (IsEncObject(*node) ? encrypted : clear).push_back(DomTarget{field.text(), node});
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

  EventKeys event_keys(keys, ciphers, stream_id, event_id16);
  for (DomTarget& target : encrypted) {
    Result<StoredField> field = ParseStoredField(*target.node);
    if (!field.ok()) {
      return MalformedStoredFieldError(stream_id, event_id16, target.pointer, field.status());
    }
    CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm * gcm, event_keys.For(field->kid, target.pointer));
    if (gcm == nullptr) {
      *target.node = rule.erased;
      view.erased.push_back(target.pointer);
      continue;
    }
    Secret plain;
    CAIRN_RETURN_IF_ERROR(
        OpenField(*gcm, stream_id, event_id16, target.pointer, *field, &plain.text));
    Result<ParsedDocument> value = ParseDocument(plain.text);
    if (!value.ok()) return DecryptedNotJsonError(stream_id, event_id16, target.pointer);
    if (may_read_pii) {
      *target.node = std::move(value->value);
      view.revealed.push_back(target.pointer);
    } else {
      *target.node = rule.MaskFor(value->value);
      view.masked.push_back(target.pointer);
    }
  }
  if (!may_read_pii) {
    for (DomTarget& target : clear) {
      *target.node = rule.MaskFor(*target.node);
      view.masked.push_back(target.pointer);
      ++view.masked_in_clear;
    }
  }
  CAIRN_ASSIGN_OR_RETURN(view.data_json, DumpDocument(doc));
  return view;
}

}  // namespace cairn::protect::internal
