// Thread names: every long-lived thread cairn starts names itself ("cairn-sequencer",
// "cairn-scrub", ...) so that `top -H`, `ps -L`, `perf` and a debugger show which part of the
// server uses the CPU or is stuck. docs/operations.md lists the names.
//
// Linux keeps at most kThreadNameBytesMax bytes of a name; a longer one is cut there (at a byte,
// names are ASCII). Setting the name never fails the caller: an error of the kernel is ignored.
//
// Thread safety: names the calling thread only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn {

inline constexpr size_t kThreadNameBytesMax = 15;

void SetCurrentThreadName(std::string_view name);

// The calling thread's name as the kernel holds it (for tests and diagnostics).
std::string CurrentThreadName();

}  // namespace cairn
