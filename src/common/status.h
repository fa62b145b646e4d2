// Status and Result<T>: errors as values across module boundaries.
//
// A Status is either OK or carries a code and a human-readable message. Messages never contain
// secrets or personal data: callers put identifiers (positions, stream ids, key ids) in them,
// never key bytes, tokens or event payloads. Some codes carry one integer detail a program can act
// on (the current stream version of a wrong-expected-version error, the bad position of an
// integrity failure).
//
// Thread safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cairn {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,       // the caller's input is malformed; nothing was done
  kNotFound,              // the stream, position or key does not exist
  kAlreadyExists,         // e.g. `init` on an initialised directory
  kWrongExpectedVersion,  // detail = current stream version (-1 when the stream does not exist)
  kStreamDeleted,         // the stream is tombstoned
  kResourceExhausted,     // a configured limit was exceeded (size, count, queue); from a
                          // server's append quota, detail = milliseconds to wait before retrying
  kFailedPrecondition,    // the system is not in a state that allows the call
  kPermissionDenied,
  kUnauthenticated,
  kAborted,               // a concurrent writer won; the caller may retry
  kUnavailable,           // transiently unavailable (shutting down, KMS down, locked)
  kDataLoss,              // integrity failure; detail = first bad position when known
  kIOError,               // the storage layer failed
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, std::optional<int64_t> detail = std::nullopt)
      : code_(code), message_(std::move(message)), detail_(detail) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status WrongExpectedVersion(std::string m, int64_t current_version) {
    return {StatusCode::kWrongExpectedVersion, std::move(m), current_version};
  }
  static Status StreamDeleted(std::string m) { return {StatusCode::kStreamDeleted, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DataLoss(std::string m, std::optional<int64_t> position = std::nullopt) {
    return {StatusCode::kDataLoss, std::move(m), position};
  }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::optional<int64_t> detail() const { return detail_; }
  // "CODE_NAME: message"
  std::string ToString() const;

  // Prefixes the message with context ("opening store: ...") keeping code and detail.
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_, detail_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<int64_t> detail_;
};

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cairn

#define CAIRN_CONCAT_INNER(a, b) a##b
#define CAIRN_CONCAT(a, b) CAIRN_CONCAT_INNER(a, b)

#define CAIRN_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::cairn::Status cairn_status_ = (expr);      \
    if (!cairn_status_.ok()) return cairn_status_; \
  } while (0)

#define CAIRN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define CAIRN_ASSIGN_OR_RETURN(lhs, expr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL(CAIRN_CONCAT(cairn_result_, __LINE__), lhs, expr)
