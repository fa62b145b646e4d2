// cairn forget SUBJECT: crypto-shredding of one data subject (action `forget`).
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/offline_audit.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct ForgetArgs {
  std::string data_dir;
  std::string subject;
  bool json = false;
};

int RunForget(const CliContext& ctx, const ForgetArgs& args) {
  auto subject = SubjectArg(args.subject);
  if (!subject.ok()) return UsageError(subject.status().message());
  int rc = kExitOk;
  std::string offline_dir;  // empty when a server does (and audits) the act
  auto store = OpenOrReport(ctx, args.data_dir, &rc, &offline_dir);
  if (!store) return rc;
  OfflineAct act{"forget", offline_dir.empty() ? "" : OfflineSubjectResource(*store, *subject), Status::Ok(), {}};
  auto result = store->Forget(*subject);
  act.outcome = result.status();
  if (result.ok()) {
    act.details.emplace_back("versions_destroyed", std::to_string(result->versions_destroyed));
    if (result->purge_pending) act.details.emplace_back("purge_pending", "true");
  }
  const Status audited = offline_dir.empty() ? Status::Ok() : AuditOfflineAct(store.get(), offline_dir, std::move(act));
  if (!result.ok()) return Fail(result.status());
  if (!audited.ok()) {
    return Fail(audited.Annotate("the subject's keys were destroyed, but the audit record of the erasure "
                                 "was not written"));
  }
  if (args.json) {
    std::cout << JsonLine(Json{{"versions_destroyed", result->versions_destroyed},
                               {"purge_pending", result->purge_pending}})
              << "\n";
  } else if (result->versions_destroyed == 0) {
    std::cout << "nothing to destroy: the subject has no key\n";
  } else {
    std::cout << "destroyed " << result->versions_destroyed
              << " key version(s); the subject's protected fields now read as erased\n";
    if (result->purge_pending) {
      std::cout << "note: PostgreSQL could not purge the destroyed keys' bytes from the key "
                   "table's files yet (older transactions still run, or the table was locked); "
                   "a running server retries in the background, otherwise the next erasure "
                   "purges them\n";
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterForgetCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ForgetArgs>();
  CLI::App* cmd = app.add_subcommand(
      "forget", "Destroy every key version of a data subject (GDPR erasure by crypto-shredding)");
  cmd->add_option("subject", args->subject,
                  "The data subject's identifier, or @FILE / @- (stdin) to keep it out of the "
                  "process list and the shell history")
      ->required();
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunForget(ctx, *args); });
}

}  // namespace cairn::cli
