// server/witness_pusher: a log in memory pushing its checkpoints to witnesses served over real
// loopback HTTP (server/admin_http.h) by the witness logic of integrity/witness.h — honest ones,
// and ones that lie: extra lines in a 200, a forged 200, another tree of the same size, and one
// that never answers (Stop() must not wait for it).
#include "server/witness_pusher.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/memory_node_store.h"
#include "integrity/merkle.h"
#include "integrity/witness.h"
#include "server/admin_http.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using Clock = std::chrono::steady_clock;

// A growing log with its latest signed checkpoint; thread-safe (the pusher reads it).
class MemoryLog {
 public:
  MemoryLog() : MemoryLog(integrity::NoteSigner{"log.test/a", crypto::Ed25519PrivateKey::Generate().value()}) {}
  // A log under `signer`'s key whose leaves are made of `salt` and their index: two logs of one
  // key and different salts are two trees of that log (a fork).
  explicit MemoryLog(integrity::NoteSigner signer, std::string salt = "")
      : signer_(std::move(signer)), salt_(std::move(salt)) {
    Grow(1);
  }
  void Grow(uint64_t leaves) {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t i = 0; i < leaves; ++i) {
      std::vector<std::pair<integrity::NodeId, integrity::Hash>> completed;
      range_.Append(crypto::Sha256(salt_ + std::to_string(range_.size())), &completed);
      nodes_.Put(completed);
    }
    latest_ = engine::SignedCheckpoint{range_.size(), range_.Root(),
                                       integrity::SignCheckpoint({signer_.name, range_.size(),
                                                                  range_.Root(), {}},
                                                                 signer_)
                                           .value()};
  }
  Result<engine::SignedCheckpoint> Latest() {
    std::lock_guard<std::mutex> lock(mu_);
    return latest_;
  }
  Result<std::vector<crypto::Hash>> Prove(uint64_t a, uint64_t b) {
    std::lock_guard<std::mutex> lock(mu_);
    return integrity::ConsistencyProof(nodes_, a, b);
  }
  integrity::NoteVerifier Key() const { return integrity::VerifierForSigner(signer_); }
  // A copy of the log's signer, for another tree of this log.
  integrity::NoteSigner signer() const {
    return integrity::NoteSigner{signer_.name,
                                 crypto::Ed25519PrivateKey::FromSeed(signer_.key.seed().view()).value()};
  }
  uint64_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return range_.size();
  }

 private:
  std::mutex mu_;
  integrity::NoteSigner signer_;
  const std::string salt_;
  integrity::CompactRange range_;
  integrity::MemoryNodeStore nodes_;
  engine::SignedCheckpoint latest_;
};

enum class Lie { kNone, kExtraLines, kNoValidLine, kAnotherTree, kTwoValidLines };

// A witness of the log on an ephemeral loopback port, honest or lying.
class TestWitness {
 public:
  TestWitness(std::string name, integrity::NoteVerifier log_key, Lie lie = Lie::kNone)
      : signer_{std::move(name), crypto::Ed25519PrivateKey::Generate().value()},
        log_key_(std::move(log_key)),
        lie_(lie) {
    AdminHttpOptions options;
    options.listen = "127.0.0.1:0";
    http_ = AdminHttpServer::Start(
                options, {},
                {{"/add-checkpoint", [this](std::string_view body) { return Answer(body); }}})
                .value();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(http_->port()) + "/"; }
  integrity::NoteVerifier Key() const {
    return integrity::VerifierForSigner(signer_, integrity::kCosignatureAlgorithmEd25519);
  }
  WitnessEndpoint Endpoint() const { return WitnessEndpoint{Key(), Url(), "", "", nullptr}; }

 private:
  HttpResponse Answer(std::string_view body) {
    auto request = integrity::ParseAddCheckpoint(body);
    if (!request.ok()) return HttpResponse{400, "text/plain", "bad\n"};
    if (lie_ == Lie::kAnotherTree) {  // claims to hold another tree of exactly this size
      return HttpResponse{409, integrity::kTlogSizeContentType, std::to_string(request->old_size) + "\n"};
    }
    integrity::WitnessAnswer answer = integrity::WitnessAddCheckpoint(
        *request, {&log_key_, 1}, last_, signer_, 1700000000);
    if (answer.next) last_ = answer.next;
    std::string out = answer.body;
    if (answer.http_status == 200 && lie_ == Lie::kExtraLines) {
      // Its valid line, lines under its name by another key id, and one by someone else.
      for (int i = 0; i < 3; ++i) {
        out += std::string(integrity::kNoteSignaturePrefix) + signer_.name + " " +
               Base64Encode(std::string(4 + 8 + 64, static_cast<char>('a' + i))) + "\n";
      }
      out += std::string(integrity::kNoteSignaturePrefix) + "other.test/w " +
             Base64Encode(std::string(4 + 8 + 64, 'z')) + "\n";
    }
    if (answer.http_status == 200 && lie_ == Lie::kTwoValidLines) {  // cosigned twice, later too
      const std::string again =
          integrity::AddCosignature(request->checkpoint, signer_, 1700000999).value();
      out += again.substr(request->checkpoint.size());
    }
    if (answer.http_status == 200 && lie_ == Lie::kNoValidLine) {
      out = std::string(integrity::kNoteSignaturePrefix) + signer_.name + " " +
            Base64Encode(std::string(4 + 8 + 64, 'q')) + "\n";
    }
    return HttpResponse{answer.http_status, answer.content_type, out};
  }

  integrity::NoteSigner signer_;
  integrity::NoteVerifier log_key_;
  Lie lie_;
  std::optional<integrity::WitnessedTree> last_;  // the HTTP loop thread's only
  std::unique_ptr<AdminHttpServer> http_;
};

std::unique_ptr<WitnessPusher> StartPusher(MemoryLog& log, std::vector<WitnessEndpoint> witnesses,
                                           int64_t timeout_ms = 5000,
                                           std::optional<WitnessKeeping> keeping = std::nullopt) {
  WitnessPusherOptions options;
  options.interval_ms = 20;
  options.backoff_max_ms = 100;
  options.timeout_ms = timeout_ms;
  auto pusher = WitnessPusher::Start(
      std::move(witnesses), [&log] { return log.Latest(); },
      [&log](uint64_t a, uint64_t b) { return log.Prove(a, b); }, options, std::move(keeping));
  EXPECT_TRUE(pusher.ok()) << pusher.status().ToString();
  return pusher.ok() ? std::move(pusher).value() : nullptr;
}

// Waits until Cosigned() is of `size` and cosigned by each of `by`; returns it ("" after 10 s).
std::string WaitCosigned(const WitnessPusher& pusher, uint64_t size,
                         const std::vector<integrity::NoteVerifier>& by = {}) {
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(10)) {
    const std::string note = pusher.Cosigned();
    bool all = note.find("\n" + std::to_string(size) + "\n") != std::string::npos;
    for (const integrity::NoteVerifier& key : by) {
      all = all && integrity::VerifyCosignature(note, key).ok();
    }
    if (all) return note;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

size_t SignatureLines(const std::string& note) {
  size_t n = 0;
  for (size_t at = note.find(integrity::kNoteSignaturePrefix); at != std::string::npos;
       at = note.find(integrity::kNoteSignaturePrefix, at + 1)) {
    ++n;
  }
  return n;
}

TEST(WitnessPusherTest, HonestWitnessesCosignEachNewCheckpointAndTheNoteCarriesBoth) {
  MemoryLog log;
  TestWitness w1("w1.test/w", log.Key()), w2("w2.test/w", log.Key());
  log.Grow(4);
  auto pusher = StartPusher(log, {w1.Endpoint(), w2.Endpoint()});
  ASSERT_NE(pusher, nullptr);
  std::string note = WaitCosigned(*pusher, 5, {w1.Key(), w2.Key()});
  ASSERT_FALSE(note.empty());
  EXPECT_TRUE(integrity::VerifyCheckpoint(note, log.Key()).ok());
  log.Grow(10);  // the next pushes carry consistency proofs from 5
  // A new checkpoint is published only with as many cosignatures as the one before: whenever it
  // shows size 15, both witnesses have cosigned it.
  const auto start = Clock::now();
  while (pusher->Cosigned().find("\n15\n") == std::string::npos &&
         Clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  note = pusher->Cosigned();
  ASSERT_NE(note.find("\n15\n"), std::string::npos);
  EXPECT_TRUE(integrity::VerifyCosignature(note, w1.Key()).ok()) << note;
  EXPECT_TRUE(integrity::VerifyCosignature(note, w2.Key()).ok()) << note;
  EXPECT_EQ(pusher->WithCosignatures(log.Latest()->note), note);
  for (const WitnessState& state : pusher->States()) {
    EXPECT_EQ(state.cosigned_size, 15u) << state.name;
    EXPECT_EQ(state.failures, 0u);
  }
}

TEST(WitnessPusherTest, OnlyAWitnesssOwnVerifiedLineReachesTheNote) {
  MemoryLog log;
  TestWitness noisy("noisy.test/w", log.Key(), Lie::kExtraLines);
  TestWitness forger("forger.test/w", log.Key(), Lie::kNoValidLine);
  TestWitness honest("honest.test/w", log.Key());
  TestWitness twice("twice.test/w", log.Key(), Lie::kTwoValidLines);
  auto pusher =
      StartPusher(log, {noisy.Endpoint(), forger.Endpoint(), honest.Endpoint(), twice.Endpoint()});
  ASSERT_NE(pusher, nullptr);
  const std::string note = WaitCosigned(*pusher, 1, {noisy.Key(), honest.Key(), twice.Key()});
  ASSERT_FALSE(note.empty());
  EXPECT_TRUE(integrity::VerifyCheckpoint(note, log.Key()).ok()) << note;
  EXPECT_TRUE(integrity::VerifyCosignature(note, noisy.Key()).ok());
  EXPECT_FALSE(integrity::VerifyCosignature(note, forger.Key()).ok());
  EXPECT_EQ(integrity::VerifyCosignature(note, twice.Key()).value(), 1700000999u) << "its last line is kept";
  EXPECT_EQ(SignatureLines(note), 4u)
      << "the log's, the noisy one's valid line, the honest one's, one of the twice one's: " << note;
  EXPECT_EQ(note.find("other.test/w"), std::string::npos);
  const std::vector<WitnessState> states = pusher->States();
  EXPECT_GE(states[1].failures, 1u);
  EXPECT_NE(states[1].last_error.find("without a valid cosignature"), std::string::npos);
}

TEST(WitnessPusherTest, AWitnessWithAnotherTreeOfTheSameSizeIsAFailureNamedAsSuch) {
  MemoryLog log;
  TestWitness liar("liar.test/w", log.Key(), Lie::kAnotherTree);
  auto pusher = StartPusher(log, {liar.Endpoint()});
  ASSERT_NE(pusher, nullptr);
  const auto start = Clock::now();
  while (pusher->States()[0].failures == 0 && Clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const WitnessState state = pusher->States()[0];
  EXPECT_GE(state.failures, 1u);
  EXPECT_NE(state.last_error.find("another tree"), std::string::npos) << state.last_error;
  EXPECT_EQ(pusher->Cosigned(), "");
}

TEST(WitnessPusherTest, StopDoesNotWaitForAWitnessThatNeverAnswers) {
  MemoryLog log;
  // A listener that accepts connections (in the kernel's backlog) and never answers.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t size = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size), 0);
  TestWitness key_only("silent.test/w", log.Key());
  WitnessEndpoint silent = key_only.Endpoint();
  silent.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto pusher = StartPusher(log, {silent}, /*timeout_ms=*/60000);
  ASSERT_NE(pusher, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a call is in progress
  const auto start = Clock::now();
  pusher->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10)) << "the 60 s call was aborted";
  ::close(fd);
}

// What a WitnessKeeping's `keep` stored last (thread-safe: the pusher's thread writes it).
class Keeper {
 public:
  WitnessKeeping Keeping(const MemoryLog& log, std::string kept = "") {
    return WitnessKeeping{log.Key(), std::move(kept), [this](const std::string& note) {
                            std::lock_guard<std::mutex> lock(mu_);
                            ++puts_;
                            if (fail_) return Status::IOError("the store is closing");
                            note_ = note;
                            return Status::Ok();
                          }};
  }
  std::string note() {
    std::lock_guard<std::mutex> lock(mu_);
    return note_;
  }
  int puts() {
    std::lock_guard<std::mutex> lock(mu_);
    return puts_;
  }
  void Fail(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  std::string note_;
  int puts_ = 0;
  bool fail_ = false;
};

// The witness's key at an address where nothing listens: every call fails, no round publishes.
WitnessEndpoint Down(const TestWitness& w) { return WitnessEndpoint{w.Key(), "http://127.0.0.1:1", "", "", nullptr}; }

// A note both witnesses cosigned at size `size` of `log`, as a first run's pusher kept it.
std::string KeptByAFirstRun(MemoryLog& log, const TestWitness& w1, const TestWitness& w2) {
  Keeper keeper;
  auto pusher = StartPusher(log, {w1.Endpoint(), w2.Endpoint()}, 5000, keeper.Keeping(log));
  EXPECT_NE(pusher, nullptr);
  if (pusher == nullptr) return "";
  const std::string note = WaitCosigned(*pusher, log.size(), {w1.Key(), w2.Key()});
  EXPECT_FALSE(note.empty());
  for (int waited_ms = 0; waited_ms < 10000 && keeper.note() != note; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(keeper.note(), note) << "the published note is kept";
  return keeper.note();
}

TEST(WitnessPusherTest, ACosignedCheckpointKeptByAnEarlierRunIsServedAtOnceWhileWitnessesAreDown) {
  MemoryLog log;
  TestWitness w1("w1.test/w", log.Key()), w2("w2.test/w", log.Key());
  log.Grow(2);
  const std::string kept = KeptByAFirstRun(log, w1, w2);
  ASSERT_FALSE(kept.empty());
  log.Grow(4);  // the log went on: size 7, not cosigned by anyone yet
  Keeper keeper;
  auto pusher = StartPusher(log, {Down(w1), Down(w2)}, 5000, keeper.Keeping(log, kept));
  ASSERT_NE(pusher, nullptr);
  EXPECT_EQ(pusher->Cosigned(), kept);
  for (const WitnessState& state : pusher->States()) {
    EXPECT_EQ(state.cosigned_size, 3u) << state.name;
    EXPECT_EQ(state.cosigned_at_ms, int64_t{1700000000} * 1000) << state.name;
  }
  // Rounds fail (the witnesses are down) and leave it published, and nothing is kept again.
  for (int waited_ms = 0; waited_ms < 10000 && pusher->States()[1].failures < 2; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(pusher->States()[1].failures, 2u);
  EXPECT_EQ(pusher->Cosigned(), kept);
  EXPECT_EQ(keeper.puts(), 0);
  // A witness back: the log's latest checkpoint is cosigned (from the kept size, with a proof)
  // and kept.
  pusher->Stop();
  pusher = StartPusher(log, {w1.Endpoint(), Down(w2)}, 5000, keeper.Keeping(log, kept));
  ASSERT_NE(pusher, nullptr);
  const std::string next = WaitCosigned(*pusher, 7, {w1.Key()});
  ASSERT_FALSE(next.empty());
  for (int waited_ms = 0; waited_ms < 10000 && keeper.note() != next; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(keeper.note(), next);
}

TEST(WitnessPusherTest, AKeptNoteOfAnotherTreeOrWithoutAConfiguredWitnesssCosignatureIsNotUsed) {
  MemoryLog log;
  TestWitness w1("w1.test/w", log.Key()), w2("w2.test/w", log.Key()), w3("w3.test/w", log.Key());
  log.Grow(4);
  const std::string kept = KeptByAFirstRun(log, w1, w2);  // size 5
  ASSERT_FALSE(kept.empty());
  auto adopted = [&](MemoryLog& now, std::vector<WitnessEndpoint> witnesses, const std::string& note) {
    Keeper keeper;
    auto pusher = StartPusher(now, std::move(witnesses), 5000, keeper.Keeping(now, note));
    return pusher == nullptr ? std::string("no pusher") : pusher->Cosigned();
  };
  EXPECT_EQ(adopted(log, {Down(w1), Down(w2)}, kept), kept) << "the control: it is used";

  // Only the configured witnesses' lines are taken.
  const std::string only_w1 = adopted(log, {Down(w1), Down(w3)}, kept);
  EXPECT_TRUE(integrity::VerifyCosignature(only_w1, w1.Key()).ok()) << only_w1;
  EXPECT_EQ(only_w1.find("w2.test/w"), std::string::npos) << only_w1;
  EXPECT_EQ(adopted(log, {Down(w3)}, kept), "") << "no configured witness cosigned it";

  // A cosignature changed by one bit does not count.
  std::string forged = kept;
  const size_t w1_line = forged.find("w1.test/w ");
  ASSERT_NE(w1_line, std::string::npos);
  char& c = forged[w1_line + std::string("w1.test/w ").size() + 20];  // inside the signature
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(adopted(log, {Down(w1)}, forged), "");

  // Not signed by this log's key.
  MemoryLog stranger;
  EXPECT_EQ(adopted(stranger, {Down(w1), Down(w2)}, kept), "");

  // The log is now smaller than the kept checkpoint (restored from an older backup).
  MemoryLog restored(log.signer());
  restored.Grow(1);  // size 2 < 5
  EXPECT_EQ(adopted(restored, {Down(w1), Down(w2)}, kept), "");
  // Another tree of the same size, and a larger tree that does not extend the kept one.
  MemoryLog forked(log.signer(), "fork");
  forked.Grow(4);  // size 5, other leaves
  EXPECT_EQ(adopted(forked, {Down(w1), Down(w2)}, kept), "");
  forked.Grow(3);  // size 8
  EXPECT_EQ(adopted(forked, {Down(w1), Down(w2)}, kept), "");
  // The same tree grown on: it is used.
  MemoryLog same(log.signer());
  same.Grow(9);  // size 10, the first 5 leaves as in `log`
  EXPECT_EQ(adopted(same, {Down(w1), Down(w2)}, kept), kept);
}

TEST(WitnessPusherTest, AFailedKeepIsTriedAgainAfterTheNextRound) {
  MemoryLog log;
  TestWitness w1("w1.test/w", log.Key());
  Keeper keeper;
  keeper.Fail(true);
  auto pusher = StartPusher(log, {w1.Endpoint()}, 5000, keeper.Keeping(log));
  ASSERT_NE(pusher, nullptr);
  const std::string note = WaitCosigned(*pusher, 1, {w1.Key()});
  ASSERT_FALSE(note.empty());
  for (int waited_ms = 0; waited_ms < 10000 && keeper.puts() < 3; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(keeper.puts(), 3) << "tried after each round while it fails";
  keeper.Fail(false);
  for (int waited_ms = 0; waited_ms < 10000 && keeper.note() != note; waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(keeper.note(), note);
  const int puts = keeper.puts();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // ~10 rounds, nothing new
  EXPECT_EQ(keeper.puts(), puts) << "an unchanged note is not kept again";
}

TEST(WitnessPusherTest, StartRefusesBadWitnessesAndOptions) {
  MemoryLog log;
  TestWitness w("w.test/w", log.Key());
  auto code = [&](std::vector<WitnessEndpoint> witnesses, WitnessPusherOptions options = {}) {
    return WitnessPusher::Start(
               std::move(witnesses), [&log] { return log.Latest(); },
               [&log](uint64_t a, uint64_t b) { return log.Prove(a, b); }, options)
        .status()
        .code();
  };
  EXPECT_EQ(code({}), StatusCode::kInvalidArgument);
  WitnessEndpoint log_key = w.Endpoint();
  log_key.key = log.Key();  // a note signer's key (0x01), not a cosigner's
  EXPECT_EQ(code({log_key}), StatusCode::kInvalidArgument);
  WitnessEndpoint plain = w.Endpoint();
  plain.url = "http://witness.example/";
  EXPECT_EQ(code({plain}), StatusCode::kInvalidArgument);
  WitnessPusherOptions options;
  options.timeout_ms = 10;
  EXPECT_EQ(code({w.Endpoint()}, options), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::server
