#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cassert>

namespace cairn {

void SetCurrentThreadName(std::string_view name) {
  assert(!name.empty());
  std::array<char, kThreadNameBytesMax + 1> buf{};
  const size_t n = std::min(name.size(), kThreadNameBytesMax);
  name.copy(buf.data(), n);
  (void)pthread_setname_np(pthread_self(), buf.data());  // ERANGE cannot happen: n <= 15
}

std::string CurrentThreadName() {
  std::array<char, kThreadNameBytesMax + 1> buf{};
  if (pthread_getname_np(pthread_self(), buf.data(), buf.size()) != 0) return {};
  return std::string(buf.data());
}

}  // namespace cairn
