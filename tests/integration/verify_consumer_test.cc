// The verifying consumer against the real server. A test-only TCP proxy on loopback sits between
// the consumer and a plaintext (h2c) server and flips one byte of a marker string inside an
// event's data as it passes in the gRPC stream (HTTP/2 framing untouched): the consumer stops at
// that event's position, its handler never sees the event, and the server counts the report.
// Through no proxy, the same consumer verifies everything and reports nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <algorithm>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/integrity.grpc.pb.h"
#include "cairn/verifying_subscription.h"
#include "client/event_verifier.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kMarker[] = "TAMPER-MARK-5b1e";
constexpr int kPollSliceMs = 100;
constexpr size_t kProxyConnectionsMax = 8;

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Relays loopback TCP connections to the server; in the server-to-client direction it flips
// one bit of the first occurrence of `marker` (once in total). A match that straddles two reads
// is found too: the last bytes already sent are kept and searched with the next read, and the
// flipped byte is the marker's last, which is always in the read being forwarded.
class TamperProxy {
 public:
  TamperProxy(int server_port, std::string marker) : server_port_(server_port), marker_(std::move(marker)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~TamperProxy() {
    stop_.store(true);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : relays_) t.join();
    close(listen_fd_);
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  bool tampered() const { return tampered_.load(); }

 private:
  void AcceptLoop() {
    while (!stop_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, kPollSliceMs) <= 0) continue;
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = ConnectLoopback(server_port_);
      std::lock_guard<std::mutex> lock(mu_);
      if (server < 0 || relays_.size() >= kProxyConnectionsMax) {
        close(client);
        if (server >= 0) close(server);
        continue;
      }
      relays_.emplace_back([this, client, server] { Relay(client, server); });
    }
  }

  void Relay(int client, int server) {
    std::string tail;  // the last marker_.size() - 1 bytes sent to the client
    char buf[16384];
    bool open = true;
    while (open && !stop_.load()) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, kPollSliceMs) <= 0) continue;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(client, buf, sizeof buf, 0);
        open = n > 0 && SendAll(server, buf, static_cast<size_t>(n));
      }
      if (open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(server, buf, sizeof buf, 0);
        if (n <= 0) break;
        Tamper(buf, static_cast<size_t>(n), &tail);
        open = SendAll(client, buf, static_cast<size_t>(n));
      }
    }
    close(client);
    close(server);
  }

  void Tamper(char* buf, size_t n, std::string* tail) {
    std::string window = *tail + std::string(buf, n);
    if (!tampered_.load()) {
      size_t at = window.find(marker_);
      if (at != std::string::npos) {
        const size_t last = at + marker_.size() - 1 - tail->size();  // index in buf
        buf[last] ^= 0x01;
        tampered_.store(true);
      }
    }
    const size_t keep = std::min(window.size(), marker_.size() - 1);
    *tail = window.substr(window.size() - keep);
  }

  int server_port_;
  std::string marker_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> tampered_{false};
  std::mutex mu_;
  std::vector<std::thread> relays_;  // guarded by mu_
  std::thread acceptor_;
};

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

bool StartPlaintext(ServerEnv& env) {
  env.WriteConfig(Replace(env.ConfigText(), "[tls]\nenabled = true", "[tls]\nenabled = false"));
  return env.server().Start({"--config", env.ConfigPath()});
}

std::unique_ptr<Client> PlaintextClient(const std::string& target, const std::string& token) {
  ClientOptions options;
  options.server = target;
  options.plaintext = true;
  options.token = token;
  options.timeout_ms = 10000;
  return std::move(Client::Connect(options).value());
}

void AppendOne(Client& client, const std::string& stream, const std::string& data) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* event = request.add_events();
  event->set_type("OrderCreated");
  event->set_data(data);
  auto result = client.Append(request);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
}

class VerifyConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
    admin = PlaintextClient(env.server().target(), env.admin_key);
    // The pinned key, obtained out of band: straight from the server, never through the proxy.
    auto vkey = admin->GetVerifierKey();
    ASSERT_TRUE(vkey.ok()) << vkey.status().ToString();
    options.verifier_key = vkey->vkey();
    options.subscription.deadline_ms = 60000;  // a bound on the whole test
    for (int i = 0; i < 3; ++i) AppendOne(*admin, "order-" + std::to_string(i % 2), "{\"i\":" + std::to_string(i) + "}");
  }

  // Subscribes to $all through `target` and hands events to the "handler" (`seen`) until
  // `want` events were seen or Next() fails; returns how it ended.
  Status Consume(VerifyingSubscription& sub, size_t want) {
    while (seen.size() < want) {
      auto message = sub.Next();
      if (!message.ok()) return message.status();
      if (message->has_event()) seen.push_back(message->event().position());
    }
    return Status::Ok();
  }

  uint64_t ViolationReports() {
    auto info = admin->ServerInfo();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? info->integrity_violation_reports() : 0;
  }

  ServerEnv env;
  std::unique_ptr<Client> admin;
  VerifyingSubscriptionOptions options;
  std::vector<uint64_t> seen;
};

v1::SubscribeRequest AllFromStart() {
  v1::SubscribeRequest request;
  request.set_stream("$all");
  request.set_from_position(0);
  return request;
}

TEST_F(VerifyConsumerTest, TamperedEventStopsTheConsumerBeforeTheHandlerAndIsReported) {
  TamperProxy proxy(env.server().grpc_port(), kMarker);
  auto consumer = PlaintextClient(proxy.target(), env.admin_key);
  auto sub = VerifyingSubscription::Start(*consumer, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(Consume(**sub, 3).ok());  // the untampered history, proven
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2}));
  // Live: position 3 carries the marker, position 4 follows it.
  AppendOne(*admin, "order-1", std::string("{\"note\":\"") + kMarker + "\"}");
  AppendOne(*admin, "order-0", "{\"i\":4}");
  Status end = Consume(**sub, 5);
  ASSERT_TRUE(proxy.tampered()) << "the proxy never saw the marker";
  ASSERT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_EQ(end.detail(), 3);
  EXPECT_NE(end.message().find("position 3"), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("data_hash"), std::string::npos) << end.message();
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2})) << "the handler never saw position 3 or later";
  EXPECT_EQ((*sub)->resume_position(), 3u);
  // Later calls keep failing the same way.
  EXPECT_EQ((*sub)->Next().status().detail(), 3);
  EXPECT_EQ(ViolationReports(), 1u);
  sub->reset();
  env.server().Stop();  // collects what the server printed
  const std::string& log = env.server().output();
  EXPECT_NE(log.find("\"message\":\"integrity violation reported\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"cairn.kind\":\"data_hash\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"cairn.position\":\"3\""), std::string::npos) << log;
  EXPECT_EQ(log.find(env.admin_key), std::string::npos) << "a credential in the log";
  EXPECT_EQ(log.find(kMarker), std::string::npos) << "event data in the log";
}

TEST_F(VerifyConsumerTest, SameConsumerWithoutTheProxyVerifiesEverything) {
  auto consumer = PlaintextClient(env.server().target(), env.admin_key);
  auto sub = VerifyingSubscription::Start(*consumer, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(Consume(**sub, 3).ok());
  AppendOne(*admin, "order-1", std::string("{\"note\":\"") + kMarker + "\"}");
  AppendOne(*admin, "order-0", "{\"i\":4}");
  Status end = Consume(**sub, 5);
  ASSERT_TRUE(end.ok()) << end.ToString();
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ((*sub)->stats().inclusion_proofs_checked, 5u);
  EXPECT_GE((*sub)->stats().checkpoints_verified, 2u);
  EXPECT_EQ((*sub)->stats().chain_links_checked, 3u);  // order-1@1, order-0@1, order-0@2
  EXPECT_EQ((*sub)->resume_position(), 5u);
  (*sub)->Cancel();
  EXPECT_EQ(ViolationReports(), 0u);
}

// From the end: a checkpoint is verified before the subscription starts (3 events), so the
// consumer resumes at 3 at once and sees only what is appended later — no false violation.
TEST_F(VerifyConsumerTest, FromTheEndStartsAtAVerifiedCheckpoint) {
  auto consumer = PlaintextClient(env.server().target(), env.admin_key);
  v1::SubscribeRequest request;
  request.set_stream("$all");
  request.set_from_end(true);
  auto sub = VerifyingSubscription::Start(*consumer, request, options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ((*sub)->resume_position(), 3u);
  AppendOne(*admin, "order-1", "{\"i\":3}");
  Status end = Consume(**sub, 1);
  ASSERT_TRUE(end.ok()) << end.ToString();
  EXPECT_EQ(seen, (std::vector<uint64_t>{3}));
  EXPECT_EQ((*sub)->resume_position(), 4u);
  // order-1@1's predecessor (order-1@0, before the start) was read from the server, its link
  // checked and it was proven with the event.
  EXPECT_EQ((*sub)->stats().predecessors_read, 1u);
  EXPECT_EQ((*sub)->stats().chain_links_checked, 1u);
  EXPECT_EQ((*sub)->stats().chain_links_unchecked, 0u);
  EXPECT_EQ((*sub)->stats().inclusion_proofs_checked, 2u);
  (*sub)->Cancel();
  EXPECT_EQ(ViolationReports(), 0u);
}

// `cairn subscribe --verify --checkpoint-file`: the file holds the last verified checkpoint after
// a run, the next run starts from it (and extends it), and a file signed by another key is
// refused at start (exit 2), with no report to the server.
TEST_F(VerifyConsumerTest, TheCliKeepsTheVerifiedCheckpointBetweenRuns) {
  TempDir dir;
  const std::string file = dir.Sub("kept.checkpoint");
  auto run = [&](const std::string& from, const std::string& count) {
    return RunCairn({"subscribe", "$all", "--from", from, "--count", count, "--verify",
                     "--verifier-key", options.verifier_key, "--checkpoint-file", file,
                     "--server", env.server().target(), "--plaintext", "--token", env.admin_key});
  };
  auto first = run("0", "3");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // The note's second line is the tree size.
  auto size_of = [](const std::string& note) {
    const size_t at = note.find('\n') + 1;
    return std::stoull(note.substr(at, note.find('\n', at) - at));
  };
  const std::string kept = ReadFile(file);
  ASSERT_FALSE(kept.empty());
  EXPECT_GE(size_of(kept), 3u) << kept;
  AppendOne(*admin, "order-0", "{\"i\":3}");
  const uint64_t fourth = size_of(kept);  // the new event's position (the log may hold more)
  auto second = run(std::to_string(fourth), "1");
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  const std::string newer = ReadFile(file);
  EXPECT_GT(size_of(newer), size_of(kept)) << newer;

  ServerEnv other;  // a checkpoint signed by another log's key
  ASSERT_TRUE(other.Start()) << other.server().output();
  auto other_admin = other.ClientWith(other.admin_key);
  auto foreign = other_admin->GetCheckpoint();
  ASSERT_TRUE(foreign.ok()) << foreign.status().ToString();
  WriteFile(file, foreign->note());
  auto refused = run("0", "1");
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("--checkpoint-file"), std::string::npos) << refused.err;
  EXPECT_EQ(ViolationReports(), 0u);
}

// CustomerRegistered with /email protected, the subject at /customerId.
constexpr char kEmailRule[] = R"([[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

// A consumer with read.pii sees a protected event decrypted: its data cannot equal what
// data_hash covers (the stored ciphertext), so the server lists the field in `revealed` and sends
// the stored form; the verifier checks that against data_hash and the data against it outside
// /email — no false violation. Without the stored form it skips the comparison. With
// require_verified_data a decrypted plaintext (which no hash covers) is refused, without a report.
TEST(VerifyConsumerProtectedTest, DecryptedFieldsAreListedAndNeverAFalseViolation) {
  ServerEnv env;
  env.extra_config = ProtectRulesConfig(env, kEmailRule);
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  auto admin = PlaintextClient(env.server().target(), env.admin_key);  // has read.pii
  VerifyingSubscriptionOptions options;
  options.verifier_key = admin->GetVerifierKey()->vkey();
  options.subscription.deadline_ms = 60000;
  v1::AppendRequest request;
  request.set_stream("customer-1");
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  // Numbers in spellings a parser would normalise: shown as stored, so compared as spelt.
  e->set_data(R"({"customerId":"alice","email":"alice@example.com","amount":1.50,)"
              R"("e":1E2,"n":9007199254740993,"small":-0.000001e-3})");
  auto appended = admin->Append(request);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();

  auto sub = VerifyingSubscription::Start(*admin, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Result<v1::SubscribeResponse> message = (*sub)->Next();
  while (message.ok() && !message->has_event()) message = (*sub)->Next();
  ASSERT_TRUE(message.ok()) << message.status().ToString();
  EXPECT_NE(message->event().data().find("alice@example.com"), std::string::npos);
  ASSERT_EQ(message->event().revealed_size(), 1);
  EXPECT_EQ(message->event().revealed(0), "/email");
  // Sent with its stored form: checked against data_hash and outside /email, not skipped.
  EXPECT_NE(message->event().stored_data().find("\"$enc\""), std::string::npos);
  EXPECT_EQ(message->event().stored_data().find("alice@example.com"), std::string::npos);
  EXPECT_EQ((*sub)->stats().stored_forms_checked, 1u);
  EXPECT_EQ((*sub)->stats().data_hashes_skipped, 0u);
  EXPECT_EQ((*sub)->stats().inclusion_proofs_checked, 1u);
  (*sub)->Cancel();

  // Without asking for the stored form, the data is not checkable (counted, not refused).
  options.verify_stored_data = false;
  auto unchecked = VerifyingSubscription::Start(*admin, AllFromStart(), options);
  ASSERT_TRUE(unchecked.ok());
  message = (*unchecked)->Next();
  while (message.ok() && !message->has_event()) message = (*unchecked)->Next();
  ASSERT_TRUE(message.ok()) << message.status().ToString();
  EXPECT_TRUE(message->event().stored_data().empty());
  EXPECT_EQ((*unchecked)->stats().data_hashes_skipped, 1u);
  (*unchecked)->Cancel();
  options.verify_stored_data = true;

  options.require_verified_data = true;
  auto strict = VerifyingSubscription::Start(*admin, AllFromStart(), options);
  ASSERT_TRUE(strict.ok());
  message = (*strict)->Next();
  while (message.ok() && !message->has_event()) message = (*strict)->Next();
  ASSERT_FALSE(message.ok()) << "the event must not reach the handler";
  EXPECT_EQ(message.status().code(), StatusCode::kFailedPrecondition) << message.status().ToString();
  EXPECT_EQ(message.status().detail(), 0);
  auto info = admin->ServerInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->integrity_violation_reports(), 0u) << "nothing is known to be wrong";
}

// An event the fast JSON scanner declines (more than 65,536 values) is revealed on the DOM path;
// it still gets its stored form (the decision comes from protect/'s own count of fields stored
// in clear, not from a second scan), so a default verifying consumer checks it instead of
// stopping there.
TEST(VerifyConsumerProtectedTest, AnEventTooLargeForTheScannerStillGetsItsStoredForm) {
  ServerEnv env;
  env.extra_config = ProtectRulesConfig(env, kEmailRule);
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  auto admin = PlaintextClient(env.server().target(), env.admin_key);
  std::string values = "0";
  for (int i = 0; i < 70000; ++i) values += ",1";
  v1::AppendRequest request;
  request.set_stream("customer-2");
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  e->set_data(R"({"customerId":"carol","email":"carol@example.com","values":[)" + values + "]}");
  auto appended = admin->Append(request);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();

  VerifyingSubscriptionOptions options;
  options.verifier_key = admin->GetVerifierKey()->vkey();
  options.subscription.deadline_ms = 60000;
  auto sub = VerifyingSubscription::Start(*admin, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Result<v1::SubscribeResponse> message = (*sub)->Next();
  while (message.ok() && !message->has_event()) message = (*sub)->Next();
  ASSERT_TRUE(message.ok()) << message.status().ToString();
  ASSERT_EQ(message->event().revealed_size(), 1);
  EXPECT_NE(message->event().data().find("carol@example.com"), std::string::npos);
  EXPECT_NE(message->event().stored_data().find("\"$enc\""), std::string::npos);
  EXPECT_EQ((*sub)->stats().stored_forms_checked, 1u);
  EXPECT_EQ((*sub)->stats().data_hashes_skipped, 0u);
  (*sub)->Cancel();
}

// A consumer that may subscribe to a stream but not read it: the server refuses the read of an
// unseen predecessor, the link is counted unchecked, and the next unseen link of that stream is
// not asked for again (one refused read, not one per event).
TEST(VerifyConsumerDeniedReadTest, APredecessorReadTheServerRefusedIsNotAskedForAgain) {
  ServerEnv env;
  std::string policy = ReadFile(env.PolicyPath());
  const std::string grant = R"({ actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["*"] })";
  ASSERT_NE(policy.find(grant), std::string::npos);
  policy.replace(policy.find(grant), grant.size(),
                 R"({ actions = ["subscribe"], streams = ["order-*"], event_types = ["*"] },
  { actions = ["proof"], streams = ["*"], event_types = ["*"] })");
  WriteFile(env.PolicyPath(), policy);
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  auto admin = PlaintextClient(env.server().target(), env.admin_key);
  auto append = [&](const std::string& type) {
    v1::AppendRequest request;
    request.set_stream("order-7");
    auto* e = request.add_events();
    e->set_type(type);
    e->set_data("{}");
    ASSERT_TRUE(admin->Append(request).ok());
  };
  // Versions 0..4: the consumer filters on OrderCreated, so it never sees 1 and 3.
  for (const char* type : {"OrderCreated", "OrderCancelled", "OrderCreated", "OrderCancelled", "OrderCreated"}) {
    append(type);
  }
  auto scrape = [&] { return ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics"))); };
  const PromExposition before = scrape();

  auto bot = PlaintextClient(env.server().target(), env.bot_key);
  VerifyingSubscriptionOptions options;
  options.verifier_key = admin->GetVerifierKey()->vkey();
  options.subscription.deadline_ms = 60000;
  v1::SubscribeRequest request;
  request.set_stream("order-7");
  request.mutable_filter()->add_event_types("OrderCreated");
  auto sub = VerifyingSubscription::Start(*bot, request, options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  std::vector<uint64_t> versions;
  while (versions.size() < 3) {
    auto message = (*sub)->Next();
    ASSERT_TRUE(message.ok()) << message.status().ToString();
    if (message->has_event()) versions.push_back(message->event().version());
  }
  EXPECT_EQ(versions, (std::vector<uint64_t>{0, 2, 4}));
  EXPECT_EQ((*sub)->stats().chain_links_unchecked, 2u);  // 2 and 4: predecessors not readable
  EXPECT_EQ((*sub)->stats().predecessors_read, 0u);
  EXPECT_EQ((*sub)->stats().inclusion_proofs_checked, 3u);
  (*sub)->Cancel();

  const PromExposition after = scrape();
  const double b = before.Value("cairn_denials_total", {{"action", "read"}});
  EXPECT_EQ(after.Value("cairn_denials_total", {{"action", "read"}}) - (std::isnan(b) ? 0 : b), 1)
      << "the second unseen link of the stream was asked for again";

  // The CLI says how many links went unchecked, and --require-chain-links stops at the first.
  auto cli = [&](bool require) {
    std::vector<std::string> args = {"subscribe", "order-7", "--filter-type", "OrderCreated",
                                     "--count", "3", "--verify", "--verifier-key",
                                     options.verifier_key, "--server", env.server().target(),
                                     "--plaintext", "--token", env.bot_key};
    if (require) args.push_back("--require-chain-links");
    return RunCairn(args);
  };
  auto counted = cli(false);
  ASSERT_EQ(counted.exit_code, 0) << counted.out << counted.err;
  EXPECT_NE(counted.err.find("2 unchecked"), std::string::npos) << counted.err;
  auto required = cli(true);
  EXPECT_NE(required.exit_code, 0) << required.out << required.err;
  EXPECT_LE(std::count(required.out.begin(), required.out.end(), '\n'), 1) << required.out;
  EXPECT_NE(required.err.find("chain link of the event"), std::string::npos) << required.err;
}

// The stored form never shows a reader a plaintext its mask hides: an event written before a
// rule covered a field has that field in clear in its stored form, so a reader without read.pii
// gets it masked and no stored form; an event written under the rule gets its stored form.
TEST(VerifyConsumerProtectedTest, AFieldMaskedByALaterRuleIsNeverSentInTheStoredForm) {
  ServerEnv env;
  env.extra_config = ProtectRulesConfig(env, kEmailRule);
  // ci-bot (no read.pii) may also fetch proofs here, to verify what it receives.
  std::string policy = ReadFile(env.PolicyPath());
  const std::string grant = R"({ actions = ["read", "subscribe"], streams = ["order-*"])";
  ASSERT_NE(policy.find(grant), std::string::npos);
  policy.replace(policy.find(grant), grant.size(),
                 R"({ actions = ["read", "subscribe", "proof"], streams = ["order-*", "*"])");
  WriteFile(env.PolicyPath(), policy);
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  auto append = [&](const std::string& data) {
    auto admin = PlaintextClient(env.server().target(), env.admin_key);
    v1::AppendRequest request;
    request.set_stream("order-9");
    auto* e = request.add_events();
    e->set_type("CustomerRegistered");
    e->set_data(data);
    ASSERT_TRUE(admin->Append(request).ok());
  };
  append(R"({"customerId":"alice","email":"alice@example.com","phone":"+47-5550101"})");
  env.server().Stop();
  ProtectRulesConfig(env, R"([[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/phone"]
)");
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  append(R"({"customerId":"bob","email":"bob@example.com","phone":"+47-5550202"})");

  auto bot = PlaintextClient(env.server().target(), env.bot_key);  // no read.pii
  v1::SubscribeRequest request;
  request.set_stream("order-9");
  request.set_include_stored_data(true);
  auto sub = Subscription::Start(*bot, request);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  std::vector<v1::RecordedEvent> events;
  while (events.size() < 2) {
    auto message = (*sub)->Next();
    ASSERT_TRUE(message.ok()) << message.status().ToString();
    if (message->has_event()) events.push_back(message->event());
  }
  (*sub)->Cancel();
  ASSERT_EQ(events[0].masked_size(), 2);  // /email encrypted, /phone masked in clear
  EXPECT_TRUE(events[0].stored_data().empty()) << "the stored form shows the phone in clear";
  EXPECT_EQ(events[0].data().find("5550101"), std::string::npos);
  ASSERT_EQ(events[1].masked_size(), 2);
  EXPECT_FALSE(events[1].stored_data().empty());
  EXPECT_EQ(events[1].stored_data().find("5550202"), std::string::npos);
  EXPECT_EQ(events[1].stored_data().find("bob@example.com"), std::string::npos);

  // A verifying consumer cannot check the first event's data: by default it stops there (an
  // altered response could claim masked fields and drop the stored form), without a report;
  // with accept_missing_stored_form it passes it unchecked, counted.
  VerifyingSubscriptionOptions options;
  options.verifier_key = bot->GetVerifierKey()->vkey();
  options.subscription.deadline_ms = 60000;
  auto strict = VerifyingSubscription::Start(*bot, request, options);
  ASSERT_TRUE(strict.ok()) << strict.status().ToString();
  auto message = (*strict)->Next();
  while (message.ok() && !message->has_event()) message = (*strict)->Next();
  ASSERT_FALSE(message.ok()) << "an event whose data cannot be checked reached the handler";
  EXPECT_EQ(message.status().code(), StatusCode::kFailedPrecondition) << message.status().ToString();
  EXPECT_NE(message.status().message().find("without its stored form"), std::string::npos);
  EXPECT_EQ(message.status().detail(), 0);
  (*strict)->Cancel();
  options.accept_missing_stored_form = true;
  auto lenient = VerifyingSubscription::Start(*bot, request, options);
  ASSERT_TRUE(lenient.ok()) << lenient.status().ToString();
  size_t seen = 0;
  while (seen < 2) {
    auto next = (*lenient)->Next();
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (next->has_event()) ++seen;
  }
  EXPECT_EQ((*lenient)->stats().data_hashes_skipped, 1u);
  EXPECT_EQ((*lenient)->stats().stored_forms_checked, 1u);
  (*lenient)->Cancel();

  // The CLI never shows such an event as verified: it is flagged on stderr, and counted.
  auto cli = RunCairn({"subscribe", "order-9", "--count", "2", "--verify", "--verifier-key",
                       options.verifier_key, "--accept-unchecked-data", "--server",
                       env.server().target(), "--plaintext", "--token", env.bot_key});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_NE(cli.err.find("event at position " + std::to_string(events[0].position()) +
                         ": its data is NOT verified"),
            std::string::npos)
      << cli.err;
  EXPECT_EQ(cli.err.find("position " + std::to_string(events[1].position()) + ":"),
            std::string::npos)
      << cli.err;
  EXPECT_NE(cli.err.find("data unchecked: 1"), std::string::npos) << cli.err;
}

// Integrity.GetInclusionProofs: the same proofs as one GetInclusionProof call each, in the
// request's order and in one tree; bounded, checked and refused without `proof` like the others.
TEST_F(VerifyConsumerTest, InclusionProofsInOneCallEqualTheSingleProofs) {
  auto batch = admin->GetInclusionProofs({2, 0, 2}, 0);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->proofs_size(), 3);
  const std::vector<uint64_t> asked = {2, 0, 2};
  for (int i = 0; i < 3; ++i) {
    auto single = admin->GetInclusionProof(asked[static_cast<size_t>(i)], 3);
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    EXPECT_EQ(batch->proofs(i).SerializeAsString(), single->SerializeAsString()) << "proof " << i;
  }
  auto at_two = admin->GetInclusionProofs({0, 1}, 2);
  ASSERT_TRUE(at_two.ok()) << at_two.status().ToString();
  EXPECT_EQ(at_two->proofs(1).size(), 2u);
  EXPECT_EQ(at_two->proofs(1).index(), 1u);

  EXPECT_EQ(admin->GetInclusionProofs({}, 0).status().code(), StatusCode::kInvalidArgument);
  std::vector<uint64_t> too_many(1001, 0);
  auto refused = admin->GetInclusionProofs(too_many, 0);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("1 to 1000 positions"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(admin->GetInclusionProofs(std::vector<uint64_t>(1000, 1), 0).ok()) << "the limit itself";
  EXPECT_EQ(admin->GetInclusionProofs({0, 3}, 0).status().code(), StatusCode::kInvalidArgument)
      << "a position beyond the log";
  EXPECT_EQ(admin->GetInclusionProofs({0}, 10).status().code(), StatusCode::kInvalidArgument)
      << "a tree beyond the log";
  auto bot = PlaintextClient(env.server().target(), env.bot_key);  // no `proof`
  EXPECT_EQ(bot->GetInclusionProofs({0}, 0).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(PlaintextClient(env.server().target(), "")->GetInclusionProofs({0}, 0).status().code(),
            StatusCode::kUnauthenticated);
}

// A verifying consumer of 2,500 events asks for their proofs in a few calls, not one per event.
TEST_F(VerifyConsumerTest, ABigCatchUpIsProvenInBatches) {
  for (int b = 0; b < 5; ++b) {
    v1::AppendRequest request;
    request.set_stream("bulk-" + std::to_string(b));
    for (int i = 0; i < 500; ++i) {
      auto* event = request.add_events();
      event->set_type("Bulk");
      event->set_data("{\"i\":" + std::to_string(i) + "}");
    }
    ASSERT_TRUE(admin->Append(request).ok());
  }
  auto consumer = PlaintextClient(env.server().target(), env.admin_key);
  auto sub = VerifyingSubscription::Start(*consumer, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(Consume(**sub, 2503).ok());
  const VerifierStats& stats = (*sub)->stats();
  EXPECT_EQ(stats.inclusion_proofs_checked, 2503u);
  EXPECT_GE(stats.inclusion_proof_calls, 3u);
  EXPECT_LE(stats.inclusion_proof_calls, stats.checkpoints_verified + 3) << "one call per checkpoint's batch";
  (*sub)->Cancel();
  EXPECT_EQ(ViolationReports(), 0u);
}

// An older server without the batch call: the client's source proves one position per call, and
// asks the batch call only once.
TEST(VerifyConsumerSourceTest, AgainstAServerWithoutTheBatchCallProofsComeOneByOne) {
  struct OlderIntegrity final : v1::Integrity::Service {
    grpc::Status GetInclusionProof(grpc::ServerContext*, const v1::InclusionProofRequest* request,
                                   v1::InclusionProof* response) override {
      ++singles;
      response->set_index(request->index());
      response->set_size(request->size());
      return grpc::Status::OK;
    }
    grpc::Status GetInclusionProofs(grpc::ServerContext*, const v1::InclusionProofsRequest*,
                                    v1::InclusionProofs*) override {
      ++batches;
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
    }
    std::atomic<int> singles{0}, batches{0};
  } older;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&older);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto client = PlaintextClient("127.0.0.1:" + std::to_string(port), "");
  auto source = IntegritySourceFor(client.get());
  for (int round = 0; round < 2; ++round) {
    auto proofs = source->GetInclusionProofs({4, 7}, 9);
    ASSERT_TRUE(proofs.ok()) << proofs.status().ToString();
    ASSERT_EQ(proofs->size(), 2u);
    EXPECT_EQ((*proofs)[1].index(), 7u);
  }
  EXPECT_EQ(older.singles.load(), 4);
  EXPECT_EQ(older.batches.load(), 1) << "UNIMPLEMENTED is remembered";
  server->Shutdown();
}

// A server whose message limit is smaller than a full batch's answer: the batch call fails with
// RESOURCE_EXHAUSTED, and the client's source asks again in halves until the answers fit.
TEST(VerifyConsumerSourceTest, ASmallMessageLimitIsMetByAskingInHalves) {
  ServerEnv env;
  env.extra_config = "[limits]\nmax_message_bytes = 8192\n";
  ASSERT_TRUE(StartPlaintext(env)) << env.server().output();
  auto admin = PlaintextClient(env.server().target(), env.admin_key);
  for (int i = 0; i < 3; ++i) AppendOne(*admin, "order-" + std::to_string(i), "{}");
  std::vector<uint64_t> positions;
  for (uint64_t i = 0; i < 1000; ++i) positions.push_back(i % 3);
  EXPECT_EQ(admin->GetInclusionProofs(positions, 3).status().code(), StatusCode::kResourceExhausted)
      << "one answer of 1,000 proofs is larger than the limit";
  auto proofs = IntegritySourceFor(admin.get())->GetInclusionProofs(positions, 3);
  ASSERT_TRUE(proofs.ok()) << proofs.status().ToString();
  ASSERT_EQ(proofs->size(), positions.size());
  for (uint64_t i = 0; i < 3; ++i) {
    auto single = admin->GetInclusionProof(i, 3);
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    EXPECT_EQ((*proofs)[i].SerializeAsString(), single->SerializeAsString());
  }
  for (size_t k = 0; k < positions.size(); ++k) {
    ASSERT_EQ((*proofs)[k].index(), positions[k]) << "in the order asked, at " << k;
  }
}

TEST_F(VerifyConsumerTest, WrongPinnedKeyStopsBeforeAnyEventAndIsReported) {
  ServerEnv other;  // another log's key (other origin, other key)
  auto other_key = RunCairn({"vkey", "--data-dir", other.DataDir()});
  ASSERT_EQ(other_key.exit_code, 0) << other_key.err;
  options.verifier_key = other_key.out.substr(0, other_key.out.find('\n'));
  auto consumer = PlaintextClient(env.server().target(), env.admin_key);
  auto sub = VerifyingSubscription::Start(*consumer, AllFromStart(), options);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Status end = Consume(**sub, 3);
  ASSERT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_NE(end.message().find("pinned verifier key"), std::string::npos) << end.message();
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(ViolationReports(), 1u);
}

TEST_F(VerifyConsumerTest, ReportViolationIsValidatedAuthorizedAndRateLimited) {
  auto report = [&](Client& client, v1::ViolationReport r) {
    // Through the verifier's own source: the same call a consumer makes.
    return IntegritySourceFor(&client)->ReportViolation(r);
  };
  v1::ViolationReport good;
  good.set_kind(v1::VIOLATION_DATA_HASH);
  good.set_position(1);
  good.set_stream("order-1");
  v1::ViolationReport bad = good;
  bad.set_checkpoint_size(5);  // without a 32-byte root
  EXPECT_EQ(report(*admin, bad).code(), StatusCode::kInvalidArgument);
  bad = good;
  bad.set_kind(v1::VIOLATION_KIND_UNSPECIFIED);
  EXPECT_EQ(report(*admin, bad).code(), StatusCode::kInvalidArgument);
  bad = good;
  bad.set_detail(std::string(300, 'x'));
  EXPECT_EQ(report(*admin, bad).code(), StatusCode::kInvalidArgument);
  // ci-bot may read order-* but has no `proof`: it may report about order-1, not about others.
  auto bot = PlaintextClient(env.server().target(), env.bot_key);
  EXPECT_TRUE(report(*bot, good).ok());
  bad = good;
  bad.set_stream("payments-1");
  EXPECT_EQ(report(*bot, bad).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(report(*PlaintextClient(env.server().target(), ""), good).code(),
            StatusCode::kUnauthenticated);
  // The limit: 10 a minute per principal; the bot has used one.
  int accepted = 1;
  Status last;
  for (int i = 0; i < 20 && last.ok(); ++i) {
    last = report(*bot, good);
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(accepted, 10);
  EXPECT_TRUE(report(*admin, good).ok()) << "the limit is per principal";
  EXPECT_EQ(ViolationReports(), 11u);
}

}  // namespace
}  // namespace cairn::testing
