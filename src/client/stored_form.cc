#include "client/stored_form.h"

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

// The pointers of every object with a "$enc" member (not descending into them). Iterative, so a
// deeply nested document cannot exhaust the stack.
std::set<std::string> EncObjectPointers(const json& root) {
  std::set<std::string> out;
  std::vector<std::pair<const json*, std::string>> todo = {{&root, ""}};
  while (!todo.empty()) {
    auto [node, pointer] = std::move(todo.back());
    todo.pop_back();
    if (node->is_object()) {
      if (node->contains("$enc")) {
        out.insert(pointer);
        continue;
      }
      for (auto it = node->begin(); it != node->end(); ++it) {
        todo.emplace_back(&it.value(), pointer + "/" + EscapeToken(it.key()));
      }
    } else if (node->is_array()) {
      for (size_t i = 0; i < node->size(); ++i) {
        todo.emplace_back(&(*node)[i], pointer + "/" + std::to_string(i));
      }
    }
  }
  return out;
}

// Parses `text` into *out; false when it is not JSON or an object repeats a member name (nlohmann
// keeps the last; another parser may keep the first, so the checked and the used data differ).
bool ParseWithoutDuplicateNames(std::string_view text, json* out) {
  std::vector<std::set<std::string>> names;  // per open object
  bool duplicate = false;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: names.emplace_back(); break;
      case json::parse_event_t::object_end: names.pop_back(); break;
      case json::parse_event_t::key:
        if (!names.back().insert(parsed.get<std::string>()).second) duplicate = true;
        break;
      default: break;
    }
    return true;
  };
  *out = json::parse(text, callback, /*allow_exceptions=*/false);
  return !out->is_discarded() && !duplicate;
}

}  // namespace

Status CheckShownAgainstStored(std::string_view shown_text, std::string_view stored_text,
                               const ShownFields& fields) {
  json stored = json::parse(stored_text, nullptr, /*allow_exceptions=*/false);
  if (stored.is_discarded()) return Status::DataLoss("the stored form is not JSON");
  json shown;
  if (!ParseWithoutDuplicateNames(shown_text, &shown)) {
    return Status::DataLoss("the data is not JSON, or repeats a member name");
  }
  const std::set<std::string> enc = EncObjectPointers(stored);
  std::set<std::string> listed;
  size_t listed_count = 0;
  for (const auto* list : {&fields.masked, &fields.erased, &fields.revealed}) {
    listed.insert(list->begin(), list->end());
    listed_count += list->size();
  }
  if (listed.size() != listed_count) return Status::DataLoss("a protected field is listed twice");
  // Exactly the encrypted fields: a field the stored form has in clear may not be listed (else
  // whoever alters responses could list any clear field, or the root, and show anything there).
  // The server sends no stored form for an event that masks a clear field (a rule added after
  // the event was written): that event's data stays unchecked.
  if (listed != enc) {
    return Status::DataLoss(
        "the fields listed as masked, erased or revealed are not the stored form's encrypted "
        "fields");
  }
  for (const std::string& pointer : listed) {
    try {
      const json::json_pointer at(pointer);
      shown[at] = stored.at(at);
    } catch (const json::exception&) {
      return Status::DataLoss("a listed protected field is not in the stored form");
    }
  }
  if (shown != stored) {
    return Status::DataLoss("the data differs from the stored form outside its protected fields");
  }
  return Status::Ok();
}

}  // namespace cairn
