#include "cli/errors.h"

#include <iostream>

#include "cli/exit_codes.h"
#include "cli/utf8.h"

namespace cairn::cli {
namespace {

std::string Quoted(std::string_view stream) { return "'" + std::string(stream) + "'"; }

std::string DescribeWrongVersion(const Status& status, std::string_view stream) {
  const int64_t current = status.detail().value_or(-1);
  const std::string name = stream.empty() ? "the stream" : "stream " + Quoted(stream);
  if (current < 0) return "wrong expected version: " + name + " does not exist";
  return "wrong expected version: " + name + " is at version " + std::to_string(current);
}

}  // namespace

void PrintError(std::string_view message) {
  std::cerr << "cairn: " << TerminalSafe(message) << "\n";
}

std::string DescribeStatus(const Status& status, std::string_view stream) {
  switch (status.code()) {
    case StatusCode::kWrongExpectedVersion:
      return DescribeWrongVersion(status, stream);
    case StatusCode::kStreamDeleted:
      if (!stream.empty()) return "stream " + Quoted(stream) + " is deleted";
      return status.message();
    case StatusCode::kResourceExhausted:
      return "limit exceeded: " + status.message();
    case StatusCode::kInvalidArgument:
      return "invalid input: " + status.message();
    case StatusCode::kDataLoss:
      return "integrity failure: " + status.message();
    case StatusCode::kIOError:
      return "storage error: " + status.message();
    case StatusCode::kInternal:
      return "internal error: " + status.message();
    default:
      // kUnavailable (a locked directory names its holder), kNotFound, kAlreadyExists, ...:
      // the engine's message already says what happened.
      return status.message();
  }
}

int Fail(const Status& status, std::string_view stream) {
  PrintError(DescribeStatus(status, stream));
  return kExitFailure;
}

int UsageError(std::string_view message) {
  PrintError(message);
  return kExitUsage;
}

}  // namespace cairn::cli
