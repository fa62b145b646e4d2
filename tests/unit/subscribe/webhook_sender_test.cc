// The delivery-time SSRF check: the sender refuses the socket before connect() when the address
// libcurl is about to connect to is not allowed, whatever was checked at create time. And the
// outcome of a delivery whose answer is longer than the sender reads.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "integration/webhook_receiver.h"
#include "subscribe/webhook_sender.h"
#include "test_util.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

// A loopback TCP listener that counts the connections it accepts.
class CountingListener {
 public:
  CountingListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) == 1) {
          int c = accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            ++accepted_;
            close(c);
          }
        }
      }
    });
  }
  ~CountingListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

SignedDelivery Delivery() { return SignedDelivery{"id-1", 1, "v1,AAAA", "{}"}; }

SenderOptions ShortTimeouts() {
  SenderOptions options;
  options.connect_timeout_ms = 2000;
  options.timeout_ms = 3000;
  return options;
}

TEST(WebhookSender, GuardRefusesLoopbackBeforeConnect) {
  CountingListener listener;
  SenderOptions options = ShortTimeouts();
  for (std::string host : {"127.0.0.1", "localhost"}) {
    auto sender = WebhookSender::Create(
        "https://" + host + ":" + std::to_string(listener.port()) + "/hook", AddressGuard(),
        options);
    ASSERT_TRUE(sender.ok());
    SendOutcome outcome = (*sender)->Send(Delivery());
    EXPECT_TRUE(outcome.guard_refused) << host;
    EXPECT_EQ(outcome.status.code(), StatusCode::kPermissionDenied) << host;
    EXPECT_GE((*sender)->guard_refusals(), 1u);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(listener.accepted(), 0);  // no connection was ever made
}

// DNS rebinding: a name that answered with a public address when the webhook was created now
// resolves to loopback. The connect-time check refuses it; nothing reaches the listener.
TEST(WebhookSender, NameReResolvingToLoopbackIsRefusedAtDelivery) {
  CountingListener listener;
  const std::string port = std::to_string(listener.port());
  SenderOptions options = ShortTimeouts();
  options.resolve_for_test = {"hooks.example.com:" + port + ":127.0.0.1"};
  auto sender = WebhookSender::Create("https://hooks.example.com:" + port + "/hook",
                                      AddressGuard(), options);
  ASSERT_TRUE(sender.ok());
  SendOutcome outcome = (*sender)->Send(Delivery());
  EXPECT_TRUE(outcome.guard_refused);
  EXPECT_EQ(outcome.status.code(), StatusCode::kPermissionDenied);
  // The same name allowlisted for that address connects (the check is on the address).
  auto allow = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(allow.ok());
  auto allowed = WebhookSender::Create("https://hooks.example.com:" + port + "/hook", *allow,
                                       options);
  ASSERT_TRUE(allowed.ok());
  EXPECT_FALSE((*allowed)->Send(Delivery()).guard_refused);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(listener.accepted(), 1);  // only the allowlisted sender's connection
}

TEST(WebhookSender, AllowlistedAddressConnects) {
  CountingListener listener;  // accepts and closes: TLS fails, but the connection is made
  SenderOptions options = ShortTimeouts();
  auto guard = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(guard.ok());
  auto sender = WebhookSender::Create(
      "https://127.0.0.1:" + std::to_string(listener.port()) + "/hook", *guard, options);
  ASSERT_TRUE(sender.ok());
  SendOutcome outcome = (*sender)->Send(Delivery());
  EXPECT_FALSE(outcome.guard_refused);
  EXPECT_EQ(outcome.status.code(), StatusCode::kUnavailable);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GE(listener.accepted(), 1);
}

// A name with a refused address (::1) and an allowed one (127.0.0.1) whose TLS fails: the
// failure is that of the allowed connection, not an SSRF refusal.
TEST(WebhookSender, AnAllowedAddressThatFailsIsNotReportedAsAGuardRefusal) {
  CountingListener listener;
  const std::string port = std::to_string(listener.port());
  SenderOptions options = ShortTimeouts();
  options.resolve_for_test = {"hooks.example.com:" + port + ":[::1],127.0.0.1"};
  auto guard = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(guard.ok());
  auto sender = WebhookSender::Create("https://hooks.example.com:" + port + "/hook", *guard,
                                      options);
  ASSERT_TRUE(sender.ok());
  SendOutcome outcome = (*sender)->Send(Delivery());
  EXPECT_FALSE(outcome.guard_refused);
  EXPECT_EQ(outcome.status.code(), StatusCode::kUnavailable) << outcome.status.ToString();
  EXPECT_EQ((*sender)->guard_refusals(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GE(listener.accepted(), 1);
}

TEST(WebhookSender, UnreadableCaFileIsRefused) {
  SenderOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(WebhookSender::Create("https://example.com/", AddressGuard(), options).status().code(),
            StatusCode::kInvalidArgument);
}

// The response body is read up to response_size_bytes_max only; the status decides. A receiver
// that accepted the event (2xx) with a longer answer has it: no retry, no duplicate. A 5xx with
// a long answer is still a failure.
TEST(WebhookSender, AnAcceptedDeliveryWithALongAnswerIsADelivery) {
  const crypto::KeyAndCert ca = testing::MakeReceiverCa();
  testing::Receiver receiver(testing::MakeReceiverPair(ca));
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("ca.pem"), ca.cert_pem);
  SenderOptions options = ShortTimeouts();
  options.ca_file = dir.Sub("ca.pem");
  options.response_size_bytes_max = 16;
  auto guard = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(guard.ok());
  auto sender = WebhookSender::Create(receiver.Url(), *guard, options);
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  receiver.set_answer_body(std::string(256 << 10, 'x'));  // far beyond the limit and one read
  SendOutcome accepted = (*sender)->Send(Delivery());
  EXPECT_TRUE(accepted.status.ok()) << accepted.status.ToString();
  EXPECT_EQ(accepted.http_status, 200);
  receiver.set_fail_marker("{}");  // the delivery's body: answered 500 (with the long body)
  SendOutcome failed = (*sender)->Send(Delivery());
  EXPECT_EQ(failed.status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed.http_status, 500);
  EXPECT_EQ(receiver.count(), 2u);
}

}  // namespace
}  // namespace cairn::subscribe
