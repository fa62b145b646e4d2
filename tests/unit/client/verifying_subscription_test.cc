// VerifyingSubscription over a scripted inner subscription and the FakeLog: what the wrapper
// itself decides — a message of no known kind, the request's scope, a trusted checkpoint.
#include "cairn/verifying_subscription.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "fake_log.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

using testing::FakeLog;

// Hands out the scripted messages, then ends with `end` (kUnavailable by default).
class ScriptedSubscription final : public Subscription {
 public:
  explicit ScriptedSubscription(std::deque<v1::SubscribeResponse> script,
                                Status end = Status::Unavailable("end of script"))
      : script_(std::move(script)), end_(std::move(end)) {}
  Status NextInto(v1::SubscribeResponse* out) override {
    if (script_.empty()) return end_;
    *out = std::move(script_.front());
    script_.pop_front();
    return Status::Ok();
  }
  void Cancel() override {}
  bool cancelled() const override { return false; }
  uint64_t resume_position() const override { return 0; }

 private:
  std::deque<v1::SubscribeResponse> script_;
  Status end_;
};

// Forwards to a FakeLog that the test keeps (the wrapper owns its source).
class LogSource final : public IntegritySource {
 public:
  explicit LogSource(FakeLog* log) : log_(log) {}
  Result<v1::Checkpoint> GetCheckpoint() override { return log_->GetCheckpoint(); }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t i, uint64_t n) override {
    return log_->GetInclusionProof(i, n);
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t a, uint64_t b) override {
    return log_->GetConsistencyProof(a, b);
  }
  Status ReportViolation(const v1::ViolationReport& r) override { return log_->ReportViolation(r); }

 private:
  FakeLog* log_;
};

// A source whose proofs hang until the subscription is cancelled (a server that answers each
// proof just before its deadline), at most 20 s.
class HangingSource final : public IntegritySource {
 public:
  explicit HangingSource(FakeLog* log) : log_(log) {}
  Result<v1::Checkpoint> GetCheckpoint() override {
    std::unique_lock<std::mutex> lock(mu_);
    in_call = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return cancelled; });
    if (cancelled) return Status::Unavailable("cancelled");
    return log_->GetCheckpoint();
  }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t i, uint64_t n) override {
    return log_->GetInclusionProof(i, n);
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t a, uint64_t b) override {
    return log_->GetConsistencyProof(a, b);
  }
  Status ReportViolation(const v1::ViolationReport& r) override { return log_->ReportViolation(r); }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled = true;
    cv_.notify_all();
  }
  bool WaitInCall() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return in_call; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool in_call = false;
  bool cancelled = false;

 private:
  FakeLog* log_;
};

v1::SubscribeResponse EventMessage(const v1::RecordedEvent& event) {
  v1::SubscribeResponse m;
  *m.mutable_event() = event;
  return m;
}

class VerifyingSubscriptionTest : public ::testing::Test {
 protected:
  VerifyingSubscriptionTest() {
    options.verifier_key = log.verifier_key_text();
    options.idle_wait_ms = 1;
    request.set_stream("$all");
  }
  Result<std::unique_ptr<VerifyingSubscription>> Wrap(std::deque<v1::SubscribeResponse> script,
                                                      Status end = Status::Unavailable("end of script")) {
    return VerifyingSubscription::Wrap(std::make_unique<ScriptedSubscription>(std::move(script), std::move(end)),
                                       std::make_unique<LogSource>(&log), request, options);
  }
  // Next() until it fails; the events it returned.
  std::vector<uint64_t> Drain(VerifyingSubscription& sub, Status* end) {
    std::vector<uint64_t> seen;
    for (;;) {
      auto m = sub.Next();
      if (!m.ok()) {
        *end = m.status();
        return seen;
      }
      if (m->has_event()) seen.push_back(m->event().position());
    }
  }
  FakeLog log;
  VerifyingSubscriptionOptions options;
  v1::SubscribeRequest request;
  // The next session, trusting `kept`, from `event` (its first): the subscription after one Next().
  std::unique_ptr<VerifyingSubscription> NextSessionTrusting(const std::string& kept,
                                                             const v1::RecordedEvent& event) {
    options.trusted_checkpoint = kept;
    request.set_from_position(event.position());
    auto next = Wrap({EventMessage(event)});
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok()) return nullptr;
    auto m = (*next)->Next();
    EXPECT_TRUE(m.ok() && m->has_event()) << m.status().ToString();
    return std::move(next).value();
  }
  // The checkpoint note a session that verified `event` (its only one) keeps.
  std::string NoteKeptAfter(const v1::RecordedEvent& event) {
    auto sub = Wrap({EventMessage(event)});
    EXPECT_TRUE(sub.ok()) << sub.status().ToString();
    if (!sub.ok()) return "";
    auto m = (*sub)->Next();
    EXPECT_TRUE(m.ok() && m->has_event()) << m.status().ToString();
    return (*sub)->checkpoint_note();
  }
};

// Cancel() reaches a Next() that is proving held events: the proof calls are ended, not waited
// out one after another.
TEST_F(VerifyingSubscriptionTest, CancelEndsANextThatIsProving) {
  const auto e0 = log.Append("a", "Opened", "{}");
  options.checkpoint_every_events = 1;
  auto source = std::make_unique<HangingSource>(&log);
  HangingSource* hanging = source.get();
  std::deque<v1::SubscribeResponse> script = {EventMessage(e0)};
  auto sub = VerifyingSubscription::Wrap(std::make_unique<ScriptedSubscription>(std::move(script)),
                                         std::move(source), request, options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Result<v1::SubscribeResponse> next = Status::Internal("not returned");
  std::thread consumer([&] { next = (*sub)->Next(); });
  ASSERT_TRUE(hanging->WaitInCall());
  (*sub)->Cancel();
  consumer.join();
  {
    std::lock_guard<std::mutex> lock(hanging->mu_);
    EXPECT_TRUE(hanging->cancelled) << "the proof call was waited out, not cancelled";
  }
  EXPECT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kUnavailable) << next.status().ToString();
}

TEST_F(VerifyingSubscriptionTest, AMessageOfNoKnownKindStopsTheSubscriptionAndIsReported) {
  const auto e0 = log.Append("a", "Opened", "{}");
  const auto e1 = log.Append("a", "Changed", "{}");
  v1::SubscribeResponse empty;  // no content: what an unknown oneof case parses to
  v1::SubscribeResponse batch;  // cairn::Subscription splits batches; one arriving is not checked
  *batch.mutable_events()->add_events() = e1;
  for (const v1::SubscribeResponse& odd : {empty, batch}) {
    log.reports.clear();
    auto sub = Wrap({EventMessage(e0), odd, EventMessage(e1)});
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    Status end;
    std::vector<uint64_t> seen = Drain(**sub, &end);
    EXPECT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
    EXPECT_TRUE(seen.size() <= 1 && (seen.empty() || seen[0] == 0)) << "nothing after it";
    ASSERT_EQ(log.reports.size(), 1u);
    EXPECT_EQ(log.reports[0].kind(), v1::VIOLATION_SCOPE);
  }
}

TEST_F(VerifyingSubscriptionTest, AnEventOfAnotherStreamNeverReachesTheHandler) {
  const auto e0 = log.Append("orders-1", "Opened", "{}");
  const auto e1 = log.Append("orders-2", "Refunded", "{}");  // genuine, but not what was asked
  request.set_stream("orders-1");
  auto sub = Wrap({EventMessage(e0), EventMessage(e1)});
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Status end;
  std::vector<uint64_t> seen = Drain(**sub, &end);
  EXPECT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_EQ(end.detail(), 1);
  EXPECT_TRUE(std::find(seen.begin(), seen.end(), 1u) == seen.end());
  ASSERT_EQ(log.reports.size(), 1u);
  EXPECT_EQ(log.reports[0].kind(), v1::VIOLATION_SCOPE);
}

// The checkpoint `cairn init` signs (size 0) is a valid starting trust: the empty tree is a
// prefix of every tree, and no consistency proof from it exists (the server refuses size1 = 0).
TEST_F(VerifyingSubscriptionTest, TheSizeZeroCheckpointIsAValidStartingTrust) {
  auto empty = log.GetCheckpoint();
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(empty->size(), 0u);
  options.trusted_checkpoint = empty->note();
  const auto e0 = log.Append("a", "Opened", "{}");
  auto sub = Wrap({EventMessage(e0)});
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  auto m = (*sub)->Next();
  ASSERT_TRUE(m.ok() && m->has_event()) << m.status().ToString();
  EXPECT_TRUE(log.reports.empty());
}

TEST_F(VerifyingSubscriptionTest, TheCheckpointNoteCarriesTrustIntoTheNextSession) {
  const auto e0 = log.Append("a", "Opened", "{}");
  const std::string kept = NoteKeptAfter(e0);
  ASSERT_FALSE(kept.empty());
  const auto e1 = log.Append("a", "Changed", "{}");
  auto next = NextSessionTrusting(kept, e1);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->stats().consistency_proofs_checked, 1u);

  // A rewritten log between the sessions.
  log.Append("a", "More", "{}");
  log.fork_root = true;
  auto forked = Wrap({EventMessage(e1)});
  ASSERT_TRUE(forked.ok()) << forked.status().ToString();
  EXPECT_EQ((*forked)->Next().status().code(), StatusCode::kDataLoss);

  options.trusted_checkpoint = "cairn checkpoint\n1\nnot signed\n";
  EXPECT_EQ(Wrap({}).status().code(), StatusCode::kInvalidArgument);
}

// Other signers' lines (witness cosignatures, or padding a server added: up to 1 MiB passes the
// note's parser) are not kept: the checkpoint carried into the next session holds the text and
// the pinned key's signature, and fits the trusted checkpoint's bound.
TEST_F(VerifyingSubscriptionTest, AKeptCheckpointHoldsOnlyThePinnedKeysSignature) {
  const auto e0 = log.Append("a", "Opened", "{}");
  log.foreign_signature_lines = 99;  // ~90 KiB of other signers' lines
  const std::string kept = NoteKeptAfter(e0);
  EXPECT_LT(kept.size(), 1024u);
  EXPECT_EQ(kept.find("witness-"), std::string::npos);
  ASSERT_TRUE(integrity::VerifyCheckpoint(kept, log.verifier()).ok());
  const auto e1 = log.Append("a", "Changed", "{}");
  EXPECT_NE(NextSessionTrusting(kept, e1), nullptr);
}

// From the end: Start() verifies a checkpoint before the subscription begins and hands it over as
// the trusted one; an event below its size is dropped unseen (never passed off as new), and the
// events from the floor on are checked and delivered.
TEST_F(VerifyingSubscriptionTest, FromTheEndAnOlderEventIsNeverHandedOver) {
  const auto e0 = log.Append("a", "Paid", "{}");
  const auto e1 = log.Append("a", "Paid", "{}");
  auto at_start = log.GetCheckpoint();
  ASSERT_TRUE(at_start.ok());
  ASSERT_EQ(at_start->size(), 2u);
  options.trusted_checkpoint = at_start->note();
  request.set_from_end(true);
  const auto e2 = log.Append("a", "Paid", "{}");
  auto sub = Wrap({EventMessage(e0), EventMessage(e1), EventMessage(e2)});
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ((*sub)->resume_position(), 2u);
  auto m = (*sub)->Next();
  ASSERT_TRUE(m.ok() && m->has_event()) << m.status().ToString();
  EXPECT_EQ(m->event().position(), 2u);
  EXPECT_EQ((*sub)->resume_position(), 3u);
  EXPECT_EQ((*sub)->events_before_start_skipped(), 2u);
  EXPECT_TRUE(log.reports.empty());
}

// A position marker is the server's word: a resume position taken from one far ahead would make
// the next subscription skip events. It follows markers only as far as the verified log reaches.
// Over another transport, "from the end" needs the checkpoint verified at the start: without one
// no floor exists, and old events could be passed off as new.
TEST_F(VerifyingSubscriptionTest, FromTheEndWithoutACheckpointVerifiedAtTheStartIsRefused) {
  log.Append("a", "Paid", "{}");
  request.set_from_end(true);
  auto sub = Wrap({});
  EXPECT_EQ(sub.status().code(), StatusCode::kInvalidArgument) << sub.status().ToString();
  EXPECT_NE(sub.status().message().find("trusted_checkpoint"), std::string::npos);
}

TEST_F(VerifyingSubscriptionTest, AMarkerFarAheadMovesTheResumePositionOnlyToTheVerifiedLog) {
  const auto e0 = log.Append("a", "Opened", "{}");
  v1::SubscribeResponse far;
  far.mutable_caught_up()->set_next_position(uint64_t{1} << 62);
  auto sub = Wrap({EventMessage(e0), far});
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  auto first = (*sub)->Next();
  ASSERT_TRUE(first.ok() && first->has_event()) << first.status().ToString();
  auto marker = (*sub)->Next();
  ASSERT_TRUE(marker.ok() && marker->has_caught_up()) << marker.status().ToString();
  EXPECT_EQ((*sub)->resume_position(), 1u);
  // The handler sees the marker's position clamped too: one it stores is safe to resume from.
  EXPECT_EQ(marker->caught_up().next_position(), 1u);
}

// kDataLoss from a verifying subscription means one of its own checks failed: a DATA_LOSS the
// server ends the stream with (with a position of its choosing) is passed on as kInternal.
TEST_F(VerifyingSubscriptionTest, TheServersDataLossIsNotPassedOffAsAViolation) {
  const auto e0 = log.Append("a", "Opened", "{}");
  Status server_end = Status::DataLoss("position 7 is damaged");
  auto sub = Wrap({EventMessage(e0)}, server_end);
  ASSERT_TRUE(sub.ok());
  Status end;
  EXPECT_EQ(Drain(**sub, &end), std::vector<uint64_t>{0});
  EXPECT_EQ(end.code(), StatusCode::kInternal) << end.ToString();
  EXPECT_NE(end.message().find("position 7 is damaged"), std::string::npos);
  EXPECT_TRUE(log.reports.empty());
}

}  // namespace
}  // namespace cairn
