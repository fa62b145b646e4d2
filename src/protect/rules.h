// Protection rules (DESIGN.md, Keys and data protection): per event type, which JSON fields hold
// personal data, whose data it is, and what readers see instead of it. A rules file (TOML):
//
//   [[rule]]
//   event_type = "CustomerRegistered"
//   subject = "/customerId"            # a JSON pointer into the data, or "$subject": the append's
//                                      # subject attribute
//   fields = ["/email", "/name", "/address/street"]
//   mask = '"***"'                     # JSON text; default: "***" for strings, null otherwise
//   erased = 'null'                    # JSON text; default null
//
// Validation (every failure is kInvalidArgument "<source>:<line>:<column>: <what>", naming the
// key or value; a file larger than kRulesFileSizeBytesMax is kResourceExhausted):
//  - the only top-level key is `rule` (an array of tables); unknown keys anywhere are errors, so a
//    misspelt `fields` never silently leaves personal data in the clear;
//  - `event_type` (1..kRuleEventTypeSizeBytesMax bytes) is unique across the file;
//  - `subject` is "$subject" or a valid RFC 6901 pointer other than the root;
//  - `fields`: 1..kRuleFieldsMax valid pointers, none the root, no duplicates, none a prefix of
//    another (token-wise: "/a" covers "/a/b"), and none overlapping the subject pointer (equal to
//    it, or an ancestor/descendant of it): the subject stays in the clear, it is the key's handle;
//  - `mask` / `erased` parse as JSON (at most kRuleValueSizeBytesMax bytes) and contain no "$enc"
//    member (a mask must never look like ciphertext);
//  - at most kRulesMax rules; pointers at most kJsonPointerSizeBytesMax bytes.
// A file with no rules is valid (nothing is protected). A rules file writable by others is refused
// by LoadRules (kFailedPrecondition): whoever can write it could switch protection off.
//
// Thread safety: a RuleSet is immutable once built; share it through shared_ptr<const RuleSet>.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "protect/json_document.h"
#include "protect/json_pointer.h"

namespace cairn::protect {

inline constexpr size_t kRulesFileSizeBytesMax = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kRulesMax = 1024;
inline constexpr size_t kRuleFieldsMax = 64;
inline constexpr size_t kRuleEventTypeSizeBytesMax = 256;  // = the engine's event type limit
inline constexpr size_t kRuleValueSizeBytesMax = 4096;     // mask / erased JSON text
inline constexpr std::string_view kAppendSubject = "$subject";

struct Rule {
  std::string event_type;
  bool subject_from_append = false;  // "$subject": the append's subject attribute
  JsonPointer subject;               // when !subject_from_append
  std::vector<JsonPointer> fields;
  std::optional<Json> mask;          // nullopt: "***" for a string value, null otherwise
  Json erased;                       // null unless configured
  // Compact JSON text of `mask` (when set) and `erased`, filled in by RuleSet's constructor;
  // empty in a Rule that is not part of a RuleSet.
  std::string mask_text;
  std::string erased_text;

  // What a reader without read.pii sees in place of `value`.
  Json MaskFor(const Json& value) const;
  // "/customerId" or "$subject", for messages.
  std::string SubjectText() const;
};

class RuleSet {
 public:
  // Fills in each rule's mask_text and erased_text.
  RuleSet(std::vector<Rule> rules, std::string source);
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  // The rule of `event_type`, or nullptr (the event is stored as given; no JSON is parsed).
  const Rule* Find(std::string_view event_type) const;
  const std::vector<Rule>& rules() const { return rules_; }
  const std::string& source() const { return source_; }
  // Lowercase hex SHA-256 of the rules' content in a canonical form (rules ordered by event type;
  // comments, layout and order in the file do not count): the same for two files that protect
  // the same fields the same way. The digest of an empty set for no rules.
  std::string DigestHex() const;

 private:
  std::vector<Rule> rules_;
  std::unordered_map<std::string_view, const Rule*> by_type_;  // views into rules_
  std::string source_;
};

// `source` names the text in error messages.
Result<std::shared_ptr<const RuleSet>> ParseRules(std::string_view toml_text,
                                                  const std::string& source);
// Reads (at most kRulesFileSizeBytesMax bytes) and parses `path`. kNotFound / kIOError when it
// cannot be read; kFailedPrecondition when it is writable by others.
Result<std::shared_ptr<const RuleSet>> LoadRules(const std::string& path);

}  // namespace cairn::protect
