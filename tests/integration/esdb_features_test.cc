// The EventStoreDB/KurrentDB protocol's discovery calls (ServerFeatures, Gossip) and cairn's
// rule that every other call of that protocol is authenticated, against the real `cairn serve`.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <set>
#include <string>

#include "common/bytes.h"
#include "event_store/client/gossip.grpc.pb.h"
#include "event_store/client/persistent.grpc.pb.h"
#include "event_store/client/serverfeatures.grpc.pb.h"
#include "event_store/client/streams.grpc.pb.h"
#include "server/esdb/features_service.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace es = event_store::client;
namespace streams = event_store::client::streams;
namespace persistent = event_store::client::persistent_subscriptions;

constexpr int kCallTimeoutS = 10;

class EsdbFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(env.CaCert());
    channel = grpc::CreateChannel(env.server().target(), grpc::SslCredentials(tls));
  }

  // A context with a deadline and, when `user_pass` is set, Basic credentials.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& user_pass = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kCallTimeoutS));
    if (!user_pass.empty()) context->AddMetadata("authorization", "Basic " + Base64Encode(user_pass));
    return context;
  }

  static std::string Exception(const grpc::ClientContext& context) {
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto it = trailers.find("exception");
    return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }

  ServerEnv env;
  std::shared_ptr<grpc::Channel> channel;
};

TEST_F(EsdbFeaturesTest, SupportedMethodsListExactlyWhatIsImplemented) {
  auto stub = es::server_features::ServerFeatures::NewStub(channel);
  es::server_features::SupportedMethods methods;
  auto context = Context();  // the clients ask without credentials
  grpc::Status status = stub->GetSupportedMethods(context.get(), es::Empty(), &methods);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(methods.event_store_server_version(), server::esdb::kProtocolVersion);
  std::set<std::string> listed;
  for (const auto& m : methods.methods()) {
    listed.insert(m.service_name() + "/" + m.method_name());
    if (m.service_name() == "event_store.client.persistent_subscriptions.persistentsubscriptions") {
      const std::set<std::string> features(m.features().begin(), m.features().end());
      EXPECT_TRUE(features.count("stream") && features.count("all")) << m.method_name();
    }
  }
  EXPECT_EQ(listed.size(), server::esdb::ImplementedMethods().size());
  EXPECT_TRUE(listed.count("event_store.client.streams.streams/batchappend"));
  EXPECT_TRUE(listed.count("event_store.client.streams.streams/tombstone"));
  EXPECT_TRUE(listed.count("event_store.client.persistent_subscriptions.persistentsubscriptions/replayparked"));
  EXPECT_FALSE(listed.count("event_store.client.persistent_subscriptions.persistentsubscriptions/restartsubsystem"));
  // Not listed means not implemented: the call says so.
  auto psub = persistent::PersistentSubscriptions::NewStub(channel);
  es::Empty empty;
  auto restart = Context("admin:" + env.admin_key);
  EXPECT_EQ(psub->RestartSubsystem(restart.get(), es::Empty(), &empty).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(EsdbFeaturesTest, GossipAnswersForThisNode) {
  auto stub = es::gossip::Gossip::NewStub(channel);
  es::gossip::ClusterInfo info;
  auto context = Context();
  grpc::Status status = stub->Read(context.get(), es::Empty(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(info.members_size(), 1);
  const auto& me = info.members(0);
  EXPECT_EQ(me.state(), es::gossip::MemberInfo::Leader);
  EXPECT_TRUE(me.is_alive());
  EXPECT_EQ(me.http_end_point().address(), "127.0.0.1");
  EXPECT_EQ(me.http_end_point().port(), static_cast<uint32_t>(env.server().grpc_port()));
  EXPECT_EQ(me.instance_id().string().size(), 36u);
  EXPECT_GT(me.time_stamp(), 0);
}

// No anonymous access, no default users: every data call without credentials, with
// EventStoreDB's default admin, or with a key under another id is refused as not-authenticated.
TEST_F(EsdbFeaturesTest, EveryDataCallNeedsCredentials) {
  auto streams_stub = streams::Streams::NewStub(channel);
  auto psub = persistent::PersistentSubscriptions::NewStub(channel);
  for (const std::string& user_pass :
       {std::string(), std::string("admin:changeit"), "ci-bot:" + env.admin_key}) {
    SCOPED_TRACE(user_pass.substr(0, 8));
    {
      auto context = Context(user_pass);
      streams::ReadReq request;
      request.mutable_options()->mutable_all()->mutable_start();
      request.mutable_options()->set_count(10);
      auto reader = streams_stub->Read(context.get(), request);
      streams::ReadResp response;
      EXPECT_FALSE(reader->Read(&response));
      EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Exception(*context), "not-authenticated");
    }
    {
      auto context = Context(user_pass);
      streams::AppendResp response;
      auto writer = streams_stub->Append(context.get(), &response);
      streams::AppendReq options;
      options.mutable_options()->mutable_stream_identifier()->set_stream_name("anon-1");
      options.mutable_options()->mutable_any();
      writer->Write(options);
      writer->WritesDone();
      EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Exception(*context), "not-authenticated");
    }
    {
      auto context = Context(user_pass);
      streams::TombstoneReq request;
      request.mutable_options()->mutable_stream_identifier()->set_stream_name("anon-1");
      request.mutable_options()->mutable_any();
      streams::TombstoneResp response;
      EXPECT_EQ(streams_stub->Tombstone(context.get(), request, &response).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Exception(*context), "not-authenticated");
    }
    {
      auto context = Context(user_pass);
      persistent::ListReq request;
      request.mutable_options()->mutable_list_all_subscriptions();
      persistent::ListResp response;
      EXPECT_EQ(psub->List(context.get(), request, &response).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
      EXPECT_EQ(Exception(*context), "not-authenticated");
    }
  }
}

}  // namespace
}  // namespace cairn::testing
