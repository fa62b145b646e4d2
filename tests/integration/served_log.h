// Helpers for tests of what a server's admin listener serves to monitors and auditors
// (/checkpoint, /tile/...): a fixture with a running server and its verifier key, and a proxy
// that lies (alters tiles or serves another checkpoint). Loopback only.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "auth/http_fetch.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "loopback_http.h"
#include "server/admin_http.h"
#include "server_env.h"
#include "test_util.h"

namespace cairn::testing {

// A dev server (ServerEnv) started in SetUp, with the log's verifier key text and admin URL.
class ServedLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto vkey = RunCairn({"vkey", "--data-dir", env.DataDir()});
    ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
    log_key = vkey.out.substr(0, vkey.out.find('\n'));
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin_url = "http://127.0.0.1:" + std::to_string(env.server().admin_port());
  }

  // Appends `n` OrderCreated events (JSON with a non-ASCII string) in batches of 100 over the
  // streams orders-0, orders-1 and orders-2.
  void Append(int n) {
    auto client = env.ClientWith(env.admin_key);
    for (int done = 0; done < n;) {
      v1::AppendRequest request;
      request.set_stream("orders-" + std::to_string(done % 3));
      for (int i = 0; i < 100 && done < n; ++i, ++done) {
        auto* event = request.add_events();
        event->set_type("OrderCreated");
        event->set_data("{\"n\":" + std::to_string(done) + ",\"note\":\"caf\xC3\xA9\"}");
      }
      auto appended = client->Append(request);
      ASSERT_TRUE(appended.ok()) << appended.status().ToString();
    }
  }

  // Polls /checkpoint until it is signed by the log's key at `size` (the background checkpointer
  // signs about every second) and returns the note; "" with a failure after 20 s.
  std::string WaitNote(uint64_t size) {
    const auto key = integrity::ParseVerifierKey(log_key).value();
    for (int waited_ms = 0; waited_ms < 20000; waited_ms += 100) {
      const std::string note = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint"));
      auto checkpoint = integrity::VerifyCheckpoint(note, key);
      if (checkpoint.ok() && checkpoint->size == size) return note;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "no checkpoint of size " << size << " in time";
    return "";
  }

  // WaitNote, parsed.
  integrity::Checkpoint WaitCheckpoint(uint64_t size) {
    const std::string note = WaitNote(size);
    if (note.empty()) return {};
    return integrity::VerifyCheckpoint(note, integrity::ParseVerifierKey(log_key).value()).value();
  }

  // A checkpoint of another, fresh log (its own key): what an impostor would serve.
  std::string AnotherLogsCheckpoint() {
    TempDir other;
    EXPECT_EQ(RunCairn({"init", "--data-dir", other.Sub("data")}).exit_code, 0);
    auto checkpoint = RunCairn({"checkpoint", "--data-dir", other.Sub("data")});
    EXPECT_EQ(checkpoint.exit_code, 0) << checkpoint.err;
    return checkpoint.out;
  }

  ServerEnv env;
  std::string log_key, admin_url;
};

// A proxy in front of the admin listener that passes /checkpoint on (or replaces it) and either
// flips one bit of every level 0 tile it serves (kFlip), or answers 404 for the partial level 0
// tiles, as a log that drops them once the full tile exists may (kDropPartial).
struct LyingProxy {
  enum Mode { kFlip, kDropPartial };
  LyingProxy(int admin_port, std::string checkpoint_override, Mode mode = kFlip) {
    const std::string upstream = "http://127.0.0.1:" + std::to_string(admin_port);
    std::map<std::string, server::HttpHandler> routes;
    routes["/checkpoint"] = [upstream, checkpoint_override] {
      if (!checkpoint_override.empty()) return server::HttpResponse{200, "text/plain; charset=utf-8", checkpoint_override};
      auto note = auth::HttpGet(upstream + "/checkpoint", auth::HttpGetOptions{});
      return server::HttpResponse{note.ok() ? 200 : 503, "text/plain; charset=utf-8",
                                  note.ok() ? *note : "down\n"};
    };
    std::map<std::string, server::HttpPathHandler> prefixes;
    prefixes["/tile/"] = [upstream, mode](std::string_view path) {
      const bool level0 = path.rfind("/tile/0/", 0) == 0;
      auto tile = auth::HttpGet(upstream + std::string(path), auth::HttpGetOptions{});
      if (!tile.ok() || (mode == kDropPartial && level0 && path.find(".p/") != path.npos)) {
        return server::HttpResponse{404, "text/plain; charset=utf-8", "no\n"};
      }
      if (mode == kFlip && level0 && !tile->empty()) (*tile)[0] ^= 1;
      return server::HttpResponse{200, "application/octet-stream", *tile};
    };
    server::AdminHttpOptions options;
    options.listen = "127.0.0.1:0";
    auto started = server::AdminHttpServer::Start(options, std::move(routes), {}, std::move(prefixes));
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (started.ok()) http = std::move(started).value();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http->port()); }

  std::unique_ptr<server::AdminHttpServer> http;
};

}  // namespace cairn::testing
