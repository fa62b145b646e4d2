// Error reporting: one line on stderr, prefixed "cairn: ", saying what happened in the user's
// terms. Messages are passed through TerminalSafe; they never contain secrets (engine messages
// carry identifiers only, see common/status.h).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::cli {

// Prints "cairn: <message>\n" to stderr.
void PrintError(std::string_view message);

// The user-facing text of a failed engine call. `stream` names the stream the call was about
// (empty when none): it lets stream errors say which stream is at which version.
std::string DescribeStatus(const Status& status, std::string_view stream = {});

// Prints DescribeStatus(status, stream) and returns kExitFailure.
int Fail(const Status& status, std::string_view stream = {});
// Prints the message and returns kExitUsage.
int UsageError(std::string_view message);

}  // namespace cairn::cli
