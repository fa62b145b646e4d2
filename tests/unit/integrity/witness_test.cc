// C2SP tlog-witness add-checkpoint: the request body both ways, and every answer a witness gives
// (200 with a cosignature that verifies, 400, 403, 409 with the size, 422), over real trees.
#include "integrity/witness.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/memory_node_store.h"
#include "integrity/merkle.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

constexpr uint64_t kNow = 1700000000;

// A log of `size` leaves with its node store, signed checkpoints and proofs.
class Log {
 public:
  explicit Log(std::string origin = "log.example/a")
      : signer_{origin, crypto::Ed25519PrivateKey::Generate().value()} {}
  void Grow(uint64_t leaves) {
    for (uint64_t i = 0; i < leaves; ++i) {
      std::vector<std::pair<NodeId, Hash>> completed;
      range_.Append(crypto::Sha256(std::to_string(range_.size())), &completed);
      store_.Put(completed);
    }
  }
  std::string Note() const {
    return SignCheckpoint(Checkpoint{signer_.name, range_.size(), range_.Root(), {}}, signer_).value();
  }
  AddCheckpointRequest From(uint64_t old_size) {
    AddCheckpointRequest request{old_size, {}, Note()};
    if (old_size != 0 && old_size < range_.size()) {
      request.proof = ConsistencyProof(store_, old_size, range_.size()).value();
    }
    return request;
  }
  NoteVerifier Key() const { return VerifierForSigner(signer_); }
  uint64_t size() const { return range_.size(); }
  Hash root() const { return range_.Root(); }

 private:
  NoteSigner signer_;
  CompactRange range_;
  MemoryNodeStore store_;
};

NoteSigner Witness() {
  return NoteSigner{"witness.example/w1", crypto::Ed25519PrivateKey::Generate().value()};
}

TEST(WitnessProtocolTest, RequestBodiesRoundTripInTheSpecifiedLayout) {
  Log log;
  log.Grow(20);
  const AddCheckpointRequest request = log.From(7);
  ASSERT_FALSE(request.proof.empty());
  const std::string body = FormatAddCheckpoint(request);
  EXPECT_EQ(body.rfind("old 7\n", 0), 0u) << body;
  EXPECT_NE(body.find("\n" + Base64Encode(std::string_view(
                                  reinterpret_cast<const char*>(request.proof[0].data()), 32)) + "\n"),
            std::string::npos);
  EXPECT_NE(body.find("\n\nlog.example/a\n20\n"), std::string::npos) << body;
  const AddCheckpointRequest parsed = ParseAddCheckpoint(body).value();
  EXPECT_EQ(parsed.old_size, 7u);
  EXPECT_EQ(parsed.proof, request.proof);
  EXPECT_EQ(parsed.checkpoint, request.checkpoint);
  EXPECT_EQ(CheckpointNoteOrigin(parsed.checkpoint).value(), "log.example/a");
  // Old size 0: no proof lines at all.
  EXPECT_EQ(FormatAddCheckpoint(log.From(0)).rfind("old 0\n\nlog.example/a\n", 0), 0u);
}

TEST(WitnessProtocolTest, MalformedBodiesAreRefused) {
  Log log;
  log.Grow(3);
  const std::string note = log.Note();
  const std::string hash_line = Base64Encode(std::string(32, 'h')) + "\n";
  std::string many = "old 1\n";
  for (int i = 0; i < 64; ++i) many += hash_line;
  for (const std::string& body :
       {std::string("old 1\n") + note,            // no empty line before the checkpoint
        "new 1\n\n" + note, "old 01\n\n" + note, "old -1\n\n" + note, "old 1 \n\n" + note,
        "old 18446744073709551616\n\n" + note,    // beyond u64
        "old 1\n" + Base64Encode(std::string(31, 'h')) + "\n\n" + note,  // not a hash
        "old 1\nnot base64!\n\n" + note, many + "\n" + note,
        std::string("old 1\n\n"),                 // no checkpoint
        "old 1\n\n" + std::string(kAddCheckpointBodyBytesMax, 'x')}) {
    EXPECT_EQ(ParseAddCheckpoint(body).status().code(), StatusCode::kInvalidArgument)
        << body.substr(0, 40);
  }
  EXPECT_TRUE(ParseAddCheckpoint(many.substr(0, many.size() - hash_line.size()) + "\n" + note).ok())
      << "63 proof lines are allowed";
  EXPECT_EQ(ParseTlogSize("20\n").value(), 20u);
  EXPECT_FALSE(ParseTlogSize("20").ok());
  EXPECT_FALSE(ParseTlogSize("x\n").ok());
}

TEST(WitnessProtocolTest, AWitnessCosignsConsistentGrowthAndPersistsTheNewTree) {
  Log log;
  const NoteSigner witness = Witness();
  const NoteVerifier key = log.Key();
  log.Grow(5);
  WitnessAnswer first = WitnessAddCheckpoint(log.From(0), {&key, 1}, std::nullopt, witness, kNow);
  ASSERT_EQ(first.http_status, 200) << first.body;
  ASSERT_TRUE(first.next.has_value());
  EXPECT_EQ(*first.next, (WitnessedTree{5, log.root()}));
  EXPECT_EQ(first.body.rfind("\xE2\x80\x94 witness.example/w1 ", 0), 0u) << first.body;
  EXPECT_EQ(VerifyCosignature(log.Note() + first.body, VerifierForSigner(witness,
                                                                         kCosignatureAlgorithmEd25519))
                .value(),
            kNow);

  log.Grow(17);
  WitnessAnswer second = WitnessAddCheckpoint(log.From(5), {&key, 1}, first.next, witness, kNow + 1);
  ASSERT_EQ(second.http_status, 200) << second.body;
  EXPECT_EQ(*second.next, (WitnessedTree{22, log.root()}));
  // The same checkpoint again (old size = its size, same root): cosigned again.
  EXPECT_EQ(WitnessAddCheckpoint(log.From(22), {&key, 1}, second.next, witness, kNow + 2).http_status,
            200);
}

TEST(WitnessProtocolTest, AWitnessRefusesWhatItCannotCheckAndSaysItsSizeOnAConflict) {
  Log log;
  const NoteSigner witness = Witness();
  const NoteVerifier key = log.Key();
  log.Grow(9);
  const WitnessedTree seen{4, crypto::Hash{}};
  Log before;  // the witness's tree at 4 must be this log's at 4
  before.Grow(4);
  const WitnessedTree at4{4, before.root()};

  // Not signed by a trusted key (another log's key of the same name): 403, nothing to persist.
  Log impostor;
  impostor.Grow(9);
  const NoteVerifier other = impostor.Key();
  WitnessAnswer forbidden = WitnessAddCheckpoint(log.From(4), {&other, 1}, at4, witness, kNow);
  EXPECT_EQ(forbidden.http_status, 403);
  EXPECT_FALSE(forbidden.next.has_value());
  // Old size above the checkpoint: 400.
  AddCheckpointRequest ahead = log.From(4);
  ahead.old_size = 10;
  EXPECT_EQ(WitnessAddCheckpoint(ahead, {&key, 1}, at4, witness, kNow).http_status, 400);
  // Another old size than the witness's: 409 with its size as text/x.tlog.size.
  WitnessAnswer conflict = WitnessAddCheckpoint(log.From(3), {&key, 1}, at4, witness, kNow);
  EXPECT_EQ(conflict.http_status, 409);
  EXPECT_EQ(conflict.body, "4\n");
  EXPECT_EQ(conflict.content_type, kTlogSizeContentType);
  EXPECT_FALSE(conflict.fork) << "a log that does not know the witness's size is normal";
  EXPECT_EQ(WitnessAddCheckpoint(log.From(4), {&key, 1}, std::nullopt, witness, kNow).body, "0\n")
      << "a witness that never cosigned this log has size 0";
  // A proof that does not lead from the witness's root: 422 (a fork, or a broken proof).
  WitnessAnswer unproven = WitnessAddCheckpoint(log.From(4), {&key, 1}, seen, witness, kNow);
  EXPECT_EQ(unproven.http_status, 422);
  EXPECT_FALSE(unproven.fork) << "an unsigned proof is evidence of nothing";
  AddCheckpointRequest broken = log.From(4);
  broken.proof[0][0] ^= 1;
  EXPECT_EQ(WitnessAddCheckpoint(broken, {&key, 1}, at4, witness, kNow).http_status, 422);
  AddCheckpointRequest from_zero = log.From(0);
  from_zero.proof = log.From(4).proof;
  EXPECT_EQ(WitnessAddCheckpoint(from_zero, {&key, 1}, std::nullopt, witness, kNow).http_status, 422);
  // The same size with another root: 409.
  const WitnessedTree forked{9, before.root()};
  WitnessAnswer fork = WitnessAddCheckpoint(log.From(9), {&key, 1}, forked, witness, kNow);
  EXPECT_EQ(fork.http_status, 409);
  EXPECT_EQ(fork.body, "9\n");
  EXPECT_TRUE(fork.fork);
  // Equal sizes take no proof.
  AddCheckpointRequest padded = log.From(9);
  padded.proof = log.From(4).proof;
  EXPECT_EQ(WitnessAddCheckpoint(padded, {&key, 1}, WitnessedTree{9, log.root()}, witness, kNow)
                .http_status,
            422);
  // The honest request passes.
  EXPECT_EQ(WitnessAddCheckpoint(log.From(4), {&key, 1}, at4, witness, kNow).http_status, 200);
}

}  // namespace
}  // namespace cairn::integrity
