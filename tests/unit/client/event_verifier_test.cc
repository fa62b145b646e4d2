// The verifying client's checks: a correct sequence passes; each single-field change of one
// event, a broken chain, a forged or foreign checkpoint signature, an inconsistent checkpoint
// and an event the signed tree does not hold are each detected, named by position, and reported.
#include "client/event_verifier.h"

#include <functional>

#include <gtest/gtest.h>

#include "crypto/sha256.h"
#include "fake_log.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

using testing::FakeLog;

// Three streams interleaved; position 3 is "b" version 1 (its chain link is to position 1).
std::vector<v1::RecordedEvent> FillLog(FakeLog& log) {
  std::vector<v1::RecordedEvent> events;
  events.push_back(log.Append("a", "Opened", R"({"n":0})"));
  events.push_back(log.Append("b", "Opened", R"({"n":1})", R"({"trace":"t1"})"));
  events.push_back(log.Append("a", "Changed", R"({"n":2})"));
  events.push_back(log.Append("b", "Changed", R"({"marker":"m3"})", R"({"trace":"t3"})"));
  events.push_back(log.Append("c", "Opened", R"({"n":4})"));
  events.push_back(log.Append("a", "Closed", R"({"n":5})"));
  return events;
}

// Feeds `events` in order; returns the first error (and how many passed before it).
Status Feed(EventVerifier& verifier, const std::vector<v1::RecordedEvent>& events,
            size_t* passed = nullptr) {
  size_t ok = 0;
  for (const auto& e : events) {
    if (Status s = verifier.CheckEvent(e, 0); !s.ok()) {
      if (passed) *passed = ok;
      return s;
    }
    ++ok;
  }
  if (passed) *passed = ok;
  return Status::Ok();
}

void ExpectViolationAt(const Status& s, const FakeLog& log, uint64_t position,
                       v1::ViolationKind kind) {
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_EQ(s.detail(), static_cast<int64_t>(position)) << s.ToString();
  EXPECT_NE(s.message().find("position " + std::to_string(position)), std::string::npos)
      << s.message();
  ASSERT_EQ(log.reports.size(), 1u) << "reported exactly once";
  EXPECT_EQ(log.reports[0].kind(), kind) << v1::ViolationKind_Name(log.reports[0].kind());
  EXPECT_EQ(log.reports[0].position(), position);
}

TEST(EventVerifier, CorrectSequencePassesWithCheckpointsAndProofs) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, {events.begin(), events.begin() + 3}).ok());
  EXPECT_FALSE(verifier.Proven(0));
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(2));
  // More events, a second checkpoint: consistency with the first, inclusion of the rest.
  ASSERT_TRUE(Feed(verifier, {events.begin() + 3, events.end()}).ok());
  for (int i = 0; i < 2; ++i) log.Append("d", "Extra", "{}");  // the tree grew past them
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(5));
  EXPECT_TRUE(log.reports.empty());
  EXPECT_EQ(verifier.stats().events_checked, 6u);
  EXPECT_EQ(verifier.stats().inclusion_proofs_checked, 6u);
  EXPECT_EQ(verifier.stats().consistency_proofs_checked, 1u);
  EXPECT_EQ(verifier.stats().checkpoints_verified, 2u);
  EXPECT_EQ(verifier.stats().chain_links_checked, 3u);  // a@1, b@1, a@2
  EXPECT_EQ(verifier.pending_events(), 0u);
}

struct Mutation {
  const char* name;
  std::function<void(v1::RecordedEvent&)> apply;
  v1::ViolationKind kind;
};

void FlipFirstByte(std::string* s) { (*s)[0] ^= 0x01; }

TEST(EventVerifier, EverySingleFieldMutationIsDetectedAtItsPosition) {
  const std::vector<Mutation> mutations = {
      {"type", [](auto& e) { e.set_type("Forged"); }, v1::VIOLATION_LEAF_HASH},
      {"stream", [](auto& e) { e.set_stream("z"); }, v1::VIOLATION_LEAF_HASH},
      {"version", [](auto& e) { e.set_version(7); }, v1::VIOLATION_LEAF_HASH},
      {"id", [](auto& e) { FlipFirstByte(e.mutable_id()); }, v1::VIOLATION_LEAF_HASH},
      {"position", [](auto& e) { e.set_position(e.position() + 100); }, v1::VIOLATION_LEAF_HASH},
      {"content_type", [](auto& e) { e.set_content_type("text/plain"); }, v1::VIOLATION_LEAF_HASH},
      {"recorded_at", [](auto& e) { e.set_recorded_at_ns(e.recorded_at_ns() + 1); },
       v1::VIOLATION_LEAF_HASH},
      {"data", [](auto& e) { (*e.mutable_data())[3] ^= 0x01; }, v1::VIOLATION_DATA_HASH},
      {"data_hash", [](auto& e) { FlipFirstByte(e.mutable_data_hash()); }, v1::VIOLATION_DATA_HASH},
      {"metadata", [](auto& e) { FlipFirstByte(e.mutable_metadata()); },
       v1::VIOLATION_METADATA_HASH},
      {"metadata_hash", [](auto& e) { FlipFirstByte(e.mutable_metadata_hash()); },
       v1::VIOLATION_METADATA_HASH},
      {"stream_prev", [](auto& e) { FlipFirstByte(e.mutable_stream_prev()); },
       v1::VIOLATION_LEAF_HASH},
      {"leaf_hash", [](auto& e) { FlipFirstByte(e.mutable_leaf_hash()); }, v1::VIOLATION_LEAF_HASH},
      {"short id", [](auto& e) { e.mutable_id()->pop_back(); }, v1::VIOLATION_MALFORMED},
      {"short hash", [](auto& e) { e.mutable_leaf_hash()->pop_back(); }, v1::VIOLATION_MALFORMED},
  };
  for (const Mutation& m : mutations) {
    SCOPED_TRACE(m.name);
    FakeLog log;
    std::vector<v1::RecordedEvent> events = FillLog(log);
    m.apply(events[3]);
    const uint64_t position = events[3].position();  // as delivered (changed by "position")
    EventVerifier verifier(&log, log.verifier());
    size_t passed = 0;
    Status s = Feed(verifier, events, &passed);
    EXPECT_EQ(passed, 3u) << "the events before the changed one pass, it does not";
    ExpectViolationAt(s, log, position, m.kind);
    // The verifier stays failed.
    EXPECT_EQ(verifier.CheckEvent(events[4], 0).code(), StatusCode::kDataLoss);
    EXPECT_EQ(log.reports.size(), 1u);
  }
}

TEST(EventVerifier, ConsistentlyForgedChainLinkIsDetected) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  // b@1 with every hash recomputed but pointing to the wrong predecessor.
  events[3] = FakeLog::Forge(3, "b", 1, crypto::Sha256("not b@0"), "Changed", "{}");
  EventVerifier verifier(&log, log.verifier());
  ExpectViolationAt(Feed(verifier, events), log, 3, v1::VIOLATION_STREAM_CHAIN);
}

// A start mid-stream: the first event seen of "a" is version 1 (position 2). Its predecessor is
// read from the log, its link checked, and that predecessor proven with it.
TEST(EventVerifier, AnUnseenPredecessorIsReadChainedAndProven) {
  FakeLog log;
  log.serve_reads = true;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(2);
  ASSERT_TRUE(Feed(verifier, {events[2], events[3], events[4], events[5]}).ok());
  EXPECT_EQ(log.read_calls, 2u);  // a@1 and b@1: a@2 follows a@1, c@0 has no predecessor
  EXPECT_EQ(verifier.stats().predecessors_read, 2u);
  EXPECT_EQ(verifier.stats().chain_links_checked, 3u);
  EXPECT_EQ(verifier.stats().chain_links_unchecked, 0u);
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_EQ(verifier.stats().inclusion_proofs_checked, 4u + 2u);  // the events and both predecessors
  EXPECT_EQ(log.batch_sizes, std::vector<size_t>{6}) << "one call for all six";
  EXPECT_TRUE(log.reports.empty());
}

// A broken chain written into the log itself (so signed): found at the first event seen.
TEST(EventVerifier, ABrokenLinkToAnUnseenPredecessorIsDetected) {
  FakeLog log;
  log.serve_reads = true;
  log.Append("a", "Opened", "{}");
  const auto broken = log.AppendWithPrev("a", crypto::Sha256("not a@0"), "Changed", "{}");
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(1);
  ExpectViolationAt(verifier.CheckEvent(broken, 0), log, 1, v1::VIOLATION_STREAM_CHAIN);
}

// A gap in a stream the consumer already follows (a type-filtered subscription) is bridged by
// reading the version before the event; that version must also link back to the one the consumer
// saw. Here the log holds a fork — a@1 does not link to a@0, a@2 links to a@1 — every leaf of it
// signed and proven; the consumer that saw a@0 and then a@2 catches it at a@2.
TEST(EventVerifier, AReadPredecessorMustLinkBackToTheVersionSeenBeforeIt) {
  FakeLog log;
  log.serve_reads = true;
  const auto a0 = log.Append("a", "Opened", "{}");
  log.AppendWithPrev("a", crypto::Sha256("x"), "Changed", "{}");
  const auto a2 = log.Append("a", "Closed", "{}");
  EventVerifier verifier(&log, log.verifier());
  const Status s = Feed(verifier, {a0, a2});
  ExpectViolationAt(s, log, 2, v1::VIOLATION_STREAM_CHAIN);
  EXPECT_NE(s.message().find("does not link to version 0"), std::string::npos) << s.message();
}

// A stream's tombstone is its last version: a version after it — written into the log (signed)
// by a rogue node or a server holding the key — is refused whether the consumer saw the tombstone
// or read it as the predecessor (as the offline verifier refuses it).
TEST(EventVerifier, AnEventAfterItsStreamsTombstoneIsAChainViolation) {
  {
    FakeLog log;
    const auto opened = log.Append("a", "Opened", "{}");
    const auto tombstone = log.Append("a", "$streamDeleted", "{}");
    const auto revived = log.Append("a", "Opened", "{}");
    EventVerifier verifier(&log, log.verifier());
    ExpectViolationAt(Feed(verifier, {opened, tombstone, revived}), log, 2,
                      v1::VIOLATION_STREAM_CHAIN);
  }
  {
    FakeLog log;
    log.serve_reads = true;
    log.Append("a", "Opened", "{}");
    log.Append("a", "$streamDeleted", "{}");
    const auto revived = log.Append("a", "Opened", "{}");
    EventVerifier verifier(&log, log.verifier());
    verifier.RaisePositionFloor(2);
    const Status s = verifier.CheckEvent(revived, 0);
    ExpectViolationAt(s, log, 2, v1::VIOLATION_STREAM_CHAIN);
    EXPECT_NE(s.message().find("tombstone"), std::string::npos) << s.message();
  }
  {
    FakeLog log;  // a tombstone of another stream changes nothing for this one
    const auto a0 = log.Append("a", "Opened", "{}");
    const auto b0 = log.Append("b", "$streamDeleted", "{}");
    const auto a1 = log.Append("a", "Changed", "{}");
    EventVerifier verifier(&log, log.verifier());
    EXPECT_TRUE(Feed(verifier, {a0, b0, a1}).ok());
  }
}

// The log holds a@1 linked to a made-up a@0; the server shows that made-up a@0 when asked. The
// link matches, but the made-up predecessor is not in the signed tree: caught at the checkpoint.
TEST(EventVerifier, AMadeUpPredecessorIsCaughtByItsInclusionProof) {
  FakeLog log;
  log.Append("a", "Opened", R"({"real":true})");
  const auto made_up = FakeLog::Forge(0, "a", 0, integrity::kZeroHash, "Opened", R"({"real":false})");
  const auto linked = log.AppendWithPrev("a", crypto::HashFromBytes(made_up.leaf_hash()), "Changed", "{}");
  log.read_instead = made_up;
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(1);
  ASSERT_TRUE(verifier.CheckEvent(linked, 0).ok());
  EXPECT_FALSE(verifier.Proven(1));
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, 1, v1::VIOLATION_STREAM_CHAIN);
  // and a predecessor of another stream, version or a later position is refused at once
  FakeLog log2;
  log2.Append("a", "Opened", "{}");
  log2.Append("b", "Opened", "{}");
  const auto a1 = log2.Append("a", "Changed", "{}");
  log2.read_instead = log2.Append("b", "Changed", "{}");  // b@1: another stream
  EventVerifier verifier2(&log2, log2.verifier());
  verifier2.RaisePositionFloor(2);
  ExpectViolationAt(verifier2.CheckEvent(a1, 0), log2, 2, v1::VIOLATION_STREAM_CHAIN);
}

// Not readable (the consumer may not read its type, or the source reads no events), or not
// asked for: the link stays unchecked and is counted; the event still passes.
TEST(EventVerifier, AnUnreadablePredecessorLeavesTheLinkUncheckedAndCounted) {
  FakeLog log;  // serve_reads = false: shows nothing
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(2);
  ASSERT_TRUE(Feed(verifier, {events[2]}).ok());
  EXPECT_EQ(log.read_calls, 1u);
  EXPECT_EQ(verifier.stats().chain_links_unchecked, 1u);
  EXPECT_EQ(verifier.stats().chain_links_checked, 0u);

  FakeLog log2;
  log2.serve_reads = true;
  events = FillLog(log2);
  EventVerifierOptions options;
  options.check_unseen_predecessors = false;
  EventVerifier verifier2(&log2, log2.verifier(), options);
  verifier2.RaisePositionFloor(2);
  ASSERT_TRUE(Feed(verifier2, {events[2]}).ok());
  EXPECT_EQ(log2.read_calls, 0u);
  EXPECT_EQ(verifier2.stats().chain_links_unchecked, 1u);
}

// The server declines the predecessor: with require_chain_links the event does not pass (not a
// violation, nothing reported); a transport error of the read is returned as it is.
TEST(EventVerifier, AnUncheckableLinkIsRefusedOnRequestAndAReadErrorIsNotAViolation) {
  FakeLog log;  // shows no predecessor
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifierOptions options;
  options.require_chain_links = true;
  EventVerifier verifier(&log, log.verifier(), options);
  verifier.RaisePositionFloor(2);
  Status s = verifier.CheckEvent(events[2], 0);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.detail(), 2);
  EXPECT_TRUE(log.reports.empty());

  FakeLog log2;
  log2.serve_reads = true;
  events = FillLog(log2);
  log2.read_error = Status::Unavailable("connection reset");
  EventVerifier verifier2(&log2, log2.verifier());
  verifier2.RaisePositionFloor(2);
  s = verifier2.CheckEvent(events[2], 0);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("predecessor"), std::string::npos) << s.message();
  EXPECT_TRUE(log2.reports.empty());
  log2.read_error = Status::Ok();  // the verifier is still usable: the same event passes now
  EXPECT_TRUE(verifier2.CheckEvent(events[2], 0).ok());
}

// A server that says the predecessor of an event it delivered does not exist (rather than that
// this consumer may not see it) contradicts itself: a violation, not an unchecked link.
TEST(EventVerifier, APredecessorTheServerSaysDoesNotExistIsAChainViolation) {
  FakeLog log;
  log.serve_reads = true;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  log.read_error = Status::NotFound("the server says the stream does not exist");
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(2);
  ExpectViolationAt(verifier.CheckEvent(events[2], 0), log, 2, v1::VIOLATION_STREAM_CHAIN);
  EXPECT_EQ(verifier.stats().chain_links_unchecked, 0u);
}

// A second version 0 of a stream already seen (a forked history) is out of order.
TEST(EventVerifier, ASecondVersionZeroOfAStreamIsAnOrderViolation) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  const auto again = FakeLog::Forge(6, "a", 0, integrity::kZeroHash, "Opened", "{}");
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  ExpectViolationAt(verifier.CheckEvent(again, 0), log, 6, v1::VIOLATION_ORDER);
}

TEST(EventVerifier, VersionZeroWithANonZeroPrevIsDetected) {
  FakeLog log;
  auto forged = FakeLog::Forge(0, "a", 0, crypto::Sha256("x"), "Opened", "{}");
  EventVerifier verifier(&log, log.verifier());
  ExpectViolationAt(verifier.CheckEvent(forged, 0), log, 0, v1::VIOLATION_STREAM_CHAIN);
}

TEST(EventVerifier, ReplayedEventIsAnOrderViolation) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, {events[0], events[1], events[2]}).ok());
  ExpectViolationAt(verifier.CheckEvent(events[1], 0), log, 1, v1::VIOLATION_ORDER);
}

TEST(EventVerifier, AnEventBeforeTheStartOrBeforeAMarkersNextPositionIsAnOrderViolation) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  verifier.RaisePositionFloor(2);  // subscribed from position 2: a genuine event 1 is replayed
  ExpectViolationAt(Feed(verifier, {events[1]}), log, 1, v1::VIOLATION_ORDER);

  FakeLog log2;
  events = FillLog(log2);
  EventVerifier verifier2(&log2, log2.verifier());
  ASSERT_TRUE(Feed(verifier2, {events[0], events[1]}).ok());
  verifier2.RaisePositionFloor(4);  // a marker said everything before 4 was considered
  verifier2.RaisePositionFloor(3);  // the floor never falls
  ExpectViolationAt(Feed(verifier2, {events[3]}), log2, 3, v1::VIOLATION_ORDER);
}

// Genuine events of the log, sent to a subscription that did not ask for them: the handler
// must not see them (it may trust the stream, types and start it asked for).
TEST(EventVerifier, AnEventOutsideTheSubscriptionsScopeIsAViolation) {
  struct Case {
    const char* name;
    std::function<void(v1::SubscribeRequest&)> request;
    size_t bad;  // index of the first event out of scope
  };
  const std::vector<Case> cases = {
      {"another stream", [](v1::SubscribeRequest& r) { r.set_stream("a"); }, 1},
      {"before from_version",
       [](v1::SubscribeRequest& r) {
         r.set_stream("a");
         r.set_from_version(1);
       },
       0},
      {"prefix", [](v1::SubscribeRequest& r) { r.mutable_filter()->add_stream_prefixes("a"); }, 1},
      {"type",
       [](v1::SubscribeRequest& r) {
         r.mutable_filter()->add_event_types("Opened");
         r.mutable_filter()->add_event_types("Closed");
       },
       2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeLog log;
    std::vector<v1::RecordedEvent> events = FillLog(log);
    v1::SubscribeRequest request;
    request.set_stream("$all");
    c.request(request);
    EventVerifierOptions options;
    options.scope = ScopeOf(request);
    EventVerifier verifier(&log, log.verifier(), options);
    size_t passed = 0;
    ExpectViolationAt(Feed(verifier, events, &passed), log, c.bad, v1::VIOLATION_SCOPE);
    EXPECT_EQ(passed, c.bad);
  }
  // In scope, the same filters pass what they ask for.
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  v1::SubscribeRequest request;
  request.set_stream("a");
  request.set_from_version(1);
  request.mutable_filter()->add_event_types("Changed");
  request.mutable_filter()->add_event_types("Closed");
  EventVerifierOptions options;
  options.scope = ScopeOf(request);
  EventVerifier verifier(&log, log.verifier(), options);
  EXPECT_TRUE(Feed(verifier, {events[2], events[5]}).ok());
  EXPECT_TRUE(log.reports.empty());
}

// A checkpoint kept from an earlier session: the next session's first checkpoint must extend it.
TEST(EventVerifier, ATrustedCheckpointFromAnEarlierSessionMustBeExtended) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  std::string kept;
  {
    EventVerifier first(&log, log.verifier());
    ASSERT_TRUE(Feed(first, {events[0], events[1], events[2]}).ok());
    ASSERT_TRUE(first.VerifyCheckpoint().ok());
    kept = first.last_checkpoint_note();
    ASSERT_FALSE(kept.empty());
  }
  log.Append("d", "Extra", "{}");
  EventVerifier second(&log, log.verifier());
  ASSERT_TRUE(second.TrustCheckpoint(kept).ok());
  EXPECT_EQ(second.last_checkpoint_note(), kept);
  ASSERT_TRUE(Feed(second, {events[3], events[4], events[5]}).ok());
  ASSERT_TRUE(second.VerifyCheckpoint().ok());
  EXPECT_EQ(second.stats().consistency_proofs_checked, 1u) << "proved against the kept one";
  EXPECT_NE(second.last_checkpoint_note(), kept);

  // Between the sessions the server rewrote history (a validly signed tree that does not extend
  // the kept one), or rolled it back.
  log.fork_root = true;
  EventVerifier forked(&log, log.verifier());
  ASSERT_TRUE(forked.TrustCheckpoint(kept).ok());
  ExpectViolationAt(forked.VerifyCheckpoint(), log, log.size(), v1::VIOLATION_CONSISTENCY);
  FakeLog log2;
  FillLog(log2);
  EventVerifier honest(&log2, log2.verifier());
  ASSERT_TRUE(honest.VerifyCheckpoint().ok());
  const std::string newer = honest.last_checkpoint_note();
  log2.serve_size = 3;
  EventVerifier rolled_back(&log2, log2.verifier());
  ASSERT_TRUE(rolled_back.TrustCheckpoint(newer).ok());
  ExpectViolationAt(rolled_back.VerifyCheckpoint(), log2, 3, v1::VIOLATION_CONSISTENCY);
}

TEST(EventVerifier, ATrustedCheckpointNotSignedByThePinnedKeyIsRefused) {
  FakeLog log, other;
  FillLog(log);
  FillLog(other);
  EventVerifier theirs(&other, other.verifier());
  ASSERT_TRUE(theirs.VerifyCheckpoint().ok());
  EventVerifier verifier(&log, log.verifier());
  Status s = verifier.TrustCheckpoint(theirs.last_checkpoint_note());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(verifier.TrustCheckpoint("not a note").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(verifier.last_checkpoint().has_value());
  EXPECT_TRUE(log.reports.empty()) << "the caller's file, not the server, was wrong";
}

TEST(EventVerifier, AReportAboutAHostileEventFitsTheReportLimits) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  events[0].set_stream(std::string(600, 's') + "\x01\xc3\xa9");  // too long, control, non-ASCII
  EventVerifier verifier(&log, log.verifier());
  Status s = Feed(verifier, {events[0]});
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  ASSERT_EQ(log.reports.size(), 1u);
  const v1::ViolationReport& r = log.reports[0];
  EXPECT_EQ(r.kind(), v1::VIOLATION_MALFORMED);
  EXPECT_LE(r.stream().size(), 512u);
  EXPECT_LE(r.detail().size(), 256u);
  for (char c : r.stream()) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
  for (char c : r.detail()) {
    EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) <= 0x7e)
        << static_cast<int>(static_cast<unsigned char>(c));
  }
}

// The stream id is the server's word: in this client's own message and in the report it is cut
// at a character boundary, and line breaks, controls and directional overrides do not survive.
TEST(EventVerifier, AHostileStreamIdIsCleanedInTheMessageAndTheReport) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  events[0].set_stream("a\nFAKE LOG LINE \xe2\x80\xae" + std::string(492, 's') + "\xc3\xa9tail");
  ASSERT_EQ(events[0].stream().size(), 19u + 492u + 6u);  // é straddles byte 512
  EventVerifier verifier(&log, log.verifier());
  Status s = Feed(verifier, {events[0]});
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("\xe2\x80\xae"), std::string::npos);
  EXPECT_EQ(s.message().find("tail"), std::string::npos) << "cut";
  ASSERT_EQ(log.reports.size(), 1u);
  const std::string& stream = log.reports[0].stream();
  EXPECT_LE(stream.size(), 512u);
  EXPECT_NE(static_cast<unsigned char>(stream.back()), 0xc3) << "no split character at the end";
  EXPECT_EQ(stream.find("\xe2\x80\xae"), std::string::npos);
}

TEST(EventVerifier, MaskedEventSkipsOnlyTheDataHash) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  events[1].set_data(R"({"n":"***"})");  // the reader's view differs from the stored form
  events[1].add_masked("/n");
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  EXPECT_EQ(verifier.stats().data_hashes_skipped, 1u);
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());  // the leaf is still proven in the tree
  // But a masked event whose leaf fields were changed still fails.
  FakeLog log2;
  events = FillLog(log2);
  events[1].add_masked("/n");
  FlipFirstByte(events[1].mutable_data_hash());
  EventVerifier verifier2(&log2, log2.verifier());
  ExpectViolationAt(Feed(verifier2, events), log2, 1, v1::VIOLATION_LEAF_HASH);
}

TEST(EventVerifier, RevealedEventSkipsTheDataHashAndRequireVerifiedDataRefusesIt) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  events[1].set_data(R"({"n":"plaintext"})");  // decrypted for a read.pii reader
  events[1].add_revealed("/n");
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  EXPECT_EQ(verifier.stats().data_hashes_skipped, 1u);
  EXPECT_TRUE(log.reports.empty());
  // Strict: refused at that position, as a precondition, not reported as a violation.
  FakeLog log2;
  events = FillLog(log2);
  events[1].add_masked("/n");
  EventVerifierOptions strict;
  strict.require_verified_data = true;
  EventVerifier verifier2(&log2, log2.verifier(), strict);
  size_t passed = 0;
  Status s = Feed(verifier2, events, &passed);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.detail(), 1);
  EXPECT_EQ(passed, 1u);
  EXPECT_TRUE(log2.reports.empty());
}

// A protected event sent with its stored form: checked against data_hash and the stored form,
// not skipped; a stored form or data that does not match is a violation.
TEST(EventVerifier, AProtectedEventWithItsStoredFormIsCheckedNotSkipped) {
  const std::string stored = R"({"id":"c-1","email":{"$enc":"v1","kid":"k","iv":"AA","ct":"BB"}})";
  auto shown = [&](FakeLog& log, const std::string& data) {
    v1::RecordedEvent e = log.Append("c", "CustomerRegistered", stored);
    e.set_stored_data(e.data());
    e.set_data(data);
    e.add_masked("/email");
    return e;
  };
  {
    FakeLog log;
    EventVerifier verifier(&log, log.verifier());
    ASSERT_TRUE(verifier.CheckEvent(shown(log, R"({"id":"c-1","email":"***"})"), 0).ok());
    EXPECT_EQ(verifier.stats().stored_forms_checked, 1u);
    EXPECT_EQ(verifier.stats().data_hashes_skipped, 0u);
    EXPECT_TRUE(log.reports.empty());
  }
  {
    FakeLog log;  // the clear part was changed
    EventVerifier verifier(&log, log.verifier());
    ExpectViolationAt(verifier.CheckEvent(shown(log, R"({"id":"c-2","email":"***"})"), 0), log, 0,
                      v1::VIOLATION_DATA_HASH);
  }
  {
    FakeLog log;  // a stored form that is not the one data_hash covers
    EventVerifier verifier(&log, log.verifier());
    v1::RecordedEvent e = shown(log, R"({"id":"c-1","email":"***"})");
    e.set_stored_data(R"({"id":"c-1","email":{"$enc":"v1","kid":"k","iv":"AA","ct":"XX"}})");
    ExpectViolationAt(verifier.CheckEvent(e, 0), log, 0, v1::VIOLATION_DATA_HASH);
  }
  {
    FakeLog log;  // a field listed as revealed that the stored form has in clear
    EventVerifier verifier(&log, log.verifier());
    v1::RecordedEvent e = shown(log, R"({"id":"c-9","email":"***"})");
    e.add_revealed("/id");
    ExpectViolationAt(verifier.CheckEvent(e, 0), log, 0, v1::VIOLATION_DATA_HASH);
  }
  {
    FakeLog log;  // a clear field listed as masked, or the root: the strict check refuses both
    EventVerifier verifier(&log, log.verifier());
    v1::RecordedEvent e = shown(log, R"({"id":"***","email":"***"})");
    e.add_masked("/id");
    ExpectViolationAt(verifier.CheckEvent(e, 0), log, 0, v1::VIOLATION_DATA_HASH);
  }
  {
    FakeLog log;
    EventVerifier verifier(&log, log.verifier());
    v1::RecordedEvent e = shown(log, R"({"anything":"else"})");
    e.add_masked("");
    ExpectViolationAt(verifier.CheckEvent(e, 0), log, 0, v1::VIOLATION_DATA_HASH);
  }
  {
    FakeLog log;  // without a stored form: unchecked (counted), refused when required
    EventVerifierOptions options;
    options.require_verified_data = true;
    EventVerifier strict(&log, log.verifier(), options);
    v1::RecordedEvent e = shown(log, R"({"id":"c-1","email":"***"})");
    e.clear_stored_data();
    EXPECT_EQ(strict.CheckEvent(e, 0).code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(log.reports.empty());
  }
}

TEST(EventVerifier, ForgedCheckpointSignatureIsDetected) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  log.forge_signature = true;
  Status s = verifier.VerifyCheckpoint();
  ExpectViolationAt(s, log, log.size(), v1::VIOLATION_CHECKPOINT_SIGNATURE);
  EXPECT_FALSE(verifier.Proven(0));
  EXPECT_EQ(log.inclusion_calls, 0u) << "nothing is proven against an unsigned root";
}

TEST(EventVerifier, WrongPinnedKeyIsDetected) {
  FakeLog log, other;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, other.verifier());  // same origin, another key
  ASSERT_TRUE(Feed(verifier, events).ok());
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, log.size(),
                    v1::VIOLATION_CHECKPOINT_SIGNATURE);
}

TEST(EventVerifier, InconsistentCheckpointIsDetected) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  log.Append("a", "More", "{}");
  log.fork_root = true;  // validly signed, but not an extension of the first tree
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, log.size(), v1::VIOLATION_CONSISTENCY);
}

TEST(EventVerifier, ShrunkOrRewrittenCheckpointIsDetected) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  log.serve_size = 4;
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, 4, v1::VIOLATION_CONSISTENCY);

  FakeLog log2;
  events = FillLog(log2);
  EventVerifier verifier2(&log2, log2.verifier());
  ASSERT_TRUE(Feed(verifier2, events).ok());
  ASSERT_TRUE(verifier2.VerifyCheckpoint().ok());
  log2.fork_root = true;  // same size, another root
  ExpectViolationAt(verifier2.VerifyCheckpoint(), log2, log2.size(), v1::VIOLATION_CONSISTENCY);
}

TEST(EventVerifier, EventNotInTheSignedTreeIsDetected) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = FillLog(log);
  // A self-consistent forgery of position 4 (c@0): every per-event check passes.
  events[4] = FakeLog::Forge(4, "c", 0, integrity::kZeroHash, "Opened", R"({"n":"forged"})");
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(Feed(verifier, events).ok());
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, 4, v1::VIOLATION_INCLUSION);
  EXPECT_TRUE(log.reports[0].checkpoint_size() == log.size());
  EXPECT_EQ(log.reports[0].checkpoint_root().size(), 32u);
}

// The FillLog events and one at position 6, which does not exist in the log (size 6).
std::vector<v1::RecordedEvent> EventsWithOneBeyondTheLog(FakeLog& log) {
  std::vector<v1::RecordedEvent> events = FillLog(log);
  events.push_back(FakeLog::Forge(6, "c", 1, crypto::HashFromBytes(events[4].leaf_hash()),
                                  "Changed", "{}"));
  return events;
}

TEST(EventVerifier, EventBeyondEverySignedCheckpointIsDetectedAfterTheBound) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = EventsWithOneBeyondTheLog(log);
  EventVerifierOptions options;
  options.uncovered_checkpoints_max = 2;
  EventVerifier verifier(&log, log.verifier(), options);
  ASSERT_TRUE(Feed(verifier, events).ok());
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(5));
  EXPECT_FALSE(verifier.Proven(6));
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  ExpectViolationAt(verifier.VerifyCheckpoint(), log, 6, v1::VIOLATION_INCLUSION);
}

// Given the time, a few quick misses are not yet a violation (a node may deliver an event another
// node committed a moment before its own checkpoint covers it): only misses past the count AND
// uncovered_ms_min after the event was checked are.
TEST(EventVerifier, AnUncoveredEventIsAViolationOnlyAfterTheCountAndTheTime) {
  FakeLog log;
  std::vector<v1::RecordedEvent> events = EventsWithOneBeyondTheLog(log);
  EventVerifierOptions options;
  options.uncovered_checkpoints_max = 2;
  options.uncovered_ms_min = 5000;
  EventVerifier verifier(&log, log.verifier(), options);
  ASSERT_TRUE(Feed(verifier, events).ok());  // checked at time 0
  for (int64_t t : {10, 20, 30, 40, 4999}) EXPECT_TRUE(verifier.VerifyCheckpoint(t).ok()) << t;
  EXPECT_FALSE(verifier.Proven(6));
  ExpectViolationAt(verifier.VerifyCheckpoint(5000), log, 6, v1::VIOLATION_INCLUSION);
}

TEST(EventVerifier, CheckpointIsDueByCountOrAgeAndPendingIsBounded) {
  FakeLog log;
  EventVerifierOptions options;
  options.checkpoint_every_events = 3;
  options.checkpoint_every_ms = 1000;
  EventVerifier verifier(&log, log.verifier(), options);
  EXPECT_FALSE(verifier.CheckpointDue(0));
  ASSERT_TRUE(verifier.CheckEvent(log.Append("a", "T", "{}"), 100).ok());
  EXPECT_FALSE(verifier.CheckpointDue(500));
  EXPECT_TRUE(verifier.CheckpointDue(1100));
  ASSERT_TRUE(verifier.CheckEvent(log.Append("a", "T", "{}"), 200).ok());
  ASSERT_TRUE(verifier.CheckEvent(log.Append("a", "T", "{}"), 300).ok());
  EXPECT_TRUE(verifier.CheckpointDue(300));
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_FALSE(verifier.CheckpointDue(5000));

  EventVerifier unbounded_caller(&log, log.verifier());
  FakeLog big;
  Status last;
  for (uint64_t i = 0; i <= EventVerifier::kPendingEventsMax && last.ok(); ++i) {
    last = unbounded_caller.CheckEvent(big.Append("s", "T", "{}"), 0);
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(unbounded_caller.pending_events(), EventVerifier::kPendingEventsMax);
}

// Feeds `count` new events of one stream; returns whether all passed.
bool FeedNew(EventVerifier& verifier, FakeLog& log, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!verifier.CheckEvent(log.Append("s", "T", "{}"), 0).ok()) return false;
  }
  return true;
}

TEST(EventVerifier, ProofsAreAskedForInBatchesOfAtMostAThousand) {
  FakeLog log;
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(FeedNew(verifier, log, 2400));
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{1000, 1000, 400}));
  EXPECT_EQ(log.inclusion_calls, 2400u);
  EXPECT_EQ(verifier.stats().inclusion_proofs_checked, 2400u);
  EXPECT_EQ(verifier.stats().inclusion_proof_calls, 3u);
  EXPECT_TRUE(verifier.Proven(0));
  EXPECT_TRUE(verifier.Proven(2399));
  EXPECT_EQ(verifier.pending_events(), 0u);
}

// A server that answers fewer proofs than asked for has not proven the rest: nothing is handed
// on, and since nothing is known to be wrong with the log, it is an error, not a violation.
TEST(EventVerifier, AShortAnswerProvesNothingAndIsNotAViolation) {
  FakeLog log;
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(FeedNew(verifier, log, 5));
  log.short_batches = true;
  Status s = verifier.VerifyCheckpoint();
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("4 inclusion proofs for 5 positions"), std::string::npos) << s.message();
  EXPECT_FALSE(verifier.failed());
  EXPECT_TRUE(log.reports.empty());
  EXPECT_FALSE(verifier.Proven(0));
  EXPECT_EQ(verifier.pending_events(), 5u);
  log.short_batches = false;
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(4));
}

// Prove first, drop after, across batches: an error in the second batch leaves the first's
// events pending too, and a later checkpoint proves them all.
TEST(EventVerifier, AnErrorInALaterBatchLeavesEveryEventPending) {
  FakeLog log;
  EventVerifier verifier(&log, log.verifier());
  ASSERT_TRUE(FeedNew(verifier, log, 1500));
  log.unavailable_after_batches = 1;
  EXPECT_EQ(verifier.VerifyCheckpoint().code(), StatusCode::kUnavailable);
  EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{1000, 500}));
  EXPECT_EQ(verifier.pending_events(), 1500u);
  EXPECT_FALSE(verifier.Proven(0));
  EXPECT_FALSE(verifier.failed());
  log.unavailable_after_batches.reset();
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_EQ(verifier.pending_events(), 0u);
  EXPECT_TRUE(log.reports.empty());
}

TEST(EventVerifier, TransportErrorIsNotAViolation) {
  struct Down final : IntegritySource {
    Result<v1::Checkpoint> GetCheckpoint() override { return Status::Unavailable("down"); }
    Result<v1::InclusionProof> GetInclusionProof(uint64_t, uint64_t) override {
      return Status::Unavailable("down");
    }
    Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t, uint64_t) override {
      return Status::Unavailable("down");
    }
    Status ReportViolation(const v1::ViolationReport&) override {
      ++reports;
      return Status::Ok();
    }
    int reports = 0;
  } down;
  FakeLog log;
  EventVerifier verifier(&down, log.verifier());
  ASSERT_TRUE(verifier.CheckEvent(log.Append("a", "T", "{}"), 0).ok());
  EXPECT_EQ(verifier.VerifyCheckpoint().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(verifier.failed());
  EXPECT_EQ(down.reports, 0);
  EXPECT_EQ(verifier.pending_events(), 1u);
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace CAIRN_UNITY_ID {

integrity::NoteSigner Cosigner(const std::string& name) {
  return integrity::NoteSigner{name, crypto::Ed25519PrivateKey::Generate().value()};
}
integrity::NoteVerifier CosignerKey(const integrity::NoteSigner& signer) {
  return integrity::VerifierForSigner(signer, integrity::kCosignatureAlgorithmEd25519);
}

// Witnesses w1 and w2 cosign; w3 is trusted but does not.
struct WitnessedLog {
  WitnessedLog() {
    log.cosigners.push_back(Cosigner("w1.example/w"));
    log.cosigners.push_back(Cosigner("w2.example/w"));
    options.witnesses = {CosignerKey(log.cosigners[0]), CosignerKey(log.cosigners[1]),
                         CosignerKey(Cosigner("w3.example/w"))};
  }
  FakeLog log;
  EventVerifierOptions options;
};

TEST(EventVerifierWitnesses, AQuorumOfTrustedCosignaturesProvesEvents) {
  WitnessedLog w;
  w.options.witnesses_min = 2;
  const std::vector<v1::RecordedEvent> events = FillLog(w.log);
  EventVerifier verifier(&w.log, w.log.verifier(), w.options);
  ASSERT_TRUE(Feed(verifier, events).ok());
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(5));
  EXPECT_EQ(w.log.cosigned_calls, 1u) << "with a quorum, the cosigned checkpoint is fetched";
  EXPECT_EQ(verifier.stats().cosignatures_checked, 2u);
  // The kept note is the log's alone (what a later session trusts).
  EXPECT_EQ(verifier.last_checkpoint_note().find("w1.example"), std::string::npos);
}

TEST(EventVerifierWitnesses, TooFewCosignaturesProveNothingAndAreNoViolation) {
  WitnessedLog w;
  w.options.witnesses_min = 3;  // w3 never cosigns
  const std::vector<v1::RecordedEvent> events = FillLog(w.log);
  EventVerifier verifier(&w.log, w.log.verifier(), w.options);
  ASSERT_TRUE(Feed(verifier, events).ok());
  // Too few is "no usable checkpoint yet" (a round of the log's pushes may be under way) ...
  EXPECT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_FALSE(verifier.Proven(0));
  EXPECT_EQ(verifier.stats().checkpoints_verified, 0u);
  // ... until the uncovered bounds: then the subscription fails closed, without a violation.
  Status s;
  for (uint32_t i = 0; i < w.options.uncovered_checkpoints_max && s.ok(); ++i) {
    s = verifier.VerifyCheckpoint();
  }
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("the last one fetched had 2 cosignatures, 3 needed"), std::string::npos)
      << s.ToString();
  EXPECT_FALSE(verifier.Proven(0));
  EXPECT_FALSE(verifier.failed());
  EXPECT_TRUE(w.log.reports.empty());

  // A cosignature under a trusted witness's name by another key does not count either.
  WitnessedLog impostor;
  impostor.log.cosigners[1] = Cosigner("w2.example/w");
  impostor.options.witnesses_min = 2;
  const std::vector<v1::RecordedEvent> more = FillLog(impostor.log);
  EventVerifier second(&impostor.log, impostor.log.verifier(), impostor.options);
  ASSERT_TRUE(Feed(second, more).ok());
  EXPECT_TRUE(second.VerifyCheckpoint().ok());
  EXPECT_FALSE(second.Proven(0));
  EXPECT_EQ(second.stats().cosignatures_checked, 0u);
}

TEST(EventVerifierWitnesses, ACosignedCheckpointBehindTheOneHeldIsNoViolationWhenItIsAPrefix) {
  WitnessedLog w;
  w.options.witnesses_min = 2;
  const std::vector<v1::RecordedEvent> events = FillLog(w.log);
  EventVerifier verifier(&w.log, w.log.verifier(), w.options);
  ASSERT_TRUE(verifier.TrustCheckpoint(w.log.GetCheckpoint()->note()).ok());  // size 6, uncosigned
  w.log.cosigned_size = 3;  // the witnesses are behind the trusted checkpoint
  ASSERT_TRUE(Feed(verifier, events).ok());
  EXPECT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_EQ(verifier.last_checkpoint()->size, 6u) << "the held checkpoint stays";
  EXPECT_TRUE(verifier.Proven(2)) << "what the cosigned prefix covers is proven in it";
  EXPECT_FALSE(verifier.Proven(3)) << "the rest waits for a cosigned checkpoint";
  EXPECT_TRUE(w.log.reports.empty());
  w.log.cosigned_size.reset();  // they caught up
  ASSERT_TRUE(verifier.VerifyCheckpoint().ok());
  EXPECT_TRUE(verifier.Proven(5));

  // A smaller cosigned checkpoint that is not a prefix of the held one: a fork.
  WitnessedLog forked;
  forked.options.witnesses_min = 1;
  const std::vector<v1::RecordedEvent> more = FillLog(forked.log);
  EventVerifier strict(&forked.log, forked.log.verifier(), forked.options);
  ASSERT_TRUE(strict.TrustCheckpoint(forked.log.GetCheckpoint()->note()).ok());
  forked.log.cosigned_size = 3;
  forked.log.fork_root = true;
  ExpectViolationAt(strict.VerifyCheckpoint(), forked.log, 6, v1::VIOLATION_CONSISTENCY);
}

TEST(EventVerifierWitnesses, EventsNoCosignedCheckpointCoversFailClosedWithoutAViolation) {
  WitnessedLog w;
  w.options.witnesses_min = 1;
  const std::vector<v1::RecordedEvent> events = FillLog(w.log);
  w.log.cosigned_size = 3;  // the witnesses stopped at size 3
  EventVerifier verifier(&w.log, w.log.verifier(), w.options);
  ASSERT_TRUE(Feed(verifier, events).ok());
  Status s;
  for (uint32_t i = 0; i <= w.options.uncovered_checkpoints_max && s.ok(); ++i) {
    s = verifier.VerifyCheckpoint();
  }
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("position 3"), std::string::npos) << s.message();
  EXPECT_TRUE(verifier.Proven(2));
  EXPECT_FALSE(verifier.Proven(3));
  EXPECT_TRUE(w.log.reports.empty()) << "a witness outage is not the log's violation";
  // Without witnesses the same log is a violation: the server's own checkpoint leaves them out.
  FakeLog plain;
  const std::vector<v1::RecordedEvent> again = FillLog(plain);
  plain.serve_size = 3;
  EventVerifier strict(&plain, plain.verifier());
  ASSERT_TRUE(Feed(strict, again).ok());
  for (uint32_t i = 0; i <= 3 && s.code() != StatusCode::kDataLoss; ++i) s = strict.VerifyCheckpoint();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn
