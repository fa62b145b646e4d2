#include "auth/json_strict.h"

#include <set>
#include <string>
#include <vector>

namespace cairn::auth {

std::optional<nlohmann::json> ParseStrictJson(std::string_view text) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys_by_level;
  bool bad = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (bad) return false;
    if (depth < 0 || static_cast<size_t>(depth) > kJsonDepthMax) {
      bad = true;
      return false;
    }
    switch (event) {
      case json::parse_event_t::object_start:
        keys_by_level.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys_by_level.empty()) keys_by_level.pop_back();
        break;
      case json::parse_event_t::key: {
        if (keys_by_level.empty() || !parsed.is_string()) {
          bad = true;
          return false;
        }
        if (!keys_by_level.back().insert(parsed.get<std::string>()).second) {
          bad = true;  // duplicate key
          return false;
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    json value = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
    if (bad || value.is_discarded()) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace cairn::auth
