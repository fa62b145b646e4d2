#include "common/log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace cairn::log {
namespace CAIRN_UNITY_ID {

using nlohmann::json;

// Captures lines written through Write() for the lifetime of the object; restores the level.
class CapturedLog {
 public:
  CapturedLog() : saved_level_(CurrentLevel()) {
    SetSinkForTest([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~CapturedLog() {
    SetSinkForTest(nullptr);
    SetLevel(saved_level_);
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  Level saved_level_;
  std::mutex mu_;
  std::vector<std::string> lines_;
};

bool HasRawControlByte(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

TEST(Log, LineIsJsonWithEcsFieldsInOrder) {
  Fields f{.action = "auth", .outcome = "failure", .source_ip = "127.0.0.1", .user_id = "alice",
           .trace_id = "req-1", .extra = {{"cairn.reason", "invalid token"}}};
  std::string line = FormatLine(Level::kWarn, "authentication failed", f, 123);
  EXPECT_EQ(line,
            R"({"@timestamp":"1970-01-01T00:00:00.123Z","log.level":"warn",)"
            R"("message":"authentication failed","event.action":"auth","event.outcome":"failure",)"
            R"("source.ip":"127.0.0.1","user.id":"alice","trace.id":"req-1",)"
            R"("cairn.reason":"invalid token"})");
  json j = json::parse(line);
  EXPECT_EQ(j["log.level"], "warn");
  EXPECT_EQ(j["cairn.reason"], "invalid token");
}

TEST(Log, EmptyFieldsAreLeftOutAndTimestampIsRfc3339Utc) {
  // 2026-11-30T17:01:02.045Z
  std::string line = FormatLine(Level::kInfo, "started", {}, 1796058062045);
  json j = json::parse(line);
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j["@timestamp"], "2026-11-30T17:01:02.045Z");
  EXPECT_EQ(j["message"], "started");
}

TEST(Log, ControlCharactersQuotesAndBackslashesAreEscaped) {
  std::string nasty = "a\"b\\c\nd\re\tf";
  nasty.push_back('\0');
  nasty += "\x01\x1f\x7f g";
  nasty += "\xE2\x80\xA8";  // U+2028
  std::string line = FormatLine(Level::kInfo, nasty, {.extra = {{"cairn.x", nasty}}}, 0);
  EXPECT_FALSE(HasRawControlByte(line)) << line;
  EXPECT_EQ(line.find("\xE2\x80\xA8"), std::string::npos);
  json j = json::parse(line);
  EXPECT_EQ(j["message"].get<std::string>(), nasty);
  EXPECT_EQ(j["cairn.x"].get<std::string>(), nasty);
}

TEST(Log, InvalidUtf8BecomesReplacementCharacters) {
  // A stray continuation byte, a truncated sequence, an overlong '/', a surrogate, > U+10FFFF.
  std::string bad = std::string("ok\x80") + "\xC3" + "(" + "\xC0\xAF" + "\xED\xA0\x80" +
                    "\xF4\x90\x80\x80" + "\xC3\xA9";
  std::string line = FormatLine(Level::kError, bad, {.user_id = bad}, 0);
  json j = json::parse(line);  // throws on invalid UTF-8
  std::string msg = j["message"];
  EXPECT_EQ(msg.substr(0, 2), "ok");
  EXPECT_NE(msg.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(msg.substr(msg.size() - 2), "\xC3\xA9");  // valid é kept
  EXPECT_EQ(j["user.id"].get<std::string>(), msg);
}

TEST(Log, LongMessageIsCutAtCharacterBoundaryAndStaysJson) {
  std::string message;
  for (int i = 0; i < 20000; ++i) message += "\xC3\xA9";  // 40,000 bytes of é
  std::string line = FormatLine(Level::kInfo, message, {.action = "append"}, 0);
  EXPECT_LE(line.size(), kLogLineBytesMax);
  EXPECT_GT(line.size(), kLogLineBytesMax - 16);
  json j = json::parse(line);
  std::string got = j["message"];
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got.substr(got.size() - 3), "\xE2\x80\xA6");  // "…"
  EXPECT_EQ(j["event.action"], "append");
}

TEST(Log, LongEscapesAndLongFieldsAreCutToo) {
  std::string controls(30000, '\x01');  // each escapes to 6 bytes
  const std::string trace(50000, 't');  // Fields holds views: the string must outlive f
  Fields f{.trace_id = trace, .extra = {{"cairn.a", std::string(50000, 'a')},
                                                          {"cairn.b", controls}}};
  std::string line = FormatLine(Level::kInfo, controls, f, 0);
  EXPECT_LE(line.size(), kLogLineBytesMax);
  json j = json::parse(line);
  std::string msg = j["message"];
  EXPECT_GE(msg.size(), 100u) << "the message keeps a reserve";
  EXPECT_EQ(msg.substr(msg.size() - 3), "\xE2\x80\xA6");
  EXPECT_EQ(msg.find_first_not_of('\x01'), msg.size() - 3);
}

TEST(Log, ExtraFieldsAreBoundedAndCannotOverrideEcsFields) {
  Fields f{.action = "auth"};
  f.extra.emplace_back("message", "forged");
  f.extra.emplace_back("event.action", "forged");
  for (int i = 0; i < 40; ++i) f.extra.emplace_back("cairn.k", std::to_string(i));
  std::string line = FormatLine(Level::kInfo, "real", f, 0);
  EXPECT_EQ(line.find("forged"), std::string::npos);
  json j = json::parse(line);
  EXPECT_EQ(j["message"], "real");
  size_t count = 0;
  for (size_t pos = 0; (pos = line.find("\"cairn.k\"", pos)) != std::string::npos; ++pos) ++count;
  EXPECT_EQ(count, kLogExtraFieldsMax);
}

TEST(Log, LevelsFilterAndParse) {
  CapturedLog cap;
  SetLevel(Level::kWarn);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  auto lines = cap.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["log.level"], "warn");
  EXPECT_EQ(json::parse(lines[1])["log.level"], "error");

  SetLevel(Level::kDebug);
  Debug("d");
  EXPECT_EQ(cap.lines().size(), 3u);

  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    EXPECT_EQ(ParseLevel(LevelName(l)), l);
  }
  EXPECT_FALSE(ParseLevel("INFO").has_value());
  EXPECT_FALSE(ParseLevel("warning").has_value());
  EXPECT_FALSE(ParseLevel("").has_value());
}

TEST(Log, ConcurrentWritersProduceWholeLines) {
  CapturedLog cap;
  SetLevel(Level::kInfo);
  constexpr int kThreads = 4, kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) {
        Info("line", {.extra = {{"cairn.t", std::to_string(t)}, {"cairn.i", std::to_string(i)}}});
      }
    });
  }
  for (auto& th : threads) th.join();
  auto lines = cap.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  for (const auto& l : lines) EXPECT_NO_THROW(json::parse(l)) << l;
}

// stderr pointed at a pipe nobody reads (a stalled log shipper): writers must not block, the
// overflow is dropped and counted, and once the pipe is read the writer says how many it dropped.
TEST(Log, AStalledStderrNeitherBlocksWritersNorLosesCountOfDroppedLines) {
  const Level saved_level = CurrentLevel();
  SetLevel(Level::kInfo);
  ASSERT_TRUE(Flush(5000));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved_stderr = ::dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(::dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
  const uint64_t dropped_before = DroppedLines();
  // 2x the queue's line bound, each line ~1 KiB: far beyond the pipe's 64 KiB and the queue.
  const std::string filler(1000, 'x');
  std::promise<void> written;
  std::thread writer([&] {
    for (size_t i = 0; i < 2 * kLogQueueLinesMax; ++i) Info("stalled", {.extra = {{"cairn.f", filler}}});
    written.set_value();
  });
  const bool returned = written.get_future().wait_for(std::chrono::seconds(30)) ==
                        std::future_status::ready;
  EXPECT_TRUE(returned) << "Write() blocked on a stalled stderr";
  EXPECT_GT(DroppedLines(), dropped_before);
  // Start reading: everything queued is written, then the count of dropped lines.
  std::string out;
  std::thread reader([&] {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) return;
      out.append(buf, static_cast<size_t>(n));
    }
  });
  writer.join();
  Info("after the stall");
  EXPECT_TRUE(Flush(30000));
  ASSERT_EQ(::dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
  ::close(saved_stderr);
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  SetLevel(saved_level);
  EXPECT_NE(out.find("log lines dropped"), std::string::npos);
  EXPECT_NE(out.find("\"cairn.dropped_lines\":\""), std::string::npos);
  EXPECT_NE(out.find("after the stall"), std::string::npos) << "the queue works again";
  size_t lines = 0;
  for (size_t at = 0; (at = out.find('\n', at)) != std::string::npos; ++at) ++lines;
  EXPECT_LE(lines, kLogQueueLinesMax + 256) << "bounded by the queue, not by the writers";
}

// A crash (here abort(), as a failed assert ends) waits for the queued lines, so the last lines
// before it reach stderr; the process still dies of the signal. Without InstallCrashFlush the
// line is lost: the writer thread, started by this first line, has not run yet when abort() ends
// the process.
TEST(LogDeathTest, LinesQueuedBeforeACrashReachStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: its own log writer
  EXPECT_DEATH(
      {
        InstallCrashFlush();
        Error("the last line before the crash");
        std::abort();
      },
      "the last line before the crash");
}

// A crash signal sent by another process (or raise) still ends the process after the flush:
// the handler raises it again for the previous action instead of returning into the program.
TEST(LogDeathTest, ASentCrashSignalStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        InstallCrashFlush();
        Error("before the signal");
        ::kill(::getpid(), SIGSEGV);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // delivery is asynchronous
      },
      "before the signal");
}

}  // namespace
}  // namespace cairn::log
