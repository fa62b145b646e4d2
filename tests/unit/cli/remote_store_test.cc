// RemoteEventStore against a server that misbehaves: the CLI's reads and key listings do not
// follow a server that sends more than was asked for, out of order, or a listing that never ends.
// A real cairn server never does this, so the server here is a gmock Client scripted per test;
// against the real server these paths are covered by tests/integration/cli_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cairn/client.h"
#include "cli/remote_store.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "keys/subject_keys.h"
#include "server/wire_convert.h"

namespace cairn::cli {
namespace {

using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;

class ScriptedClient final : public Client {
 public:
  MOCK_METHOD(Result<v1::AppendResponse>, Append, (const v1::AppendRequest&), (override));
  MOCK_METHOD(void, AppendAsync, (v1::AppendRequest, AppendDone), (override));
  MOCK_METHOD(Status, Read, (const v1::ReadRequest&, const ChunkHandler&), (override));
  MOCK_METHOD(Status, ReadAll, (const v1::ReadAllRequest&, const ChunkHandler&), (override));
  MOCK_METHOD(Result<v1::DeleteResponse>, Delete, (const v1::DeleteRequest&), (override));
  MOCK_METHOD(Result<v1::StreamInfo>, GetStreamInfo, (std::string_view), (override));
  MOCK_METHOD(Result<v1::Checkpoint>, GetCheckpoint, (), (override));
  MOCK_METHOD(Result<v1::VerifierKey>, GetVerifierKey, (), (override));
  MOCK_METHOD(Result<v1::InclusionProof>, GetInclusionProof, (uint64_t, uint64_t), (override));
  MOCK_METHOD(Result<v1::ConsistencyProof>, GetConsistencyProof, (uint64_t, uint64_t), (override));
  MOCK_METHOD(Result<v1::ServerInfoResponse>, ServerInfo, (), (override));
  MOCK_METHOD(Result<v1::WhoAmIResponse>, WhoAmI, (), (override));
  MOCK_METHOD(Result<v1::ReloadPolicyResponse>, ReloadPolicy, (), (override));
  MOCK_METHOD(Result<v1::ReloadTlsResponse>, ReloadTls, (), (override));
  MOCK_METHOD(Result<v1::ReloadApiKeysResponse>, ReloadApiKeys, (), (override));
  MOCK_METHOD(Result<v1::ForgetResponse>, Forget, (std::string_view), (override));
  MOCK_METHOD(Result<v1::ListKeysResponse>, ListKeys, (const v1::ListKeysRequest&), (override));
  MOCK_METHOD(Result<v1::RotateKeyResponse>, RotateKey, (const v1::RotateKeyRequest&), (override));
  MOCK_METHOD(Result<v1::BackupResponse>, Backup, (), (override));
  MOCK_METHOD(std::shared_ptr<grpc::Channel>, channel, (), (const, override));
  MOCK_METHOD(void, PrepareContext, (grpc::ClientContext*, int64_t), (const, override));
  MOCK_METHOD(const ClientOptions&, options, (), (const, override));
};

// A well-formed wire event at `position` (the fields FromWire checks: id and hash sizes).
void AddEvent(v1::ReadResponse* chunk, uint64_t position) {
  engine::RecordedEvent event;
  event.entry.position = position;
  event.entry.stream_id = "s";
  event.entry.stream_version = position;
  event.entry.event_id = std::string(16, 'i');
  event.entry.event_type = "T";
  event.data = "{}";
  server::ToWire(event, chunk->add_events());
}

// A server that answers every read with `chunks` of events at the given positions.
auto Sends(std::vector<std::vector<uint64_t>> chunks) {
  return [chunks](const auto& /*request*/, const Client::ChunkHandler& on_chunk) {
    for (const auto& positions : chunks) {
      v1::ReadResponse chunk;
      for (uint64_t p : positions) AddEvent(&chunk, p);
      if (!on_chunk(chunk)) break;
    }
    return Status::Ok();
  };
}

struct Fixture {
  ScriptedClient* client = new ScriptedClient;
  RemoteEventStore store{std::unique_ptr<Client>(client)};
};

TEST(RemoteStoreTest, ReadAllTakesWhatWasAskedForInOrder) {
  Fixture f;
  EXPECT_CALL(*f.client, ReadAll(_, _)).WillOnce(Invoke(Sends({{5, 6}, {9}})));
  auto events = f.store.ReadAll(5, 3);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ(events->back().entry.position, 9u);
}

TEST(RemoteStoreTest, ReadAllRefusesMoreEventsThanTheLimit) {
  Fixture f;
  EXPECT_CALL(*f.client, ReadAll(_, _)).WillOnce(Invoke(Sends({{0, 1}, {2, 3, 4}})));
  auto events = f.store.ReadAll(0, 4);
  EXPECT_EQ(events.status().code(), StatusCode::kInternal);
  EXPECT_NE(events.status().message().find("more events than the 4"), std::string::npos)
      << events.status().ToString();
}

TEST(RemoteStoreTest, ReadAllRefusesPositionsBeforeTheStartOrOutOfOrder) {
  Fixture f;
  EXPECT_CALL(*f.client, ReadAll(_, _))
      .WillOnce(Invoke(Sends({{4}})))            // before from_position 5
      .WillOnce(Invoke(Sends({{5, 7}, {7}})))    // repeated
      .WillOnce(Invoke(Sends({{5, 9, 8}})));     // backwards
  for (int i = 0; i < 3; ++i) {
    auto events = f.store.ReadAll(5, 0);
    EXPECT_EQ(events.status().code(), StatusCode::kInternal) << i;
    EXPECT_NE(events.status().message().find("out of order"), std::string::npos) << i;
  }
}

TEST(RemoteStoreTest, StreamReadsAreCheckedInTheirDirection) {
  Fixture f;
  EXPECT_CALL(*f.client, Read(_, _))
      .WillOnce(Invoke(Sends({{9, 7}, {3}})))   // backwards, in order
      .WillOnce(Invoke(Sends({{3, 7}})))        // forwards order on a backwards read
      .WillOnce(Invoke(Sends({{1, 2, 3}})));    // beyond the limit of 2
  auto ok = f.store.ReadStream("s", UINT64_MAX, engine::Direction::kBackwards, 0);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->events.size(), 3u);
  EXPECT_EQ(f.store.ReadStream("s", UINT64_MAX, engine::Direction::kBackwards, 0).status().code(),
            StatusCode::kInternal);
  EXPECT_EQ(f.store.ReadStream("s", 0, engine::Direction::kForwards, 2).status().code(),
            StatusCode::kInternal);
}

TEST(RemoteStoreTest, KeyListingRefusesARepeatedTokenAndAnOversizedPage) {
  Fixture f;
  v1::ListKeysResponse repeat;
  repeat.add_keys()->set_id("k");
  repeat.set_next_page_token("t1");
  v1::ListKeysResponse huge;
  // A page may hold its page_size keys plus all versions of one subject, not more.
  for (size_t i = 0; i <= 10 + keys::kSubjectKeyVersionsMax; ++i) huge.add_keys()->set_id("k");
  EXPECT_CALL(*f.client, ListKeys(_))
      .WillOnce(Return(repeat))
      .WillOnce(Return(repeat))
      .WillOnce(Return(huge));
  auto first = f.store.ListKeys("", 10);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->next_page_token, "t1");
  auto again = f.store.ListKeys("t1", 10);  // the server hands back "t1" for "t1"
  EXPECT_EQ(again.status().code(), StatusCode::kInternal);
  EXPECT_NE(again.status().message().find("repeated"), std::string::npos);
  EXPECT_EQ(f.store.ListKeys("", 10).status().code(), StatusCode::kInternal);
}


// `cairn checkpoint --server` shows size and root as the note, verified with the server's key,
// states them: the unsigned fields beside the note must agree with it.
TEST(RemoteStoreTest, CheckpointIsShownOnlyAsItsSignedNoteStatesIt) {
  constexpr std::string_view kOrigin = "cairn.example/log";
  auto key = crypto::Ed25519PrivateKey::Generate();
  auto other = crypto::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok() && other.ok());
  const integrity::NoteSigner signer{std::string(kOrigin), std::move(key).value()};
  const integrity::NoteSigner impostor{std::string(kOrigin), std::move(other).value()};
  integrity::Checkpoint signed_cp{std::string(kOrigin), 5, {}, {}};
  signed_cp.root.fill(7);
  auto note = integrity::SignCheckpoint(signed_cp, signer);
  auto forged_note = integrity::SignCheckpoint(signed_cp, impostor);
  ASSERT_TRUE(note.ok() && forged_note.ok());
  v1::VerifierKey vkey;
  vkey.set_vkey(integrity::VerifierKeyText(kOrigin, signer.key.public_key()));
  auto wire = [&](uint64_t size, char root_byte, const std::string& text) {
    v1::Checkpoint c;
    c.set_size(size);
    c.set_root(std::string(32, root_byte));
    c.set_note(text);
    return c;
  };
  Fixture f;
  EXPECT_CALL(*f.client, GetVerifierKey()).WillRepeatedly(Return(vkey));
  EXPECT_CALL(*f.client, GetCheckpoint())
      .WillOnce(Return(wire(5, 7, *note)))          // honest
      .WillOnce(Return(wire(6, 7, *note)))          // a size the note does not sign
      .WillOnce(Return(wire(5, 8, *note)))          // a root the note does not sign
      .WillOnce(Return(wire(5, 7, *forged_note)));  // a note the server's key did not sign
  auto honest = f.store.Checkpoint();
  ASSERT_TRUE(honest.ok()) << honest.status().ToString();
  EXPECT_EQ(honest->size, 5u);
  EXPECT_EQ(honest->note, *note);
  for (const char* lie : {"size", "root"}) {
    auto shown = f.store.Checkpoint();
    EXPECT_EQ(shown.status().code(), StatusCode::kDataLoss) << lie;
    EXPECT_NE(shown.status().message().find("differs from its signed note"), std::string::npos)
        << lie << ": " << shown.status().ToString();
  }
  EXPECT_EQ(f.store.Checkpoint().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::cli
