// Structured logs: one JSON object per line on stderr, with ECS-style field names, so that the
// log shippers operators already run (Filebeat, Fluent Bit, Vector, CloudWatch) parse them
// without configuration.
//
//   {"@timestamp":"2026-11-30T17:01:02.123Z","log.level":"warn","message":"authentication failed",
//    "event.action":"auth","event.outcome":"failure","source.ip":"127.0.0.1","user.id":"",
//    "trace.id":"…","cairn.reason":"invalid token"}
//
// Fields: `@timestamp` (RFC 3339, UTC, milliseconds), `log.level` (debug|info|warn|error),
// `message`, then the non-empty ones of `event.action`, `event.outcome`, `source.ip`, `user.id`,
// `trace.id`, then `extra` as given (names should be dotted ECS names or `cairn.*`).
// Every value is JSON-escaped; control characters and invalid UTF-8 never reach the output raw.
//
// What must never be logged: secrets, tokens, credentials, key bytes, event payloads, personal
// data. Callers pass identifiers (stream ids, positions, principal ids, key ids) and fixed reason
// texts only; the logger cannot tell the difference, so this is the caller's contract.
//
// Thread safety: every function is thread-safe. Write() never blocks on stderr: it queues the
// line (at most kLogQueueLinesMax lines / kLogQueueBytesMax bytes) for one writer thread, which
// writes whole lines in order, so lines never interleave. When stderr is read too slowly and the
// queue is full, lines are dropped and counted (DroppedLines(); the writer then logs how many):
// a stalled log reader never stalls the threads that log, such as the audit trail's writer.
// Queued lines are flushed at exit (for up to kLogFlushAtExitMs), and, once InstallCrashFlush()
// was called, when the process crashes (for up to kLogFlushOnCrashMs); call Flush() before ending
// the process some other way. Lines longer than kLogLineBytesMax are cut at a character boundary and
// end with "…" inside the message (the line stays valid JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::log {

inline constexpr size_t kLogLineBytesMax = 16384;
inline constexpr size_t kLogExtraFieldsMax = 16;
inline constexpr size_t kLogQueueLinesMax = 8192;
inline constexpr size_t kLogQueueBytesMax = 8 << 20;
// One write(2) carries whole lines up to this many bytes (a longer line alone): at most
// PIPE_BUF, so that a line never interleaves with what other writers (gRPC, stdio) put on the
// same pipe.
inline constexpr size_t kLogWriteBatchBytesMax = 4096;
inline constexpr int64_t kLogFlushAtExitMs = 2000;
inline constexpr int64_t kLogFlushOnCrashMs = 1000;

enum class Level : uint8_t { kDebug = 0, kInfo, kWarn, kError };

const char* LevelName(Level level);                       // "debug" | "info" | "warn" | "error"
std::optional<Level> ParseLevel(std::string_view name);  // exact names above; nullopt otherwise

struct Fields {
  std::string_view action{};     // event.action: "auth", "append", "policy.reload", "scrub", ...
  std::string_view outcome{};    // event.outcome: "success" | "failure" | "unknown"
  std::string_view source_ip{};  // source.ip
  std::string_view user_id{};    // user.id: the principal id
  std::string_view trace_id{};   // trace.id: the request id
  // Further fields, at most kLogExtraFieldsMax (the rest are dropped): name → value (string).
  std::vector<std::pair<std::string_view, std::string>> extra{};
};

// The minimum level written (default kInfo). Lines below it cost one atomic load.
void SetLevel(Level level);
Level CurrentLevel();
bool Enabled(Level level);

void Write(Level level, std::string_view message, const Fields& fields = {});
inline void Debug(std::string_view m, const Fields& f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const Fields& f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const Fields& f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const Fields& f = {}) { Write(Level::kError, m, f); }

// Waits until every line queued so far is written, at most `timeout_ms`; false on timeout.
bool Flush(int64_t timeout_ms);
// Makes a crash (SIGABRT from a failed assert or abort(), SIGSEGV, SIGBUS, SIGILL, SIGFPE) wait
// up to kLogFlushOnCrashMs for the queued lines to be written, so that what was logged just
// before it is not lost; then the signal's previous action (a core dump, a sanitizer's report)
// handles it as before. Once per process, before other threads start (the server calls it);
// later calls do nothing. Signals are chained once: the handler removes itself when it runs.
void InstallCrashFlush();
// Lines dropped because the queue was full, since the process started.
uint64_t DroppedLines();

// The JSON line (without the trailing '\n') Write() would emit; for tests and for sinks that
// forward log lines (alerts).
std::string FormatLine(Level level, std::string_view message, const Fields& fields,
                       int64_t time_unix_ms);

// Tests: capture lines instead of writing them to stderr (null restores stderr). Not for
// production code.
void SetSinkForTest(std::function<void(std::string_view line)> sink);

}  // namespace cairn::log
