#include "common/content_type.h"

#include <algorithm>

namespace cairn {
namespace {

// ASCII only (content types are printable ASCII): std::tolower consults the locale per call.
bool EqualsIgnoringCase(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() && std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x) == y;
         });
}

}  // namespace

bool IsJsonContentType(std::string_view ct) {
  ct = ct.substr(0, std::min(ct.find(';'), ct.size()));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  return EqualsIgnoringCase(ct, "application/json") ||
         (ct.size() > 5 && EqualsIgnoringCase(ct.substr(ct.size() - 5), "+json"));
}

}  // namespace cairn
