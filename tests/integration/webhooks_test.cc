// Webhook subscriptions end to end: the real server POSTs events to an HTTPS receiver written
// for the tests (webhook_receiver.h: OpenSSL, loopback, a test CA made in the temp dir and trusted through [webhooks]
// ca_file), which checks every signature with cairn::VerifyWebhook. Also: the SSRF guard refuses
// internal targets at create without connecting; a failing receiver leads to retries and a
// parked reference; secret rotation signs with both secrets; least-privilege delivery.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cairn/webhooks.h"
#include "common/bytes.h"
#include "interop_tools.h"
#include "protect_rules.h"
#include "server_env.h"
#include "unit/keys/softhsm_token.h"
#include "webhook_receiver.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

WebhookHeaders HeadersOf(const Received& r) {
  auto get = [&](const std::string& name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? std::string() : it->second;
  };
  return WebhookHeaders{get("webhook-id"), get("webhook-timestamp"), get("webhook-signature")};
}

v1::AppendRequest Events(const std::string& stream, const std::string& type,
                         const std::vector<std::string>& datas) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (const auto& d : datas) {
    auto* e = request.add_events();
    e->set_type(type);
    e->set_data(d);
  }
  return request;
}

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = MakeReceiverCa();
    receiver_ = std::make_unique<Receiver>(MakeReceiverPair(ca_));
    WriteFile(env.dir().Sub("receiver-ca.pem"), ca_.cert_pem);
    env.extra_config =
        ProtectRulesConfig(env, kRules) +
        "[webhooks]\nca_file = \"receiver-ca.pem\"\nretries_max = 2\nbackoff_initial_ms = 20\n"
        "backoff_max_ms = 100\ntimeout_ms = 5000\n";
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    webhooks = std::make_unique<WebhooksClient>(admin.get());
  }

  v1::CreateWebhookRequest Request(const std::string& name, const std::string& source) {
    v1::CreateWebhookRequest r;
    r.set_name(name);
    r.set_url(receiver_->Url());
    r.set_source(source);
    r.add_allow_addresses("127.0.0.1");
    return r;
  }

  // Lists the webhooks until the only one has stored `position` (a delivery's position is stored
  // after its 200 arrives), at most 5 s; the last answer.
  Result<v1::ListWebhooksResponse> ListOnceAt(uint64_t position) {
    Result<v1::ListWebhooksResponse> list = Status::Internal("not listed");
    for (int waited_ms = 0; waited_ms < 5000; waited_ms += 50) {
      list = webhooks->List();
      if (!list.ok() || (list->webhooks_size() == 1 && list->webhooks(0).position() == position)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return list;
  }

  // Binds apikey:ci-bot to order-reader (no subscribe) and reloads the policy.
  bool TakeSubscribeFromBot() {
    std::string policy = ReadFile(env.PolicyPath());
    const std::string bound = "principal = \"apikey:ci-bot\"\nroles = [\"order-service\"]";
    const size_t at = policy.find(bound);
    if (at == std::string::npos) return false;
    policy.replace(at, bound.size(), "principal = \"apikey:ci-bot\"\nroles = [\"order-reader\"]");
    WriteFile(env.PolicyPath(), policy);
    return admin->ReloadPolicy().ok();
  }

  ServerEnv env;
  crypto::KeyAndCert ca_;
  std::unique_ptr<Receiver> receiver_;
  std::unique_ptr<Client> admin;
  std::unique_ptr<WebhooksClient> webhooks;
};

// The secret of the Standard Webhooks vector in ../shared/vectors/README.md.
std::string VectorSecret() {
  const std::string text = ReadFile(VectorsDir() + "/README.md");
  std::smatch m;
  const std::string section = text.substr(text.find("## Standard Webhooks"));
  EXPECT_TRUE(std::regex_search(section, m, std::regex("secret `(whsec_[A-Za-z0-9+/=]+)`")));
  return m[1];
}

TEST_F(WebhooksTest, DeliversEveryEventInOrderWithValidSignatures) {
  // The webhook signs with the published vector's secret (its signature itself is reproduced in
  // tests/unit/subscribe/webhook_signature_test.cc).
  v1::CreateWebhookRequest request = Request("orders", "order-w1");
  const std::string secret = VectorSecret();
  ASSERT_TRUE(secret.starts_with("whsec_"));
  request.set_secret(secret);
  auto created = webhooks->Create(request);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->secret(), secret);
  ASSERT_TRUE(admin->Append(Events("other-1", "OrderCreated", {R"({"n":-1})"})).ok());
  std::vector<std::string> datas;
  for (int i = 0; i < 5; ++i) datas.push_back(R"({"n":)" + std::to_string(i) + "}");
  ASSERT_TRUE(admin->Append(Events("order-w1", "OrderCreated", datas)).ok());

  auto got = receiver_->WaitFor(5);
  ASSERT_EQ(got.size(), 5u);
  std::set<std::string> ids;
  for (size_t i = 0; i < got.size(); ++i) {
    const WebhookHeaders h = HeadersOf(got[i]);
    EXPECT_TRUE(VerifyWebhook(secret, h, got[i].body, NowS()).ok()) << got[i].body;
    // The Standard Webhooks rule a receiver relies on: an old request is refused.
    EXPECT_EQ(VerifyWebhook(secret, h, got[i].body, std::stoll(h.timestamp) + 301, 300).code(),
              StatusCode::kUnauthenticated);
    EXPECT_EQ(got[i].headers["content-type"], "application/cloudevents+json");
    auto ce = nlohmann::json::parse(got[i].body);
    EXPECT_EQ(ce["specversion"], "1.0");
    EXPECT_EQ(ce["id"], h.id);
    EXPECT_EQ(ce["stream"], "order-w1");
    EXPECT_EQ(ce["version"], std::to_string(i));  // log order
    EXPECT_EQ(ce["data"]["n"], static_cast<int>(i));
    ids.insert(h.id);
  }
  EXPECT_EQ(ids.size(), 5u);
  // The secret is never shown again.
  Result<v1::ListWebhooksResponse> list = ListOnceAt(6);  // counted after each 200 arrives
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->webhooks_size(), 1);
  EXPECT_EQ(list->webhooks(0).delivered(), 5u);
  EXPECT_EQ(list->webhooks(0).position(), 6u);  // past the other stream's event too
  EXPECT_EQ(list->DebugString().find(secret.substr(6)), std::string::npos);
}

TEST_F(WebhooksTest, InternalTargetsAreRefusedWithoutAnyConnection) {
  struct Case {
    std::string url;
    bool allow_loopback;
  };
  const std::vector<Case> cases = {
      {"https://169.254.169.254/latest/meta-data/", false},
      {"https://10.0.0.1/hook", false},
      {"https://[fd00:ec2::254]/", false},
      {"https://[::ffff:10.0.0.1]/", false},
      {receiver_->Url("localhost"), false},  // a name resolving to 127.0.0.1
      {receiver_->Url("127.0.0.1"), false},
      {"http://127.0.0.1:" + std::to_string(receiver_->port()) + "/hook", true},  // plain http
  };
  int n = 0;
  for (const Case& c : cases) {
    v1::CreateWebhookRequest r = Request("bad" + std::to_string(n++), "$all");
    r.set_url(c.url);
    if (!c.allow_loopback) r.clear_allow_addresses();
    auto created = webhooks->Create(r);
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << c.url;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(receiver_->connections(), 0);
  auto list = webhooks->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->webhooks_size(), 0);
}

// A token in the URL's path or query (Slack's /services/…/<token>, Azure Functions' ?code=) is
// kept for delivery but not shown again: listings end up in terminals and CI logs.
TEST_F(WebhooksTest, TheListShowsTheUrlWithoutItsPathOrQuery) {
  v1::CreateWebhookRequest r = Request("keyed", "order-w9");
  const std::string url = receiver_->Url() + "/s3cr3t-path?code=fn-key-s3cr3t#part";
  r.set_url(url);
  auto created = webhooks->Create(r);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto list = webhooks->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->webhooks_size(), 1);
  const std::string authority = url.substr(0, url.find('/', url.find("://") + 3));
  EXPECT_EQ(list->webhooks(0).url(), authority + "/<redacted>");
  EXPECT_EQ(list->DebugString().find("s3cr3t"), std::string::npos);
  ASSERT_TRUE(admin->Append(Events("order-w9", "OrderCreated", {R"({"n":1})"})).ok());
  EXPECT_EQ(receiver_->WaitFor(1).size(), 1u) << "delivered to the URL as given";
}

TEST_F(WebhooksTest, FailingEventIsRetriedThenParkedAndDeliveryContinues) {
  receiver_->set_fail_marker("fail-me");
  ASSERT_TRUE(webhooks->Create(Request("flaky", "order-w2")).ok());
  auto appended = admin->Append(
      Events("order-w2", "OrderCreated", {R"({"m":"fail-me"})", R"({"m":"fine"})"}));
  ASSERT_TRUE(appended.ok());
  auto got = receiver_->WaitFor(4);  // 1 attempt + 2 retries of the first, then the second
  ASSERT_EQ(got.size(), 4u);
  const std::string failed_id = HeadersOf(got[0]).id;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(got[i].body.find("fail-me"), std::string::npos);
    EXPECT_EQ(HeadersOf(got[i]).id, failed_id);  // a retry keeps its webhook-id
  }
  EXPECT_NE(got[3].body.find("fine"), std::string::npos);

  std::vector<v1::RecordedEvent> parked;
  for (int waited = 0; waited < 5000 && parked.empty(); waited += 50) {
    v1::ReadRequest read;
    read.set_stream("$parked-webhook-flaky");
    admin->Read(read, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) parked.push_back(e);
      return true;
    });
    if (parked.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(parked.size(), 1u);
  auto ref = nlohmann::json::parse(parked[0].data());
  EXPECT_EQ(ref["event_id"], failed_id);
  EXPECT_EQ(ref["position"], appended->first_position());
  EXPECT_NE(ref["last_error"].get<std::string>().find("500"), std::string::npos);
  EXPECT_EQ(parked[0].data().find("fail-me"), std::string::npos);  // a reference, no payload
}

// An event the webhook cannot encode, the same way on every attempt (here: binary data of a type
// a protection rule added later covers, so its protected fields cannot be found), is parked
// after its first attempt, without the retries and backoffs that cannot cure it, and delivery
// goes on with the next event.
TEST_F(WebhooksTest, AnEventThatCannotBeEncodedIsParkedAtOnce) {
  v1::AppendRequest binary;
  binary.set_stream("order-w9");
  auto* e = binary.add_events();
  e->set_type("Ticket");
  e->set_content_type("application/octet-stream");
  e->set_data("raw \x01 bytes");
  auto appended = admin->Append(binary);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  ASSERT_TRUE(admin->Append(Events("order-w9", "OrderCreated", {R"({"after":1})"})).ok());
  ASSERT_EQ(env.server().Stop(), 0);
  ProtectRulesConfig(env, std::string(kRules) + R"(
[[rule]]
event_type = "Ticket"
subject = "/holder"
fields = ["/email"]
)");
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  webhooks = std::make_unique<WebhooksClient>(admin.get());
  ASSERT_TRUE(webhooks->Create(Request("binary", "order-w9")).ok());
  auto got = receiver_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].body.find(R"("after":1)"), std::string::npos);
  std::vector<v1::RecordedEvent> parked;
  for (int waited = 0; waited < 5000 && parked.empty(); waited += 50) {
    v1::ReadRequest read;
    read.set_stream("$parked-webhook-binary");
    admin->Read(read, [&](const v1::ReadResponse& chunk) {
      for (const auto& p : chunk.events()) parked.push_back(p);
      return true;
    });
    if (parked.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(parked.size(), 1u);
  auto ref = nlohmann::json::parse(parked[0].data());
  EXPECT_EQ(ref["position"], appended->first_position());
  EXPECT_EQ(ref["attempts"], 1) << "retried although no retry can cure it";
  EXPECT_EQ(receiver_->requests().size(), 1u);
}

TEST_F(WebhooksTest, RotatedSecretAndPreviousOneBothSignDuringGrace) {
  v1::CreateWebhookRequest r = Request("rotating", "order-w3");
  const std::string old_secret = NewWebhookSecret();
  r.set_secret(old_secret);
  auto created = webhooks->Create(r);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->secret(), old_secret);
  v1::RotateWebhookSecretRequest rotate;
  rotate.set_name("rotating");
  rotate.set_grace_s(31 * 86400);  // longer than [webhooks] rotation_grace_s may be
  EXPECT_EQ(webhooks->RotateSecret(rotate).status().code(), StatusCode::kInvalidArgument);
  rotate.set_grace_s(600);
  auto rotated = webhooks->RotateSecret(rotate);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->secret_version(), 2u);
  EXPECT_NE(rotated->secret(), old_secret);
  ASSERT_TRUE(admin->Append(Events("order-w3", "OrderCreated", {R"({"k":1})"})).ok());
  auto got = receiver_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  const WebhookHeaders h = HeadersOf(got[0]);
  EXPECT_NE(h.signature.find(' '), std::string::npos);  // two signatures
  EXPECT_TRUE(VerifyWebhook(rotated->secret(), h, got[0].body, NowS()).ok());
  EXPECT_TRUE(VerifyWebhook(old_secret, h, got[0].body, NowS()).ok());
  EXPECT_FALSE(VerifyWebhook(NewWebhookSecret(), h, got[0].body, NowS()).ok());
}

// What a serverless handler built on the official libraries does with cairn's requests: the
// Standard Webhooks library (`standardwebhooks`) verifies every delivery with its secret (and,
// after a rotation, with both secrets), refuses it with a changed body or a stale timestamp, and
// the CloudEvents SDK (`cloudevents`) reads each as a valid structured CloudEvents 1.0 event
// whose id is the webhook-id: JSON, non-ASCII JSON and binary (data_base64) events.
TEST_F(WebhooksTest, TheOfficialStandardWebhooksAndCloudEventsLibrariesAcceptEveryDelivery) {
  CAIRN_INTEROP_REQUIRE_NODE();
  v1::CreateWebhookRequest r = Request("interop", "order-w4");
  const std::string old_secret = NewWebhookSecret();
  r.set_secret(old_secret);
  ASSERT_TRUE(webhooks->Create(r).ok());
  ASSERT_TRUE(admin->Append(Events("order-w4", "OrderCreated", {R"({"n":1})", R"({"n":2})"})).ok());
  ASSERT_EQ(receiver_->WaitFor(2).size(), 2u);
  v1::RotateWebhookSecretRequest rotate;
  rotate.set_name("interop");
  rotate.set_grace_s(600);
  auto rotated = webhooks->RotateSecret(rotate);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  v1::AppendRequest after = Events("order-w4", "OrderCreated",
                                   {"{\"name\":\"Zo\xC3\xAB \xE2\x9C\x93\",\"n\":3}"});
  auto* binary = after.add_events();
  binary->set_type("TicketScanned");
  binary->set_content_type("application/octet-stream");
  binary->set_data(std::string("raw \x00\x01\xFF bytes", 13));
  ASSERT_TRUE(admin->Append(after).ok());
  const std::vector<Received> got = receiver_->WaitFor(4);
  ASSERT_EQ(got.size(), 4u);

  auto write = [&](const std::string& name, size_t from, size_t to) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = from; i < to; ++i) list.push_back({{"headers", got[i].headers}, {"body", got[i].body}});
    WriteFile(env.dir().Sub(name), list.dump());
    return env.dir().Sub(name);
  };
  const std::string before_rotation = write("before.json", 0, 2), during_grace = write("grace.json", 2, 4);
  auto old_only = RunNodeScript("webhook_check.mjs", {before_rotation, old_secret});
  EXPECT_EQ(old_only.exit_code, 0) << old_only.out << old_only.err;
  EXPECT_NE(old_only.out.find("2 deliveries verified"), std::string::npos) << old_only.out;
  auto both = RunNodeScript("webhook_check.mjs", {during_grace, rotated->secret(), old_secret});
  std::cout << old_only.out << both.out;  // the libraries' report
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
  EXPECT_NE(both.out.find("2 deliveries verified"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("TicketScanned"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("data 726177200001ff206279746573"), std::string::npos) << both.out;
  // Before the rotation only the old secret signed; another secret verifies nothing.
  auto new_before = RunNodeScript("webhook_check.mjs", {before_rotation, rotated->secret()});
  EXPECT_EQ(new_before.exit_code, 1) << new_before.out;
  auto stranger = RunNodeScript("webhook_check.mjs", {during_grace, NewWebhookSecret()});
  EXPECT_EQ(stranger.exit_code, 1) << stranger.out;
  EXPECT_NE(stranger.out.find("2 of 2 failed"), std::string::npos) << stranger.out;
}

TEST_F(WebhooksTest, DeliversOnlyWhatTheDeliveringIdentityMaySeeAndMasksPii) {
  // run_as apikey:ci-bot (order-service: subscribe on order-*, no read.pii): the intersection
  // with the admin creator is what ci-bot may see.
  v1::CreateWebhookRequest r = Request("least", "$all");
  r.set_run_as("apikey:ci-bot");
  ASSERT_TRUE(webhooks->Create(r).ok());
  ASSERT_TRUE(admin->Append(Events("invoice-1", "InvoiceIssued", {R"({"secret":"not for bot"})"})).ok());
  ASSERT_TRUE(admin->Append(Events("order-p1", "CustomerRegistered",
                                   {R"({"customerId":"c1","email":"c1@example.com"})"}))
                  .ok());
  auto got = receiver_->WaitFor(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing else may follow
  got = receiver_->requests();
  ASSERT_EQ(got.size(), 1u);
  auto ce = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(ce["stream"], "order-p1");
  EXPECT_EQ(ce["data"]["customerId"], "c1");
  EXPECT_NE(ce["data"]["email"], "c1@example.com");  // masked
  EXPECT_EQ(got[0].body.find("c1@example.com"), std::string::npos);
}

// A webhook keeps delivering after its creator's call: it must not keep roles that only a token
// carried (they would outlive the token's expiry and any revocation at the identity provider).
// An administrator by token claim alone cannot create one (an API key's configured roles and
// the policy's bindings are what a webhook is judged by, at every delivery).
TEST_F(WebhooksTest, AWebhookNeverKeepsTheRolesOfTheTokenThatCreatedIt) {
  auto by_claim = env.ClientWith(env.TokenA("EdDSA", "claims-admin", "[\"admin\"]", 60));
  WebhooksClient claim_hooks(by_claim.get());
  auto refused = claim_hooks.Create(Request("by-claim", "order-w9"));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("bind"), std::string::npos);
  auto listed = webhooks->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->webhooks().empty()) << "nothing stored";

  // run_as resolves the roles configured for its API key too (ci-bot: by binding here), and a
  // run_as that could receive nothing of the source is refused.
  v1::CreateWebhookRequest narrow = Request("narrow", "invoice-w9");
  narrow.set_run_as("apikey:ci-bot");  // order-* only
  EXPECT_EQ(webhooks->Create(narrow).status().code(), StatusCode::kFailedPrecondition);
}

// An auditor sees where a new webhook sends events and whose rights choose them: the host, the
// delivering identity and the guard's exceptions, never the URL's path or query (tokens).
TEST_F(WebhooksTest, ACreateIsAuditedWithWhereTheEventsGo) {
  env.server().Stop();  // again, with the audit trail on
  env.audit_enabled = true;
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  webhooks = std::make_unique<WebhooksClient>(admin.get());
  v1::CreateWebhookRequest r = Request("audited", "order-w9");
  r.set_url(receiver_->Url() + "?token=s3cr3t-in-url");
  ASSERT_TRUE(webhooks->Create(r).ok());
  std::optional<nlohmann::json> record;
  Status last;
  std::string seen;
  for (int waited = 0; waited < 5000 && !record; waited += 50) {
    seen.clear();
    v1::ReadRequest read;
    read.set_stream("$audit");
    last = admin->Read(read, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) {
        seen += e.type() + " ";
        EXPECT_EQ(e.data().find("s3cr3t-in-url"), std::string::npos);
        EXPECT_EQ(e.data().find("/hook"), std::string::npos);
        auto j = nlohmann::json::parse(e.data());
        if (j["action"] == "webhook.create") record = j;
      }
      return true;
    });
    if (!record) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(record.has_value()) << last.ToString() << " saw: " << seen;
  const nlohmann::json& details = (*record)["details"];
  EXPECT_EQ(details["host"], "127.0.0.1:" + std::to_string(receiver_->port())) << record->dump();
  EXPECT_EQ(details["run_as"], "apikey:admin") << record->dump();
  EXPECT_EQ(details["allow_addresses"], "127.0.0.1") << record->dump();
  EXPECT_EQ(details["source"], "order-w9");
}

TEST_F(WebhooksTest, NeedsAdminAndDeleteStopsDelivery) {
  auto bot = env.ClientWith(env.bot_key);
  WebhooksClient bot_hooks(bot.get());
  EXPECT_EQ(bot_hooks.Create(Request("x", "$all")).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(bot_hooks.List().status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(webhooks->Create(Request("gone", "order-w4")).ok());
  EXPECT_EQ(webhooks->Create(Request("gone", "order-w4")).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(webhooks->Delete("gone").ok());
  EXPECT_EQ(webhooks->Delete("gone").code(), StatusCode::kNotFound);
  ASSERT_TRUE(admin->Append(Events("order-w4", "OrderCreated", {R"({"k":1})"})).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(receiver_->requests().empty());
}

// Deleted while busy (a slow receiver holds one request): delivery stops after that request,
// and a webhook re-created under the name and deleted again is the one that stops — it was
// left running when Delete marked the old, still busy entry instead.
TEST_F(WebhooksTest, DeleteWhileDeliveringStopsAtTheNextEventAlsoAfterARecreate) {
  receiver_->set_answer_delay_ms(1500);
  v1::CreateWebhookRequest busy = Request("busy", "order-w8");
  busy.set_from_end(true);
  ASSERT_TRUE(webhooks->Create(busy).ok());
  ASSERT_TRUE(admin->Append(Events("order-w8", "OrderCreated", {R"({"k":1})", R"({"k":2})", R"({"k":3})"})).ok());
  ASSERT_EQ(receiver_->WaitFor(1).size(), 1u);  // the first request is being answered slowly
  ASSERT_TRUE(webhooks->Delete("busy").ok());
  ASSERT_TRUE(webhooks->Create(busy).ok());  // from the end: nothing to deliver yet
  ASSERT_TRUE(webhooks->Delete("busy").ok());
  ASSERT_TRUE(admin->Append(Events("order-w8", "OrderCreated", {R"({"k":4})"})).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
  const auto got = receiver_->requests();
  EXPECT_EQ(got.size(), 1u) << "deliveries after Delete returned: "
                            << (got.size() > 1 ? got[1].body : std::string());
  auto listed = webhooks->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->webhooks().empty());
}

// A webhook whose delivering identity loses every grant on its source is paused (listed with
// the reason), not drained: when the grant comes back, the events appended meanwhile are
// delivered.
TEST_F(WebhooksTest, AWebhookWhoseIdentityLostItsGrantIsPausedNotDrained) {
  v1::CreateWebhookRequest r = Request("paused", "order-w7");
  r.set_run_as("apikey:ci-bot");
  r.set_from_end(true);
  ASSERT_TRUE(webhooks->Create(r).ok());
  const std::string policy = ReadFile(env.PolicyPath());
  ASSERT_TRUE(TakeSubscribeFromBot());
  ASSERT_TRUE(admin->Append(Events("order-w7", "OrderCreated", {R"({"k":7})"})).ok());
  std::string last_error;
  for (int i = 0; i < 100 && last_error.find("paused") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto listed = webhooks->List();
    ASSERT_TRUE(listed.ok());
    for (const auto& w : listed->webhooks()) {
      if (w.name() == "paused") last_error = w.last_error();
    }
  }
  EXPECT_NE(last_error.find("paused"), std::string::npos) << last_error;
  EXPECT_EQ(receiver_->count(), 0u);
  WriteFile(env.PolicyPath(), policy);
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  auto got = receiver_->WaitFor(1, 20000);
  ASSERT_EQ(got.size(), 1u) << "the event appended while paused was skipped";
  EXPECT_NE(got[0].body.find("\"k\":7"), std::string::npos);
}

// The KMS away (the PKCS#11 token gone) while a protected event is due: its reveal fails with
// UNAVAILABLE before anything is sent. That is waited for, not counted as an attempt: nothing
// is parked (before, retries_max such failures parked the event within a second), and the event
// is delivered once the token is back.
class WebhooksKmsTest : public WebhooksTest {
 protected:
  void SetUp() override {
    if (!SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<SoftHsmToken>(env.dir().Sub("hsm"));
    ASSERT_TRUE(token_->ok());
    std::filesystem::remove_all(env.DataDir() + "/db");  // made again on the token
    std::filesystem::remove(env.DataDir() + "/keyring");
    WriteFile(env.dir().Sub("keys.toml"), token_->Toml());
    auto init = RunCairn({"init", "--data-dir", env.DataDir(), "--config", env.dir().Sub("keys.toml")});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    ca_ = MakeReceiverCa();
    receiver_ = std::make_unique<Receiver>(MakeReceiverPair(ca_));
    WriteFile(env.dir().Sub("receiver-ca.pem"), ca_.cert_pem);
    env.extra_config =
        ProtectRulesConfig(env, kRules) + token_->Toml() +
        "[webhooks]\nca_file = \"receiver-ca.pem\"\nretries_max = 2\nbackoff_initial_ms = 20\n"
        "backoff_max_ms = 100\ntimeout_ms = 5000\n";
    Restart();
  }
  void TearDown() override {
    if (token_ != nullptr && hidden_) token_->Show();
  }
  void Restart() {
    if (env.server().pid() > 0) env.server().Stop();
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    webhooks = std::make_unique<WebhooksClient>(admin.get());
  }
  std::optional<v1::WebhookInfo> Listed(const std::string& name) {
    auto listed = webhooks->List();
    if (!listed.ok()) return std::nullopt;
    for (const auto& w : listed->webhooks()) {
      if (w.name() == name) return w;
    }
    return std::nullopt;
  }
  std::unique_ptr<SoftHsmToken> token_;
  bool hidden_ = false;
};

TEST_F(WebhooksKmsTest, AKmsOutageDelaysProtectedEventsAndParksNothing) {
  // Paused at first (its identity may not subscribe), so that the event waits undelivered.
  v1::CreateWebhookRequest r = Request("kms", "order-k");
  r.set_run_as("apikey:ci-bot");
  ASSERT_TRUE(webhooks->Create(r).ok());
  const std::string policy = ReadFile(env.PolicyPath());
  ASSERT_TRUE(TakeSubscribeFromBot());
  ASSERT_TRUE(admin->Append(Events("order-k", "CustomerRegistered",
                                   {R"({"customerId":"alice","email":"alice@example.com"})"}))
                  .ok());
  Restart();  // alice's key is no longer cached
  ASSERT_TRUE(token_->Hide());
  hidden_ = true;
  WriteFile(env.PolicyPath(), policy);  // the webhook may deliver again: its reveal fails
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  std::string last_error;
  for (int i = 0; i < 100 && last_error.find("UNAVAILABLE") == std::string::npos &&
                  last_error.find("navailable") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (auto w = Listed("kms")) last_error = w->last_error();
  }
  EXPECT_FALSE(last_error.empty()) << "the reveal never failed";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // many retries_max by now
  auto during = Listed("kms");
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(during->parked(), 0u) << "parked while the KMS was away: " << during->last_error();
  EXPECT_EQ(receiver_->count(), 0u);
  ASSERT_TRUE(token_->Show());
  hidden_ = false;
  auto got = receiver_->WaitFor(1, 30000);
  ASSERT_EQ(got.size(), 1u) << "not delivered once the KMS was back";
  EXPECT_NE(got[0].body.find("alice"), std::string::npos);
  EXPECT_EQ(got[0].body.find("alice@example.com"), std::string::npos) << "ci-bot has no read.pii";
  EXPECT_EQ(Listed("kms")->parked(), 0u);
}

TEST_F(WebhooksTest, CliCreateListRotateDelete) {
  const std::vector<std::string> remote = {"--server", env.server().target(), "--ca", env.CaCert(),
                                           "--token", env.admin_key};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), remote.begin(), remote.end());
    return RunCairn(args);
  };
  auto created = with({"webhook", "create", "cli-hook", "--url", receiver_->Url(), "--stream",
                       "$all", "--filter-type", "OrderCreated", "--allow-address", "127.0.0.1",
                       "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto j = nlohmann::json::parse(created.out);
  const std::string secret = j["secret"];
  EXPECT_TRUE(secret.starts_with("whsec_"));
  auto listed = with({"webhook", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("cli-hook"), std::string::npos);
  EXPECT_EQ(listed.out.find(secret.substr(6)), std::string::npos);
  auto refused = with({"webhook", "create", "meta", "--url", "https://169.254.169.254/",
                       "--stream", "$all"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("metadata"), std::string::npos) << refused.err;
  auto rotated = with({"webhook", "rotate-secret", "cli-hook", "--json"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_EQ(nlohmann::json::parse(rotated.out)["secret_version"], 2);
  EXPECT_EQ(with({"webhook", "delete", "cli-hook"}).exit_code, 0);
  EXPECT_EQ(with({"webhook", "delete", "cli-hook"}).exit_code, 1);

  // --secret-file keeps the secret off the command line; it and --secret exclude each other.
  const std::string own = "whsec_" + Base64Encode("0123456789abcdef0123456789abcdef");
  const std::string file = env.dir().Sub("hook.secret");
  WriteFile(file, own + "\n");
  ::chmod(file.c_str(), 0644);
  auto readable = with({"webhook", "create", "file-hook", "--url", receiver_->Url(), "--stream",
                        "$all", "--allow-address", "127.0.0.1", "--secret-file", file});
  EXPECT_EQ(readable.exit_code, 2) << "a secret file others may read was used";
  ::chmod(file.c_str(), 0600);
  auto from_file = with({"webhook", "create", "file-hook", "--url", receiver_->Url(), "--stream",
                         "$all", "--allow-address", "127.0.0.1", "--secret-file", file, "--json"});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_FALSE(nlohmann::json::parse(from_file.out).contains("secret")) << "a given secret is echoed";
  EXPECT_EQ(from_file.out.find(own.substr(6)), std::string::npos) << from_file.out;
  WriteFile(file, own + "x");  // not base64 any more: the server refuses it
  auto bad = with({"webhook", "rotate-secret", "file-hook", "--secret-file", file});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_EQ(bad.err.find(own), std::string::npos) << "the secret is not echoed";
  auto both = with({"webhook", "rotate-secret", "file-hook", "--secret", own, "--secret-file", file});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  WriteFile(file, "\n");
  EXPECT_EQ(with({"webhook", "rotate-secret", "file-hook", "--secret-file", file}).exit_code, 2);
  EXPECT_EQ(with({"webhook", "rotate-secret", "file-hook", "--secret-file", ""}).exit_code, 2)
      << "an empty path (an unset variable) must not mean a generated secret";
}

TEST_F(WebhooksTest, DeliveryPositionSurvivesARestart) {
  ASSERT_TRUE(webhooks->Create(Request("durable", "order-w5")).ok());
  Result<v1::AppendResponse> first = admin->Append(Events("order-w5", "OrderCreated", {R"({"k":1})"}));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(receiver_->WaitFor(1).size(), 1u);
  Result<v1::ListWebhooksResponse> stored = ListOnceAt(first->last_position() + 1);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->webhooks_size(), 1);
  ASSERT_EQ(stored->webhooks(0).position(), first->last_position() + 1) << "the position is stored";
  ASSERT_EQ(env.server().Stop(), 0);
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  ASSERT_TRUE(admin->Append(Events("order-w5", "OrderCreated", {R"({"k":2})"})).ok());
  auto got = receiver_->WaitFor(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  got = receiver_->requests();
  ASSERT_EQ(got.size(), 2u);  // the first event was not delivered again
  EXPECT_NE(got[1].body.find(R"("k":2)"), std::string::npos);
}

// A webhook on one stream reads it through the stream index among many other streams' events:
// each of its events once, in order, a failing one retried and parked at its own position, its
// position at the log's end afterwards, and no event repeated after a restart.
TEST_F(WebhooksTest, AWebhookOnAStreamFindsItsEventsAmongManyOthers) {
  receiver_->set_fail_marker("fail-me");
  ASSERT_TRUE(webhooks->Create(Request("sparse", "order-w9")).ok());
  auto noise = [&](int n) {
    std::vector<std::string> datas(static_cast<size_t>(n), R"({"noise":true})");
    ASSERT_TRUE(admin->Append(Events("noise-1", "OrderCreated", datas)).ok());
  };
  noise(300);
  ASSERT_TRUE(admin->Append(Events("order-w9", "OrderCreated", {R"({"m":"a"})"})).ok());
  noise(200);
  ASSERT_TRUE(admin->Append(Events("order-w9", "OrderCreated", {R"({"m":"fail-me"})"})).ok());
  noise(100);
  auto last = admin->Append(Events("order-w9", "OrderCreated", {R"({"m":"b"})"}));
  ASSERT_TRUE(last.ok());
  noise(10);
  // The log's end: these events and the parked reference ($parked-webhook-sparse).
  const uint64_t log_end = last->last_position() + 11 + 1;

  auto got = receiver_->WaitFor(5);  // a, three attempts of fail-me, b
  ASSERT_EQ(got.size(), 5u);
  EXPECT_NE(got[0].body.find(R"("m":"a")"), std::string::npos);
  for (int i = 1; i < 4; ++i) EXPECT_NE(got[i].body.find("fail-me"), std::string::npos) << i;
  EXPECT_NE(got[4].body.find(R"("m":"b")"), std::string::npos);
  Result<v1::ListWebhooksResponse> list = ListOnceAt(log_end);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->webhooks_size(), 1);
  EXPECT_EQ(list->webhooks(0).position(), log_end) << "past the other streams' events";
  EXPECT_EQ(list->webhooks(0).delivered(), 2u);
  EXPECT_EQ(list->webhooks(0).parked(), 1u);

  ASSERT_EQ(env.server().Stop(), 0);
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  webhooks = std::make_unique<WebhooksClient>(admin.get());
  noise(50);
  ASSERT_TRUE(admin->Append(Events("order-w9", "OrderCreated", {R"({"m":"c"})"})).ok());
  got = receiver_->WaitFor(6);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  got = receiver_->requests();
  ASSERT_EQ(got.size(), 6u) << "nothing delivered again after the restart";
  EXPECT_NE(got[5].body.find(R"("m":"c")"), std::string::npos);

  // The source stream deleted: the list says that nothing more will come.
  v1::DeleteRequest deleted;
  deleted.set_stream("order-w9");
  ASSERT_TRUE(admin->Delete(deleted).ok());
  noise(5);  // the webhook reads past the tombstone
  std::string last_error;
  for (int waited = 0; waited < 5000; waited += 50) {
    auto now = webhooks->List();
    ASSERT_TRUE(now.ok()) << now.status().ToString();
    ASSERT_EQ(now->webhooks_size(), 1);
    last_error = now->webhooks(0).last_error();
    if (last_error.find("deleted") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(last_error, "the source stream was deleted: nothing more will be delivered");
}

// Several nodes on one PostgreSQL let one of them dispatch: a node with [webhooks] dispatch =
// false delivers nothing (the webhook's position stays where it was) and refuses to manage
// webhooks; the dispatching node delivers what the other one left.
TEST_F(WebhooksTest, ANodeThatDoesNotDispatchNeitherDeliversNorManagesWebhooks) {
  ASSERT_TRUE(webhooks->Create(Request("quiet", "order-w6")).ok());
  ASSERT_EQ(env.server().Stop(), 0);
  const std::string dispatching_config = env.extra_config;
  env.extra_config += "dispatch = false\n";  // the [webhooks] table is the last one
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  webhooks = std::make_unique<WebhooksClient>(admin.get());
  ASSERT_TRUE(admin->Append(Events("order-w6", "OrderCreated", {R"({"k":1})"})).ok());
  EXPECT_EQ(webhooks->Create(Request("other", "order-w6")).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(webhooks->List().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(webhooks->Delete("quiet").code(), StatusCode::kFailedPrecondition);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(receiver_->requests().empty());

  ASSERT_EQ(env.server().Stop(), 0);
  env.extra_config = dispatching_config;
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto got = receiver_->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].body.find(R"("k":1)"), std::string::npos);
}

}  // namespace
}  // namespace cairn::testing
