// Alerts end to end: the real server with an alert rules file, the `$alerts` stream and a signed
// webhook to the loopback HTTPS receiver (webhook_receiver.h). N failed logins from 127.0.0.1
// give exactly one `$alert` and one webhook POST; more failures inside the dedup window give no
// second one. `$alerts` is read by an auditor holding audit.read on it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "cairn/webhooks.h"
#include "loopback_http.h"
#include "server_env.h"
#include "webhook_receiver.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr int kLoginThreshold = 5;

constexpr char kAlertRules[] = R"(
[[rule]]
name = "logins"
kind = "auth_failures"
threshold = 5
window_s = 60
severity = "high"
dedup_window_s = 600

[[rule]]
name = "denied"
kind = "denied_appends"
threshold = 1
severity = "medium"
dedup_window_s = 600

[[rule]]
name = "shredding"
kind = "key_destruction"
severity = "high"
dedup_window_s = 600
)";

constexpr char kAuditorPolicy[] = R"(
[[role]]
name = "alert-reader"
grants = [ { actions = ["audit.read"], streams = ["$alerts"], event_types = ["*"] } ]

[[role]]
name = "system-reader"
grants = [ { actions = ["read", "subscribe"], streams = ["$*"], event_types = ["*"] } ]

[[binding]]
principal = "jwt:auditor"
roles = ["alert-reader"]

[[binding]]
principal = "jwt:sysreader"
roles = ["system-reader"]
)";

v1::AppendRequest OneEvent(const std::string& stream, const std::string& type) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type(type);
  e->set_data(R"({"n":1})");
  return request;
}

class AlertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = MakeReceiverCa();
    receiver_ = std::make_unique<Receiver>(MakeReceiverPair(ca_));
    WriteFile(env.dir().Sub("receiver-ca.pem"), ca_.cert_pem);
    WriteFile(env.dir().Sub("alerts.toml"), kAlertRules);
    ASSERT_EQ(chmod(env.dir().Sub("alerts.toml").c_str(), 0644), 0);
    secret_ = NewWebhookSecret();
    WriteFile(env.dir().Sub("alert-webhook.secret"), secret_ + "\n");
    ASSERT_EQ(chmod(env.dir().Sub("alert-webhook.secret").c_str(), 0600), 0);
    WriteFile(env.PolicyPath(), ReadFile(env.PolicyPath()) + kAuditorPolicy);
    env.extra_config =
        "[webhooks]\nca_file = \"receiver-ca.pem\"\ntimeout_ms = 5000\n"
        "[alerts]\nrules_file = \"alerts.toml\"\nwebhook_url = \"" + receiver_->Url() + "\"\n"
        "webhook_secret_file = \"alert-webhook.secret\"\n"
        "webhook_allow_addresses = [\"127.0.0.1\"]\n";
    ASSERT_TRUE(env.Start()) << env.server().output();
    auditor = env.ClientWith(env.TokenA("EdDSA", "auditor"));
  }

  // The `$alert` events of `$alerts`, read by the auditor.
  std::vector<nlohmann::json> Alerts() {
    std::vector<nlohmann::json> alerts;
    v1::ReadRequest request;
    request.set_stream("$alerts");
    Status s = auditor->Read(request, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) {
        EXPECT_EQ(e.type(), "$alert");
        alerts.push_back(nlohmann::json::parse(e.data()));
      }
      return true;
    });
    if (!s.ok() && s.code() != StatusCode::kNotFound) ADD_FAILURE() << s.ToString();
    return alerts;
  }

  // Waits (bounded) until `$alerts` holds at least n alerts.
  std::vector<nlohmann::json> WaitForAlerts(size_t n) {
    std::vector<nlohmann::json> alerts;
    for (int waited = 0; waited < 20000; waited += 50) {
      alerts = Alerts();
      if (alerts.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return alerts;
  }

  void FailLogins(int n) {
    auto intruder = env.ClientWith("cairn_nobody_0000000000000000");
    for (int i = 0; i < n; ++i) {
      auto result = intruder->Append(OneEvent("order-1", "OrderCreated"));
      ASSERT_EQ(result.status().code(), StatusCode::kUnauthenticated);
    }
  }

  ServerEnv env;
  crypto::KeyAndCert ca_;
  std::unique_ptr<Receiver> receiver_;
  std::string secret_;
  std::unique_ptr<Client> auditor;
};

TEST_F(AlertsTest, FailedLoginsGiveOneAlertAndOneSignedWebhookPerDedupWindow) {
  // The engine judges each audit record when it is submitted (before the call is answered) and
  // delivers alerts in order: once a later alert is in `$alerts`, every earlier record has been
  // judged. Denied appends and a forget serve as those sync points.
  auto bot = env.ClientWith(env.bot_key);
  auto admin = env.ClientWith(env.admin_key);
  FailLogins(kLoginThreshold - 1);
  EXPECT_EQ(bot->Append(OneEvent("order-archive-1", "OrderCreated")).status().code(),
            StatusCode::kPermissionDenied);
  std::vector<nlohmann::json> alerts = WaitForAlerts(1);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["rule"], "denied");  // below the threshold: no login alert

  FailLogins(1);
  alerts = WaitForAlerts(2);
  ASSERT_EQ(alerts.size(), 2u);
  const nlohmann::json& login = alerts[1];
  EXPECT_EQ(login["rule"], "logins");
  EXPECT_EQ(login["kind"], "auth_failures");
  EXPECT_EQ(login["severity"], "high");
  EXPECT_EQ(login["source_ip"], "127.0.0.1");
  EXPECT_EQ(login["count"], kLoginThreshold);
  EXPECT_EQ(login.dump().find("cairn_nobody"), std::string::npos);  // no credential

  std::vector<Received> posts = receiver_->WaitFor(2);
  ASSERT_EQ(posts.size(), 2u);
  Received& post = posts[1];
  WebhookHeaders headers{post.headers["webhook-id"], post.headers["webhook-timestamp"],
                         post.headers["webhook-signature"]};
  EXPECT_TRUE(VerifyWebhook(secret_, headers, post.body, NowS()).ok());
  EXPECT_EQ(VerifyWebhook(NewWebhookSecret(), headers, post.body, NowS()).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(headers.id, login["id"]);
  nlohmann::json event = nlohmann::json::parse(post.body);
  EXPECT_EQ(event["type"], "cairn.alert");
  EXPECT_EQ(event["data"]["rule"], "logins");

  // Twice the threshold again inside the dedup window, and another denied append: suppressed.
  // The forget's alert after them proves they were judged.
  FailLogins(2 * kLoginThreshold);
  EXPECT_EQ(bot->Append(OneEvent("order-archive-1", "OrderCreated")).status().code(),
            StatusCode::kPermissionDenied);
  ASSERT_TRUE(admin->Forget("customer-9").ok());
  alerts = WaitForAlerts(3);
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[2]["rule"], "shredding");
  posts = receiver_->WaitFor(3);
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(posts[2].body)["data"]["rule"], "shredding");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Alerts().size(), 3u);
  EXPECT_EQ(receiver_->count(), 3u);

  // The counts on /metrics: one alert per rule; 2 login crossings + 1 denial suppressed.
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  for (const char* line :
       {"cairn_alerts_fired_total{rule_kind=\"auth_failures\",severity=\"high\"} 1\n",
        "cairn_alerts_fired_total{rule_kind=\"denied_appends\",severity=\"medium\"} 1\n",
        "cairn_alerts_fired_total{rule_kind=\"key_destruction\",severity=\"high\"} 1\n",
        "cairn_alerts_suppressed_total 3\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
}

TEST_F(AlertsTest, ForgetRaisesAKeyDestructionAlert) {
  auto admin = env.ClientWith(env.admin_key);
  auto forgotten = admin->Forget("customer-7");
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().ToString();
  std::vector<nlohmann::json> alerts = WaitForAlerts(1);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["rule"], "shredding");
  EXPECT_EQ(alerts[0]["kind"], "key_destruction");
  EXPECT_EQ(alerts[0]["principal"], "apikey:admin");
  EXPECT_EQ(alerts[0].dump().find("customer-7"), std::string::npos);  // not the subject
}

TEST_F(AlertsTest, AlertsStreamIsReadOnlyWithAuditRead) {
  FailLogins(kLoginThreshold);
  ASSERT_EQ(WaitForAlerts(1).size(), 1u);
  // Neither a principal without grants on it nor one with `read` on every '$' stream.
  for (const char* sub : {"reader", "sysreader"}) {
    auto client = env.ClientWith(env.TokenA("EdDSA", sub));
    v1::ReadRequest request;
    request.set_stream("$alerts");
    Status s = client->Read(request, [](const v1::ReadResponse&) { return true; });
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << sub;
  }
}

}  // namespace
}  // namespace cairn::testing
