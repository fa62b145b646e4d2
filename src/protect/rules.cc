#include "protect/rules.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <toml++/toml.h>

#include "common/bytes.h"
#include "common/toml_strict.h"
#include "crypto/sha256.h"

#include "common/trusted_file.h"

namespace cairn::protect {

Json Rule::MaskFor(const Json& value) const {
  if (mask) return *mask;
  return value.is_string() ? Json("***") : Json(nullptr);
}

std::string Rule::SubjectText() const {
  return subject_from_append ? std::string(kAppendSubject) : subject.text();
}

namespace {

// Each value length-prefixed, so that no two different rule sets encode alike.
void AddField(crypto::Sha256Hasher* hasher, std::string_view value) {
  const std::string length = std::to_string(value.size()) + ":";
  hasher->Update(length);
  hasher->Update(value);
}

}  // namespace

std::string RuleSet::DigestHex() const {
  std::vector<const Rule*> ordered;
  ordered.reserve(rules_.size());
  for (const Rule& rule : rules_) ordered.push_back(&rule);
  std::sort(ordered.begin(), ordered.end(),
            [](const Rule* a, const Rule* b) { return a->event_type < b->event_type; });
  crypto::Sha256Hasher hasher;
  AddField(&hasher, "cairn protect rules v1");
  for (const Rule* rule : ordered) {
    AddField(&hasher, rule->event_type);
    AddField(&hasher, rule->SubjectText());
    AddField(&hasher, std::to_string(rule->fields.size()));
    for (const JsonPointer& field : rule->fields) AddField(&hasher, field.text());
    AddField(&hasher, rule->mask ? rule->mask_text : std::string("default"));
    AddField(&hasher, rule->erased_text);
  }
  const crypto::Hash digest = hasher.Final();
  return HexEncode(std::span<const uint8_t>(digest.data(), digest.size()));
}

RuleSet::RuleSet(std::vector<Rule> rules, std::string source)
    : rules_(std::move(rules)), source_(std::move(source)) {
  by_type_.reserve(rules_.size());
  for (Rule& rule : rules_) {
    // Values from ParseDocument always serialise; on the impossible failure the text stays empty
    // and users dump the value themselves.
    if (rule.mask) {
      Result<std::string> mask = DumpDocument(*rule.mask);
      if (mask.ok()) rule.mask_text = std::move(mask).value();
    }
    Result<std::string> erased = DumpDocument(rule.erased);
    if (erased.ok()) rule.erased_text = std::move(erased).value();
    by_type_.emplace(rule.event_type, &rule);
  }
}

const Rule* RuleSet::Find(std::string_view event_type) const {
  auto it = by_type_.find(event_type);
  return it == by_type_.end() ? nullptr : it->second;
}

namespace {

class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  Status Err(const toml::source_region& where, const std::string& what) const {
    return TomlErrorAt(source_, where, what);
  }

  Status CheckKeys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                   const std::string& where) const {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        return Err(key.source(), "unknown key '" + std::string(key.str()) + "' in " + where);
      }
    }
    return Status::Ok();
  }

  Result<const toml::node*> Required(const toml::table& table, std::string_view key,
                                     const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      return Err(table.source(), where + ": missing key '" + std::string(key) + "'");
    }
    return node;
  }

  Result<JsonPointer> Pointer(const std::string& text, const toml::source_region& where,
                              const std::string& label) const {
    Result<JsonPointer> p = JsonPointer::Parse(text);
    if (!p.ok()) return Err(where, label + ": '" + text + "': " + p.status().message());
    if (p->is_root()) {
      return Err(where, label + ": the root pointer \"\" is not allowed (name a field)");
    }
    return p;
  }

  Result<Json> JsonValue(const toml::table& table, std::string_view key,
                         const std::string& where) const {
    const toml::node* node = table.get(key);
    const auto* s = node->as_string();
    if (s == nullptr) {
      return Err(node->source(), where + ": '" + std::string(key) +
                                     "' must be a string holding JSON text, e.g. '\"***\"'");
    }
    if (s->get().size() > kRuleValueSizeBytesMax) {
      return Err(node->source(), where + ": '" + std::string(key) + "' is longer than " +
                                     std::to_string(kRuleValueSizeBytesMax) + " bytes");
    }
    Result<ParsedDocument> doc = ParseDocument(s->get());
    if (!doc.ok()) {
      return Err(node->source(), where + ": '" + std::string(key) +
                                     "' is not valid JSON: " + doc.status().message());
    }
    if (doc->enc_objects != 0) {
      return Err(node->source(), where + ": '" + std::string(key) + "' may not contain \"$enc\"");
    }
    return std::move(doc->value);
  }

  Result<Rule> ParseRule(const toml::table& table, size_t index) const {
    std::string where = "rule[" + std::to_string(index) + "]";
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(table, {"event_type", "subject", "fields", "mask", "erased"}, where));
    Rule rule;

    CAIRN_ASSIGN_OR_RETURN(const toml::node* type_node, Required(table, "event_type", where));
    const auto* type = type_node->as_string();
    if (type == nullptr) return Err(type_node->source(), where + ": 'event_type' must be a string");
    if (type->get().empty() || type->get().size() > kRuleEventTypeSizeBytesMax) {
      return Err(type_node->source(), where + ": 'event_type' must be 1.." +
                                          std::to_string(kRuleEventTypeSizeBytesMax) + " bytes");
    }
    rule.event_type = type->get();
    where += " (" + rule.event_type + ")";

    CAIRN_ASSIGN_OR_RETURN(const toml::node* subject_node, Required(table, "subject", where));
    const auto* subject = subject_node->as_string();
    if (subject == nullptr) {
      return Err(subject_node->source(),
                 where + ": 'subject' must be a string (a JSON pointer or \"$subject\")");
    }
    if (subject->get() == kAppendSubject) {
      rule.subject_from_append = true;
    } else {
      CAIRN_ASSIGN_OR_RETURN(rule.subject,
                             Pointer(subject->get(), subject_node->source(), where + ": subject"));
    }

    CAIRN_ASSIGN_OR_RETURN(const toml::node* fields_node, Required(table, "fields", where));
    const toml::array* fields = fields_node->as_array();
    if (fields == nullptr) {
      return Err(fields_node->source(), where + ": 'fields' must be a list of JSON pointers");
    }
    if (fields->empty()) return Err(fields_node->source(), where + ": 'fields' is empty");
    if (fields->size() > kRuleFieldsMax) {
      return Err(fields_node->source(), where + ": 'fields' has more than " +
                                            std::to_string(kRuleFieldsMax) + " entries");
    }
    for (const toml::node& element : *fields) {
      const auto* s = element.as_string();
      if (s == nullptr) {
        return Err(element.source(), where + ": 'fields' must be a list of JSON pointers");
      }
      CAIRN_ASSIGN_OR_RETURN(JsonPointer field, Pointer(s->get(), element.source(), where + ": field"));
      for (const JsonPointer& other : rule.fields) {
        if (other == field) {
          return Err(element.source(), where + ": field '" + field.text() + "' is listed twice");
        }
        if (other.IsPrefixOf(field) || field.IsPrefixOf(other)) {
          return Err(element.source(), where + ": fields '" + other.text() + "' and '" +
                                           field.text() + "' overlap (one contains the other)");
        }
      }
      if (!rule.subject_from_append &&
          (field.IsPrefixOf(rule.subject) || rule.subject.IsPrefixOf(field))) {
        return Err(element.source(), where + ": field '" + field.text() +
                                         "' overlaps the subject pointer '" + rule.subject.text() +
                                         "' (the subject stays in the clear: it names the key)");
      }
      rule.fields.push_back(std::move(field));
    }

    if (table.get("mask") != nullptr) {
      CAIRN_ASSIGN_OR_RETURN(Json mask, JsonValue(table, "mask", where));
      rule.mask = std::move(mask);
    }
    if (table.get("erased") != nullptr) {
      CAIRN_ASSIGN_OR_RETURN(rule.erased, JsonValue(table, "erased", where));
    }
    return rule;
  }

  Result<std::shared_ptr<const RuleSet>> Parse(std::string_view text) const {
    CAIRN_ASSIGN_OR_RETURN(toml::table root,
                           ParseTomlBounded(text, source_, kRulesFileSizeBytesMax, "rules file"));
    CAIRN_RETURN_IF_ERROR(CheckKeys(root, {"rule"}, "the rules file (expected [[rule]] tables)"));
    std::vector<Rule> rules;
    if (const toml::node* node = root.get("rule"); node != nullptr) {
      const toml::array* array = node->as_array();
      if (array == nullptr) return Err(node->source(), "'rule' must be a list of tables ([[rule]])");
      if (array->size() > kRulesMax) {
        return Err(node->source(), "more than " + std::to_string(kRulesMax) + " rules");
      }
      rules.reserve(array->size());
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const toml::table* table = element.as_table();
        if (table == nullptr) {
          return Err(element.source(), "'rule' must be a list of tables ([[rule]])");
        }
        CAIRN_ASSIGN_OR_RETURN(Rule rule, ParseRule(*table, i));
        for (const Rule& other : rules) {
          if (other.event_type == rule.event_type) {
            return Err(table->get("event_type")->source(),
                       "duplicate rule for event type '" + rule.event_type + "'");
          }
        }
        rules.push_back(std::move(rule));
      }
    }
    return std::shared_ptr<const RuleSet>(std::make_shared<RuleSet>(std::move(rules), source_));
  }

 private:
  const std::string& source_;
};

}  // namespace

Result<std::shared_ptr<const RuleSet>> ParseRules(std::string_view toml_text,
                                                  const std::string& source) {
  return Parser(source).Parse(toml_text);
}

Result<std::shared_ptr<const RuleSet>> LoadRules(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadTrustedFile(path, "rules file", kRulesFileSizeBytesMax));
  return ParseRules(text, path);
}

}  // namespace cairn::protect
