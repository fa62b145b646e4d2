#include "policy/parse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <map>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include <toml++/toml.h>

#include "common/toml_strict.h"

#include "common/trusted_file.h"
#include "policy/limits.h"

namespace cairn::policy {

bool IsValidRoleName(std::string_view name) {
  if (name.empty() || name.size() > kRoleNameSizeBytesMax) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}
namespace {

struct Item {
  std::string value;
  toml::source_region where;
};

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

  // A required string.
  Result<Item> String(const toml::table& table, std::string_view key,
                      const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      return Err(table.source(), where + ": missing key '" + std::string(key) + "'");
    }
    const auto* s = node->as_string();
    if (s == nullptr) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be a string");
    }
    return Item{s->get(), node->source()};
  }

  // A required, non-empty list of strings of at most `count_max` entries.
  Result<std::vector<Item>> StringList(const toml::table& table, std::string_view key,
                                       const std::string& where, size_t count_max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      return Err(table.source(), where + ": missing key '" + std::string(key) + "'");
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be a list of strings");
    }
    if (array->empty()) {
      return Err(node->source(), where + ": '" + std::string(key) + "' is empty");
    }
    if (array->size() > count_max) {
      return Err(node->source(), where + ": '" + std::string(key) + "' has more than " +
                                     std::to_string(count_max) + " entries");
    }
    std::vector<Item> items;
    items.reserve(array->size());
    for (const toml::node& element : *array) {
      const auto* s = element.as_string();
      if (s == nullptr) {
        return Err(element.source(), where + ": '" + std::string(key) + "' must be a list of strings");
      }
      items.push_back(Item{s->get(), element.source()});
    }
    return items;
  }

  // An optional list of tables (absent → empty; present but empty → error).
  Result<std::vector<const toml::table*>> TableList(const toml::table& table, std::string_view key,
                                                    const std::string& where,
                                                    size_t count_max) const {
    std::vector<const toml::table*> tables;
    const toml::node* node = table.get(key);
    if (node == nullptr) return tables;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      return Err(node->source(), where + "'" + std::string(key) + "' must be a list of tables");
    }
    if (array->empty()) return Err(node->source(), where + "'" + std::string(key) + "' is empty");
    if (array->size() > count_max) {
      return Err(node->source(), where + "more than " + std::to_string(count_max) + " '" +
                                     std::string(key) + "' entries");
    }
    for (const toml::node& element : *array) {
      const toml::table* t = element.as_table();
      if (t == nullptr) {
        return Err(element.source(), where + "'" + std::string(key) + "' must be a list of tables");
      }
      tables.push_back(t);
    }
    return tables;
  }

  Result<Rule> ParseRule(const toml::table& table, const std::string& label) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(table, {"actions", "streams", "event_types"}, label));
    Rule rule;
    rule.label = label;
    CAIRN_ASSIGN_OR_RETURN(std::vector<Item> actions,
                           StringList(table, "actions", label, kRuleActionsMax));
    for (const Item& item : actions) {
      std::optional<Action> action = ParseAction(item.value);
      if (!action) {
        return Err(item.where, label + ": unknown action '" + item.value +
                                   "' (append, read, subscribe, read.pii, delete, forget, proof, "
                                   "audit.read, admin)");
      }
      rule.action_mask |= ActionBit(*action);
    }
    assert(rule.action_mask != 0);
    CAIRN_ASSIGN_OR_RETURN(std::vector<Item> streams,
                           StringList(table, "streams", label, kRuleStreamsMax));
    for (const Item& item : streams) {
      Result<StreamPattern> pattern = StreamPattern::Compile(item.value);
      if (!pattern.ok()) return Err(item.where, label + ": " + pattern.status().message());
      rule.streams.push_back(std::move(pattern).value());
    }
    CAIRN_ASSIGN_OR_RETURN(std::vector<Item> types,
                           StringList(table, "event_types", label, kRuleEventTypesMax));
    std::vector<std::string> names;
    names.reserve(types.size());
    for (const Item& item : types) names.push_back(item.value);
    Result<EventTypeSet> set = EventTypeSet::Compile(names);
    if (!set.ok()) {
      return Err(table.get("event_types")->source(), label + ": " + set.status().message());
    }
    rule.event_types = std::move(set).value();
    if (!rule.event_types.is_any() && (rule.action_mask & kWholeStreamActionMask) != 0) {
      // Types would be ignored for these actions (Policy::Decide): refuse rather than let a
      // grant read as narrower, or a deny as wider, than it is.
      return Err(table.get("event_types")->source(),
                 label + ": event_types must be [\"*\"] when actions include delete, forget, "
                         "proof, audit.read or admin (they act on a stream as a whole); put "
                         "typed actions in a rule of their own");
    }
    return rule;
  }

  Result<Role> ParseRole(const toml::table& table, size_t index) const {
    const std::string where = "role[" + std::to_string(index) + "]";
    CAIRN_RETURN_IF_ERROR(CheckKeys(table, {"name", "grants", "denies"}, where));
    CAIRN_ASSIGN_OR_RETURN(Item name, String(table, "name", where));
    CAIRN_RETURN_IF_ERROR(CheckRoleName(name));
    Role role;
    role.name = name.value;
    const std::string prefix = "role:" + role.name;
    CAIRN_ASSIGN_OR_RETURN(std::vector<const toml::table*> grants,
                           TableList(table, "grants", prefix + ": ", kRoleGrantsMax));
    CAIRN_ASSIGN_OR_RETURN(std::vector<const toml::table*> denies,
                           TableList(table, "denies", prefix + ": ", kRoleDeniesMax));
    if (grants.empty() && denies.empty()) {
      return Err(table.source(), prefix + ": a role needs 'grants' or 'denies'");
    }
    for (size_t i = 0; i < grants.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(Rule rule,
                             ParseRule(*grants[i], prefix + "/grant[" + std::to_string(i) + "]"));
      role.grants.push_back(std::move(rule));
    }
    for (size_t i = 0; i < denies.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(Rule rule,
                             ParseRule(*denies[i], prefix + "/deny[" + std::to_string(i) + "]"));
      role.denies.push_back(std::move(rule));
    }
    return role;
  }

  Status CheckRoleName(const Item& name) const {
    if (name.value.empty() || name.value.size() > kRoleNameSizeBytesMax) {
      return Err(name.where, "role name must be 1.." + std::to_string(kRoleNameSizeBytesMax) +
                                 " bytes");
    }
    if (!IsValidRoleName(name.value)) {
      return Err(name.where, "role name '" + name.value +
                                 "' may contain only letters, digits and . _ : @ / -");
    }
    return Status::Ok();
  }

  Result<Binding> ParseBinding(const toml::table& table, size_t index,
                               const std::map<std::string, uint32_t, std::less<>>& role_index) const {
    const std::string where = "binding[" + std::to_string(index) + "]";
    CAIRN_RETURN_IF_ERROR(CheckKeys(table, {"principal", "roles"}, where));
    CAIRN_ASSIGN_OR_RETURN(Item principal, String(table, "principal", where));
    Result<PrincipalPattern> pattern = PrincipalPattern::Compile(principal.value);
    if (!pattern.ok()) return Err(principal.where, where + ": " + pattern.status().message());
    Binding binding{std::move(pattern).value(), {}};
    CAIRN_ASSIGN_OR_RETURN(std::vector<Item> roles,
                           StringList(table, "roles", where, kBindingRolesMax));
    for (const Item& role : roles) {
      auto it = role_index.find(role.value);
      if (it == role_index.end()) {
        return Err(role.where, where + ": role '" + role.value + "' is not defined");
      }
      binding.role_indices.push_back(it->second);
    }
    std::sort(binding.role_indices.begin(), binding.role_indices.end());
    binding.role_indices.erase(
        std::unique(binding.role_indices.begin(), binding.role_indices.end()),
        binding.role_indices.end());
    return binding;
  }

  // An optional integer in [min, max]; `fallback` when absent.
  Result<uint64_t> Integer(const toml::table& table, std::string_view key, const std::string& where,
                           uint64_t min, uint64_t max, uint64_t fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto* value = node->as_integer();
    const std::string range = std::to_string(min) + ".." + std::to_string(max);
    if (value == nullptr) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be an integer " + range);
    }
    const int64_t v = value->get();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be " + range);
    }
    return static_cast<uint64_t>(v);
  }

  Result<Quota> ParseQuota(const toml::table& table, size_t index) const {
    const std::string where = std::string(kQuotaLabelPrefix) + std::to_string(index) + "]";
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        table, {"principal", "append_events_per_s", "append_bytes_per_s", "burst_s"}, where));
    CAIRN_ASSIGN_OR_RETURN(Item principal, String(table, "principal", where));
    Result<PrincipalPattern> pattern = PrincipalPattern::Compile(principal.value);
    if (!pattern.ok()) return Err(principal.where, where + ": " + pattern.status().message());
    Quota quota;
    quota.principal = std::move(pattern).value();
    quota.label = where;
    CAIRN_ASSIGN_OR_RETURN(quota.append_events_per_s,
                           Integer(table, "append_events_per_s", where, 1, kQuotaEventsPerSMax, 0));
    CAIRN_ASSIGN_OR_RETURN(quota.append_bytes_per_s,
                           Integer(table, "append_bytes_per_s", where, 1, kQuotaBytesPerSMax, 0));
    CAIRN_ASSIGN_OR_RETURN(quota.burst_s,
                           Integer(table, "burst_s", where, 1, kQuotaBurstSMax, 1));
    if (quota.append_events_per_s == 0 && quota.append_bytes_per_s == 0) {
      return Err(table.source(),
                 where + ": a quota needs 'append_events_per_s' or 'append_bytes_per_s'");
    }
    assert(quota.Valid());
    return quota;
  }

  Result<std::shared_ptr<const Policy>> Parse(std::string_view text) const {
    CAIRN_ASSIGN_OR_RETURN(toml::table root,
                           ParseTomlBounded(text, source_, kPolicyFileSizeBytesMax, "policy"));
    CAIRN_RETURN_IF_ERROR(CheckKeys(root, {"role", "binding", "quota"},
                                    "the policy (expected [[role]], [[binding]] and [[quota]] "
                                    "tables)"));
    CAIRN_ASSIGN_OR_RETURN(std::vector<const toml::table*> role_tables,
                           TableList(root, "role", "", kRolesMax));
    CAIRN_ASSIGN_OR_RETURN(std::vector<const toml::table*> binding_tables,
                           TableList(root, "binding", "", kBindingsMax));
    std::vector<Role> roles;
    std::map<std::string, uint32_t, std::less<>> role_index;
    for (size_t i = 0; i < role_tables.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(Role role, ParseRole(*role_tables[i], i));
      if (role_index.count(role.name) != 0) {
        return Err(role_tables[i]->get("name")->source(),
                   "duplicate role name '" + role.name + "'");
      }
      role_index.emplace(role.name, static_cast<uint32_t>(roles.size()));
      roles.push_back(std::move(role));
    }
    std::vector<Binding> bindings;
    for (size_t i = 0; i < binding_tables.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(Binding binding, ParseBinding(*binding_tables[i], i, role_index));
      bindings.push_back(std::move(binding));
    }
    CAIRN_ASSIGN_OR_RETURN(std::vector<const toml::table*> quota_tables,
                           TableList(root, "quota", "", kQuotasMax));
    std::vector<Quota> quotas;
    for (size_t i = 0; i < quota_tables.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(Quota quota, ParseQuota(*quota_tables[i], i));
      quotas.push_back(std::move(quota));
    }
    auto policy = std::make_shared<Policy>(std::move(roles), std::move(bindings), source_,
                                           std::move(quotas));
    policy->set_text_sha256(HexEncode(crypto::HashView(crypto::Sha256(text))));
    return std::shared_ptr<const Policy>(std::move(policy));
  }

 private:
  const std::string& source_;
};

}  // namespace

Result<std::shared_ptr<const Policy>> ParsePolicy(std::string_view toml_text,
                                                  const std::string& source) {
  return Parser(source).Parse(toml_text);
}

Result<std::shared_ptr<const Policy>> LoadPolicyFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadTrustedFile(path, "policy file", kPolicyFileSizeBytesMax));
  return ParsePolicy(text, path);
}

}  // namespace cairn::policy
