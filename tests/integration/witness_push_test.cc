// C2SP tlog-witness end to end, all real processes: `cairn witness serve` witnesses and a
// `cairn serve` with [[witness]] that pushes its checkpoints to them. The server's checkpoints get
// cosigned and served (/checkpoint/cosigned, /checkpoint) so that `cairn witness verify` accepts
// them; a witness that was down catches up from the size it kept, a restarted server learns the
// witnesses' sizes from their 409s; a witness refuses other logs, malformed bodies and rollbacks,
// and one state directory serves one witness.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <thread>

#include "auth/http_fetch.h"
#include "crypto/x509.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/witness.h"
#include "loopback_http.h"
#include "server_env.h"
#include "server_process.h"
#include "test_util.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kWitnessReady[] = R"(witness listening on port (\d+))";

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

class WitnessPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto vkey = RunCairn({"vkey", "--data-dir", env.DataDir()});
    ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
    log_key = FirstLine(vkey.out);
    for (int i = 0; i < 2; ++i) {
      const std::string name = "witness.test/w" + std::to_string(i + 1);
      auto made = RunCairn({"witness", "keygen", "--name", name, "--out", KeyFile(i)});
      ASSERT_EQ(made.exit_code, 0) << made.err;
      witness_keys[i] = FirstLine(made.out);
      ASSERT_TRUE(StartWitness(i)) << witnesses[i].output();
    }
  }

  std::string KeyFile(int i) const { return wdir.Sub("w" + std::to_string(i) + ".key"); }
  std::string StateDir(int i) const { return wdir.Sub("state" + std::to_string(i)); }
  bool StartWitness(int i, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"witness", "serve", "--key-file", KeyFile(i), "--log-key",
                                     log_key, "--state-dir", StateDir(i), "--listen",
                                     "127.0.0.1:" + std::to_string(witness_ports[i])};
    args.insert(args.end(), extra.begin(), extra.end());
    return witnesses[i].StartCommand(args, kWitnessReady);
  }
  std::string WitnessConfig() {
    std::string toml;
    for (int i = 0; i < 2; ++i) {
      witness_ports[i] = witnesses[i].grpc_port();
      toml += "\n[[witness]]\nkey = \"" + witness_keys[i] + "\"\nurl = \"http://127.0.0.1:" +
              std::to_string(witness_ports[i]) + "/\"\n";
    }
    return toml;
  }
  void Append(int n) {
    auto client = env.ClientWith(env.admin_key);
    for (int i = 0; i < n; ++i) {
      v1::AppendRequest request;
      request.set_stream("orders-1");
      request.add_events()->set_type("OrderCreated");
      request.mutable_events(0)->set_data("{}");
      ASSERT_TRUE(client->Append(request).ok());
    }
  }
  integrity::NoteVerifier WitnessVerifier(int i) const {
    return integrity::ParseVerifierKey(witness_keys[i], integrity::kCosignatureAlgorithmEd25519)
        .value();
  }
  // Polls /checkpoint/cosigned until it is of `size` and cosigned by the witnesses `want`.
  std::string WaitCosigned(uint64_t size, std::vector<int> want, int timeout_ms = 20000) {
    const auto log = integrity::ParseVerifierKey(log_key).value();
    std::string note;
    for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += 100) {
      note = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint/cosigned"));
      auto checkpoint = integrity::VerifyCheckpoint(note, log);
      bool all = checkpoint.ok() && checkpoint->size == size;
      for (int i : want) all = all && integrity::VerifyCosignature(note, WitnessVerifier(i)).ok();
      if (all) return note;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "not cosigned at size " << size << " in time; last: " << note << "\n"
                  << env.server().output();
    return note;
  }

  ServerEnv env;
  TempDir wdir;
  std::string log_key;
  std::string witness_keys[2];
  int witness_ports[2] = {0, 0};
  ServerProcess witnesses[2];
};

TEST_F(WitnessPushTest, TheServersCheckpointsGetCosignedAndAClientChecksThem) {
  env.extra_config = WitnessConfig();
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(3);
  const std::string cosigned = WaitCosigned(3, {0, 1});
  WriteFile(wdir.Sub("cosigned.note"), cosigned);
  auto verified = RunCairn({"witness", "verify", "--note-file", wdir.Sub("cosigned.note"),
                            "--verifier-key", log_key, "--witness-key", witness_keys[0],
                            "--witness-key", witness_keys[1]});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  // Witness 2 down: new checkpoints are cosigned by witness 1 only; it catches up when back,
  // from the size it kept (3), with a consistency proof.
  witnesses[1].Stop();
  Append(2);
  const std::string one = WaitCosigned(5, {0});
  EXPECT_FALSE(integrity::VerifyCosignature(one, WitnessVerifier(1)).ok());
  // The pusher asks witness 2 right after witness 1: its failure shows within a round.
  const std::regex w2_failed(R"(cairn_witness_failures\{witness="witness.test/w2"\} [1-9])");
  std::string metrics;
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 100) {
    metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
    if (std::regex_search(metrics, w2_failed)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(metrics.find("cairn_witness_cosigned_size{witness=\"witness.test/w1\"} 5"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cairn_witness_cosigned_size{witness=\"witness.test/w2\"} 3"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cairn_witness_failures{witness=\"witness.test/w1\"} 0"),
            std::string::npos) << metrics;
  EXPECT_TRUE(std::regex_search(metrics, w2_failed)) << "its failed call is counted: " << metrics;
  ASSERT_TRUE(StartWitness(1)) << witnesses[1].output();
  Append(1);
  WaitCosigned(6, {0, 1}, 70000);  // within the server's backoff for it (doubling up to 60 s)
  // /checkpoint carries the cosignatures collected for the latest checkpoint.
  const std::string latest = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint"));
  EXPECT_TRUE(integrity::VerifyCosignature(latest, WitnessVerifier(0)).ok()) << latest;

  // A restarted server does not know the witnesses' sizes: their 409s tell it.
  ASSERT_EQ(env.server().Stop(), 0);
  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  Append(4);
  WaitCosigned(10, {0, 1});
}

// `cairn witness serve --tls-cert --tls-key [--tls-client-ca]`: the server pushes over HTTPS to a
// witness whose certificate its [[witness]] ca_file vouches for, presenting its client_cert where
// the witness requires one, and to no witness it cannot verify.
TEST_F(WitnessPushTest, AWitnessOverHttpsCosignsOnlyForAServerThatTrustsItsCertificate) {
  // Both witnesses serve the dev server certificate (127.0.0.1, issued by the dev CA); the first
  // requires client certificates of the dev CA.
  const std::vector<std::string> tls = {"--tls-cert", env.DataDir() + "/dev/server.crt",
                                        "--tls-key", env.DataDir() + "/dev/server.key"};
  for (int i = 0; i < 2; ++i) {
    witnesses[i].Stop();
    witness_ports[i] = 0;
    std::vector<std::string> args = tls;
    if (i == 0) args.insert(args.end(), {"--tls-client-ca", env.CaCert()});
    ASSERT_TRUE(StartWitness(i, args)) << witnesses[i].output();
    witness_ports[i] = witnesses[i].grpc_port();
  }
  crypto::CertRequest request;
  request.common_name = "the log";
  request.usage = crypto::CertRequest::Usage::kClient;
  request.not_before_unix_s = static_cast<int64_t>(std::time(nullptr)) - 60;
  request.not_after_unix_s = request.not_before_unix_s + 3600;
  const crypto::KeyAndCert client = crypto::IssueCertificate(env.dev_ca, request).value();
  WriteFile(wdir.Sub("log-client.crt"), client.cert_pem);
  ASSERT_TRUE(crypto::WritePrivateFile(wdir.Sub("log-client.key"), client.key_pem).ok());
  WriteFile(wdir.Sub("other-ca.pem"), env.other_ca.cert_pem);
  const std::string ca_files[2] = {env.CaCert(), wdir.Sub("other-ca.pem")};
  for (int i = 0; i < 2; ++i) {
    env.extra_config += "\n[[witness]]\nkey = \"" + witness_keys[i] + "\"\nurl = \"https://127.0.0.1:" +
                        std::to_string(witness_ports[i]) + "/\"\nca_file = \"" + ca_files[i] + "\"\n";
    if (i == 0) {
      env.extra_config += "client_cert = \"" + wdir.Sub("log-client.crt") + "\"\nclient_key = \"" +
                          wdir.Sub("log-client.key") + "\"\n";
    }
  }
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(2);
  const std::string note = WaitCosigned(2, {0});
  EXPECT_FALSE(integrity::VerifyCosignature(note, WitnessVerifier(1)).ok())
      << "pushed to a witness whose certificate it cannot verify";
  const std::regex w2_failed(R"(cairn_witness_failures\{witness="witness.test/w2"\} [1-9])");
  std::string metrics;
  for (int waited_ms = 0; waited_ms < 5000 && !std::regex_search(metrics, w2_failed); waited_ms += 100) {
    metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(std::regex_search(metrics, w2_failed)) << metrics;
  // The witness speaks nothing but TLS, and the first one only to holders of a client certificate.
  const std::string plain = HttpGet(witness_ports[0], "/healthz");
  EXPECT_EQ(plain.find("HTTP/1."), std::string::npos) << plain;
  auth::HttpGetOptions https;
  https.ca_pem = ReadFile(env.CaCert());
  const std::string health = "https://127.0.0.1:" + std::to_string(witness_ports[0]) + "/healthz";
  EXPECT_FALSE(auth::HttpGet(health, https).ok()) << "served without a client certificate";
  https.client_cert_pem = client.cert_pem;
  https.client_key_pem = client.key_pem;
  auto with_cert = auth::HttpGet(health, https);
  EXPECT_TRUE(with_cert.ok()) << with_cert.status().ToString();
  // Half a TLS setting is a usage error.
  ServerProcess half;
  EXPECT_FALSE(half.StartCommand({"witness", "serve", "--key-file", KeyFile(0), "--log-key", log_key,
                                  "--state-dir", wdir.Sub("half"), "--listen", "127.0.0.1:0",
                                  "--tls-cert", env.DataDir() + "/dev/server.crt"},
                                 kWitnessReady, 5000));
  EXPECT_NE(half.output().find("--tls-cert and --tls-key go together"), std::string::npos)
      << half.output();
}

// The cosigned checkpoint outlives a restart: with every witness down, the restarted server
// serves the one its previous run collected, and a verifying consumer that needs both witnesses
// proves the events it covers.
TEST_F(WitnessPushTest, ARestartedServerServesTheLastCosignedCheckpointWhileTheWitnessesAreDown) {
  env.extra_config = WitnessConfig();
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(3);
  const std::string cosigned = WaitCosigned(3, {0, 1});
  ASSERT_EQ(env.server().Stop(), 0);  // kept by the round that published it, or by the stop
  witnesses[0].Stop();
  witnesses[1].Stop();
  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  Append(2);  // new checkpoints that nobody cosigns
  const std::string served = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint/cosigned"));
  EXPECT_EQ(served, cosigned);
  auto over_grpc = env.ClientWith(env.admin_key)->GetCosignedCheckpoint();
  ASSERT_TRUE(over_grpc.ok()) << over_grpc.status().ToString();
  EXPECT_EQ(over_grpc->note(), cosigned);
  auto consumer = RunCairn({"subscribe", "$all", "--count", "3", "--verify", "--verifier-key",
                            log_key, "--server", env.server().target(), "--ca", env.CaCert(),
                            "--token", env.admin_key, "--witness-key", witness_keys[0],
                            "--witness-key", witness_keys[1]});
  EXPECT_EQ(consumer.exit_code, 0) << consumer.out << consumer.err;
  EXPECT_EQ(std::count(consumer.out.begin(), consumer.out.end(), '\n'), 3) << consumer.out;
  // Back up, the witnesses cosign the log's latest checkpoint, from the size they kept.
  ASSERT_TRUE(StartWitness(0)) << witnesses[0].output();
  ASSERT_TRUE(StartWitness(1)) << witnesses[1].output();
  WaitCosigned(5, {0, 1}, 70000);  // within the server's backoff (doubling up to 60 s)
}

// `cairn subscribe --verify --witness-key …`: events are proven in checkpoints the witnesses
// cosigned; a quorum the witnesses do not reach ends the run (fail closed, no violation).
TEST_F(WitnessPushTest, AVerifyingConsumerRequiresTheWitnessesCosignatures) {
  env.extra_config = WitnessConfig();
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(3);
  WaitCosigned(3, {0, 1});
  auto over_grpc = env.ClientWith(env.admin_key)->GetCosignedCheckpoint();
  ASSERT_TRUE(over_grpc.ok()) << over_grpc.status().ToString();
  EXPECT_EQ(over_grpc->size(), 3u);
  EXPECT_TRUE(integrity::VerifyCosignature(over_grpc->note(), WitnessVerifier(1)).ok());
  auto subscribe = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"subscribe", "$all", "--count", "3", "--verify",
                                     "--verifier-key", log_key, "--server", env.server().target(),
                                     "--ca", env.CaCert(), "--token", env.admin_key};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCairn(args);
  };
  auto both = subscribe({"--witness-key", witness_keys[0], "--witness-key", witness_keys[1]});
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
  EXPECT_NE(both.err.find("witness cosignatures checked: 2"), std::string::npos) << both.err;
  EXPECT_EQ(std::count(both.out.begin(), both.out.end(), '\n'), 3) << both.out;

  // A third witness the server does not push to: a quorum of 3 is never reached.
  auto third = RunCairn({"witness", "keygen", "--name", "witness.test/w3", "--out",
                         wdir.Sub("w3.key")});
  ASSERT_EQ(third.exit_code, 0);
  auto short_of = subscribe({"--witness-key", witness_keys[0], "--witness-key", witness_keys[1],
                             "--witness-key", FirstLine(third.out)});
  EXPECT_NE(short_of.exit_code, 0);
  EXPECT_NE(short_of.err.find("the last one fetched had 2 cosignatures, 3 needed"), std::string::npos)
      << short_of.err;
  EXPECT_EQ(short_of.err.find("violation"), std::string::npos) << short_of.err;
  EXPECT_EQ(short_of.out, "") << "nothing unproven is printed";
  auto from_end = subscribe({"--from", "end", "--witness-key", witness_keys[0], "--witness-key",
                             witness_keys[1], "--witness-key", FirstLine(third.out)});
  EXPECT_NE(from_end.exit_code, 0);
  EXPECT_NE(from_end.exit_code, 2) << "not a usage error: " << from_end.err;
  EXPECT_NE(from_end.err.find("no checkpoint with enough witness cosignatures to start from the end"),
            std::string::npos)
      << from_end.err;
  // Two of the three suffice with --witnesses-min 2; a repeated key or a log key is refused.
  EXPECT_EQ(subscribe({"--witness-key", witness_keys[0], "--witness-key", witness_keys[1],
                       "--witness-key", FirstLine(third.out), "--witnesses-min", "2"})
                .exit_code,
            0);
  EXPECT_EQ(subscribe({"--witness-key", witness_keys[0], "--witness-key", witness_keys[0]}).exit_code,
            2);
  EXPECT_EQ(subscribe({"--witness-key", log_key}).exit_code, 2);
}

// While the log grows, cosigned checkpoints lag the latest and each new one gathers its
// cosignatures: a consumer requiring both witnesses keeps going (from the start and from the
// end), and every event it prints is proven.
TEST_F(WitnessPushTest, AQuorumConsumerKeepsUpWithAGrowingLog) {
  env.extra_config = WitnessConfig();
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(2);
  WaitCosigned(2, {0, 1});
  // Appends every 100 ms until both consumers are done (bounded: at most 1,200 events).
  constexpr int kEvents = 30;
  std::atomic<bool> consumers_done{false};
  std::thread appender([&] {
    for (int i = 0; i < 1200 && !consumers_done.load(); ++i) {
      Append(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto run = [&](const std::string& from, int count) {
    return RunCairn({"subscribe", "$all", "--from", from, "--count", std::to_string(count),
                     "--verify", "--verifier-key", log_key, "--witness-key", witness_keys[0],
                     "--witness-key", witness_keys[1], "--server", env.server().target(), "--ca",
                     env.CaCert(), "--token", env.admin_key});
  };
  CommandResult from_end;
  std::thread tail([&] { from_end = run("end", 5); });
  const CommandResult from_start = run("0", 2 + kEvents);
  tail.join();
  consumers_done.store(true);
  appender.join();
  EXPECT_EQ(from_start.exit_code, 0) << from_start.err;
  EXPECT_EQ(std::count(from_start.out.begin(), from_start.out.end(), '\n'), 2 + kEvents);
  EXPECT_NE(from_start.err.find("witness cosignatures checked"), std::string::npos);
  EXPECT_EQ(from_end.exit_code, 0) << from_end.err;
  EXPECT_EQ(std::count(from_end.out.begin(), from_end.out.end(), '\n'), 5) << from_end.out;
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"(cairn_integrity_violations_total\{source="report"\} 0\b)")))
      << "no consumer reported a violation: " << metrics;
}

TEST_F(WitnessPushTest, AWitnessRefusesOtherLogsBadBodiesAndRollbacksAndKeepsItsState) {
  ASSERT_TRUE(env.Start()) << env.server().output();
  Append(2);
  std::string note;
  for (int waited_ms = 0; waited_ms < 5000 && note.find("\n2\n") == std::string::npos;
       waited_ms += 100) {  // the checkpointer signs the new tree within about a second
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    note = HttpBody(HttpGet(env.server().admin_port(), "/checkpoint"));
  }
  ASSERT_NE(note.find("\n2\n"), std::string::npos) << note;
  EXPECT_EQ(HttpGet(env.server().admin_port(), "/checkpoint/cosigned").find("HTTP/1.1 404 "), 0u)
      << "no witnesses configured";
  EXPECT_EQ(env.ClientWith(env.admin_key)->GetCosignedCheckpoint().status().code(),
            StatusCode::kFailedPrecondition);
  const std::string url = "http://127.0.0.1:" + std::to_string(witnesses[0].grpc_port()) +
                          "/add-checkpoint";
  auto post = [&](const std::string& body) {
    auto reply = auth::HttpPost(url, "text/plain", body, auth::HttpGetOptions{});
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? std::move(reply).value() : auth::HttpReply{};
  };
  auto first = post("old 0\n\n" + note);
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(integrity::VerifyCosignature(note + first.body, WitnessVerifier(0)).ok());
  EXPECT_EQ(post("old 0\n\n" + note).status, 409) << "it has cosigned size 2 already";
  EXPECT_EQ(post("old 0\n" + note).status, 400);
  EXPECT_EQ(post("no checkpoint at all").status, 400);

  // Another log's checkpoint: 404 (not followed).
  TempDir other;
  ASSERT_EQ(RunCairn({"init", "--data-dir", other.Sub("d")}).exit_code, 0);
  auto other_note = RunCairn({"checkpoint", "--data-dir", other.Sub("d")});
  ASSERT_EQ(other_note.exit_code, 0) << other_note.err;
  EXPECT_EQ(post("old 0\n\n" + other_note.out).status, 404);
  // This log's origin and key id with a signature that does not verify: 403.
  std::string forged = note;
  char& c = forged[forged.rfind(' ') + 20];  // inside the signature, past the key id's 4 bytes
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(post("old 2\n\n" + forged).status, 403);

  // The state survives a restart: the witness says it holds size 2; a second process on the
  // same state directory is refused.
  ServerProcess second;
  EXPECT_FALSE(second.StartCommand({"witness", "serve", "--key-file", KeyFile(0), "--log-key",
                                    log_key, "--state-dir", StateDir(0), "--listen",
                                    "127.0.0.1:0"},
                                   kWitnessReady, 5000));
  EXPECT_NE(second.output().find("another witness serves the state directory"), std::string::npos)
      << second.output();
  witness_ports[0] = witnesses[0].grpc_port();
  witnesses[0].Stop();
  ASSERT_TRUE(StartWitness(0)) << witnesses[0].output();
  auto conflict = post("old 0\n\n" + note);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.content_type, integrity::kTlogSizeContentType);
  EXPECT_EQ(conflict.body, "2\n");
}

// Two copies of one log that went separate ways: the same key signs two trees of one size. A
// witness that cosigned one refuses the other (409) and keeps both signed checkpoints as evidence.
TEST(WitnessForkTest, AWitnessKeepsEvidenceOfAForkedLog) {
  TempDir dir;
  ASSERT_EQ(RunCairn({"init", "--data-dir", dir.Sub("a")}).exit_code, 0);
  ASSERT_EQ(std::system(("cp -a " + dir.Sub("a") + " " + dir.Sub("b")).c_str()), 0);
  for (const char* copy : {"a", "b"}) {
    ASSERT_EQ(RunCairn({"append", std::string("s-") + copy, "--type", "T", "--data", "{}",
                        "--data-dir", dir.Sub(copy)})
                  .exit_code,
              0);
  }
  const std::string log_key = FirstLine(RunCairn({"vkey", "--data-dir", dir.Sub("a")}).out);
  ASSERT_EQ(log_key, FirstLine(RunCairn({"vkey", "--data-dir", dir.Sub("b")}).out));
  const std::string a = RunCairn({"checkpoint", "--data-dir", dir.Sub("a")}).out;
  const std::string b = RunCairn({"checkpoint", "--data-dir", dir.Sub("b")}).out;
  ASSERT_NE(a, b);
  ASSERT_EQ(RunCairn({"witness", "keygen", "--name", "w.test/w", "--out", dir.Sub("w.key")}).exit_code, 0);
  ServerProcess witness;
  ASSERT_TRUE(witness.StartCommand({"witness", "serve", "--key-file", dir.Sub("w.key"), "--log-key",
                                    log_key, "--state-dir", dir.Sub("state"), "--listen",
                                    "127.0.0.1:0"},
                                   kWitnessReady))
      << witness.output();
  const std::string url = "http://127.0.0.1:" + std::to_string(witness.grpc_port()) + "/add-checkpoint";
  auto post = [&](const std::string& body) {
    auto reply = auth::HttpPost(url, "text/plain", body, auth::HttpGetOptions{});
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? reply->status : 0;
  };
  EXPECT_EQ(post("old 0\n\n" + a), 200);
  EXPECT_EQ(post("old 1\n\n" + b), 409);
  EXPECT_EQ(post("old 1\n\n" + b), 409) << "the same pair is kept once";
  const std::vector<std::string> evidence = ListFiles(dir.Sub("state/evidence"), ".fork");
  ASSERT_EQ(evidence.size(), 1u);
  const std::string kept = ReadFile(evidence[0]);
  EXPECT_NE(kept.find(a), std::string::npos);
  EXPECT_NE(kept.find(b), std::string::npos);
  // The log line is written by the logger's own thread: it may come a moment later.
  for (int waited_ms = 0; waited_ms < 5000 && witness.output().find("a fork") == std::string::npos;
       waited_ms += 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(witness.output().find("a fork"), std::string::npos) << witness.output();
}

}  // namespace
}  // namespace cairn::testing
