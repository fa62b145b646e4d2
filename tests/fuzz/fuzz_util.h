// Helpers shared by the fuzz targets of tests/fuzz. A fuzz target must never crash, leak, hang or
// trip a sanitizer on any input; a property it checks that fails aborts through FUZZ_CHECK, which
// libFuzzer reports as a crash (and the replayer as a failed test).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace cairn::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace cairn::fuzz
