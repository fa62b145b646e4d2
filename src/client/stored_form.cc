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

}  // namespace

Status CheckShownAgainstStored(std::string_view shown_text, std::string_view stored_text,
                               const std::vector<std::string>& listed) {
  json stored = json::parse(stored_text, nullptr, /*allow_exceptions=*/false);
  json shown = json::parse(shown_text, nullptr, /*allow_exceptions=*/false);
  if (stored.is_discarded()) return Status::DataLoss("the stored form is not JSON");
  if (shown.is_discarded()) return Status::DataLoss("the data is not JSON");
  const std::set<std::string> listed_set(listed.begin(), listed.end());
  if (listed_set.size() != listed.size()) {
    return Status::DataLoss("a protected field is listed twice");
  }
  if (listed_set != EncObjectPointers(stored)) {
    return Status::DataLoss(
        "the fields listed as masked, erased or revealed are not the stored form's protected "
        "fields");
  }
  for (const std::string& pointer : listed) {
    try {
      const json::json_pointer at(pointer);
      shown[at] = stored.at(at);
    } catch (const json::exception&) {
      return Status::DataLoss("a listed protected field is not in the data");
    }
  }
  if (shown != stored) {
    return Status::DataLoss("the data differs from the stored form outside its protected fields");
  }
  return Status::Ok();
}

}  // namespace cairn
