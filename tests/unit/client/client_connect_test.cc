// Client::Connect's refusals, decided before any connection is made.
#include <gtest/gtest.h>

#include "cairn/client.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

// A token over plaintext would cross the network in clear: only a loopback server or a local
// socket may get one (the CLI refuses the same; the library must too).
TEST(ClientConnectTest, APlaintextTokenGoesOnlyToALoopbackServer) {
  ClientOptions options;
  options.plaintext = true;
  options.token = "cairn_k1_secret";
  for (const char* local : {"127.0.0.1:7400", "127.1.2.3:1", "localhost:7400", "[::1]:7400",
                            "ipv4:127.0.0.1:7400", "dns:///localhost:7400", "unix:/tmp/cairn.sock"}) {
    options.server = local;
    EXPECT_TRUE(Client::Connect(options).ok()) << local;
  }
  for (const char* remote : {"10.0.0.1:7400", "db.example:7400", "[2001:db8::1]:7400",
                             "dns:///db.example:443", "127.0.0.1.example:7400", "ipv4:10.0.0.1:7400"}) {
    options.server = remote;
    auto refused = Client::Connect(options);
    ASSERT_FALSE(refused.ok()) << remote;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << remote;
    EXPECT_EQ(refused.status().message().find("cairn_k1_secret"), std::string::npos);
  }
  options.token.clear();  // no credential: nothing to protect
  EXPECT_TRUE(Client::Connect(options).ok());
}

}  // namespace
}  // namespace cairn
