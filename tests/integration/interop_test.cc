// What cairn publishes for auditors, checked by code that is not cairn's:
// - Go's golang.org/x/mod/sumdb/note and sumdb/tlog (the packages the C2SP signed-note and
//   tlog-tiles specs grew out of; Debian's golang-golang-x-mod-dev) open a running server's
//   checkpoint, authenticate its tiles against the signed root, recompute the root, check cairn's
//   inclusion and consistency proofs and rebuild them hash for hash (tests/interop/
//   tlog_interop.go); a note and key texts made by Go are accepted by cairn, byte for byte.
// - The auditor's tools of docs/auditing.md (docs/tools: bash + OpenSSL, Python 3's standard
//   library) verify the same kind of log as the page shows, and fail on the tampered inputs.
// Negative cases: a proxy that flips a bit of every level 0 tile, another log's checkpoint, a
// proof with one bit flipped, a note whose size was changed, an event whose data was edited.
//
// The Go checker comes from `make interop` (<build>/interop/tlog_interop; `make test` builds it);
// python3 and openssl from `make test`'s packages. When one is missing the tests fail, unless
// CAIRN_INTEROP_OPTIONAL=1: then they are skipped with the reason.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "interop_tools.h"
#include "loopback_http.h"
#include "served_log.h"
#include "server_env.h"
#include "test_util.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace fs = std::filesystem;

fs::path DocsTools() { return fs::path(CAIRN_SOURCE_DIR) / "docs" / "tools"; }

std::string Lines(const std::string& text, size_t first, size_t count) {
  size_t begin = 0;
  for (size_t i = 0; i < first && begin != std::string::npos; ++i) {
    begin = text.find('\n', begin);
    if (begin != std::string::npos) ++begin;
  }
  size_t end = begin;
  for (size_t i = 0; i < count && end != std::string::npos; ++i) {
    end = text.find('\n', end);
    if (end != std::string::npos) ++end;
  }
  return begin == std::string::npos ? "" : text.substr(begin, end == std::string::npos ? end : end - begin);
}

class InteropTest : public ServedLogTest {
 protected:
  CommandResult Go(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {GoChecker().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  TempDir work;
};

// cairn's proofs as its API returns them, in the JSON tlog_interop reads.
std::string ProofsJson(Client& client, const std::vector<uint64_t>& indexes, uint64_t size,
                       const std::vector<std::string>& old_notes, const std::vector<uint64_t>& old_sizes,
                       int flip_index_entry = -1) {
  std::string json = "{\"inclusion\":[";
  for (size_t k = 0; k < indexes.size(); ++k) {
    auto proof = client.GetInclusionProof(indexes[k], size);
    if (!proof.ok()) throw std::runtime_error(proof.status().ToString());
    json += std::string(k ? "," : "") + "{\"index\":" + std::to_string(indexes[k]) +
            ",\"size\":" + std::to_string(size) + ",\"leaf_hash\":\"" + HexEncode(proof->leaf_hash()) +
            "\",\"proof\":[";
    for (int i = 0; i < proof->proof_size(); ++i) {
      std::string hash = proof->proof(i);
      if (static_cast<int>(k) == flip_index_entry && i == proof->proof_size() - 1) hash[7] ^= 0x10;
      json += std::string(i ? "," : "") + "\"" + HexEncode(hash) + "\"";
    }
    json += "]}";
  }
  json += "],\"consistency\":[";
  for (size_t k = 0; k < old_sizes.size(); ++k) {
    auto proof = client.GetConsistencyProof(old_sizes[k], size);
    if (!proof.ok()) throw std::runtime_error(proof.status().ToString());
    std::string escaped;
    for (char c : old_notes[k]) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    json += std::string(k ? "," : "") + "{\"old_checkpoint\":\"" + escaped + "\",\"size\":" +
            std::to_string(size) + ",\"proof\":[";
    for (int i = 0; i < proof->proof_size(); ++i) {
      json += std::string(i ? "," : "") + "\"" + HexEncode(proof->proof(i)) + "\"";
    }
    json += "]}";
  }
  return json + "]}";
}

// 70,100 events: full and partial tiles on levels 0 and 1 and a partial level 2 tile
// (65,536 leaves fill one level 1 tile's worth of level 1 hashes).
TEST_F(InteropTest, GoSumdbTlogVerifiesTheCheckpointTilesAndProofs) {
  CAIRN_INTEROP_REQUIRE(fs::exists(GoChecker()), "no " + GoChecker().string() + ": run `make interop`");
  Append(1000);
  const std::string note_1000 = WaitNote(1000);
  Append(64537);
  const std::string note_65537 = WaitNote(65537);
  Append(4563);
  const std::string note_70100 = WaitNote(70100);
  ASSERT_FALSE(note_1000.empty() || note_65537.empty() || note_70100.empty());

  auto client = env.ClientWith(env.admin_key);
  const std::vector<uint64_t> indexes = {0, 1, 255, 256, 999, 65535, 65536, 65537, 70099};
  const std::string proofs = work.Sub("proofs.json");
  WriteFile(proofs, ProofsJson(*client, indexes, 70100, {note_1000, note_65537}, {1000, 65537}));

  auto checked = Go({"check", admin_url, log_key, proofs});
  std::cout << checked.out;  // the Go checker's report
  ASSERT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("size 70100, signed by"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("equals the signed root"), std::string::npos) << checked.out;
  for (uint64_t index : indexes) {
    EXPECT_NE(checked.out.find("inclusion " + std::to_string(index) + " in 70100: OK"),
              std::string::npos) << checked.out;
  }
  EXPECT_NE(checked.out.find("consistency 1000 to 70100: OK"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("consistency 65537 to 70100: OK"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("\nOK\n"), std::string::npos) << checked.out;

  // One bit of one of cairn's inclusion proofs flipped: tlog.CheckRecord refuses it.
  const std::string bad_proofs = work.Sub("bad-proofs.json");
  WriteFile(bad_proofs, ProofsJson(*client, indexes, 70100, {}, {}, /*flip_index_entry=*/6));
  auto refused = Go({"check", admin_url, log_key, bad_proofs});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("inclusion 65536: cairn's proof fails tlog.CheckRecord"),
            std::string::npos) << refused.err;

  // A tile altered on the way: TileHashReader authenticates tiles against the signed root.
  LyingProxy liar(env.server().admin_port(), "");
  ASSERT_NE(liar.http, nullptr);
  auto lied = Go({"check", liar.url(), log_key});
  EXPECT_EQ(lied.exit_code, 1) << lied.out << lied.err;
  EXPECT_NE(lied.err.find("tiles:"), std::string::npos) << lied.err;
  EXPECT_EQ(lied.out.find("equals the signed root"), std::string::npos) << lied.out;

  // Another log's checkpoint: note.Open finds no signature by the pinned key.
  LyingProxy impostor(env.server().admin_port(), AnotherLogsCheckpoint());
  ASSERT_NE(impostor.http, nullptr);
  auto unsigned_note = Go({"check", impostor.url(), log_key});
  EXPECT_EQ(unsigned_note.exit_code, 1) << unsigned_note.out;
  EXPECT_NE(unsigned_note.err.find("checkpoint: note.Open"), std::string::npos) << unsigned_note.err;
}

// The other direction: a note and key texts made by Go's sumdb/note, read by cairn.
TEST(InteropNoteTest, CairnAcceptsANoteAndKeysMadeByGoSumdbNote) {
  CAIRN_INTEROP_REQUIRE(fs::exists(GoChecker()), "no " + GoChecker().string() + ": run `make interop`");
  TempDir dir;
  const std::string root(32, '\x5a');
  const std::string text = "example.com/log\n42\n" + Base64Encode(root) + "\n";
  WriteFile(dir.Sub("text"), text);
  auto signed_by_go = RunCommand({GoChecker().string(), "sign", "example.com/log", dir.Sub("text")});
  ASSERT_EQ(signed_by_go.exit_code, 0) << signed_by_go.err;
  const std::string vkey = Lines(signed_by_go.out, 0, 1), skey = Lines(signed_by_go.out, 1, 1);
  const std::string note = Lines(signed_by_go.out, 2, 100);
  ASSERT_EQ(note.rfind(text + "\n\xE2\x80\x94 example.com/log ", 0), 0u) << note;

  auto verifier = integrity::ParseVerifierKey(vkey.substr(0, vkey.size() - 1));
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  auto checkpoint = integrity::VerifyCheckpoint(note, *verifier);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->origin, "example.com/log");
  EXPECT_EQ(checkpoint->size, 42u);
  EXPECT_EQ(std::string(crypto::HashView(checkpoint->root)), root);

  // Go's signer key text gives cairn the same verifier key text, and cairn's signature over
  // the same text is the same bytes (Ed25519 is deterministic).
  auto signer = integrity::ParseSignerKey(skey.substr(0, skey.size() - 1));
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  const integrity::NoteVerifier derived = integrity::VerifierForSigner(*signer);
  EXPECT_EQ(integrity::VerifierKeyText(derived.name, derived.public_key) + "\n", vkey);
  auto signed_by_cairn = integrity::SignNote(text, *signer);
  ASSERT_TRUE(signed_by_cairn.ok()) << signed_by_cairn.status().ToString();
  EXPECT_EQ(*signed_by_cairn, note);

  // The size changed after signing: refused.
  std::string tampered = note;
  tampered.replace(tampered.find("\n42\n"), 4, "\n43\n");
  EXPECT_FALSE(integrity::VerifyCheckpoint(tampered, *verifier).ok());
}

// JWTs and a JWKS made by `jose` (an independent JOSE implementation, pinned from npm): cairn
// accepts each algorithm it supports as jose encodes keys and signatures, and refuses jose's
// expired, wrong-audience, not-yet-valid, unknown-kid, critical-header and alg-swapped tokens.
// The other direction: jose's jwtVerify accepts a token from `cairn token mint`.
TEST(InteropJwtTest, TokensAndAJwksMadeByJoseAreAcceptedAndItsBadOnesRefused) {
  CAIRN_INTEROP_REQUIRE_NODE();
  TempDir jose_dir;
  constexpr char kJoseIssuer[] = "https://jose.interop.test";
  auto made = RunNodeScript("jose_tokens.mjs", {"make", jose_dir.path(), kJoseIssuer, kAudience});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  const auto tokens = nlohmann::json::parse(ReadFile(jose_dir.Sub("tokens.json")));

  ServerEnv env;
  env.extra_config = std::string("\n[[auth.jwt]]\nissuer = \"") + kJoseIssuer +
                     "\"\nname = \"jose\"\naudience = \"" + kAudience + "\"\njwks_file = \"" +
                     jose_dir.Sub("jwks.json") + "\"\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  std::cout << made.out;
  for (const char* alg : {"RS256", "ES256", "EdDSA", "HS256"}) {
    auto who = env.ClientWith(tokens[alg].get<std::string>())->WhoAmI();
    ASSERT_TRUE(who.ok()) << alg << ": " << who.status().ToString();
    EXPECT_EQ(who->principal(), std::string("jwt:jose:jose-") + alg);
    ASSERT_EQ(who->roles_size(), 1) << alg;
    EXPECT_EQ(who->roles(0), "order-reader") << alg;
  }
  for (const char* bad : {"expired", "wrong_audience", "not_yet_valid", "unknown_kid",
                          "critical_header", "alg_not_the_keys"}) {
    auto who = env.ClientWith(tokens[bad].get<std::string>())->WhoAmI();
    EXPECT_EQ(who.status().code(), StatusCode::kUnauthenticated) << bad << ": " << who.status().ToString();
  }

  auto minted = RunCairn({"token", "mint", "--sub", "interop", "--role", "order-reader",
                          "--data-dir", env.DataDir()});
  ASSERT_EQ(minted.exit_code, 0) << minted.err;
  const std::string token = minted.out.substr(0, minted.out.find('\n'));
  const std::string dev_jwks = env.DataDir() + "/dev/dev-jwks.json";
  auto verified = RunNodeScript("jose_tokens.mjs", {"verify", dev_jwks, token, "cairn-dev", "cairn"});
  ASSERT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("\"sub\":\"interop\""), std::string::npos) << verified.out;
  std::string forged = token;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  auto refused = RunNodeScript("jose_tokens.mjs", {"verify", dev_jwks, forged, "cairn-dev", "cairn"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("signature verification failed"), std::string::npos) << refused.err;
}

// docs/tools, run as docs/auditing.md shows: check_note.sh (bash, OpenSSL), check_tiles.py and
// recompute_root.py (Python 3's standard library).
TEST_F(InteropTest, TheAuditorsToolsInTheDocsVerifyTheLogAndCatchTampering) {
  CAIRN_INTEROP_REQUIRE(OnPath("python3"), std::string("no python3 on PATH (make test installs it)"));
  CAIRN_INTEROP_REQUIRE(OnPath("openssl"), std::string("no openssl on PATH (make test installs it)"));
  Append(600);
  auto client = env.ClientWith(env.admin_key);
  v1::DeleteRequest remove;
  remove.set_stream("orders-2");
  ASSERT_TRUE(client->Delete(remove).ok());
  Append(100);
  const std::string note_701 = WaitNote(701);
  ASSERT_FALSE(note_701.empty());
  WriteFile(work.Sub("vkey"), log_key + "\n");
  WriteFile(work.Sub("cp.note"), note_701);

  const std::string tools = DocsTools().string();
  auto note_ok = RunCommand({"bash", tools + "/check_note.sh", work.Sub("vkey"), work.Sub("cp.note")});
  EXPECT_EQ(note_ok.exit_code, 0) << note_ok.out << note_ok.err;
  EXPECT_NE(note_ok.out.find("Signature Verified Successfully"), std::string::npos) << note_ok.out;
  std::string tampered = note_701;
  tampered.replace(tampered.find("\n701\n"), 5, "\n702\n");
  WriteFile(work.Sub("tampered.note"), tampered);
  auto note_bad = RunCommand({"bash", tools + "/check_note.sh", work.Sub("vkey"), work.Sub("tampered.note")});
  EXPECT_NE(note_bad.exit_code, 0) << note_bad.out << note_bad.err;

  auto tiles_ok = RunCommand({"python3", tools + "/check_tiles.py", admin_url, work.Sub("cp.note")});
  EXPECT_EQ(tiles_ok.exit_code, 0) << tiles_ok.out << tiles_ok.err;
  EXPECT_NE(tiles_ok.out.find("701 leaves from 3 level 0 tiles"), std::string::npos) << tiles_ok.out;
  LyingProxy liar(env.server().admin_port(), "");
  ASSERT_NE(liar.http, nullptr);
  auto tiles_bad = RunCommand({"python3", tools + "/check_tiles.py", liar.url(), work.Sub("cp.note")});
  EXPECT_EQ(tiles_bad.exit_code, 1) << tiles_bad.out << tiles_bad.err;

  const std::string connect = " --server " + env.server().target() + " --ca " + env.CaCert() +
                              " --token " + env.admin_key;
  auto events = RunCommand({"sh", "-c", std::string(CAIRN_BIN) + " read-all --limit 0 --json" +
                                            connect + " > " + work.Sub("events.jsonl")});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  auto root_ok = RunCommand({"sh", "-c", "python3 " + tools + "/recompute_root.py --checkpoint " +
                                             work.Sub("cp.note") + " < " + work.Sub("events.jsonl")});
  EXPECT_EQ(root_ok.exit_code, 0) << root_ok.out << root_ok.err;
  EXPECT_NE(root_ok.out.find("701 events, 3 streams"), std::string::npos) << root_ok.out;
  EXPECT_NE(root_ok.out.find("root at size 701 matches"), std::string::npos) << root_ok.out;
  // One event's data edited (its hashes kept): the recomputed data_hash differs.
  std::string jsonl = ReadFile(work.Sub("events.jsonl"));
  const size_t at = jsonl.find("\\\"n\\\":17,");
  ASSERT_NE(at, std::string::npos) << jsonl.substr(0, 400);
  jsonl.replace(at, 9, "\\\"n\\\":71,");
  WriteFile(work.Sub("edited.jsonl"), jsonl);
  auto root_bad = RunCommand({"sh", "-c", "python3 " + tools + "/recompute_root.py --checkpoint " +
                                              work.Sub("cp.note") + " < " + work.Sub("edited.jsonl")});
  EXPECT_EQ(root_bad.exit_code, 1) << root_bad.out << root_bad.err;
  EXPECT_NE(root_bad.out.find("data_hash is not SHA-256 of the data"), std::string::npos)
      << root_bad.out;
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
