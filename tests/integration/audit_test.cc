// The `$audit` trail against the real server: each audited act gives exactly one record with the
// right fields; no credential reaches it; reading it needs audit.read; it cannot be written by
// clients; `cairn audit` prints it; the data directory still verifies.

#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audit/record.h"
#include "common/bytes.h"
#include "crypto/sha256.h"
#include "cairn/groups.h"
#include "cairn/v1/admin.grpc.pb.h"
#include "cairn/v1/integrity.grpc.pb.h"
#include "closed_by_server.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "server/denial_throttle.h"
#include "server_env.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

using server::DenialThrottle;
using testing::ClosedByServer;
using testing::HttpBody;
using testing::HttpGet;
using testing::ParseOrFail;
using testing::RunCairn;
using testing::ServerEnv;

struct Stored {
  std::string type;
  std::string data;
  audit::AuditRecord record;
};

// Every record of `$audit` (read by the admin).
std::vector<Stored> ReadTrail(Client& admin) {
  std::vector<Stored> out;
  v1::ReadRequest request;
  request.set_stream("$audit");
  Status s = admin.Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) {
      auto record = audit::DecodeAuditRecordJson(e.type(), e.data());
      EXPECT_TRUE(record.ok()) << e.data();
      out.push_back({e.type(), e.data(), record.ok() ? *record : audit::AuditRecord{}});
    }
    return true;
  });
  if (!s.ok() && s.code() != StatusCode::kNotFound) ADD_FAILURE() << s.ToString();
  return out;
}

std::vector<Stored> OfType(const std::vector<Stored>& all, std::string_view type) {
  std::vector<Stored> out;
  for (const auto& s : all) {
    if (s.type == type) out.push_back(s);
  }
  return out;
}

// Records are written in the background: waits (bounded) until `$audit` holds at least `count`
// records of `type`, and returns them.
std::vector<Stored> WaitFor(Client& admin, std::string_view type, size_t count) {
  std::vector<Stored> found;
  for (int i = 0; i < 100; ++i) {
    found = OfType(ReadTrail(admin), type);
    if (found.size() >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return found;
}

class AuditTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& audit_toml = "[audit]\nenabled = true\n") {
    env_.audit_enabled = true;
    env_.extra_config = audit_toml;
    ASSERT_TRUE(env_.Start()) << env_.server().output();
    admin_ = env_.ClientWith(env_.admin_key);
    // The start record is there before anything else.
    ASSERT_EQ(WaitFor(*admin_, "$server.start", 1).size(), 1u);
  }
  std::vector<std::string> Conn(const std::string& token) {
    return {"--server", env_.server().target(), "--ca", env_.CaCert(), "--token", token};
  }

  ServerEnv env_;
  std::unique_ptr<Client> admin_;
};

TEST_F(AuditTest, StartRecordCarriesTheConfigDigestAndStopIsTheLastRecord) {
  StartServer();
  auto start = OfType(ReadTrail(*admin_), "$server.start");
  ASSERT_EQ(start.size(), 1u);
  std::map<std::string, std::string> details(start[0].record.details.begin(),
                                             start[0].record.details.end());
  ASSERT_EQ(details["config_sha256"].size(), 64u);
  EXPECT_EQ(details["config_sha256"].find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(start[0].record.action, "server.start");
  ASSERT_EQ(env_.server().Stop(), 0) << env_.server().output();
  // Offline: the trail ends with the stop record, and the data directory verifies.
  auto read = RunCairn({"read", "$audit", "--json", "--limit", "0", "--data-dir", env_.DataDir()});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  const size_t last = read.out.rfind("\"type\":\"$server.stop\"");
  EXPECT_NE(last, std::string::npos) << read.out;
  auto verify = RunCairn({"verify", "--data-dir", env_.DataDir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(AuditTest, FailedLoginsAreAuditedOnceWithoutAnyPartOfTheCredential) {
  StartServer();
  // An API key of a known id with a wrong secret, and a JWT with a bad signature.
  const std::string bad_key = env_.admin_key.substr(0, env_.admin_key.size() - 6) + "AAAAAA";
  std::string bad_jwt = env_.TokenA("RS256", "mallory", "[\"admin\"]");
  bad_jwt.back() = bad_jwt.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(env_.ClientWith(bad_key)->WhoAmI().status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(env_.ClientWith(bad_jwt)->WhoAmI().status().code(), StatusCode::kUnauthenticated);
  auto failures = WaitFor(*admin_, "$auth.failure", 2);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].record.auth_method, "apikey");
  EXPECT_EQ(failures[1].record.auth_method, "jwt");
  for (const auto& f : failures) {
    EXPECT_EQ(f.record.source_ip, "127.0.0.1");
    EXPECT_EQ(f.record.action, "auth");
    EXPECT_EQ(f.record.outcome, "failure");
    EXPECT_EQ(f.record.error_code, "UNAUTHENTICATED");
    EXPECT_FALSE(f.record.reason.empty());
    EXPECT_EQ(f.record.principal, "");
    EXPECT_FALSE(f.record.request_id.empty());
  }
  // No 8-byte piece of either credential appears anywhere in the trail.
  std::string trail;
  for (const auto& s : ReadTrail(*admin_)) trail += s.data;
  for (const std::string& secret : {bad_key, bad_jwt}) {
    for (size_t i = 0; i + 8 <= secret.size(); i += 4) {
      const std::string piece = secret.substr(i, 8);
      if (piece.rfind("cairn_", 0) == 0 || piece.find("admin") != std::string::npos) continue;
      ASSERT_EQ(trail.find(piece), std::string::npos) << "credential piece in $audit: " << piece;
    }
  }
}

TEST_F(AuditTest, DenialRecordCarriesTheRuleWhichTheCallerNeverSees) {
  StartServer();
  v1::AppendRequest request;
  request.set_stream("order-archive-1");
  auto* e = request.add_events();
  e->set_type("OrderCreated");
  e->set_data("{}");
  auto bot = env_.ClientWith(env_.bot_key);
  auto denied = bot->Append(request);
  ASSERT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message().find("role:"), std::string::npos);
  auto denials = WaitFor(*admin_, "$access.denied", 1);
  ASSERT_EQ(denials.size(), 1u);
  const audit::AuditRecord& r = denials[0].record;
  EXPECT_EQ(r.principal, "apikey:ci-bot");
  EXPECT_EQ(r.auth_method, "apikey");
  EXPECT_EQ(r.action, "append");
  EXPECT_EQ(r.resource, "order-archive-1");
  EXPECT_EQ(r.event_type, "OrderCreated");
  EXPECT_EQ(r.decision, "deny");
  EXPECT_EQ(r.rule, "role:order-service/deny[0]");
  EXPECT_EQ(r.error_code, "PERMISSION_DENIED");
}

// A caller denied at its full request rate cannot fill the trail (part of the log, which cannot
// be shrunk): its share is recorded, every denial is counted, and its next record after the
// window says how many were left out.
TEST_F(AuditTest, ADeniedFloodIsRecordedUpToItsShareAndCountedInFull) {
  StartServer();
  auto bot = env_.ClientWith(env_.bot_key);
  v1::AppendRequest request;
  request.set_stream("order-archive-1");
  auto* e = request.add_events();
  e->set_type("OrderCreated");
  e->set_data("{}");
  auto denied_metric = [&] {
    return ParseOrFail(HttpBody(HttpGet(env_.server().admin_port(), "/metrics")))
        .Value("cairn_denials_total", {{"action", "append"}});
  };
  constexpr int kDenials = 200;
  for (int i = 0; i < kDenials; ++i) {
    ASSERT_EQ(bot->Append(request).status().code(), StatusCode::kPermissionDenied);
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(denied_metric(), static_cast<double>(kDenials)) << "every denial is counted";
  auto denials = WaitFor(*admin_, "$access.denied", DenialThrottle::kRecordsPerWindowMax);
  ASSERT_EQ(denials.size(), DenialThrottle::kRecordsPerWindowMax) << "recorded up to the share";
  // After the window (it began at the first denial), the next one is recorded with the gap.
  std::this_thread::sleep_until(start + std::chrono::milliseconds(DenialThrottle::kWindowMs));
  ASSERT_EQ(bot->Append(request).status().code(), StatusCode::kPermissionDenied);
  denials = WaitFor(*admin_, "$access.denied", DenialThrottle::kRecordsPerWindowMax + 1);
  ASSERT_EQ(denials.size(), DenialThrottle::kRecordsPerWindowMax + 1);
  std::map<std::string, std::string> details(denials.back().record.details.begin(),
                                             denials.back().record.details.end());
  EXPECT_EQ(details["unrecorded_denials_before"],
            std::to_string(kDenials - DenialThrottle::kRecordsPerWindowMax));
  EXPECT_EQ(denied_metric(), static_cast<double>(kDenials + 1));
}

TEST_F(AuditTest, RequestIdIsTakenFromTheCallWhenWellFormed) {
  StartServer();
  auto bot = env_.ClientWith(env_.bot_key);
  auto stub = v1::Admin::NewStub(bot->channel());
  for (const char* id : {"trace-42.a_b", "bad id with spaces"}) {
    grpc::ClientContext context;
    bot->PrepareContext(&context, 10000);
    context.AddMetadata("x-request-id", id);
    v1::ReloadPolicyResponse response;
    EXPECT_EQ(stub->ReloadPolicy(&context, v1::ReloadPolicyRequest(), &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  auto denials = WaitFor(*admin_, "$access.denied", 2);
  ASSERT_EQ(denials.size(), 2u);
  EXPECT_EQ(denials[0].record.request_id, "trace-42.a_b");
  EXPECT_EQ(denials[0].record.action, "admin");
  EXPECT_FALSE(denials[1].record.request_id.empty());  // generated
  EXPECT_EQ(denials[1].record.request_id.find(' '), std::string::npos);
}

TEST_F(AuditTest, RefusedConnectionIsAuditedWithItsAddress) {
  env_.server_extra = "allow_cidrs = [\"127.0.0.1/32\"]\n";
  StartServer();
  ASSERT_TRUE(ClosedByServer("127.0.0.2", env_.server().grpc_port()));
  auto refused = WaitFor(*admin_, "$connection.refused", 1);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].record.source_ip, "127.0.0.2");
  EXPECT_EQ(refused[0].record.action, "connect");
  EXPECT_EQ(refused[0].record.outcome, "failure");
}

TEST_F(AuditTest, EachAdminActIsOneRecordWithItsOutcome) {
  StartServer();
  ASSERT_TRUE(admin_->ReloadPolicy().ok());
  v1::RotateKeyRequest storage;
  storage.set_storage(true);
  ASSERT_TRUE(admin_->RotateKey(storage).ok());
  v1::RotateKeyRequest kek;
  kek.set_kek(true);
  auto kek_rotation = admin_->RotateKey(kek);
  ASSERT_TRUE(admin_->Forget("subject-1@example.com").ok());
  Groups groups(*admin_);
  v1::GroupSettings settings;
  settings.set_name("g1");
  settings.set_source("order-1");
  ASSERT_TRUE(groups.Create(settings).ok());
  EXPECT_FALSE(groups.Create(settings).ok());  // exists: a failed act, audited as such
  ASSERT_TRUE(groups.Delete("g1").ok());

  auto admin_records = WaitFor(*admin_, "$admin", 7);
  ASSERT_EQ(admin_records.size(), 7u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"policy.reload", "success"},
      {"key.rotate", "success"},
      {"key.rotate", kek_rotation.ok() ? "success" : "failure"},
      {"forget", "success"},
      {"group.create", "success"},
      {"group.create", "failure"},
      {"group.delete", "success"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const audit::AuditRecord& r = admin_records[i].record;
    EXPECT_EQ(r.action, expected[i].first) << i;
    EXPECT_EQ(r.outcome, expected[i].second) << i;
    EXPECT_EQ(r.principal, "apikey:admin") << i;
    EXPECT_EQ(r.decision, "allow") << i;
  }
  // The reload names the policy text it loaded.
  const crypto::Hash policy_hash = crypto::Sha256(testing::ReadFile(env_.PolicyPath()));
  const auto& reload_details = admin_records[0].record.details;
  EXPECT_NE(std::find(reload_details.begin(), reload_details.end(),
                      std::pair<std::string, std::string>(
                          "policy_sha256", HexEncode(std::span<const uint8_t>(policy_hash.data(), policy_hash.size())))),
            reload_details.end());
  EXPECT_EQ(admin_records[1].record.resource, "storage");
  EXPECT_EQ(admin_records[2].record.resource, "kek");
  EXPECT_EQ(admin_records[4].record.resource, "g1");
  EXPECT_EQ(admin_records[5].record.error_code, "ALREADY_EXISTS");
  // The forgotten subject is recorded as its salted hash only: not the plain SHA-256 a reader
  // of the trail could match guesses against.
  const std::string& forgotten = admin_records[3].record.resource;
  EXPECT_EQ(forgotten.rfind("subject-hash:", 0), 0u) << forgotten;
  EXPECT_EQ(forgotten.size(), 13u + 64u) << forgotten;
  const crypto::Hash plain = crypto::Sha256("subject-1@example.com");
  EXPECT_EQ(forgotten.find(HexEncode(std::span<const uint8_t>(plain.data(), plain.size()))),
            std::string::npos) << forgotten;
  for (const auto& s : ReadTrail(*admin_)) {
    EXPECT_EQ(s.data.find("subject-1@example.com"), std::string::npos);
  }
}

TEST_F(AuditTest, IntegrityReportIsAudited) {
  StartServer();
  v1::AppendRequest append;
  append.set_stream("order-1");
  auto* e = append.add_events();
  e->set_type("OrderCreated");
  e->set_data("{}");
  ASSERT_TRUE(admin_->Append(append).ok());
  v1::ViolationReport report;
  report.set_kind(v1::VIOLATION_LEAF_HASH);
  report.set_stream("order-1");
  report.set_position(1);
  report.set_detail("leaf mismatch seen by test");
  auto bot = env_.ClientWith(env_.bot_key);
  auto stub = v1::Integrity::NewStub(bot->channel());
  grpc::ClientContext context;
  bot->PrepareContext(&context, 10000);
  v1::ViolationReceipt receipt;
  grpc::Status reported = stub->ReportViolation(&context, report, &receipt);
  ASSERT_TRUE(reported.ok()) << reported.error_message();
  auto violations = WaitFor(*admin_, "$integrity.violation", 1);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].record.principal, "apikey:ci-bot");
  EXPECT_EQ(violations[0].record.resource, "order-1");
  EXPECT_EQ(violations[0].data.find("leaf mismatch seen by test"), std::string::npos);
}

TEST_F(AuditTest, DataPlaneWritesModeRecordsAppendsButNotReads) {
  StartServer("[audit]\ndata_plane = \"writes\"\n");
  for (int i = 0; i < 3; ++i) {
    v1::AppendRequest append;
    append.set_stream("order-" + std::to_string(i));
    auto* e = append.add_events();
    e->set_type("OrderCreated");
    e->set_data("{}");
    ASSERT_TRUE(env_.ClientWith(env_.bot_key)->Append(append).ok());
  }
  auto data = WaitFor(*admin_, "$data", 3);
  ASSERT_EQ(data.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(data[i].record.action, "append");
    EXPECT_EQ(data[i].record.resource, "order-" + std::to_string(i));
    EXPECT_EQ(data[i].record.principal, "apikey:ci-bot");
    EXPECT_EQ(data[i].record.outcome, "success");
  }
  // The reads of this test (ReadTrail) were not added.
  EXPECT_EQ(OfType(ReadTrail(*admin_), "$data").size(), 3u);
}

// With data_plane = "all", a read is recorded when it ends, with its outcome: a read of a stream
// that does not exist is a failure (it was recorded as a success before it ran), and
// GetStreamInfo is recorded too.
TEST_F(AuditTest, DataPlaneAllRecordsEachReadWithItsOutcome) {
  StartServer("[audit]\ndata_plane = \"all\"\n");
  auto bot = env_.ClientWith(env_.bot_key);
  v1::AppendRequest append;
  append.set_stream("order-1");
  append.add_events()->set_type("OrderCreated");
  append.mutable_events(0)->set_data("{}");
  auto appended = bot->Append(append);
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  v1::ReadRequest read;
  read.set_stream("order-1");
  ASSERT_TRUE(admin_->Read(read, [](const v1::ReadResponse&) { return true; }).ok());
  read.set_stream("order-missing");
  const Status missing = admin_->Read(read, [](const v1::ReadResponse&) { return true; });
  ASSERT_EQ(missing.code(), StatusCode::kNotFound) << missing.ToString();
  ASSERT_TRUE(admin_->GetStreamInfo("order-1").ok());
  std::vector<Stored> reads;
  for (int i = 0; i < 100 && reads.size() < 3; ++i) {
    reads.clear();
    for (const Stored& s : OfType(ReadTrail(*admin_), "$data")) {
      if (s.record.action == "read") reads.push_back(s);
    }
    if (reads.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(reads.size(), 3u);
  EXPECT_EQ(reads[0].record.resource, "order-1");
  EXPECT_EQ(reads[0].record.outcome, "success");
  EXPECT_EQ(reads[1].record.resource, "order-missing");
  EXPECT_EQ(reads[1].record.outcome, "failure");
  EXPECT_EQ(reads[2].record.resource, "order-1");  // GetStreamInfo
  EXPECT_EQ(reads[2].record.outcome, "success");
}

TEST_F(AuditTest, ReadingTheTrailNeedsAuditReadAndClientsCannotWriteIt) {
  StartServer();
  auto bot = env_.ClientWith(env_.bot_key);
  v1::ReadRequest read;
  read.set_stream("$audit");
  Status s = bot->Read(read, [](const v1::ReadResponse&) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  auto cli = RunCairn([&] {
    auto a = std::vector<std::string>{"audit"};
    for (const auto& c : Conn(env_.bot_key)) a.push_back(c);
    return a;
  }());
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_NE(cli.err.find("ermission"), std::string::npos) << cli.err;
  EXPECT_TRUE(cli.out.empty()) << cli.out;
  // Both refusals are audited as denials of audit.read.
  auto denials = WaitFor(*admin_, "$access.denied", 2);
  ASSERT_GE(denials.size(), 2u);
  EXPECT_EQ(denials[0].record.action, "audit.read");
  EXPECT_EQ(denials[0].record.resource, "$audit");
  // The admin may append to "$*" by policy, yet `$audit` takes no client writes or deletes.
  v1::AppendRequest append;
  append.set_stream("$audit");
  auto* e = append.add_events();
  e->set_type("$admin");
  e->set_data("{}");
  EXPECT_EQ(admin_->Append(append).status().code(), StatusCode::kInvalidArgument);
  v1::DeleteRequest del;
  del.set_stream("$audit");
  EXPECT_FALSE(admin_->Delete(del).ok());
}

TEST_F(AuditTest, CliPrintsJsonAndTextAndFiltersBySince) {
  StartServer();
  EXPECT_EQ(env_.ClientWith("cairn_nobody_xxxxxxxx")->WhoAmI().status().code(),
            StatusCode::kUnauthenticated);
  ASSERT_EQ(WaitFor(*admin_, "$auth.failure", 1).size(), 1u);
  std::vector<std::string> args = {"audit", "--json"};
  for (const auto& c : Conn(env_.admin_key)) args.push_back(c);
  auto json = RunCairn(args);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  size_t lines = 0, failures = 0;
  std::istringstream in(json.out);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    ++lines;
    EXPECT_TRUE(j.contains("time") && j.contains("request_id") && j.contains("details")) << line;
    if (j["type"] == "$auth.failure") {
      ++failures;
      EXPECT_EQ(j["source_ip"], "127.0.0.1");
    }
  }
  EXPECT_GE(lines, 2u);
  EXPECT_EQ(failures, 1u);

  args[1] = "--since";
  args.insert(args.begin() + 2, "1h");
  auto recent = RunCairn(args);
  ASSERT_EQ(recent.exit_code, 0) << recent.err;
  EXPECT_NE(recent.out.find("$auth.failure failure"), std::string::npos) << recent.out;
  EXPECT_NE(recent.out.find("$server.start success"), std::string::npos) << recent.out;

  args[2] = "2200-01-01T00:00:00Z";
  auto future = RunCairn(args);
  ASSERT_EQ(future.exit_code, 0) << future.err;
  EXPECT_TRUE(future.out.empty()) << future.out;

  args[2] = "yesterday";
  auto bad = RunCairn(args);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--since"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace cairn
