// Exit codes of the cairn command: 0 success, 1 the operation failed or its input was invalid,
// 2 the command line itself was wrong (unknown flag, missing argument, malformed value).
#pragma once

namespace cairn::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace cairn::cli
