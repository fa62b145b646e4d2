// The splice path of protector.h: one scan of the text (json_scan.h), then the protected values'
// byte spans are replaced; nothing else of the document is touched.
#include <algorithm>
#include <array>
#include <cassert>
#include <numeric>
#include <optional>
#include <span>
#include <utility>

#include "crypto/secure.h"
#include "protect/protector_paths.h"

namespace cairn::protect::internal {
namespace {

// The bytes [begin, end) of the text become `text`. Wiped when dropped (it may be a plaintext).
struct Replacement {
  uint32_t begin = 0;
  uint32_t end = 0;
  Secret text;
};

// `text` with every replacement applied (spans are disjoint). The result is sized once, so no
// partial copy of a plaintext is left behind by a reallocation.
// Callers check the spans first (SpansDisjoint): overlapping spans are a bug here.
std::string Splice(std::string_view text, const std::vector<Replacement>& replacements) {
  std::vector<size_t> order(replacements.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return replacements[a].begin < replacements[b].begin;
  });
  size_t size = text.size();
  for (const Replacement& r : replacements) size = size - (r.end - r.begin) + r.text.text.size();
  std::string out;
  out.reserve(size);
  size_t at = 0;
  for (size_t i : order) {
    const Replacement& r = replacements[i];
    assert(r.begin >= at && r.end >= r.begin && r.end <= text.size());
    out.append(text.substr(at, r.begin - at));
    out.append(r.text.text);
    at = r.end;
  }
  out.append(text.substr(at));
  assert(out.size() == size);
  return out;
}

// The content of a string node without escapes (between its quotes).
std::string_view StringContent(const JsonScan& scan, uint32_t node) {
  const std::string_view text = scan.Text(node);
  assert(text.size() >= 2 && text.front() == '"' && text.back() == '"');
  return text.substr(1, text.size() - 2);
}

// The subject's value; nullopt when it needs the DOM path (escapes, a non-compact number).
std::optional<SubjectValue> SubjectOf(const Rule& rule, const JsonScan& scan) {
  SubjectValue out;
  if (rule.subject_from_append) return out;
  const uint32_t node = scan.Resolve(rule.subject);
  if (node == kNoScanNode) return out;
  const ScanNode& n = scan.nodes()[node];
  if (n.kind == JsonKind::kString || n.kind == JsonKind::kNumber) {
    if (!n.compact) return std::nullopt;  // escapes, floats, -0, long integers
    out.kind = n.kind == JsonKind::kString ? SubjectValue::Kind::kString
                                           : SubjectValue::Kind::kInteger;
    out.text = std::string(n.kind == JsonKind::kString ? StringContent(scan, node)
                                                       : scan.Text(node));
  } else {
    out.kind = SubjectValue::Kind::kOther;
  }
  return out;
}

// The members of a "$enc" object node.
struct StoredMembers {
  std::array<StoredFieldMember, kStoredFieldMembersMax> members;
  size_t size = 0;
  std::span<const StoredFieldMember> view() const { return {members.data(), size}; }
};

// False when a member string has escapes (the DOM path unescapes them) or there are more members
// than the stored form has (the DOM path words the error).
bool ReadStoredMembers(const JsonScan& scan, uint32_t node, StoredMembers* out) {
  out->size = 0;
  for (uint32_t c = scan.nodes()[node].first_child; c != kNoScanNode;
       c = scan.nodes()[c].next_sibling) {
    if (out->size == out->members.size()) return false;
    StoredFieldMember& m = out->members[out->size++];
    m = StoredFieldMember{scan.Key(c), std::nullopt};
    const ScanNode& n = scan.nodes()[c];
    if (n.kind == JsonKind::kString) {
      if (!n.compact) return false;
      m.value = StringContent(scan, c);
    }
  }
  return true;
}

struct Target {
  uint32_t node;
  std::string pointer;
};

// True when no two of the targets' byte spans overlap. They can after a rule changed: a field
// widened to its parent ("/address/street" → "/address") holds the "$enc" object stored under the
// old rule, or a nested "$enc"-shaped value. Splice() needs disjoint spans; the DOM path handles
// nesting, so the splice path declines then.
bool SpansDisjoint(const JsonScan& scan, const std::vector<Target>& a, const std::vector<Target>& b) {
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  spans.reserve(a.size() + b.size());
  for (const auto* targets : {&a, &b}) {
    for (const Target& t : *targets) {
      spans.emplace_back(scan.nodes()[t.node].begin, scan.nodes()[t.node].end);
    }
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) return false;
  }
  return true;
}

// A decrypted value checked to be JSON: its kind and its compact text.
struct Revealed {
  bool is_string = false;
  Secret canonical;  // set when the plaintext was not in a form the scanner vouches for
};

}  // namespace

std::optional<Result<std::string>> ProtectWithSplice(
    const Rule& rule, std::string_view stream_id, std::string_view event_id16,
    std::string_view data_json, const JsonScan& scan, std::string_view append_subject,
    keys::SubjectKeySource& keys, CipherCache* ciphers) {
  if (scan.enc_objects() != 0) return EncInDataError(rule);
  std::optional<SubjectValue> subject_value = SubjectOf(rule, scan);
  if (!subject_value) return std::nullopt;
  Result<std::string> subject = CheckSubject(rule, *subject_value, append_subject);
  crypto::Cleanse(&subject_value->text);
  if (!subject.ok()) return subject.status();

  struct Field {
    const JsonPointer* pointer;
    uint32_t node;
    Secret canonical;  // the plaintext when the bytes are not already compact
  };
  std::vector<Field> fields;
  fields.reserve(rule.fields.size());
  for (const JsonPointer& pointer : rule.fields) {
    const uint32_t node = scan.Resolve(pointer);
    if (node == kNoScanNode) {
      if (scan.PathBlocked(pointer)) return BlockedFieldError(rule, pointer);
      continue;
    }
    Field& f = fields.emplace_back(Field{&pointer, node, {}});
    if (scan.nodes()[node].compact) continue;
    // Objects, arrays, escaped strings, floats: DumpDocument's text, as the DOM path encrypts.
    Result<ParsedDocument> value = ParseDocument(scan.Text(node), NumberPolicy::kExact);
    if (!value.ok()) return std::nullopt;
    Result<std::string> text = DumpDocument(value->value);
    if (!text.ok()) return std::nullopt;
    f.canonical.text = std::move(text).value();
  }
  if (fields.empty()) return std::string(data_json);  // nothing personal present

  Result<keys::SubjectKey> key = KeyForWrite(rule, *subject, keys);
  crypto::Cleanse(&subject.value());
  if (!key.ok()) return key.status();
  // Moved, not copied: see the DOM path (protector_dom.cc).
  Result<CipherCache::Lease> lease = CipherCache::Borrow(ciphers, std::move(key->key));
  if (!lease.ok()) return lease.status();
  std::vector<Replacement> replacements(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    const ScanNode& n = scan.nodes()[f.node];
    const std::string_view plain = n.compact ? scan.Text(f.node) : f.canonical.text;
    Result<std::string> stored =
        SealFieldText(lease->gcm(), key->kid,
                      FieldAad(stream_id, event_id16, f.pointer->text(), key->kid), plain);
    if (!stored.ok()) return stored.status();
    replacements[i] = Replacement{n.begin, n.end, {}};
    replacements[i].text.text = std::move(stored).value();
  }
  return Splice(data_json, replacements);
}

std::optional<Result<ReadView>> RevealWithSplice(const Rule& rule, std::string_view stream_id,
                                                 std::string_view event_id16,
                                                 std::string_view stored_data_json,
                                                 const JsonScan& scan, bool may_read_pii,
                                                 keys::SubjectKeySource& keys,
                                                 CipherCache* ciphers) {
  std::vector<Target> encrypted;  // objects with a "$enc" member
  std::vector<Target> clear;      // plaintext at a rule pointer
  for (const JsonPointer& field : rule.fields) {
    const uint32_t node = scan.ResolveOutsideEnc(field);
    if (node == kNoScanNode) continue;
    (scan.nodes()[node].has_enc_member ? encrypted : clear).push_back(Target{node, field.text()});
  }
  if (encrypted.size() < scan.enc_objects()) {
    // Some "$enc" objects sit where the rule no longer points: find them all.
    encrypted.clear();
    for (uint32_t node : scan.EncObjects()) encrypted.push_back(Target{node, scan.PointerOf(node)});
  }

  ReadView view;
  if (encrypted.empty() && (clear.empty() || may_read_pii)) {
    view.data_json = std::string(stored_data_json);
    return view;
  }
  if (!SpansDisjoint(scan, encrypted, may_read_pii ? std::vector<Target>{} : clear)) {
    return std::nullopt;
  }
  // Members with escapes go to the DOM path, before any key is asked for.
  std::vector<StoredMembers> members(encrypted.size());
  for (size_t i = 0; i < encrypted.size(); ++i) {
    if (!ReadStoredMembers(scan, encrypted[i].node, &members[i])) return std::nullopt;
  }

  std::vector<Replacement> replacements(encrypted.size() + (may_read_pii ? 0 : clear.size()));
  EventKeys event_keys(keys, ciphers, stream_id, event_id16);
  ScanLease value_scan(ScanSlot::kValue);
  for (size_t i = 0; i < encrypted.size(); ++i) {
    const Target& target = encrypted[i];
    Replacement& r = replacements[i];
    r.begin = scan.nodes()[target.node].begin;
    r.end = scan.nodes()[target.node].end;
    Result<StoredField> field = ParseStoredFieldMembers(members[i].view());
    if (!field.ok()) {
      return MalformedStoredFieldError(stream_id, event_id16, target.pointer, field.status());
    }
    Result<crypto::AesGcm*> gcm = event_keys.For(field->kid, target.pointer);
    if (!gcm.ok()) return gcm.status();
    if (*gcm == nullptr) {
      Result<std::string> erased = ErasedText(rule);
      if (!erased.ok()) return erased.status();
      r.text.text = std::move(erased).value();
      view.erased.push_back(target.pointer);
      continue;
    }
    Status opened = OpenField(**gcm, stream_id, event_id16, target.pointer, *field, &r.text.text);
    if (!opened.ok()) return opened;
    bool is_string = false;
    if (value_scan.scan().Scan(r.text.text)) {
      is_string = value_scan.scan().nodes()[0].kind == JsonKind::kString;
    } else {
      Result<ParsedDocument> value = ParseDocument(r.text.text);
      if (!value.ok()) return DecryptedNotJsonError(stream_id, event_id16, target.pointer);
      is_string = value->value.is_string();
      Result<std::string> canonical = DumpDocument(value->value);
      if (!canonical.ok()) return DecryptedNotJsonError(stream_id, event_id16, target.pointer);
      crypto::Cleanse(&r.text.text);
      r.text.text = std::move(canonical).value();
    }
    if (!may_read_pii) {
      crypto::Cleanse(&r.text.text);
      Result<std::string> mask = MaskText(rule, is_string);
      if (!mask.ok()) return mask.status();
      r.text.text = std::move(mask).value();
      view.masked.push_back(target.pointer);
    } else {
      view.revealed.push_back(target.pointer);
    }
  }
  if (!may_read_pii) {
    for (size_t i = 0; i < clear.size(); ++i) {
      const ScanNode& n = scan.nodes()[clear[i].node];
      Replacement& r = replacements[encrypted.size() + i];
      r.begin = n.begin;
      r.end = n.end;
      Result<std::string> mask = MaskText(rule, n.kind == JsonKind::kString);
      if (!mask.ok()) return mask.status();
      r.text.text = std::move(mask).value();
      view.masked.push_back(clear[i].pointer);
      ++view.masked_in_clear;
    }
  }
  view.data_json = Splice(stored_data_json, replacements);
  return view;
}

}  // namespace cairn::protect::internal
