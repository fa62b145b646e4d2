// `cairn doctor` and the posture checks of `cairn serve` (server/posture.h) end to end: exit codes
// and ids of `doctor --json`, the store checks skipped while a server holds the directory, serve
// refusing a critical finding (naming its id) and starting with --accept-risk.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "loopback_http.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kCriticalDsn[] =
    "[storage]\npostgres_dsn = \"postgres://cairn:do-not-print@db.internal/cairn\"\n";

struct DoctorRun {
  int exit_code = -1;
  nlohmann::json report;
  std::set<std::string> ids;
  std::string out;
};

DoctorRun Doctor(const std::string& config) {
  DoctorRun run;
  CommandResult r = RunCairn({"doctor", "--config", config, "--json"});
  run.exit_code = r.exit_code;
  run.out = r.out + r.err;
  run.report = nlohmann::json::parse(r.out, nullptr, false);
  if (run.report.is_object()) {
    for (const auto& f : run.report["findings"]) run.ids.insert(f["id"].get<std::string>());
  }
  return run;
}

TEST(Doctor, TestServerConfigHasMediumFindingsAndExitsOne) {
  ServerEnv env;
  env.WriteConfig(env.ConfigText());
  const DoctorRun run = Doctor(env.ConfigPath());
  ASSERT_TRUE(run.report.is_object()) << run.out;
  EXPECT_EQ(run.exit_code, 1) << run.out;
  // API keys without expiry (medium), the keyring inside the data directory without a
  // passphrase (medium), an expired key still configured (low).
  for (const char* id : {"CAIRN-AUTH-001", "CAIRN-KEY-001", "CAIRN-AUTH-007"}) {
    EXPECT_EQ(run.ids.count(id), 1u) << id << "\n" << run.out;
  }
  EXPECT_EQ(run.ids.count("CAIRN-TLS-001"), 0u) << run.out;
  EXPECT_TRUE(run.report["skipped"].empty()) << run.out;  // the store was opened
  for (const auto& f : run.report["findings"]) {
    EXPECT_FALSE(f["severity"].get<std::string>().empty());
    EXPECT_FALSE(f["fix"].get<std::string>().empty());
  }
  EXPECT_GE(run.report["summary"]["medium"].get<int>(), 1);
}

TEST(Doctor, SafeConfigExitsZeroAndSaysWhatWasSkipped) {
  ServerEnv env;  // for its dev certificate
  const std::string config = env.dir().Sub("safe.toml");
  WriteFile(config,
            "data_dir = \"not-initialised\"\n"
            "[tls]\ncert = \"data/dev/server.crt\"\nkey = \"data/dev/server.key\"\n"
            "[keys]\npassphrase_env = \"CAIRN_TEST_UNUSED\"\n");
  ASSERT_EQ(::chmod(config.c_str(), 0600), 0);
  const DoctorRun run = Doctor(config);
  ASSERT_TRUE(run.report.is_object()) << run.out;
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_TRUE(run.report["findings"].empty()) << run.out;
  EXPECT_EQ(run.report["skipped"].size(), 3u) << run.out;
  EXPECT_NE(run.report["skipped_reason"].get<std::string>().find("not-initialised"),
            std::string::npos);

  // The table form says the same.
  CommandResult table = RunCairn({"doctor", "--config", config});
  EXPECT_EQ(table.exit_code, 0) << table.out << table.err;
  EXPECT_NE(table.out.find("no findings"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("skipped: CAIRN-DATA-001"), std::string::npos) << table.out;
}

TEST(Doctor, UnloadableConfigExitsTwo) {
  ServerEnv env;
  const std::string config = env.dir().Sub("bad.toml");
  WriteFile(config, "[tls]\nenabeld = true\n");
  CommandResult r = RunCairn({"doctor", "--config", config});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("tls.enabeld"), std::string::npos) << r.err;
}

TEST(Doctor, StoreChecksSkippedWhileTheServerRuns) {
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  const DoctorRun run = Doctor(env.ConfigPath());
  ASSERT_TRUE(run.report.is_object()) << run.out;
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_EQ(run.report["skipped"].size(), 3u) << run.out;
  EXPECT_NE(run.report["skipped_reason"].get<std::string>().find("in use"), std::string::npos)
      << run.out;
  EXPECT_EQ(run.ids.count("CAIRN-AUTH-001"), 1u) << run.out;
  EXPECT_EQ(env.server().Stop(), 0);
}

TEST(DoctorServe, RefusesACriticalFindingAndStartsWhenItIsAccepted) {
  ServerEnv env;
  env.audit_enabled = true;
  env.extra_config = kCriticalDsn;
  env.WriteConfig(env.ConfigText());

  const DoctorRun run = Doctor(env.ConfigPath());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.ids.count("CAIRN-SECRET-001"), 1u) << run.out;
  EXPECT_EQ(run.out.find("do-not-print"), std::string::npos) << run.out;

  RefusedStart refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("CAIRN-SECRET-001"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--accept-risk"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find("do-not-print"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("server start refused"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find("server started"), std::string::npos) << refused.output;

  // Accepting another id does not help.
  refused = RunServeExpectingRefusal(
      {"--config", env.ConfigPath(), "--accept-risk", "CAIRN-NET-002"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("CAIRN-SECRET-001"), std::string::npos) << refused.output;

  // Each refused start is on the audit trail: a failed `server.start` naming the step, and no
  // `server.stop` for a server that never started.
  auto trail = RunCairn({"read", "$audit", "--json", "--limit", "0", "--data-dir", env.DataDir()});
  ASSERT_EQ(trail.exit_code, 0) << trail.err;
  size_t starts = 0;
  for (size_t at = trail.out.find("\"type\":\"$server.start\""); at != std::string::npos;
       at = trail.out.find("\"type\":\"$server.start\"", at + 1)) {
    ++starts;
  }
  EXPECT_EQ(starts, 2u) << trail.out;
  EXPECT_NE(trail.out.find("the start failed at posture"), std::string::npos) << trail.out;
  EXPECT_NE(trail.out.find("FAILED_PRECONDITION"), std::string::npos) << trail.out;
  EXPECT_EQ(trail.out.find("\"type\":\"$server.stop\""), std::string::npos) << trail.out;
  EXPECT_EQ(trail.out.find("do-not-print"), std::string::npos) << trail.out;

  ASSERT_TRUE(env.server().Start(
      {"--config", env.ConfigPath(), "--accept-risk", "CAIRN-NET-002", "--accept-risk",
       "CAIRN-SECRET-001"}))
      << env.server().output();
  // The finding is logged (a JSON line naming the check) and exported as a gauge.
  EXPECT_NE(env.server().output().find("\"cairn.check_id\":\"CAIRN-SECRET-001\""),
            std::string::npos)
      << env.server().output();
  EXPECT_EQ(env.server().output().find("do-not-print"), std::string::npos);
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  EXPECT_NE(metrics.find("cairn_posture_findings{severity=\"critical\"} 1"), std::string::npos)
      << metrics;
  EXPECT_EQ(env.server().Stop(), 0);
}

TEST(DoctorServe, AcceptRisksInTheConfigFile) {
  ServerEnv env;
  env.extra_config = std::string(kCriticalDsn) + "[doctor]\naccept_risks = [\"CAIRN-SECRET-001\"]\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_EQ(env.server().Stop(), 0);
}

}  // namespace
}  // namespace cairn::testing
