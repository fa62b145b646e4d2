// Reading a file whose content decides security: a policy, protection rules, a configuration.
//
// ReadTrustedFile refuses what an attacker with a foothold could use: a file that is not a
// regular file, a file that others may write (whoever can write it can switch the control off),
// and a file larger than `size_bytes_max` (also if it grew while being read). `what` names the
// file in errors ("policy file", "rules file"). Errors: kNotFound (missing), kInvalidArgument
// (not a regular file), kFailedPrecondition (writable by others), kResourceExhausted (too large),
// kIOError (anything else).
//
// Thread safety: a free function; safe to call concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn {

Result<std::string> ReadTrustedFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max);

}  // namespace cairn
