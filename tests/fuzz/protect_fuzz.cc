// The field protection transform (protect/protector.h) over hostile JSON, with a fixed RuleSet
// whose pointers include nested, array and escaped ones, and a deterministic key source.
// For each rule the input is protected as an append would, then revealed as readers with and
// without read.pii would see it. Properties (never crash, and):
//  - an accepted document is valid strict JSON with no "$enc" object; the stored form is valid
//    JSON in which every present protected field is a {"$enc","kid","iv","ct"} object that does
//    not contain the field's string value, and which equals the input once both have the
//    protected fields nulled (so no plaintext of a protected value is left anywhere else);
//  - reveal with read.pii gives back the input document (as JSON values); reveal without it
//    masks exactly the present fields with the rule's mask and nothing else;
//  - the stored form revealed under another stream id fails with kDataLoss (the AAD binds it);
//  - the raw input treated as stored data (forged "$enc" objects included) is revealed without
//    crashing, into valid JSON or an error;
//  - JsonPointer::Parse of the raw input: whatever parses formats back to the same text.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "fuzz_util.h"
#include "protect/json_document.h"
#include "protect/json_pointer.h"
#include "protect/protector.h"
#include "protect/rules.h"

namespace {

using cairn::protect::Json;
using cairn::protect::JsonPointer;
using cairn::protect::Rule;

constexpr std::string_view kRules = R"(
[[rule]]
event_type = "Customer"
subject = "/customerId"
fields = ["/email", "/name", "/address/street", "/phones/1", "/a~1b", "/t~0x/y", "/"]

[[rule]]
event_type = "Payment"
subject = "$subject"
fields = ["/card", "/items/0/sku", "/nested/deep/x"]
mask = '"[hidden]"'
erased = '"[erased]"'

[[rule]]
event_type = "Numbers"
subject = "/ids/0"
fields = ["/n", "/obj", "/arr"]
mask = '{"masked":true}'
)";
constexpr std::string_view kStream = "fuzz-stream";
constexpr std::string_view kAppendSubject = "fuzz-subject";
const std::string kEventId(16, '\x5a');

// Deterministic, stateless keys: kid = "k" + 32 hex digits of SHA-256(subject); the key of a kid
// is SHA-256 of a label and the kid. Any other kid reads as destroyed (kNotFound).
class FixedKeySource : public cairn::keys::SubjectKeySource {
 public:
  cairn::Result<cairn::keys::SubjectKey> KeyForWrite(std::string_view subject) override {
    const auto h = cairn::crypto::Sha256(subject);
    return KeyOf("k" + cairn::HexEncode(cairn::crypto::HashView(h).substr(0, 16)));
  }
  cairn::Result<cairn::keys::SubjectKey> KeyForRead(std::string_view kid) override {
    const bool ours = kid.size() == 33 && kid[0] == 'k' &&
                      std::all_of(kid.begin() + 1, kid.end(), [](char c) {
                        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                      });
    if (!ours) return cairn::Status::NotFound("subject key destroyed");
    return KeyOf(std::string(kid));
  }

 private:
  static cairn::keys::SubjectKey KeyOf(std::string kid) {
    const auto key = cairn::crypto::Sha256("cairn fuzz subject key " + kid);
    return {std::move(kid),
            std::make_shared<const cairn::crypto::SecureBytes>(cairn::crypto::HashView(key))};
  }
};

const cairn::protect::RuleSet& Rules() {
  static const std::shared_ptr<const cairn::protect::RuleSet> rules = [] {
    auto parsed = cairn::protect::ParseRules(kRules, "fuzz-rules.toml");
    FUZZ_CHECK(parsed.ok());
    return *parsed;
  }();
  return *rules;
}

FixedKeySource& Keys() {
  static FixedKeySource keys;
  return keys;
}

Json Parsed(std::string_view text) {
  auto doc = cairn::protect::ParseDocument(text);
  FUZZ_CHECK(doc.ok());
  return std::move(doc->value);
}

// `doc` with every present field of `rule` replaced by null.
Json Nulled(Json doc, const Rule& rule) {
  for (const JsonPointer& field : rule.fields) {
    if (Json* v = cairn::protect::Resolve(field, doc)) *v = nullptr;
  }
  return doc;
}

void CheckStoredField(const Json& original, const Json* stored) {
  FUZZ_CHECK(stored != nullptr && stored->is_object() && stored->size() == 4);
  for (const char* key : {"$enc", "kid", "iv", "ct"}) {
    FUZZ_CHECK(stored->contains(key) && (*stored)[key].is_string());
  }
  FUZZ_CHECK((*stored)["$enc"] == "v1");
  FUZZ_CHECK(cairn::Base64Decode((*stored)["iv"].get<std::string>()).has_value());
  FUZZ_CHECK(cairn::Base64Decode((*stored)["ct"].get<std::string>()).has_value());
  // The plaintext must not survive into the IV or the ciphertext, as text or bytes. The kid is
  // public metadata (the subject key's id, derived from the subject): a value may equal part of
  // it — the fuzzer learns the kid from comparisons and writes it into a field — and that leaks
  // nothing.
  if (original.is_string() && original.get<std::string>().size() >= 8) {
    const std::string& text = original.get_ref<const std::string&>();
    for (const char* key : {"iv", "ct"}) {
      const std::string field = (*stored)[key].get<std::string>();
      FUZZ_CHECK(field.find(text) == std::string::npos);
      const auto bytes = cairn::Base64Decode(field);
      FUZZ_CHECK(bytes.has_value() && bytes->find(text) == std::string::npos);
    }
  }
}

void CheckReveals(const Rule& rule, const Json& input, const std::string& stored,
                  const std::vector<std::string>& present) {
  auto clear = cairn::protect::RevealEvent(rule, kStream, kEventId, stored, true, Keys());
  FUZZ_CHECK(clear.ok() && clear->masked.empty() && clear->erased.empty());
  FUZZ_CHECK(Parsed(clear->data_json) == input);

  auto masked = cairn::protect::RevealEvent(rule, kStream, kEventId, stored, false, Keys());
  FUZZ_CHECK(masked.ok() && masked->erased.empty());
  std::vector<std::string> listed = masked->masked;
  std::vector<std::string> expected = present;
  std::sort(listed.begin(), listed.end());
  std::sort(expected.begin(), expected.end());
  FUZZ_CHECK(listed == expected);
  Json view = Parsed(masked->data_json);
  for (const JsonPointer& field : rule.fields) {
    const Json* original = cairn::protect::Resolve(field, input);
    if (original == nullptr) continue;
    Json* shown = cairn::protect::Resolve(field, view);
    FUZZ_CHECK(shown != nullptr && *shown == rule.MaskFor(*original));
    *shown = *original;
  }
  FUZZ_CHECK(view == input);

  if (!present.empty()) {
    auto moved = cairn::protect::RevealEvent(rule, "other-stream", kEventId, stored, true, Keys());
    FUZZ_CHECK(!moved.ok() && moved.status().code() == cairn::StatusCode::kDataLoss);
  }
}

void CheckProtect(const Rule& rule, std::string_view input) {
  auto stored = cairn::protect::ProtectEvent(rule, kStream, kEventId, input, kAppendSubject, Keys());
  if (!stored.ok()) {
    FUZZ_CHECK(stored.status().code() == cairn::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!stored.status().message().empty());
    return;
  }
  auto in = cairn::protect::ParseDocument(input);
  FUZZ_CHECK(in.ok() && in->enc_objects == 0);
  const Json stored_doc = Parsed(*stored);
  std::vector<std::string> present;
  for (const JsonPointer& field : rule.fields) {
    const Json* original = cairn::protect::Resolve(field, in->value);
    if (original == nullptr) continue;
    present.push_back(field.text());
    CheckStoredField(*original, cairn::protect::Resolve(field, stored_doc));
  }
  FUZZ_CHECK(Nulled(stored_doc, rule) == Nulled(in->value, rule));
  CheckReveals(rule, in->value, *stored, present);
}

// Hostile stored data: anything but a crash; accepted output is valid JSON.
void CheckRevealHostile(const Rule& rule, std::string_view input) {
  for (bool pii : {false, true}) {
    auto view = cairn::protect::RevealEvent(rule, kStream, kEventId, input, pii, Keys());
    if (view.ok()) {
      FUZZ_CHECK(cairn::protect::ParseDocument(view->data_json).ok());
    } else {
      FUZZ_CHECK(!view.status().message().empty());
    }
  }
}

void CheckPointerText(std::string_view input) {
  auto pointer = JsonPointer::Parse(input);
  if (!pointer.ok()) return;
  FUZZ_CHECK(pointer->text() == input);
  FUZZ_CHECK(JsonPointer::Format(pointer->tokens()) == input);
  FUZZ_CHECK(pointer->tokens().size() <= cairn::protect::kJsonPointerTokensMax);
  FUZZ_CHECK(input.size() <= cairn::protect::kJsonPointerSizeBytesMax);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = cairn::fuzz::AsView(data, size);
  CheckPointerText(input);
  for (const Rule& rule : Rules().rules()) {
    CheckProtect(rule, input);
    CheckRevealHostile(rule, input);
  }
  return 0;
}
