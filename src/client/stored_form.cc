#include "client/stored_form.h"

#include <cstdint>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace cairn {
namespace {

using nlohmann::json;

std::string EscapeToken(const std::string& key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// A node of the stored form on the walk below: its parent and its name in the parent.
struct WalkNode {
  const json* value;
  size_t parent;              // index into the walk's nodes; SIZE_MAX for the root
  const std::string* key;     // its member name, or nullptr for an array element
  size_t index;               // its array index
};

// The RFC 6901 pointer of nodes[at], formatted from its ancestors' names.
std::string PointerOf(const std::vector<WalkNode>& nodes, size_t at) {
  std::vector<size_t> path;
  for (size_t i = at; nodes[i].parent != SIZE_MAX; i = nodes[i].parent) path.push_back(i);
  std::string out;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const WalkNode& n = nodes[*it];
    out += '/';
    out += n.key != nullptr ? EscapeToken(*n.key) : std::to_string(n.index);
  }
  return out;
}

// Ok when the objects of `root` with a "$enc" member (not descended into) are exactly the
// `listed` pointers. A pointer is formatted only for such an object, and the walk stops at the
// first one not listed, so its cost is the document's size plus the listed pointers' (not, as
// formatting every node's pointer would be, its member names' length times its nodes). Iterative,
// so a deeply nested document cannot exhaust the stack.
Status CheckEncObjectsAreListed(const json& root, const std::set<std::string>& listed) {
  const Status differ = Status::DataLoss(
      "the fields listed as masked, erased or revealed are not the stored form's encrypted fields");
  std::vector<WalkNode> nodes = {{&root, SIZE_MAX, nullptr, 0}};
  std::vector<size_t> todo = {0};
  size_t found = 0;
  while (!todo.empty()) {
    const size_t at = todo.back();
    todo.pop_back();
    const json* node = nodes[at].value;
    if (node->is_object()) {
      if (node->contains("$enc")) {
        if (++found > listed.size() || listed.count(PointerOf(nodes, at)) == 0) return differ;
        continue;
      }
      for (auto it = node->begin(); it != node->end(); ++it) {
        nodes.push_back({&it.value(), at, &it.key(), 0});
        todo.push_back(nodes.size() - 1);
      }
    } else if (node->is_array()) {
      for (size_t i = 0; i < node->size(); ++i) {
        nodes.push_back({&(*node)[i], at, nullptr, i});
        todo.push_back(nodes.size() - 1);
      }
    }
  }
  return found == listed.size() ? Status::Ok() : differ;
}

// Nesting deeper than this is refused (comparison and destruction of the tree recurse); the
// server's protected documents nest at most 128 deep.
constexpr size_t kDepthMax = 256;

// Builds a tree in which every scalar keeps the exact token it was written as, so that comparing
// two trees compares what a reader's parser would see: numbers by their text and kind (1, 1.0,
// 1e0 and 9007199254740993 vs 9007199254740992.0 all differ; a parsed value would lose that),
// strings by their decoded value ("s" + text), literals as themselves. Refuses a repeated member
// name in an object (nlohmann keeps the last; another parser may keep the first, so the checked
// and the used data would differ) and excessive depth.
class TokenTreeBuilder : public nlohmann::json_sax<json> {
 public:
  explicit TokenTreeBuilder(json* root) : root_(root) {}

  bool null() override { return Put(json(nullptr)); }
  bool boolean(bool v) override { return Put(json(v)); }
  // nlohmann reads -0 as a signed 0 and writes it back as 0 (unsigned): one token.
  bool number_integer(number_integer_t v) override {
    return Put(json((v >= 0 ? "u" : "i") + std::to_string(v)));
  }
  bool number_unsigned(number_unsigned_t v) override { return Put(json("u" + std::to_string(v))); }
  bool number_float(number_float_t, const string_t& text) override { return Put(json("f" + text)); }
  bool string(string_t& v) override { return Put(json("s" + v)); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return Open(json::object()); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (stack_.back()->contains(k)) return false;  // a repeated member name
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // Places `v` where the parser is; returns the placed value.
  json* Place(json v) {
    if (stack_.empty()) {
      *root_ = std::move(v);
      return root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    return &(parent[key_] = std::move(v));
  }
  bool Put(json v) {
    Place(std::move(v));
    return true;
  }
  bool Open(json container) {
    if (stack_.size() >= kDepthMax) return false;
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  json* root_;
  std::vector<json*> stack_;
  std::string key_;
};

// Parses `text` into a token tree (above); false when it is not JSON, repeats a member name or
// nests too deep.
bool ParseTokenTree(std::string_view text, json* out) {
  TokenTreeBuilder builder(out);
  return json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true);
}

// A number shown otherwise than stored is accepted only in the spelling the server's DOM path
// writes for the stored one (protect/json_document.h: compact, shortest round-trip doubles, so
// 1.50 -> 1.5, 1E2 -> 100.0, integers beyond 64 bits -> doubles): the server may canonicalise what
// it stored, nobody may choose another spelling.
bool IsServerSpelling(const std::string& shown, const std::string& stored) {
  if (shown.empty() || stored.empty() || shown[0] != 'f' || stored[0] != 'f') return false;
  const json value = json::parse(std::string_view(stored).substr(1), nullptr, /*allow_exceptions=*/false);
  return !value.is_discarded() && value.is_number_float() && value.dump() == std::string_view(shown).substr(1);
}

// Token trees equal (objects as unordered maps), numbers as IsServerSpelling allows. Iterative.
bool SameTokens(const json& shown, const json& stored) {
  std::vector<std::pair<const json*, const json*>> todo = {{&shown, &stored}};
  while (!todo.empty()) {
    const auto [a, b] = todo.back();
    todo.pop_back();
    if (a->type() != b->type() || ((a->is_object() || a->is_array()) && a->size() != b->size())) return false;
    if (a->is_object()) {
      for (auto it = a->begin(); it != a->end(); ++it) {
        const auto found = b->find(it.key());
        if (found == b->end()) return false;
        todo.emplace_back(&it.value(), &*found);
      }
    } else if (a->is_array()) {
      for (size_t i = 0; i < a->size(); ++i) todo.emplace_back(&(*a)[i], &(*b)[i]);
    } else if (*a != *b) {
      if (!a->is_string() || !IsServerSpelling(a->get_ref<const std::string&>(), b->get_ref<const std::string&>())) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

Status CheckShownAgainstStored(std::string_view shown_text, std::string_view stored_text,
                               const ShownFields& fields) {
  json stored;
  if (!ParseTokenTree(stored_text, &stored)) {
    return Status::DataLoss("the stored form is not JSON, repeats a member name or nests too deep");
  }
  json shown;
  if (!ParseTokenTree(shown_text, &shown)) {
    return Status::DataLoss("the data is not JSON, repeats a member name or nests too deep");
  }
  std::set<std::string> listed;
  size_t listed_count = 0;
  for (const auto* list : {&fields.masked, &fields.erased, &fields.revealed}) {
    listed.insert(list->begin(), list->end());
    listed_count += list->size();
  }
  if (listed.size() != listed_count) return Status::DataLoss("a protected field is listed twice");
  // The server never protects the whole document (a rule names fields): the root listed would
  // let whoever alters responses show anything at all.
  if (listed.count("") != 0) return Status::DataLoss("the root is listed as a protected field");
  // Exactly the encrypted fields: a field the stored form has in clear may not be listed (else
  // whoever alters responses could list any clear field and show anything there). The server
  // sends no stored form for an event that masks a clear field (a rule added after the event
  // was written): that event's data stays unchecked.
  CAIRN_RETURN_IF_ERROR(CheckEncObjectsAreListed(stored, listed));
  for (const std::string& pointer : listed) {
    try {
      const json::json_pointer at(pointer);
      // Replaced where it is, never created: data that leaves a protected field out (or an array
      // shorter than the stored one) is not the stored form.
      if (!shown.contains(at)) return Status::DataLoss("a listed protected field is missing from the data");
      shown[at] = stored.at(at);
    } catch (const json::exception&) {
      return Status::DataLoss("a listed protected field is not in the stored form");
    }
  }
  if (!SameTokens(shown, stored)) {
    return Status::DataLoss("the data differs from the stored form outside its protected fields");
  }
  return Status::Ok();
}

}  // namespace cairn
