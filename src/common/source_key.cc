#include "common/source_key.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace cairn {

std::string SourceKey(std::string_view address) {
  std::string text(address.substr(0, kSourceKeySizeBytesMax));
  in6_addr v6{};
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), &v6) != 1) {
    return text;
  }
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char out[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(v6.s6_addr, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    inet_ntop(AF_INET, v6.s6_addr + 12, out, sizeof out);
    return out;
  }
  std::memset(v6.s6_addr + 8, 0, 8);
  inet_ntop(AF_INET6, &v6, out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace cairn
