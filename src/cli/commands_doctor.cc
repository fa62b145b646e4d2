// cairn doctor [--config FILE] [--data-dir DIR] [--json]: the posture checks (server/posture.h)
// on the configuration `cairn serve` would use. The checks that read the data (PII-looking
// fields, e-mail-like stream ids, webhook allowlists) open the data directory; when a running
// server holds it (or it cannot be opened), they are reported as skipped, with the reason.
//
// Exit: 0 when no finding is medium or above, 1 otherwise, 2 when the checks cannot run (the
// configuration does not load).
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/serve_config.h"
#include "cli/utf8.h"
#include "common/wall_clock.h"
#include "engine/event_store.h"
#include "server/posture.h"

namespace cairn::cli {
namespace {

struct DoctorArgs {
  std::string config_file;
  std::string data_dir;
  bool json = false;
};

struct Report {
  std::vector<server::Finding> findings;
  std::vector<std::string> skipped;  // check ids not run
  std::string skipped_reason;
};

std::string SkipReason(const Status& status, const std::string& data_dir) {
  if (data_dir.empty()) return "no data directory configured";
  if (status.code() == StatusCode::kUnavailable) {
    return "data directory " + data_dir + " is in use (a running server holds its lock)";
  }
  return "data directory " + data_dir + " cannot be opened: " + status.message();
}

Report RunChecks(const server::Config& config) {
  Report report;
  server::PostureContext context;
  context.now_unix_s = NowUnixSeconds();
  std::unique_ptr<engine::EventStore> store;
  Status open_status = Status::Ok();
  if (!config.data_dir.empty()) {
    auto opened = OpenStoreWith(config.data_dir, config);
    if (opened.ok()) {
      store = std::move(opened).value();
    } else {
      open_status = opened.status();
    }
  }
  context.store = store.get();
  report.findings = server::RunPostureChecks(config, context);
  if (store == nullptr) {
    report.skipped = server::StoreCheckIds();
    report.skipped_reason = SkipReason(open_status, config.data_dir);
  }
  return report;
}

void PrintJson(const Report& report) {
  nlohmann::json out;
  out["findings"] = nlohmann::json::array();
  size_t counts[server::kSeverityCount] = {};
  for (const server::Finding& f : report.findings) {
    out["findings"].push_back({{"id", f.id},
                               {"severity", server::SeverityName(f.severity)},
                               {"title", f.title},
                               {"finding", f.finding},
                               {"fix", f.fix}});
    ++counts[static_cast<size_t>(f.severity)];
  }
  nlohmann::json summary;
  for (size_t s = 0; s < server::kSeverityCount; ++s) {
    summary[server::SeverityName(static_cast<server::Severity>(s))] = counts[s];
  }
  out["summary"] = summary;
  out["skipped"] = report.skipped;
  if (!report.skipped.empty()) out["skipped_reason"] = report.skipped_reason;
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void PrintTable(const Report& report) {
  if (report.findings.empty()) std::cout << "no findings\n";
  for (const server::Finding& f : report.findings) {
    std::string severity = server::SeverityName(f.severity);
    severity.resize(9, ' ');
    std::cout << severity << f.id << "  " << TerminalSafe(f.title) << "\n"
              << "         " << TerminalSafe(f.finding) << "\n"
              << "         fix: " << TerminalSafe(f.fix) << "\n";
  }
  if (!report.skipped.empty()) {
    std::string ids;
    for (const std::string& id : report.skipped) ids += (ids.empty() ? "" : ", ") + id;
    std::cout << "skipped: " << ids << " (" << TerminalSafe(report.skipped_reason) << ")\n";
  }
  std::cout << report.findings.size() << " finding(s), "
            << server::CountAtLeast(report.findings, server::Severity::kMedium)
            << " of medium severity or above\n";
}

int RunDoctor(const CliContext& ctx, const DoctorArgs& args) {
  auto resolved = ResolveDataDir(ctx, args.data_dir);
  const std::string dir = resolved.ok() ? *resolved : "";
  auto config = LoadServerConfig(args.config_file, dir, !args.data_dir.empty());
  if (!config.ok()) {
    PrintError(DescribeStatus(config.status()));
    return kExitUsage;
  }
  if (args.config_file.empty() && config->source_path.empty()) {
    PrintError("no configuration: pass --config FILE (or --data-dir DIR with DIR/cairn.toml)");
    return kExitUsage;
  }
  const Report report = RunChecks(*config);
  if (args.json) {
    PrintJson(report);
  } else {
    PrintTable(report);
  }
  return server::CountAtLeast(report.findings, server::Severity::kMedium) == 0 ? kExitOk
                                                                                : kExitFailure;
}

}  // namespace

void RegisterDoctorCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<DoctorArgs>();
  CLI::App* cmd = app.add_subcommand(
      "doctor",
      "Check the server configuration for risky settings (exit 0: nothing of medium severity or "
      "above, 1: findings, 2: the checks could not run)");
  cmd->add_option("--config", args->config_file,
                  "Configuration file (default: DIR/cairn.toml when it exists)")
      ->option_text("FILE");
  cmd->add_option("--data-dir", args->data_dir, "Data directory (default: $CAIRN_DATA_DIR)")
      ->option_text("DIR");
  cmd->add_flag("--json", args->json, "Print the findings as JSON");
  cmd->callback([&ctx, args] { ctx.exit_code = RunDoctor(ctx, *args); });
}

}  // namespace cairn::cli
