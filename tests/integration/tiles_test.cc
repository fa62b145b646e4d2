// C2SP tlog-tiles on a running server's admin listener: a client that has nothing but the log's
// verifier key and the admin URL proves inclusion and consistency from the tiles, and
// `cairn checkpoint --log-url` witnesses the log through them. Negative: a proxy that alters
// one tile or serves another log's checkpoint is caught, and the kept checkpoint stays.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "auth/http_fetch.h"
#include "common/bytes.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "integrity/proof.h"
#include "integrity/tile.h"
#include "loopback_http.h"
#include "served_log.h"
#include "engine/event_store.h"
#include "server/admin_http.h"
#include "server/checkpoint_route.h"
#include "server/tile_route.h"
#include "server_env.h"
#include "test_util.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

class TilesTest : public ServedLogTest {
 protected:
  integrity::TileNodeReader Tiles(uint64_t size, const std::string& url) {
    return integrity::TileNodeReader(size, [url](const integrity::TileId& tile) {
      return auth::HttpGet(url + "/" + integrity::TilePath(tile), auth::HttpGetOptions{});
    });
  }

  CommandResult Witness(const std::string& url) {
    return RunCairn({"checkpoint", "--log-url", url, "--verifier-key", log_key,
                     "--checkpoint-file", kept_dir.Sub("kept"), "--json"});
  }

  TempDir kept_dir;
};

TEST_F(TilesTest, ProofsFromTheAdminListenersTilesVerifyAgainstTheSignedCheckpoint) {
  Append(700);
  const integrity::Checkpoint small = WaitCheckpoint(700);
  Append(300);
  const integrity::Checkpoint large = WaitCheckpoint(1000);
  ASSERT_EQ(large.size, 1000u);

  auto tiles = Tiles(large.size, admin_url);
  auto client = env.ClientWith(env.admin_key);
  for (uint64_t index : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{699}, uint64_t{999}}) {
    auto from_tiles = integrity::InclusionProof(tiles, index, large.size);
    ASSERT_TRUE(from_tiles.ok()) << index << ": " << from_tiles.status().ToString();
    auto from_server = client->GetInclusionProof(index, large.size);
    ASSERT_TRUE(from_server.ok()) << from_server.status().ToString();
    const crypto::Hash leaf = crypto::HashFromBytes(from_server->leaf_hash());
    EXPECT_TRUE(integrity::VerifyInclusion(index, large.size, leaf, *from_tiles, large.root).ok())
        << index;
    ASSERT_EQ(from_tiles->size(), static_cast<size_t>(from_server->proof_size()));
    for (size_t i = 0; i < from_tiles->size(); ++i) {
      EXPECT_EQ(crypto::HashFromBytes(from_server->proof(static_cast<int>(i))), (*from_tiles)[i]);
    }
  }
  auto consistency = integrity::ConsistencyProof(tiles, small.size, large.size);
  ASSERT_TRUE(consistency.ok()) << consistency.status().ToString();
  EXPECT_TRUE(integrity::VerifyConsistency(small.size, large.size, *consistency, small.root,
                                           large.root).ok());
  // `cairn proof --log-url` computes the same proofs from the tiles, and `verify-*` accepts
  // them against the signed roots.
  auto inclusion = RunCairn({"proof", "inclusion", "699", "--size", "1000", "--log-url", admin_url});
  ASSERT_EQ(inclusion.exit_code, 0) << inclusion.err;
  auto from_server = client->GetInclusionProof(699, 1000);
  ASSERT_TRUE(from_server.ok());
  EXPECT_NE(inclusion.out.find("\"leaf_hash\":\"" + HexEncode(from_server->leaf_hash()) + "\""),
            std::string::npos) << inclusion.out;
  EXPECT_NE(inclusion.out.find("\"root\":\"" + HexEncode(crypto::HashView(large.root)) + "\""),
            std::string::npos) << inclusion.out;
  auto consistent = RunCairn({"proof", "consistency", "700", "1000", "--log-url", admin_url + "/"});
  ASSERT_EQ(consistent.exit_code, 0) << consistent.err;
  EXPECT_NE(consistent.out.find("\"root1\":\"" + HexEncode(crypto::HashView(small.root)) + "\""),
            std::string::npos) << consistent.out;
  EXPECT_NE(consistent.out.find("\"root2\":\"" + HexEncode(crypto::HashView(large.root)) + "\""),
            std::string::npos) << consistent.out;
  // Usage: no size, a size beyond the served tree, two sources.
  EXPECT_EQ(RunCairn({"proof", "inclusion", "5", "--log-url", admin_url}).exit_code, 2);
  EXPECT_EQ(RunCairn({"proof", "inclusion", "5", "--size", "2000", "--log-url", admin_url}).exit_code, 1);
  EXPECT_EQ(RunCairn({"proof", "inclusion", "5", "--size", "10", "--log-url", admin_url,
                      "--data-dir", env.DataDir()}).exit_code, 2);

  // Tiles beyond the latest checkpoint are not served yet.
  EXPECT_EQ(HttpGet(env.server().admin_port(), "/tile/0/003.p/233").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(HttpGet(env.server().admin_port(), "/tile/entries/000").rfind("HTTP/1.1 404 ", 0), 0u);
}

TEST_F(TilesTest, CairnCheckpointWitnessesTheLogThroughItsTilesAndCatchesALyingServer) {
  Append(300);
  WaitCheckpoint(300);
  auto first = Witness(admin_url);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("\"size\":300"), std::string::npos) << first.out;
  EXPECT_NE(first.err.find("the witness's trust starts with this run"), std::string::npos);
  const std::string kept_300 = ReadFile(kept_dir.Sub("kept"));

  Append(300);
  WaitCheckpoint(600);
  // A tile altered on the way: the tiles do not give the signed root. That is the transport's
  // fault, not evidence against the log: no "rewritten", no refused checkpoint printed.
  LyingProxy liar(env.server().admin_port(), "");
  ASSERT_NE(liar.http, nullptr);
  auto lied = Witness(liar.url());
  EXPECT_EQ(lied.exit_code, 1) << lied.out << lied.err;
  EXPECT_NE(lied.err.find("tiles do not match its signed checkpoint"), std::string::npos) << lied.err;
  EXPECT_EQ(lied.err.find("rewritten"), std::string::npos) << lied.err;
  EXPECT_EQ(lied.err.find("the refused checkpoint"), std::string::npos) << lied.err;
  EXPECT_EQ(ReadFile(kept_dir.Sub("kept")), kept_300) << "a refused checkpoint was kept";

  // Another log's checkpoint: not signed by the pinned key.
  LyingProxy impostor(env.server().admin_port(), AnotherLogsCheckpoint());
  ASSERT_NE(impostor.http, nullptr);
  auto refused = Witness(impostor.url());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("not signed by the pinned key"), std::string::npos) << refused.err;
  EXPECT_EQ(ReadFile(kept_dir.Sub("kept")), kept_300);

  // A log that dropped a partial tile once the full one existed: the witness takes the full
  // tile's prefix. The checkpoint of 600 is served while the log already has 800.
  const std::string note_600 = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint"));
  Append(200);
  WaitCheckpoint(800);
  LyingProxy dropper(env.server().admin_port(), note_600, LyingProxy::kDropPartial);
  ASSERT_NE(dropper.http, nullptr);
  EXPECT_EQ(HttpGet(dropper.http->port(), "/tile/0/002.p/88").rfind("HTTP/1.1 404 ", 0), 0u);
  auto from_full = Witness(dropper.url());
  ASSERT_EQ(from_full.exit_code, 0) << from_full.err;
  EXPECT_NE(from_full.out.find("\"size\":600"), std::string::npos) << from_full.out;
  EXPECT_NE(ReadFile(kept_dir.Sub("kept")).find("\n600\n"), std::string::npos);

  // The honest listener: the log grew consistently, and the kept checkpoint moves forward.
  auto second = Witness(admin_url + "/");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("\"size\":800"), std::string::npos) << second.out;
  EXPECT_NE(ReadFile(kept_dir.Sub("kept")).find("\n800\n"), std::string::npos);

  // Usage: a URL that may not be fetched (or has a query), no pinned key, two sources.
  EXPECT_EQ(RunCairn({"checkpoint", "--log-url", "http://example.org", "--verifier-key", log_key})
                .exit_code, 2);
  EXPECT_EQ(RunCairn({"checkpoint", "--log-url", admin_url}).exit_code, 2);
  EXPECT_EQ(RunCairn({"checkpoint", "--log-url", admin_url + "/?x=1", "--verifier-key", log_key})
                .exit_code, 2);
  EXPECT_EQ(RunCairn({"--data-dir", env.DataDir(), "checkpoint", "--log-url", admin_url,
                      "--verifier-key", log_key}).exit_code, 2);
  EXPECT_EQ(RunCairn({"checkpoint", "--log-url", admin_url, "--verifier-key", log_key,
                      "--data-dir", env.DataDir()}).exit_code, 2);
  // A listener that is down: unavailable, nothing kept.
  env.server().Stop();
  auto down = Witness(admin_url);
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("fetching the log's checkpoint"), std::string::npos) << down.err;
  EXPECT_NE(ReadFile(kept_dir.Sub("kept")).find("\n800\n"), std::string::npos);
}

// Over the HTTPS admin listener (server.admin_tls), trusting only the log's CA (--log-ca).
TEST(TilesTlsTest, CairnCheckpointWitnessesOverHttpsWithThePinnedCa) {
  ServerEnv env;
  env.server_extra = "admin_tls = true\n";
  auto vkey = RunCairn({"vkey", "--data-dir", env.DataDir()});
  ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
  const std::string log_key = FirstLine(vkey.out);
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto client = env.ClientWith(env.admin_key);
  v1::AppendRequest request;
  request.set_stream("orders-1");
  for (int i = 0; i < 300; ++i) {
    request.add_events()->set_type("OrderCreated");
    request.mutable_events(i)->set_data("{}");
  }
  ASSERT_TRUE(client->Append(request).ok());
  const std::string url = "https://127.0.0.1:" + std::to_string(env.server().admin_port());
  TempDir kept;
  const std::vector<std::string> witness = {"checkpoint", "--log-url", url, "--verifier-key", log_key,
                                            "--checkpoint-file", kept.Sub("kept"), "--json"};
  // The system's roots do not include the test CA: refused, nothing kept.
  auto untrusted = RunCairn(witness);
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.out;
  EXPECT_FALSE(std::filesystem::exists(kept.Sub("kept")));
  std::vector<std::string> pinned = witness;
  pinned.insert(pinned.end(), {"--log-ca", env.CaCert()});
  CommandResult first;
  for (int attempt = 0; attempt < 100; ++attempt) {  // until the checkpointer signed all 300
    first = RunCairn(pinned);
    if (first.exit_code != 0 || first.out.find("\"size\":300") != std::string::npos) break;
    std::filesystem::remove(kept.Sub("kept"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("\"size\":300"), std::string::npos) << first.out;
  request.mutable_events()->DeleteSubrange(1, 299);
  ASSERT_TRUE(client->Append(request).ok());
  CommandResult second;
  for (int attempt = 0; attempt < 100; ++attempt) {
    second = RunCairn(pinned);
    if (second.exit_code != 0 || second.out.find("\"size\":301") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("\"size\":301"), std::string::npos) << second.out;
}

// A log served in this process: /checkpoint and /tile/ of the admin listener over a store
// opened here (no background checkpointer: only the checkpoints the test signs).
struct ServedStore {
  explicit ServedStore(const std::string& data_dir) {
    engine::Options options;
    options.data_dir = data_dir;
    options.checkpoint_interval_ms = 0;
    auto opened = engine::EventStore::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return;
    store = std::move(opened).value();
    std::map<std::string, server::HttpHandler> routes;
    routes["/checkpoint"] = [this] { return server::CheckpointRoute(*store, nullptr); };
    std::map<std::string, server::HttpPathHandler> prefixes;
    prefixes[server::kTileRoutePrefix] = [this](std::string_view path) {
      return server::TileRoute(*store, path);
    };
    server::AdminHttpOptions http_options;
    http_options.listen = "127.0.0.1:0";
    auto started = server::AdminHttpServer::Start(http_options, std::move(routes), {},
                                                  std::move(prefixes));
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (started.ok()) http = std::move(started).value();
  }
  bool ok() const { return http != nullptr; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http->port()); }
  // Appends `n` events of `type` and signs a checkpoint of them.
  void AppendAndSign(const std::string& type, int n) {
    for (int done = 0; done < n; done += 100) {
      std::vector<engine::ProposedEvent> events(static_cast<size_t>(std::min(100, n - done)));
      for (auto& event : events) {
        event.event_type = type;
        event.data = "{}";
      }
      ASSERT_TRUE(store->Append("ledger", engine::ExpectedVersion::Any(), std::move(events)).ok());
    }
    ASSERT_TRUE(store->Checkpoint().ok());
  }

  std::unique_ptr<engine::EventStore> store;
  std::unique_ptr<server::AdminHttpServer> http;  // stops before the store closes
};

// Two histories under one key (a copy of the data directory that went its own way): the copy's
// tiles are genuine for its own signed checkpoint, and the witness over tiles refuses it as a
// rewrite, with the refused checkpoint printed as evidence and the kept one unchanged.
TEST(TilesForkTest, AWitnessOverTilesCatchesARewrittenHistory) {
  TempDir dir;
  const std::string a = dir.Sub("a"), b = dir.Sub("b");
  ASSERT_TRUE(engine::EventStore::Init({a, "fork.test/log", {}, std::nullopt}).ok());
  {
    ServedStore log(a);
    ASSERT_TRUE(log.ok());
    log.AppendAndSign("Common", 300);
  }
  std::filesystem::copy(a, b, std::filesystem::copy_options::recursive);
  auto vkey = RunCairn({"vkey", "--data-dir", a});
  ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
  const std::string log_key = FirstLine(vkey.out);
  const std::string kept = dir.Sub("kept");
  auto witness = [&](const std::string& url) {
    return RunCairn({"checkpoint", "--log-url", url, "--verifier-key", log_key,
                     "--checkpoint-file", kept, "--json"});
  };
  {
    ServedStore honest(a);
    ASSERT_TRUE(honest.ok());
    honest.AppendAndSign("Honest", 300);
    auto seen = witness(honest.url());
    ASSERT_EQ(seen.exit_code, 0) << seen.err;
    EXPECT_NE(seen.out.find("\"size\":600"), std::string::npos) << seen.out;
  }
  const std::string kept_600 = ReadFile(kept);
  ServedStore rewritten(b);
  ASSERT_TRUE(rewritten.ok());
  rewritten.AppendAndSign("Rewritten", 400);
  auto refused = witness(rewritten.url());
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("history was rewritten"), std::string::npos) << refused.err;
  // The evidence, escaped for the terminal (TerminalSafe shows its newlines as \n).
  EXPECT_NE(refused.err.find("the refused checkpoint:\nfork.test/log\\n700\\n"), std::string::npos)
      << refused.err;
  EXPECT_EQ(ReadFile(kept), kept_600);
}

}  // namespace
}  // namespace cairn::testing
