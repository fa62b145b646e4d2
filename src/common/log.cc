#include "common/log.h"
#include "common/wall_clock.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

namespace cairn::log {
namespace {

std::atomic<uint8_t> g_level{static_cast<uint8_t>(Level::kInfo)};

// The test sink; guarded by g_sink_mu (also taken by Write so a sink never runs concurrently).
std::mutex g_sink_mu;
std::function<void(std::string_view)>* g_sink = nullptr;

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // "…"
constexpr std::string_view kReplacement = "\\ufffd";    // one invalid byte, escaped
// The message keeps at least this many bytes of the line when other fields are long.
constexpr size_t kMessageReserveBytes = 1024;
constexpr int kWriteAttemptsMax = 16;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (overlong forms,
// surrogates and values above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

// The escaped form of the character at s[i] (one code point, or one invalid byte) into `piece`;
// returns the number of input bytes it covers.
size_t EscapeOne(std::string_view s, size_t i, std::string* piece) {
  piece->clear();
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t len = Utf8SequenceLength(s, i);
  if (len == 0) {
    piece->append(kReplacement);
    return 1;
  }
  if (len > 1) {
    // U+2028/U+2029 are valid JSON but break JavaScript-based line readers: escape them.
    if (len == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      piece->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
    } else {
      piece->append(s.substr(i, len));
    }
    return len;
  }
  switch (c) {
    case '"': piece->append("\\\""); break;
    case '\\': piece->append("\\\\"); break;
    case '\n': piece->append("\\n"); break;
    case '\r': piece->append("\\r"); break;
    case '\t': piece->append("\\t"); break;
    default:
      if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        piece->append(buf);
      } else {
        piece->push_back(static_cast<char>(c));
      }
  }
  return 1;
}

// Appends the JSON-escaped `value` (without quotes) using at most `budget` bytes. When it does not
// fit it is cut at a character boundary and ends with "…" (inside the budget); returns false when
// it was cut. A budget below the ellipsis yields nothing.
bool AppendEscaped(std::string* out, std::string_view value, size_t budget) {
  std::string piece;
  const size_t start = out->size();
  for (size_t i = 0; i < value.size();) {
    const size_t used = EscapeOne(value, i, &piece);
    const size_t written = out->size() - start;
    if (written + piece.size() > budget) {
      // Cut: drop characters until the ellipsis fits. Pieces are whole characters or escapes, so
      // cut only at a piece boundary: remember piece boundaries by re-escaping from the start.
      out->resize(start);
      if (budget < kEllipsis.size()) return false;
      const size_t keep_budget = budget - kEllipsis.size();
      for (size_t j = 0; j < value.size();) {
        const size_t n = EscapeOne(value, j, &piece);
        if (out->size() - start + piece.size() > keep_budget) break;
        out->append(piece);
        j += n;
      }
      out->append(kEllipsis);
      return false;
    }
    out->append(piece);
    i += used;
  }
  return true;
}

bool IsReservedName(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kReserved = {
      "@timestamp", "log.level", "message", "event.action",
      "event.outcome", "source.ip", "user.id", "trace.id"};
  for (std::string_view r : kReserved) {
    if (r == name) return true;
  }
  return false;
}

// `,"name":"value"` within `*budget` bytes; nothing (and false) when not even the name and a short
// value fit. Decrements the budget by what was written.
bool AppendField(std::string* out, std::string_view name, std::string_view value, size_t* budget) {
  const size_t start = out->size();
  out->append(",\"");
  AppendEscaped(out, name, SIZE_MAX);
  out->append("\":\"");
  const size_t head = out->size() - start;
  if (head + 1 + kEllipsis.size() > *budget) {  // +1 for the closing quote
    out->resize(start);
    return false;
  }
  AppendEscaped(out, value, *budget - head - 1);
  out->push_back('"');
  *budget -= out->size() - start;
  return true;
}

std::string Timestamp(int64_t time_unix_ms) {
  const time_t secs = static_cast<time_t>(time_unix_ms / 1000);
  int ms = static_cast<int>(time_unix_ms % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  if (ms < 0) ms += 1000;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

void WriteToStderr(const std::string& text) {
  size_t off = 0;
  for (int attempt = 0; attempt < kWriteAttemptsMax && off < text.size(); ++attempt) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;  // nowhere left to report it
    }
    off += static_cast<size_t>(n);
  }
}

// The lines waiting for the writer thread. Write() only queues (never blocks on stderr): a slow
// or stalled reader of stderr (a log shipper, a container runtime, a parent that stopped reading)
// then costs dropped lines, counted, instead of every thread that logs — the audit trail's
// writer among them — waiting on a full pipe.
class LineQueue {
 public:
  // False when full (the line is dropped and counted).
  bool Push(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (lines_.size() >= kLogQueueLinesMax || bytes_ + line.size() > kLogQueueBytesMax) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (!writer_started_) {
      writer_started_ = true;
      std::thread([this] { WriteLoop(); }).detach();  // lives as long as the process
      std::atexit([] { Flush(kLogFlushAtExitMs); });
    }
    bytes_ += line.size();
    lines_.push_back(std::move(line));
    pending_.fetch_add(1, std::memory_order_release);
    assert(lines_.size() <= kLogQueueLinesMax && bytes_ <= kLogQueueBytesMax);
    ready_.notify_one();
    return true;
  }

  bool WaitEmpty(int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return lines_.empty() && !writing_; });
  }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Lines queued and not yet written; lock-free (read from signal handlers).
  size_t pending() const { return pending_.load(std::memory_order_acquire); }

 private:
  void WriteLoop() {
    std::string batch;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ready_.wait(lock, [&] { return !lines_.empty(); });
      writing_ = true;
      batch.clear();
      size_t batch_lines = 0;
      do {  // whole lines, at least one
        if (!batch.empty() && batch.size() + lines_.front().size() > kLogWriteBatchBytesMax) break;
        batch.append(lines_.front());
        bytes_ -= lines_.front().size();
        lines_.pop_front();
        ++batch_lines;
      } while (!lines_.empty());
      lock.unlock();
      WriteToStderr(batch);
      pending_.fetch_sub(batch_lines, std::memory_order_release);
      ReportDrops();
      lock.lock();
      writing_ = false;
      if (lines_.empty()) idle_.notify_all();
    }
  }

  // One line saying how many lines were dropped since the last such line (outside the lock).
  void ReportDrops() {
    const uint64_t dropped = dropped_.load(std::memory_order_relaxed);
    if (dropped == dropped_reported_) return;
    const uint64_t since = dropped - dropped_reported_;
    dropped_reported_ = dropped;
    WriteToStderr(FormatLine(Level::kWarn, "log lines dropped: stderr is not read fast enough",
                             {.extra = {{"cairn.dropped_lines", std::to_string(since)}}},
                             NowUnixMs()) +
                  "\n");
  }

  std::mutex mu_;
  std::condition_variable ready_;  // lines_ gained a line
  std::condition_variable idle_;   // lines_ emptied and written
  std::deque<std::string> lines_;  // guarded by mu_; each ends with '\n'
  size_t bytes_ = 0;               // guarded by mu_
  bool writing_ = false;           // guarded by mu_
  bool writer_started_ = false;    // guarded by mu_
  std::atomic<uint64_t> dropped_{0};
  std::atomic<size_t> pending_{0};  // lines pushed and not yet written
  static_assert(std::atomic<size_t>::is_always_lock_free);
  uint64_t dropped_reported_ = 0;  // the writer thread only
};

// Never destroyed: the detached writer and atexit flush may run during static destruction.
LineQueue& Queue() {
  static LineQueue* queue = new LineQueue();
  return *queue;
}
std::atomic<LineQueue*> g_queue_for_crash{nullptr};

// Crash flush (InstallCrashFlush): the actions the handler replaced, restored before it returns.
constexpr std::array<int, 5> kCrashSignals = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
std::array<struct sigaction, kCrashSignals.size()> g_previous_actions{};
std::atomic<bool> g_crash_flush_installed{false};
constexpr long kCrashFlushPollNs = 5'000'000;  // 5 ms

// Async-signal-safe: only atomics, nanosleep, sigaction and raise. The writer thread keeps
// running while this (crashing) thread waits, unless the crash happened with the queue's lock
// held; then the wait ends at its bound.
void OnCrashSignal(int signal_number, siginfo_t* info, void* /*context*/) {
  LineQueue* queue = g_queue_for_crash.load(std::memory_order_acquire);
  const int64_t polls_max = kLogFlushOnCrashMs * 1'000'000 / kCrashFlushPollNs;
  for (int64_t i = 0; queue != nullptr && queue->pending() > 0 && i < polls_max; ++i) {
    const struct timespec pause = {0, kCrashFlushPollNs};
    nanosleep(&pause, nullptr);
  }
  for (size_t i = 0; i < kCrashSignals.size(); ++i) {
    if (kCrashSignals[i] == signal_number) sigaction(signal_number, &g_previous_actions[i], nullptr);
  }
  // The previous action (the default: a core dump; or a sanitizer's or crash reporter's handler)
  // then handles the signal as if this handler had never been there. A sent signal (kill,
  // raise, abort(): si_code <= 0) is raised again for it — returning would let abort() go
  // straight to the default action, and a process killed with SIGSEGV survive. A fault
  // (si_code > 0) returns: the instruction faults again, with its context, under that action.
  if (info == nullptr || info->si_code <= 0) raise(signal_number);
}

}  // namespace

void InstallCrashFlush() {
  if (g_crash_flush_installed.exchange(true)) return;
  g_queue_for_crash.store(&Queue(), std::memory_order_release);
  for (size_t i = 0; i < kCrashSignals.size(); ++i) {
    struct sigaction action {};
    action.sa_sigaction = OnCrashSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigaction(kCrashSignals[i], &action, &g_previous_actions[i]);
  }
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(l)) return l;
  }
  return std::nullopt;
}

void SetLevel(Level level) { g_level.store(static_cast<uint8_t>(level), std::memory_order_relaxed); }

Level CurrentLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool Enabled(Level level) {
  return static_cast<uint8_t>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string FormatLine(Level level, std::string_view message, const Fields& fields,
                       int64_t time_unix_ms) {
  std::string line;
  line.reserve(256);
  line.append("{\"@timestamp\":\"");
  line.append(Timestamp(time_unix_ms));
  line.append("\",\"log.level\":\"");
  line.append(LevelName(level));
  line.append("\",\"message\":\"");
  const size_t head_bytes = line.size();

  // The fields after the message first (into `tail`), so the message gets what is left.
  assert(kLogLineBytesMax > head_bytes + kMessageReserveBytes + 2);
  size_t tail_budget = kLogLineBytesMax - head_bytes - kMessageReserveBytes - 2;  // `"` and `}`
  std::string tail;
  const std::pair<std::string_view, std::string_view> ecs[] = {
      {"event.action", fields.action},   {"event.outcome", fields.outcome},
      {"source.ip", fields.source_ip},   {"user.id", fields.user_id},
      {"trace.id", fields.trace_id}};
  for (const auto& [name, value] : ecs) {
    if (!value.empty()) AppendField(&tail, name, value, &tail_budget);
  }
  size_t extras = 0;
  for (const auto& [name, value] : fields.extra) {
    if (extras == kLogExtraFieldsMax) break;
    if (IsReservedName(name)) continue;
    ++extras;
    AppendField(&tail, name, value, &tail_budget);
  }

  const size_t message_budget = kLogLineBytesMax - head_bytes - tail.size() - 2;
  AppendEscaped(&line, message, message_budget);
  line.push_back('"');
  line.append(tail);
  line.push_back('}');
  assert(line.size() <= kLogLineBytesMax);
  return line;
}

void Write(Level level, std::string_view message, const Fields& fields) {
  if (!Enabled(level)) return;
  std::string line = FormatLine(level, message, fields, NowUnixMs());
  {
    std::lock_guard<std::mutex> lock(g_sink_mu);
    if (g_sink != nullptr) {
      (*g_sink)(line);
      return;
    }
  }
  line.push_back('\n');
  Queue().Push(std::move(line));
}

bool Flush(int64_t timeout_ms) { return Queue().WaitEmpty(timeout_ms); }

uint64_t DroppedLines() { return Queue().dropped(); }

void SetSinkForTest(std::function<void(std::string_view line)> sink) {
  std::lock_guard<std::mutex> lock(g_sink_mu);
  delete g_sink;
  g_sink = sink ? new std::function<void(std::string_view)>(std::move(sink)) : nullptr;
}

}  // namespace cairn::log
