// ParseRules over hostile TOML: never crashes; an error is kInvalidArgument (or
// kResourceExhausted past the size bound) with a message; whatever it accepts keeps every
// invariant rules.h promises (bounds, unique event types, fields neither the root nor prefixes of
// one another nor overlapping the subject, masks and erased values that are JSON without "$enc").
#include "fuzz_util.h"
#include "protect/json_document.h"
#include "protect/rules.h"

namespace {

using cairn::protect::JsonPointer;
using cairn::protect::Rule;

// The pointer re-parses to itself (the escaped text is canonical, json_pointer.h).
void CheckPointer(const JsonPointer& p) {
  FUZZ_CHECK(!p.is_root());
  FUZZ_CHECK(p.text().size() <= cairn::protect::kJsonPointerSizeBytesMax);
  auto again = JsonPointer::Parse(p.text());
  FUZZ_CHECK(again.ok() && again->tokens() == p.tokens());
  FUZZ_CHECK(JsonPointer::Format(p.tokens()) == p.text());
}

// Compact JSON text of a rule value: parses, holds no "$enc" object, dumps to itself.
void CheckValueText(const std::string& text) {
  auto parsed = cairn::protect::ParseDocument(text);
  FUZZ_CHECK(parsed.ok() && parsed->enc_objects == 0);
  auto dumped = cairn::protect::DumpDocument(parsed->value);
  FUZZ_CHECK(dumped.ok() && *dumped == text);
}

void CheckRule(const Rule& rule, const cairn::protect::RuleSet& set) {
  FUZZ_CHECK(!rule.event_type.empty());
  FUZZ_CHECK(rule.event_type.size() <= cairn::protect::kRuleEventTypeSizeBytesMax);
  FUZZ_CHECK(set.Find(rule.event_type) == &rule);
  if (!rule.subject_from_append) CheckPointer(rule.subject);
  FUZZ_CHECK(!rule.fields.empty() && rule.fields.size() <= cairn::protect::kRuleFieldsMax);
  for (size_t i = 0; i < rule.fields.size(); ++i) {
    CheckPointer(rule.fields[i]);
    if (!rule.subject_from_append) {
      FUZZ_CHECK(!rule.fields[i].IsPrefixOf(rule.subject));
      FUZZ_CHECK(!rule.subject.IsPrefixOf(rule.fields[i]));
    }
    for (size_t j = 0; j < rule.fields.size(); ++j) {
      if (i != j) FUZZ_CHECK(!rule.fields[i].IsPrefixOf(rule.fields[j]));
    }
  }
  if (rule.mask) CheckValueText(rule.mask_text);
  CheckValueText(rule.erased_text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto rules = cairn::protect::ParseRules(cairn::fuzz::AsView(data, size), "fuzz-rules.toml");
  if (!rules.ok()) {
    FUZZ_CHECK(rules.status().code() == cairn::StatusCode::kInvalidArgument ||
               rules.status().code() == cairn::StatusCode::kResourceExhausted);
    FUZZ_CHECK(rules.status().message().starts_with("fuzz-rules.toml"));
    return 0;
  }
  const cairn::protect::RuleSet& set = **rules;
  FUZZ_CHECK(set.rules().size() <= cairn::protect::kRulesMax);
  for (const Rule& rule : set.rules()) CheckRule(rule, set);
  FUZZ_CHECK(set.Find("") == nullptr);
  return 0;
}
