// The signed alert webhook against a loopback HTTPS receiver: the signature verifies with the
// secret and not with another; the SSRF guard refuses a loopback receiver unless allowlisted;
// failed POSTs are retried (same webhook-id) and then dropped and counted; the secret file must
// be owner-only and never shows up in errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cairn/webhooks.h"
#include "common/log.h"
#include "integration/webhook_receiver.h"
#include "subscribe/alert_webhook.h"
#include "test_util.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

using cairn::testing::MakeReceiverCa;
using cairn::testing::MakeReceiverPair;
using cairn::testing::Receiver;

audit::Alert SampleAlert(const std::string& rule) {
  audit::Alert a;
  a.id = "3f1c2b9a-1111-4222-8333-444455556666";
  a.rule = rule;
  a.kind = audit::AlertRuleKind::kAuthFailures;
  a.severity = audit::AlertSeverity::kHigh;
  a.time_unix_ms = 1'800'000'000'000;
  a.summary = "3 authentication failures from 127.0.0.1 within 60 s";
  a.count = 3;
  a.window_s = 60;
  a.source_ip = "127.0.0.1";
  return a;
}

class AlertWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = MakeReceiverCa();
    receiver_ = std::make_unique<Receiver>(MakeReceiverPair(ca_));
    testing::WriteFile(dir_.Sub("ca.pem"), ca_.cert_pem);
    secret_ = NewWebhookSecret();
    testing::WriteFile(dir_.Sub("secret"), secret_ + "\n");
    ASSERT_EQ(chmod(dir_.Sub("secret").c_str(), 0600), 0);
  }

  AlertWebhookOptions Options() const {
    AlertWebhookOptions o;
    o.url = receiver_->Url();
    o.allow_addresses = {"127.0.0.1"};
    o.secret_file = dir_.Sub("secret");
    o.sender.ca_file = dir_.Sub("ca.pem");
    o.sender.connect_timeout_ms = 2000;
    o.sender.timeout_ms = 5000;
    o.retries_max = 2;
    o.backoff_initial_ms = 10;
    o.backoff_max_ms = 20;
    return o;
  }

  static Status Verify(const std::string& secret, const cairn::testing::Received& r) {
    WebhookHeaders h;
    h.id = r.headers.at("webhook-id");
    h.timestamp = r.headers.at("webhook-timestamp");
    h.signature = r.headers.at("webhook-signature");
    return VerifyWebhook(secret, h, r.body, std::time(nullptr));
  }

  testing::TempDir dir_;
  crypto::KeyAndCert ca_;
  std::unique_ptr<Receiver> receiver_;
  std::string secret_;
};

TEST_F(AlertWebhookTest, PostsASignedCloudEventThatVerifiesWithTheSecretOnly) {
  auto sink = AlertWebhookSink::Create(Options());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  const audit::Alert alert = SampleAlert("logins");
  (*sink)->Deliver(alert);
  (*sink)->Flush();
  std::vector<cairn::testing::Received> got = receiver_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  const auto& r = got[0];
  EXPECT_EQ(r.headers.at("webhook-id"), alert.id);
  EXPECT_EQ(r.headers.at("content-type"), "application/cloudevents+json");
  EXPECT_TRUE(Verify(secret_, r).ok()) << Verify(secret_, r).ToString();
  EXPECT_EQ(Verify(NewWebhookSecret(), r).code(), StatusCode::kUnauthenticated);
  nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["specversion"], "1.0");
  EXPECT_EQ(body["id"], alert.id);
  EXPECT_EQ(body["type"], "cairn.alert");
  EXPECT_EQ(body["data"]["rule"], "logins");
  EXPECT_EQ(body["data"]["severity"], "high");
  EXPECT_EQ(body["data"]["source_ip"], "127.0.0.1");
  EXPECT_EQ((*sink)->stats().delivered, 1u);
}

TEST_F(AlertWebhookTest, SecretFromTheEnvironment) {
  AlertWebhookOptions o = Options();
  o.secret_file.clear();
  o.secret_env = "CAIRN_TEST_ALERT_WEBHOOK_SECRET";
  ASSERT_EQ(setenv(o.secret_env.c_str(), secret_.c_str(), 1), 0);
  auto sink = AlertWebhookSink::Create(o);
  unsetenv(o.secret_env.c_str());
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  (*sink)->Deliver(SampleAlert("logins"));
  (*sink)->Flush();
  auto got = receiver_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(Verify(secret_, got[0]).ok());
}

TEST_F(AlertWebhookTest, LoopbackReceiverWithoutAllowlistIsRefused) {
  AlertWebhookOptions o = Options();
  o.allow_addresses.clear();
  auto sink = AlertWebhookSink::Create(o);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sink.status().message().find("refused"), std::string::npos) << sink.status().message();
  EXPECT_NE(sink.status().message().find("loopback"), std::string::npos) << sink.status().message();
  EXPECT_EQ(receiver_->connections(), 0);
}

// DNS down at boot, or a record not yet published: the sink starts (the server with it) and says
// so; the alert is tried, resolved again, and dropped; nothing is sent anywhere.
TEST_F(AlertWebhookTest, AHostThatDoesNotResolveYetDoesNotStopTheStart) {
  std::mutex mu;
  std::vector<std::string> lines;
  log::SetSinkForTest([&](std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    if (line.find("does not resolve") != std::string_view::npos) lines.emplace_back(line);
  });
  AlertWebhookOptions o = Options();
  o.url = "https://alerts.cairn-test.invalid/hook";
  o.retries_max = 1;
  auto sink = AlertWebhookSink::Create(o);
  log::Flush(2000);
  log::SetSinkForTest(nullptr);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("alerts.cairn-test.invalid"), std::string::npos) << lines[0];
  (*sink)->Deliver(SampleAlert("logins"));
  (*sink)->Flush();
  EXPECT_EQ((*sink)->stats().delivered, 0u);
  EXPECT_EQ((*sink)->stats().retries, 1u);
  EXPECT_EQ((*sink)->stats().dropped, 1u);
  EXPECT_EQ(receiver_->connections(), 0);
}

TEST_F(AlertWebhookTest, PlainHttpIsRefused) {
  AlertWebhookOptions o = Options();
  o.url = "http://127.0.0.1:" + std::to_string(receiver_->port()) + "/hook";
  EXPECT_EQ(AlertWebhookSink::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AlertWebhookTest, UntrustedCertificateIsNotDelivered) {
  AlertWebhookOptions o = Options();
  o.sender.ca_file.clear();  // the receiver's CA is not trusted
  o.retries_max = 0;
  auto sink = AlertWebhookSink::Create(o);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  (*sink)->Deliver(SampleAlert("logins"));
  (*sink)->Flush();
  EXPECT_EQ((*sink)->stats().delivered, 0u);
  EXPECT_EQ((*sink)->stats().dropped, 1u);
  EXPECT_EQ(receiver_->count(), 0u);
}

TEST_F(AlertWebhookTest, RetriesWithTheSameIdThenDropsAndCounts) {
  receiver_->set_fail_marker("always-fails");
  auto sink = AlertWebhookSink::Create(Options());  // retries_max = 2
  ASSERT_TRUE(sink.ok());
  (*sink)->Deliver(SampleAlert("always-fails"));
  (*sink)->Flush();
  std::vector<cairn::testing::Received> got = receiver_->requests();
  ASSERT_EQ(got.size(), 3u);  // the first try and two retries
  for (const auto& r : got) EXPECT_EQ(r.headers.at("webhook-id"), got[0].headers.at("webhook-id"));
  AlertWebhookStats stats = (*sink)->stats();
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.dropped, 1u);
  EXPECT_EQ(stats.delivered, 0u);
}

TEST_F(AlertWebhookTest, SecretFileMustBeOwnerOnlyAndIsNeverInErrors) {
  ASSERT_EQ(chmod(dir_.Sub("secret").c_str(), 0644), 0);
  auto sink = AlertWebhookSink::Create(Options());
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sink.status().message().find(secret_), std::string::npos);
  testing::WriteFile(dir_.Sub("bad"), "whsec_not*base64\n");
  ASSERT_EQ(chmod(dir_.Sub("bad").c_str(), 0600), 0);
  auto bad = LoadAlertWebhookSecret(dir_.Sub("bad"), "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("not*base64"), std::string::npos);
  EXPECT_EQ(LoadAlertWebhookSecret(dir_.Sub("secret"), "SOME_ENV").status().code(),
            StatusCode::kInvalidArgument);  // two sources
}

}  // namespace
}  // namespace cairn::subscribe
