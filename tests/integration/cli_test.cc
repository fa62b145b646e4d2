// End-to-end tests of the offline `cairn` command: each test runs the built binary on a fresh
// data directory and checks exit codes, output formats and that bad input writes nothing.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <iterator>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "engine/types.h"
#include "integrity/entry.h"
#include "test_util.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::CommandResult;
using testing::RunCairn;
using Json = nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Hex(const crypto::Hash& h) { return HexEncode(std::span<const uint8_t>(h)); }

crypto::Hash HashFromHex(const std::string& hex) {
  auto bytes = HexDecode(hex);
  EXPECT_TRUE(bytes && bytes->size() == 32) << hex;
  return bytes && bytes->size() == 32 ? crypto::HashFromBytes(*bytes) : crypto::Hash{};
}

// Flips the lowest bit of the first hex digit of a hash.
std::string FlipHex(std::string hex) {
  hex[0] = hex[0] == '0' ? '1' : '0';
  return hex;
}

std::string JoinProof(const Json& proof) {
  std::string out;
  for (const auto& h : proof) out += (out.empty() ? "" : ",") + h.get<std::string>();
  return out;
}

// The stored bytes of a field given as `name` (UTF-8 text) or `name`_base64.
std::string StoredBytes(const Json& event, const std::string& name) {
  if (event.contains(name)) return event[name].get<std::string>();
  auto bytes = Base64Decode(event[name + "_base64"].get<std::string>());
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or("");
}

// Rebuilds the v1 entry from an event's JSON, as an auditor would.
integrity::Entry EntryFromJson(const Json& j) {
  integrity::Entry e;
  e.position = j["position"].get<uint64_t>();
  e.stream_id = j["stream"].get<std::string>();
  e.stream_version = j["version"].get<uint64_t>();
  e.event_id = engine::ParseUuid(j["id"].get<std::string>()).value_or("");
  e.event_type = j["type"].get<std::string>();
  e.content_type = j["content_type"].get<std::string>();
  e.recorded_at_ns = j["recorded_at_ns"].get<int64_t>();
  e.metadata_hash = HashFromHex(j["metadata_hash"].get<std::string>());
  e.data_hash = HashFromHex(j["data_hash"].get<std::string>());
  e.stream_prev = HashFromHex(j["stream_prev"].get<std::string>());
  return e;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("data");
    CommandResult r = RunCairn({"init", "--data-dir", dir_, "--origin", "test.cairn/log"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    init_out_ = r.out;
  }

  // Runs cairn on this test's data directory (global --data-dir before the subcommand).
  CommandResult Cairn(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--data-dir", dir_});
    return RunCairn(args, stdin_text);
  }

  CommandResult Append(const std::string& stream, const std::string& data,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"append", stream, "--type", "Tested", "--data", data};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cairn(args);
  }

  size_t CountAll() {
    CommandResult r = Cairn({"read-all", "--limit", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Lines(r.out).size();
  }

  std::vector<Json> ReadAllJson() {
    CommandResult r = Cairn({"read-all", "--json", "--limit", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<Json> events;
    for (const auto& line : Lines(r.out)) events.push_back(Json::parse(line));
    return events;
  }

  // Expects a failure with the given exit code and one "cairn: " line on stderr.
  static void ExpectError(const CommandResult& r, int exit_code, const std::string& needle) {
    EXPECT_EQ(r.exit_code, exit_code) << r.out << r.err;
    EXPECT_THAT(r.err, StartsWith("cairn: "));
    EXPECT_THAT(r.err, HasSubstr(needle));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  testing::TempDir tmp_;
  std::string dir_;
  std::string init_out_;
};

TEST_F(CliTest, InitCreatesPrivateKeyringAndRefusesSecondInit) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/keyring").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  const std::string keyring = testing::ReadFile(dir_ + "/keyring");

  CommandResult vkey = Cairn({"vkey"});
  ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
  EXPECT_THAT(vkey.out, StartsWith("test.cairn/log+"));
  EXPECT_THAT(init_out_, HasSubstr(dir_));
  EXPECT_THAT(init_out_, HasSubstr("test.cairn/log"));
  EXPECT_THAT(init_out_, HasSubstr(vkey.out));  // the verifier key line

  CommandResult again = RunCairn({"init", "--data-dir", dir_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, StartsWith("cairn: "));
  EXPECT_EQ(testing::ReadFile(dir_ + "/keyring"), keyring);
  EXPECT_THAT(init_out_, ::testing::Not(HasSubstr(keyring.substr(keyring.find(' ') + 1, 20))));
}

// `cairn apikey new` prints TOML for the operator to paste: a role that is not a role name (a
// quote, a newline) is refused instead of adding lines to that TOML.
TEST(CliApiKeyTest, NewPrintsTheConfigLinesAndRefusesRolesThatWouldInjectToml) {
  CommandResult ok = RunCairn({"apikey", "new", "--id", "ci-bot", "--role", "reader"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.rfind("cairn_ci-bot_", 0), 0u) << ok.out;
  EXPECT_NE(ok.out.find("roles = [\"reader\"]"), std::string::npos) << ok.out;
  for (const char* bad : {"reader\", \"admin", "reader\nroles = [\"admin\"]", ""}) {
    CommandResult r = RunCairn({"apikey", "new", "--id", "ci-bot", "--role", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_EQ(r.out.find("secret_sha256"), std::string::npos) << r.out;
  }
}

// An init that fails after its keyring was made (here: the PostgreSQL store cannot be reached)
// removes that keyring again, so that the next init is not refused with "keyring already
// exists"; and `cairn init --config` makes no second, local log beside the configured one.
TEST_F(CliTest, AFailedInitLeavesNoKeyringBehindAndTheNextInitWorks) {
  const std::string dir = tmp_.Sub("retry");
  testing::WriteFile(tmp_.Sub("pg.toml"),
                     "[storage]\nbackend = \"postgres\"\n"
                     "postgres_dsn = \"host=127.0.0.1 port=1 dbname=nowhere sslmode=disable "
                     "connect_timeout=2\"\n");
  CommandResult failed = RunCairn({"init", "--data-dir", dir, "--config", tmp_.Sub("pg.toml")});
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/keyring"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/db")) << "no local log instead of the configured one";
  CommandResult retried = RunCairn({"init", "--data-dir", dir});
  EXPECT_EQ(retried.exit_code, 0) << retried.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/keyring"));
}

TEST_F(CliTest, AppendReadRoundTrip) {
  CommandResult a = Append("orders-1", R"({"item":"tea","qty":2})");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, "position 0 version 0\n");
  ASSERT_EQ(Append("users-7", R"({"name":"ada"})").exit_code, 0);
  CommandResult json = Cairn({"append", "orders-1", "--type", "Shipped", "--data", "@-", "--json",
                              "--id", "0f8fad5b-d9cb-469f-a165-70867728950e"},
                             R"({"carrier":"post"})");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  Json result = Json::parse(json.out);
  EXPECT_EQ(result["position"], 2);
  EXPECT_EQ(result["version"], 1);

  CommandResult read = Cairn({"read", "orders-1"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  std::vector<std::string> lines = Lines(read.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], StartsWith("0 orders-1@0 Tested "));
  EXPECT_THAT(lines[0], HasSubstr(R"({"item":"tea","qty":2})"));
  EXPECT_EQ(lines[1], R"(2 orders-1@1 Shipped 0f8fad5b-d9cb-469f-a165-70867728950e {"carrier":"post"})");

  CommandResult back = Cairn({"read", "orders-1", "--backwards", "--limit", "1"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_THAT(back.out, StartsWith("2 orders-1@1 Shipped"));
  EXPECT_EQ(Lines(back.out).size(), 1u);

  CommandResult all = Cairn({"read-all", "--from", "1"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  ASSERT_EQ(Lines(all.out).size(), 2u);
  EXPECT_THAT(Lines(all.out)[0], StartsWith("1 users-7@0 Tested "));

  CommandResult info = Cairn({"stream-info", "orders-1", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  Json i = Json::parse(info.out);
  EXPECT_EQ(i["exists"], true);
  EXPECT_EQ(i["last_version"], 1);
  EXPECT_EQ(i["last_position"], 2);
}

TEST_F(CliTest, ReadAllJsonLetsAnAuditorRecomputeHashes) {
  ASSERT_EQ(Append("acct-1", R"({"amount": 10, "note": "café"})",
                   {"--metadata", R"({"trace":"t1"})"}).exit_code, 0);
  ASSERT_EQ(Append("acct-1", R"({"amount":-4})").exit_code, 0);
  const std::string binary("\xff\x00\x01raw", 6);
  testing::WriteFile(tmp_.Sub("blob.bin"), binary);
  CommandResult bin = Append("blobs", "@" + tmp_.Sub("blob.bin"),
                             {"--content-type", "application/octet-stream"});
  ASSERT_EQ(bin.exit_code, 0) << bin.err;

  std::vector<Json> events = ReadAllJson();
  ASSERT_EQ(events.size(), 3u);
  for (const Json& ev : events) {
    for (const char* field : {"position", "stream", "version", "id", "type", "content_type",
                              "recorded_at_ns", "metadata_hash", "data_hash", "stream_prev",
                              "leaf_hash"}) {
      EXPECT_TRUE(ev.contains(field)) << field << " missing in " << ev.dump();
    }
    EXPECT_EQ(Hex(crypto::Sha256(StoredBytes(ev, "data"))), ev["data_hash"]);
    EXPECT_EQ(Hex(crypto::Sha256(StoredBytes(ev, "metadata"))), ev["metadata_hash"]);
    const std::string encoded = integrity::EncodeEntry(EntryFromJson(ev));
    EXPECT_EQ(Hex(integrity::LeafHash(encoded)), ev["leaf_hash"]) << ev.dump();
  }
  EXPECT_EQ(events[0]["data"], R"({"amount": 10, "note": "café"})");
  EXPECT_EQ(events[0]["metadata"], R"({"trace":"t1"})");
  EXPECT_EQ(events[0]["stream_prev"], std::string(64, '0'));
  EXPECT_EQ(events[1]["stream_prev"], events[0]["leaf_hash"]);
  EXPECT_FALSE(events[2].contains("data"));
  EXPECT_EQ(StoredBytes(events[2], "data"), binary);

  CommandResult human = Cairn({"read", "blobs"});
  EXPECT_THAT(human.out, HasSubstr("base64:" + Base64Encode(binary)));
}

TEST_F(CliTest, ExpectedVersions) {
  ASSERT_EQ(Append("orders-1", "{}", {"--expected-version", "no_stream"}).exit_code, 0);
  ExpectError(Append("orders-1", "{}", {"--expected-version", "no_stream"}), 1,
              "wrong expected version: stream 'orders-1' is at version 0");
  CommandResult exact = Append("orders-1", "{}", {"--expected-version", "0"});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_EQ(exact.out, "position 1 version 1\n");
  ExpectError(Append("orders-1", "{}", {"--expected-version", "0"}), 1, "is at version 1");
  ExpectError(Append("new-stream", "{}", {"--expected-version", "stream_exists"}), 1,
              "stream 'new-stream' does not exist");
  ExpectError(Append("new-stream", "{}", {"--expected-version", "3"}), 1, "does not exist");
  EXPECT_EQ(Append("orders-1", "{}", {"--expected-version", "stream_exists"}).exit_code, 0);
  EXPECT_EQ(Append("orders-1", "{}", {"--expected-version", "any"}).exit_code, 0);
  EXPECT_EQ(CountAll(), 4u);
}

TEST_F(CliTest, BadInputIsRejectedClearlyAndWritesNothing) {
  ASSERT_EQ(Append("s", "{}").exit_code, 0);
  const size_t before = CountAll();

  ExpectError(Append("s", "{not json"), 1, "invalid input");
  std::string big = R"({"pad":")" + std::string((1 << 20) + 16, 'x') + R"("})";
  testing::WriteFile(tmp_.Sub("big.json"), big);
  ExpectError(Append("s", "@" + tmp_.Sub("big.json")), 1, "limit exceeded");
  ExpectError(Append("s", "@" + tmp_.Sub("missing.json")), 1, "cannot open file");
  ExpectError(Append("", "{}"), 1, "stream id");
  CommandResult control = Append(std::string("bad\x01name"), "{}");
  ExpectError(control, 1, "stream id");
  EXPECT_THAT(control.err, ::testing::Not(HasSubstr("\x01")));
  ExpectError(Append(std::string(513, 'a'), "{}"), 1, "stream id");
  ExpectError(Append("s", "{}", {"--expected-version", "abc"}), 2, "--expected-version");
  ExpectError(Append("s", "{}", {"--expected-version=-5"}), 2, "--expected-version");
  ExpectError(Append("s", "{}", {"--id", "not-a-uuid"}), 2, "--id");
  ExpectError(Append("s", "{}", {"--id", "0f8fad5b-d9cb-469f-a165-70867728950"}), 2, "UUID");
  ExpectError(Cairn({"append", "s", "--data", "{}"}), 2, "--type");
  ExpectError(Cairn({"read-all", "--from", "-1"}), 2, "--from");
  ExpectError(Cairn({"read", "s", "--limit", "x"}), 2, "--limit");

  EXPECT_EQ(CountAll(), before);
}

TEST_F(CliTest, DeletedStreamRefusesAppendsAndSaysSo) {
  ASSERT_EQ(Append("cart-9", "{}").exit_code, 0);
  CommandResult del = Cairn({"delete", "cart-9", "--expected-version", "0"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_THAT(del.out, HasSubstr("deleted stream 'cart-9'"));
  ExpectError(Append("cart-9", "{}"), 1, "stream 'cart-9' is deleted");
  CommandResult info = Cairn({"stream-info", "cart-9", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(Json::parse(info.out)["deleted"], true);
}

TEST_F(CliTest, LockedDataDirectoryFailsWithHolder) {
  const int fd = open((dir_ + "/cairn.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  CommandResult r = Cairn({"read-all"});
  flock(fd, LOCK_UN);
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("cairn: "));
  EXPECT_TRUE(r.err.find("in use") != std::string::npos ||
              r.err.find("locked") != std::string::npos)
      << r.err;
  EXPECT_EQ(Cairn({"read-all"}).exit_code, 0);  // released
}

TEST_F(CliTest, CheckpointRootAcceptsInclusionProofs) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Append("s" + std::to_string(i % 2), "{}").exit_code, 0);
  CommandResult cp = Cairn({"checkpoint"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  std::vector<std::string> note = Lines(cp.out);
  ASSERT_GE(note.size(), 5u) << cp.out;
  EXPECT_EQ(note[0], "test.cairn/log");
  EXPECT_EQ(note[1], "5");
  EXPECT_THAT(cp.out, ::testing::EndsWith("\n"));
  EXPECT_THAT(cp.out, ::testing::Not(::testing::EndsWith("\n\n")));
  const std::string root_b64 = note[2];

  CommandResult cpj = Cairn({"checkpoint", "--json"});
  ASSERT_EQ(cpj.exit_code, 0) << cpj.err;
  Json cj = Json::parse(cpj.out);
  EXPECT_EQ(cj["note"], cp.out);
  EXPECT_EQ(cj["size"], 5);
  EXPECT_EQ(cj["root"], HexEncode(Base64Decode(root_b64).value_or("")));

  for (int p = 0; p < 5; ++p) {
    CommandResult pr = Cairn({"proof", "inclusion", std::to_string(p), "--size", "5"});
    ASSERT_EQ(pr.exit_code, 0) << pr.err;
    Json j = Json::parse(pr.out);
    EXPECT_EQ(j["root"], cj["root"]);
    std::vector<std::string> verify = {"proof", "verify-inclusion", "--index", std::to_string(p),
                                       "--size", "5", "--leaf-hash", j["leaf_hash"],
                                       "--root", root_b64, "--proof", JoinProof(j["proof"])};
    CommandResult ok = RunCairn(verify);
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_EQ(ok.out, "valid\n");
  }

  CommandResult pr = Cairn({"proof", "inclusion", "3"});
  ASSERT_EQ(pr.exit_code, 0) << pr.err;
  Json j = Json::parse(pr.out);
  const std::string leaf = j["leaf_hash"], proof = JoinProof(j["proof"]);
  auto verify = [&](const std::string& leaf_hash, const std::string& root) {
    return RunCairn({"proof", "verify-inclusion", "--index", "3", "--size", "5", "--leaf-hash",
                     leaf_hash, "--root", root, "--proof", proof});
  };
  CommandResult flipped = verify(FlipHex(leaf), root_b64);
  EXPECT_EQ(flipped.exit_code, 1);
  EXPECT_THAT(flipped.out, StartsWith("invalid: "));
  EXPECT_EQ(verify(leaf, FlipHex(j["root"])).exit_code, 1);
  ExpectError(verify("zz", root_b64), 2, "--leaf-hash");
  ExpectError(verify(leaf, leaf.substr(2)), 2, "--root");
  ExpectError(RunCairn({"proof", "verify-inclusion", "--index", "3", "--size", "5",
                        "--leaf-hash", leaf, "--root", root_b64}), 2, "--proof");
}

TEST_F(CliTest, SingleLeafProofIsEmpty) {
  ASSERT_EQ(Append("only", "{}").exit_code, 0);
  CommandResult pr = Cairn({"proof", "inclusion", "0"});
  ASSERT_EQ(pr.exit_code, 0) << pr.err;
  Json j = Json::parse(pr.out);
  EXPECT_TRUE(j["proof"].empty());
  EXPECT_EQ(j["leaf_hash"], j["root"]);
  CommandResult ok = RunCairn({"proof", "verify-inclusion", "--index", "0", "--size", "1",
                               "--leaf-hash", j["leaf_hash"], "--root", j["root"], "--proof", ""});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
}

TEST_F(CliTest, ConsistencyProofsVerifyOffline) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Append("a", "{}").exit_code, 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Append("b", "{}").exit_code, 0);
  CommandResult pr = Cairn({"proof", "consistency", "3", "7"});
  ASSERT_EQ(pr.exit_code, 0) << pr.err;
  Json j = Json::parse(pr.out);
  EXPECT_EQ(j["size1"], 3);
  EXPECT_EQ(j["size2"], 7);
  const std::string root1 = j["root1"], root2 = j["root2"], proof = JoinProof(j["proof"]);
  auto verify = [&](const std::string& r1, const std::string& r2, const std::string& p) {
    return RunCairn({"proof", "verify-consistency", "--size1", "3", "--size2", "7", "--root1", r1,
                     "--root2", r2, "--proof", p});
  };
  CommandResult ok = verify(root1, Base64Encode(*HexDecode(root2)), proof);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(ok.out, "valid\n");
  CommandResult bad = verify(FlipHex(root1), root2, proof);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, StartsWith("invalid: "));
  EXPECT_EQ(verify(root1, root2, "").exit_code, 1);
  ExpectError(verify(root1, root2, proof + ",nothex"), 2, "--proof");
  ExpectError(verify("", root2, proof), 2, "--root1");
  ExpectError(RunCairn({"proof", "verify-consistency", "--size1", "3", "--root1", root1,
                        "--root2", root2, "--proof", proof}), 2, "--size2");
}

TEST_F(CliTest, VerifyGoodStore) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Append("v", "{}").exit_code, 0);
  ASSERT_EQ(Cairn({"checkpoint"}).exit_code, 0);
  ASSERT_EQ(Append("w", "{}").exit_code, 0);
  ASSERT_EQ(Cairn({"checkpoint"}).exit_code, 0);
  CommandResult r = Cairn({"verify"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, StartsWith("ok: 5 records, 2 streams, "));
  EXPECT_THAT(r.out, HasSubstr("stream index entries verified"));
  CommandResult j = Cairn({"verify", "--json"});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(Json::parse(j.out)["ok"], true);
}

// --verifier-key and --checkpoint-file anchor `cairn verify` outside the data directory: the first
// run keeps the latest checkpoint, later runs require the log to still hold it.
TEST_F(CliTest, VerifyAnchoredByAPinnedKeyAndAKeptCheckpoint) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Append("v", "{}").exit_code, 0);
  ASSERT_EQ(Cairn({"checkpoint"}).exit_code, 0);
  CommandResult vkey = Cairn({"vkey"});
  ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
  std::string key = vkey.out;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  const std::string kept = tmp_.Sub("kept-checkpoint");

  CommandResult first = Cairn({"verify", "--verifier-key", key, "--checkpoint-file", kept});
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, HasSubstr("checkpoints signed by the pinned key"));
  EXPECT_THAT(first.out, Not(HasSubstr("holds the trusted checkpoint")));  // none kept yet
  std::ifstream in(kept);
  std::string note((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(note, StartsWith("test.cairn/log\n3\n"));

  ASSERT_EQ(Append("v", "{}").exit_code, 0);
  ASSERT_EQ(Cairn({"checkpoint"}).exit_code, 0);
  CommandResult second = Cairn({"verify", "--verifier-key", key, "--checkpoint-file", kept, "--json"});
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  const Json j = Json::parse(second.out);
  EXPECT_EQ(j["anchored_size"], 3);
  EXPECT_EQ(j["key_pinned"], true);
  EXPECT_EQ(j["root"].get<std::string>().size(), 64u);

  // A kept checkpoint the key did not sign: refused, and the file is left as it was.
  std::string forged = note;
  forged[forged.find('\n') + 1] = '9';
  {
    std::ofstream out(kept, std::ios::trunc);
    out << forged;
  }
  CommandResult bad = Cairn({"verify", "--verifier-key", key, "--checkpoint-file", kept});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_THAT(bad.out, HasSubstr("does not verify under the pinned key"));
  std::ifstream again(kept);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()), forged);

  CommandResult unpinned = Cairn({"verify", "--checkpoint-file", kept});
  EXPECT_EQ(unpinned.exit_code, 2) << unpinned.out << unpinned.err;
  EXPECT_THAT(unpinned.err, HasSubstr("--checkpoint-file needs --verifier-key"));
  CommandResult plain = Cairn({"verify"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, HasSubstr("NOT anchored"));
}

TEST_F(CliTest, EnvironmentSuppliesTheDataDirectory) {
  ASSERT_EQ(Append("e", "{}").exit_code, 0);
  setenv("CAIRN_DATA_DIR", dir_.c_str(), 1);
  CommandResult r = RunCairn({"read-all"});
  CommandResult proof = RunCairn({"proof", "inclusion", "0"});
  unsetenv("CAIRN_DATA_DIR");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("0 e@0 Tested "));
  EXPECT_EQ(proof.exit_code, 0) << proof.err;
}

TEST(CliUsageTest, HelpWorksForEverySubcommand) {
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"init"},
      {"append"},
      {"delete"},
      {"read"},
      {"read-all"},
      {"stream-info"},
      {"checkpoint"},
      {"vkey"},
      {"proof"},
      {"proof", "inclusion"},
      {"proof", "consistency"},
      {"proof", "verify-inclusion"},
      {"proof", "verify-consistency"},
      {"verify"},
      {"bench"},
  };
  for (auto args : commands) {
    args.push_back("--help");
    CommandResult r = RunCairn(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << ::testing::PrintToString(args);
  }
}

TEST(CliUsageTest, UsageErrorsExitTwo) {
  // No client config: one written by an earlier test's `cairn init` in this process (the
  // process-wide CAIRN_CLIENT_CONFIG of test_util.cc) would make `read-all` go to its server.
  const std::string saved = getenv("CAIRN_CLIENT_CONFIG") ? getenv("CAIRN_CLIENT_CONFIG") : "";
  testing::TempDir tmp;
  setenv("CAIRN_CLIENT_CONFIG", tmp.Sub("none.toml").c_str(), 1);
  struct Restore {
    const std::string& saved;
    ~Restore() {
      if (saved.empty()) {
        unsetenv("CAIRN_CLIENT_CONFIG");
      } else {
        setenv("CAIRN_CLIENT_CONFIG", saved.c_str(), 1);
      }
    }
  } restore{saved};
  EXPECT_EQ(RunCairn({}).exit_code, 2);
  EXPECT_EQ(RunCairn({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCairn({"read-all", "--no-such-flag"}).exit_code, 2);
  CommandResult no_dir = RunCairn({"read-all"});  // CAIRN_DATA_DIR is not set in tests
  if (getenv("CAIRN_DATA_DIR") == nullptr) {
    EXPECT_EQ(no_dir.exit_code, 2);
    EXPECT_THAT(no_dir.err, HasSubstr("--data-dir"));
  }
}

TEST(CliUsageTest, MissingDataDirectoryFails) {
  testing::TempDir tmp;
  CommandResult r = RunCairn({"read-all", "--data-dir", tmp.Sub("nothing-here")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("cairn: "));
}

TEST(CliBenchTest, SmallRunReportsThroughputAndVerifies) {
  testing::TempDir tmp;
  CommandResult r = RunCairn({"bench", "--data-dir", tmp.Sub("bench"), "--threads", "2",
                              "--batch", "10", "--events", "200", "--seconds", "20", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["append"]["events"], 200);
  EXPECT_EQ(j["append"]["batches"], 20);
  EXPECT_GT(j["append"]["events_per_s"].get<double>(), 0);
  EXPECT_GE(j["append"]["latency_ms"]["max"].get<double>(),
            j["append"]["latency_ms"]["p50"].get<double>());
  EXPECT_EQ(j["read_all"]["events"], 200);
  EXPECT_EQ(j["verify"]["ok"], true);

  CommandResult shared = RunCairn({"bench", "--data-dir", tmp.Sub("bench"), "--threads", "2",
                                   "--batch", "5", "--events", "50", "--shared-streams", "1"});
  ASSERT_EQ(shared.exit_code, 0) << shared.out << shared.err;
  EXPECT_THAT(shared.out, HasSubstr("append"));

  testing::WriteFile(tmp.Sub("precious.txt"), "do not touch");
  CommandResult refused = RunCairn({"bench", "--data-dir", tmp.path(), "--events", "10"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("not a cairn data directory"));
}

// `cairn bench --postgres` follows the [storage] rules of `cairn serve`: no password in the
// DSN (it would show in the process list; never echoed), TLS off loopback. Neither is reached.
TEST(CliBenchTest, APostgresDsnFollowsTheStorageRules) {
  testing::TempDir tmp;
  CommandResult password = RunCairn({"bench", "--data-dir", tmp.Sub("bench"), "--events", "10",
                                     "--postgres", "host=127.0.0.1 password=hunter2-bench"});
  EXPECT_EQ(password.exit_code, 1);
  EXPECT_THAT(password.err, HasSubstr("--postgres contains a password"));
  EXPECT_EQ(password.err.find("hunter2-bench"), std::string::npos) << password.err;
  CommandResult remote = RunCairn({"bench", "--data-dir", tmp.Sub("bench"), "--events", "10",
                                   "--postgres", "host=db.example.com dbname=cairn"});
  EXPECT_EQ(remote.exit_code, 1);
  EXPECT_THAT(remote.err, HasSubstr("without TLS; set sslmode=verify-full in --postgres"));
}

}  // namespace
}  // namespace cairn
