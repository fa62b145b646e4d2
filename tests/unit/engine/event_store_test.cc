// Engine behaviour: appends, expected versions, idempotency, tombstones, limits, reads, reopen.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/bytes.h"
#include "customer_rules.h"
#include "engine_test_util.h"
#include "integrity/entry.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

CAIRN_ON_BOTH_BACKENDS(EngineBackendTest);

TEST_P(EngineBackendTest, AppendThenReadBackEveryField) {
  std::vector<ProposedEvent> evs;
  evs.push_back(Ev("OrderPlaced", R"({"order":1})"));
  evs.push_back(Ev("OrderPaid", R"({"order":1,"paid":true})"));
  evs[1].metadata = R"({"trace":"abc"})";
  auto r = store_->Append("orders-1", ExpectedVersion::NoStream(), evs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_position, 0u);
  EXPECT_EQ(r->last_position, 1u);
  EXPECT_EQ(r->last_version, 1u);
  EXPECT_FALSE(r->idempotent_replay);

  auto read = store_->ReadStream("orders-1", 0, Direction::kForwards, 10);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->events.size(), 2u);
  EXPECT_TRUE(read->end_of_stream);
  const RecordedEvent& e1 = read->events[1];
  EXPECT_EQ(e1.entry.stream_id, "orders-1");
  EXPECT_EQ(e1.entry.stream_version, 1u);
  EXPECT_EQ(e1.entry.position, 1u);
  EXPECT_EQ(e1.entry.event_type, "OrderPaid");
  EXPECT_EQ(e1.entry.content_type, "application/json");
  EXPECT_EQ(e1.data, R"({"order":1,"paid":true})");
  EXPECT_EQ(e1.metadata, R"({"trace":"abc"})");
  EXPECT_EQ(e1.entry.data_hash, crypto::Sha256(e1.data));
  EXPECT_EQ(e1.entry.metadata_hash, crypto::Sha256(e1.metadata));
  EXPECT_EQ(e1.entry.event_id.size(), 16u);
  EXPECT_EQ(e1.entry.stream_prev, read->events[0].leaf_hash);  // the chain links
  EXPECT_EQ(read->events[0].entry.stream_prev, integrity::kZeroHash);
  EXPECT_EQ(e1.leaf_hash, integrity::LeafHash(integrity::EncodeEntry(e1.entry)));
  EXPECT_GE(e1.entry.recorded_at_ns, read->events[0].entry.recorded_at_ns);
  EXPECT_EQ(store_->tree_size(), 2u);
}

TEST_P(EngineBackendTest, ReadsBackwardsFromVersionsWithLimits) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", std::to_string(i))).ok());
  auto back = store_->ReadStream("s", UINT64_MAX, Direction::kBackwards, 2);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[0].data, "4");
  EXPECT_EQ(back->events[1].data, "3");
  EXPECT_FALSE(back->end_of_stream);
  auto fwd = store_->ReadStream("s", 3, Direction::kForwards, 100);
  ASSERT_EQ(fwd->events.size(), 2u);
  EXPECT_EQ(fwd->events[0].data, "3");
  EXPECT_TRUE(fwd->end_of_stream);
  auto all = store_->ReadAll(1, 3);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].entry.position, 1u);
  EXPECT_EQ(store_->ReadAll(5, 10)->size(), 0u);
  EXPECT_EQ(store_->ReadAt(4)->data, "4");
  EXPECT_EQ(store_->ReadAt(5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadStream("nope", 0, Direction::kForwards, 1).status().code(), StatusCode::kNotFound);
}

// A read ends early once the stored bytes it holds reach Limits::read_size_bytes_max (the event
// that reaches it included, so every read makes progress); paging on from the last event returns
// every event once, in order, forwards and backwards. 600 events: ReadAll's decoder runs its
// helper thread, which must stop where the scan stopped.
TEST_P(EngineBackendTest, ReadsEndEarlyBySizeAndPageThroughEverything) {
  constexpr int kEvents = 600;
  for (int base = 0; base < kEvents; base += 100) {
    std::vector<ProposedEvent> batch;
    for (int i = base; i < base + 100; ++i) {
      ProposedEvent e = One("T", std::to_string(i) + std::string(200, ' '))[0];  // JSON: a number
      batch.push_back(std::move(e));
    }
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), std::move(batch)).ok());
  }
  Options o;
  o.limits.read_size_bytes_max = 20000;  // about 80 of these events
  Reopen(o);
  const auto number = [](const RecordedEvent& e) { return std::stoi(e.data); };

  uint64_t from = 0;
  int reads = 0;
  while (from < kEvents) {
    auto page = store_->ReadAll(from, 10000);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_FALSE(page->empty());
    ASSERT_LT(page->size(), 100u) << "the size bound did not end the read";
    for (const RecordedEvent& e : *page) ASSERT_EQ(number(e), static_cast<int>(from++));
    ++reads;
  }
  EXPECT_GT(reads, 5);

  for (Direction direction : {Direction::kForwards, Direction::kBackwards}) {
    const bool backwards = direction == Direction::kBackwards;
    int expected = backwards ? kEvents - 1 : 0;
    uint64_t version = backwards ? UINT64_MAX : 0;
    for (;;) {
      auto page = store_->ReadStream("s", version, direction, 10000);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      ASSERT_FALSE(page->events.empty());
      ASSERT_LT(page->events.size(), 100u);
      for (const RecordedEvent& e : page->events) {
        ASSERT_EQ(number(e), expected);
        expected += backwards ? -1 : 1;
      }
      if (page->end_of_stream) break;
      const uint64_t last = page->events.back().entry.stream_version;
      version = backwards ? last - 1 : last + 1;
    }
    EXPECT_EQ(expected, backwards ? -1 : kEvents) << "a page claimed the end too early";
  }

  o.limits.read_size_bytes_max = 1;  // still one event per read
  Reopen(o);
  auto one = store_->ReadAll(7, 100);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(number((*one)[0]), 7);
  auto last = store_->ReadStream("s", kEvents - 1, Direction::kForwards, 100);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->events.size(), 1u);
  EXPECT_TRUE(last->end_of_stream);
}

TEST_P(EngineBackendTest, ExpectedVersionsOfEveryKind) {
  EXPECT_EQ(store_->Append("s", ExpectedVersion::StreamExists(), One("T", "1")).status().code(),
            StatusCode::kWrongExpectedVersion);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::NoStream(), One("T", "1")).ok());
  auto again = store_->Append("s", ExpectedVersion::NoStream(), One("T", "2"));
  ASSERT_EQ(again.status().code(), StatusCode::kWrongExpectedVersion);
  EXPECT_EQ(again.status().detail().value(), 0);  // the current version
  EXPECT_NE(again.status().message().find("version 0"), std::string::npos);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Exact(0), One("T", "2")).ok());
  auto stale = store_->Append("s", ExpectedVersion::Exact(0), One("T", "3"));
  EXPECT_EQ(stale.status().code(), StatusCode::kWrongExpectedVersion);
  EXPECT_EQ(stale.status().detail().value(), 1);
  EXPECT_TRUE(store_->Append("s", ExpectedVersion::StreamExists(), One("T", "3")).ok());
  EXPECT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "4")).ok());
  auto missing = store_->Append("t", ExpectedVersion::Exact(0), One("T", "{}"));
  ASSERT_EQ(missing.status().code(), StatusCode::kWrongExpectedVersion) << missing.status().ToString();
  EXPECT_EQ(missing.status().detail().value(), -1);
  EXPECT_EQ(store_->GetStreamInfo("s")->last_version, 3u);
  EXPECT_EQ(store_->tree_size(), 4u);  // failed appends wrote nothing
}

TEST(ExpectedVersionParse, AcceptsKindsAndRejectsMalformed) {
  EXPECT_EQ(ExpectedVersion::Parse("any")->kind, ExpectedVersion::Kind::kAny);
  EXPECT_EQ(ExpectedVersion::Parse("no_stream")->kind, ExpectedVersion::Kind::kNoStream);
  EXPECT_EQ(ExpectedVersion::Parse("stream_exists")->kind, ExpectedVersion::Kind::kStreamExists);
  EXPECT_EQ(ExpectedVersion::Parse("17")->version, 17u);
  for (const char* bad : {"", "-1", "abc", "1.5", "01", " 1", "18446744073709551616"}) {
    EXPECT_EQ(ExpectedVersion::Parse(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_P(EngineBackendTest, ResendingTheSameEventIdsIsIdempotent) {
  std::vector<ProposedEvent> evs;
  evs.push_back(Ev("T", "1", std::string(16, '\x01')));
  evs.push_back(Ev("T", "2", std::string(16, '\x02')));
  auto first = store_->Append("s", ExpectedVersion::NoStream(), evs);
  ASSERT_TRUE(first.ok());
  auto second = store_->Append("s", ExpectedVersion::NoStream(), evs);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->idempotent_replay);
  EXPECT_EQ(second->first_position, first->first_position);
  EXPECT_EQ(second->last_version, first->last_version);
  EXPECT_EQ(store_->tree_size(), 2u);
  // After a restart the window is rebuilt from the tail of the log.
  Reopen();
  auto third = store_->Append("s", ExpectedVersion::Any(), evs);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->idempotent_replay);
  // Reusing one id in a different append is refused, and nothing is written.
  std::vector<ProposedEvent> reuse;
  reuse.push_back(Ev("T", "3", std::string(16, '\x02')));
  auto reused = store_->Append("other", ExpectedVersion::Any(), reuse);
  EXPECT_EQ(reused.status().code(), StatusCode::kAlreadyExists);
  // The refusal names the id, not where the event is (the caller may not read that stream).
  EXPECT_NE(reused.status().message().find("02020202-0202-0202-0202-020202020202"), std::string::npos);
  EXPECT_EQ(reused.status().message().find("position"), std::string::npos);
  EXPECT_EQ(reused.status().message().find("\"s\""), std::string::npos);
  EXPECT_EQ(store_->tree_size(), 2u);
}

// A re-send is the same events: an id re-sent with other content is refused, not acknowledged
// and dropped, within a run and after the window is rebuilt from the log. Protected fields are
// encrypted afresh on every send, so their events still replay.
TEST_P(EngineBackendTest, AReSendWithOtherContentIsRefused) {
  ReopenProtected(kCustomerRules);
  const std::string id1(16, '\x11'), id2(16, '\x12');
  std::vector<ProposedEvent> original;
  original.push_back(Ev("T", R"({"a":1})", id1));
  original.push_back(Ev("CustomerRegistered", Customer("c1"), id2));
  original[0].metadata = R"({"m":1})";
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::NoStream(), original).ok());
  for (int round = 0; round < 2; ++round) {
    auto again = store_->Append("s", ExpectedVersion::NoStream(), original);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->idempotent_replay);
    std::vector<std::vector<ProposedEvent>> changed(5, original);
    changed[0][0].data = R"({"a":2})";
    changed[1][0].event_type = "U";
    changed[2][0].metadata = R"({"m":2})";
    changed[3][0].content_type = "application/vnd.x+json";
    changed[4][1].event_type = "T";  // the protected event re-sent under an unprotected type
    for (size_t i = 0; i < changed.size(); ++i) {
      auto r = store_->Append("s", ExpectedVersion::NoStream(), changed[i]);
      EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists) << round << "/" << i;
    }
    // An exact expected version that wraps past u64 is no match for version 0 either.
    EXPECT_EQ(store_->Append("s", ExpectedVersion::Exact(UINT64_MAX), original).status().code(),
              StatusCode::kAlreadyExists);
    EXPECT_EQ(store_->tree_size(), 2u);
    ReopenProtected(kCustomerRules);  // round 1: the window rebuilt from the stored records
  }
}

TEST_P(EngineBackendTest, DeletedStreamRefusesAppendsAndReadsSaySo) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "1")).ok());
  auto del = store_->DeleteStream("s", ExpectedVersion::Exact(0));
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_EQ(store_->Append("s", ExpectedVersion::Any(), One("T", "2")).status().code(), StatusCode::kStreamDeleted);
  EXPECT_EQ(store_->ReadStream("s", 0, Direction::kForwards, 10).status().code(), StatusCode::kStreamDeleted);
  EXPECT_TRUE(store_->GetStreamInfo("s")->deleted);
  EXPECT_EQ(store_->DeleteStream("s", ExpectedVersion::Any()).status().code(), StatusCode::kStreamDeleted);
  // Nothing is physically removed: the log still has both events and verifies.
  EXPECT_EQ(store_->ReadAll(0, 10)->size(), 2u);
  EXPECT_EQ(store_->ReadAt(1)->entry.event_type, "$streamDeleted");
  Reopen();
  EXPECT_EQ(store_->Append("s", ExpectedVersion::Any(), One("T", "2")).status().code(), StatusCode::kStreamDeleted);
  EXPECT_TRUE(store_->Verify().ok);
}

// The offline verifier opens either backend read-only (PostgreSQL: READ ONLY sessions, no
// migration or key purge; storage_test PgOpenTest.ReadOnly*) and checks the whole log.
TEST_P(EngineBackendTest, VerifyDataDirChecksTheClosedLogWithoutWriting) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->Append("s" + std::to_string(i % 2), ExpectedVersion::Any(), One("T", "{}")).ok());
  }
  ASSERT_TRUE(store_->DeleteStream("s1", ExpectedVersion::Any()).ok());
  Close();
  VerifyReport report = EventStore::VerifyDataDir(dir_, {}, pg_);
  ASSERT_TRUE(report.ok) << report.failure;
  EXPECT_EQ(report.records_checked, 6u);
  EXPECT_EQ(report.streams_checked, 2u);
  Reopen();  // and the log is still there to write to
  EXPECT_EQ(store_->Append("s0", ExpectedVersion::Exact(2), One("T", "{}"))->first_position, 6u);
}

// On a log shared with serving nodes (PostgreSQL), `cairn verify` runs while they append: it checks
// the log as it was when it started, which what they commit meanwhile must extend — not a false
// "record missing" for an event committed during the run.
TEST_P(EngineBackendTest, VerifyDataDirOfASharedLogWhileANodeAppends) {
  if (!pg_) GTEST_SKIP() << "a RocksDB directory is verified offline (its lock is held by the store)";
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store_->Append("s" + std::to_string(i % 3), ExpectedVersion::Any(), One("T", "{}")).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0};
  std::thread node([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {  // bounded in count, and stopped below
      ASSERT_TRUE(store_->Append("live-" + std::to_string(i % 4), ExpectedVersion::Any(), One("T", "{}")).ok());
      ++appended;
    }
  });
  // The verifier is another machine: a directory of its own, the log's keyring.
  const std::string verifier_dir = tmp_.Sub("verifier");
  std::filesystem::create_directories(verifier_dir);
  keys::KmsConfig kms;
  kms.local.keyring_path = dir_ + "/keyring";
  int runs = 0;
  for (; runs < 5; ++runs) {
    const VerifyReport report = EventStore::VerifyDataDir(verifier_dir, kms, pg_);
    EXPECT_TRUE(report.ok) << "run " << runs << ": " << report.failure;
    EXPECT_GE(report.records_checked, 50u);
    if (!report.ok) break;
  }
  stop = true;
  node.join();
  EXPECT_GT(appended.load(), 0) << "nothing was appended during the runs";
}

TEST_P(EngineBackendTest, BadInputIsRefusedAndWritesNothing) {
  auto code = [&](std::string_view stream, std::vector<ProposedEvent> evs) {
    return store_->Append(stream, ExpectedVersion::Any(), std::move(evs)).status().code();
  };
  EXPECT_EQ(code("s", One("T", "{not json")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("s", One("T", "")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("", One("T", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(std::string(513, 's'), One("T", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("a\nb", One("T", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("bad\xff", One("T", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("s", One("", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("s", One("$streamDeleted", "{}")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("s", {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("s", One("T", "\"" + std::string(1 << 20, 'x') + "\"")), StatusCode::kResourceExhausted);
  std::vector<ProposedEvent> many;
  for (int i = 0; i < 1001; ++i) many.push_back(Ev("T", "{}"));
  EXPECT_EQ(code("s", many), StatusCode::kResourceExhausted);
  std::vector<ProposedEvent> big;
  for (int i = 0; i < 5; ++i) big.push_back(Ev("T", "\"" + std::string(1000 * 1000, 'x') + "\""));
  EXPECT_EQ(code("s", big), StatusCode::kResourceExhausted);
  std::vector<ProposedEvent> bad_meta = One("T", "{}");
  bad_meta[0].metadata = "{";
  EXPECT_EQ(code("s", bad_meta), StatusCode::kInvalidArgument);
  std::vector<ProposedEvent> dup;
  dup.push_back(Ev("T", "{}", std::string(16, 'a')));
  dup.push_back(Ev("T", "{}", std::string(16, 'a')));
  EXPECT_EQ(code("s", dup), StatusCode::kInvalidArgument);
  // The error names the first event whose id an earlier one has, and comes in index order with
  // the other refusals.
  std::vector<ProposedEvent> twins;
  for (char c : std::string("abcba")) twins.push_back(Ev("T", "{}", std::string(16, c)));
  auto twin = store_->Append("s", ExpectedVersion::Any(), twins);
  EXPECT_EQ(twin.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(twin.status().message().find("event 3: event id"), std::string::npos) << twin.status().message();
  EXPECT_NE(twin.status().message().find("appears twice"), std::string::npos) << twin.status().message();
  std::vector<ProposedEvent> first_bad;
  first_bad.push_back(Ev("T", "{}", std::string(16, 'z')));
  first_bad.push_back(Ev("T", "{", std::string(16, 'y')));
  first_bad.push_back(Ev("T", "{}", std::string(16, 'z')));
  auto bad = store_->Append("s", ExpectedVersion::Any(), first_bad);
  EXPECT_NE(bad.status().message().find("event 1: data is not valid JSON"), std::string::npos)
      << bad.status().message();
  std::vector<ProposedEvent> short_id = One("T", "{}");
  short_id[0].event_id = "short";
  EXPECT_EQ(code("s", short_id), StatusCode::kInvalidArgument);
  EXPECT_EQ(code("$audit", One("T", "{}")), StatusCode::kInvalidArgument);  // system streams
  // A mixed batch: one bad event refuses the whole batch.
  std::vector<ProposedEvent> mixed;
  mixed.push_back(Ev("T", "{}"));
  mixed.push_back(Ev("T", "nope"));
  EXPECT_EQ(code("s", mixed), StatusCode::kInvalidArgument);
  // Binary data is fine under a non-JSON content type.
  std::vector<ProposedEvent> bin = One("Blob", std::string("\x00\x01\xff", 3));
  bin[0].content_type = "application/octet-stream";
  EXPECT_EQ(code("s", bin), StatusCode::kOk);
  EXPECT_EQ(store_->tree_size(), 1u);
}

TEST_P(EngineBackendTest, ProtectedFieldObjectsAreRefusedInTheDataOfAnyType) {
  auto code = [&](std::vector<ProposedEvent> evs) {
    return store_->Append("s", ExpectedVersion::Any(), std::move(evs)).status().code();
  };
  // A protected-field object in the data of an unprotected type (docs/data-protection.md), also
  // with its name escaped; "$enc" as a value is plain data.
  EXPECT_EQ(code(One("T", R"({"a":[{"$enc":"v1","kid":"k"}]})")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(One("T", R"({"a":{"\u0024enc":1}})")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(One("T", R"({"$enc":1})")), StatusCode::kInvalidArgument);
  ASSERT_EQ(store_->tree_size(), 0u);
  EXPECT_EQ(code(One("T", R"({"a":"$enc","b":"\u0024enc"})")), StatusCode::kOk);
  EXPECT_EQ(code(One("T", R"({"a":"\u0024enc"})")), StatusCode::kOk);
  // Under any content type: a verifying reader parses the stored form whatever it claims to be.
  std::vector<ProposedEvent> opaque = One("T", R"({"$enc":1})");
  opaque[0].content_type = "application/octet-stream";
  EXPECT_EQ(code(opaque), StatusCode::kInvalidArgument);
  opaque[0].data = std::string("\x00{\"$enc\":1}", 10);  // not JSON: bytes, never parsed
  EXPECT_EQ(code(opaque), StatusCode::kOk);
  ASSERT_EQ(store_->tree_size(), 3u);
  // JSON that simdjson refuses but the read path's parser takes (an integer beyond 64 bits, a
  // byte-order mark): still refused, since a reveal would parse it.
  opaque[0].content_type = "text/plain";
  opaque[0].data = R"({"n":18446744073709551616,"e":{"$enc":"v1","kid":"k"}})";
  EXPECT_EQ(code(opaque), StatusCode::kInvalidArgument);
  opaque[0].data = "\xEF\xBB\xBF{\"$enc\":1}";
  EXPECT_EQ(code(opaque), StatusCode::kInvalidArgument);
  opaque[0].data = R"({"n":18446744073709551616,"e":"$enc"})";
  EXPECT_EQ(code(opaque), StatusCode::kOk);
  ASSERT_EQ(store_->tree_size(), 4u);
}

// Protection rules name JSON fields: a protected type under another content type is refused
// (it would be protected by parsing bytes the event says are not JSON).
TEST_P(EngineBackendTest, AProtectedTypeMustBeJson) {
  ReopenProtected(R"([[rule]]
event_type = "CustomerRegistered"
subject = "/id"
fields = ["/email"]
)");
  std::vector<ProposedEvent> e = One("CustomerRegistered", R"({"id":"c-1","email":"a@b.c"})");
  e[0].content_type = "application/octet-stream";
  auto refused = store_->Append("c", ExpectedVersion::Any(), e);
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("content type must be JSON"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("a@b.c"), std::string::npos);
  e[0].content_type = "application/vnd.acme+json";
  EXPECT_TRUE(store_->Append("c", ExpectedVersion::Any(), e).ok());
}

TEST_P(EngineBackendTest, ReopenKeepsEverythingAndContinuesTheChain) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "1")).ok());
  ASSERT_TRUE(store_->Append("t", ExpectedVersion::Any(), One("T", "1")).ok());
  Reopen();
  EXPECT_EQ(store_->tree_size(), 2u);
  auto r = store_->Append("s", ExpectedVersion::Exact(0), One("T", "2"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_position, 2u);
  auto read = store_->ReadStream("s", 0, Direction::kForwards, 10);
  EXPECT_EQ(read->events[1].entry.stream_prev, read->events[0].leaf_hash);
  EXPECT_TRUE(store_->Verify().ok);
}

InitOptions InitAt(const std::string& dir) {
  InitOptions o;
  o.data_dir = dir;
  return o;
}

TEST_F(EngineTest, DataDirectoryIsLockedWhileOpen) {
  Options o;
  o.data_dir = dir_;
  auto second = EventStore::Open(o);
  ASSERT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another cairn process"), std::string::npos);
  EXPECT_EQ(EventStore::Init(InitAt(dir_)).code(), StatusCode::kUnavailable);
  Close();
  EXPECT_EQ(EventStore::Init(InitAt(dir_)).code(), StatusCode::kAlreadyExists);
}

TEST_P(EngineBackendTest, KeyringIsPrivateAndAGroupReadableOneIsRefused) {
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/keyring").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Close();
  ASSERT_EQ(::chmod((dir_ + "/keyring").c_str(), 0640), 0);
  Options o;
  o.data_dir = dir_;
  o.postgres = pg_;
  auto s = EventStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("chmod 600"), std::string::npos);
}

TEST_F(EngineTest, RecordsAreEncryptedAtRest) {
  const std::string marker = "very-recognisable-plaintext-marker";
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "\"" + marker + "\"")).ok());
  Close();
  for (const auto& f : testing::ListFiles(dir_ + "/db", "")) {
    EXPECT_EQ(testing::ReadFile(f).find(marker), std::string::npos) << f;
  }
}

TEST_P(EngineBackendTest, StorageKeyRotatesAutomaticallyAndOldEpochsStayReadable) {
  Options o;
  o.storage_key_encryptions_max = 3;
  Reopen(o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", std::to_string(i))).ok());
  Reopen();
  auto all = store_->ReadAll(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 10u);
  EXPECT_EQ((*all)[9].data, "9");
  EXPECT_TRUE(store_->Verify().ok);
}

}  // namespace
}  // namespace cairn::engine
