// cairn proof inclusion / consistency: RFC 9162 proofs from a data directory, as JSON.
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct InclusionArgs {
  std::string data_dir;
  std::string position;
  std::string size = "0";
};

struct ConsistencyArgs {
  std::string data_dir;
  std::string size1;
  std::string size2;
};

int RunInclusion(const CliContext& ctx, const InclusionArgs& args) {
  auto position = ParseU64(args.position, "POSITION");
  if (!position.ok()) return UsageError(position.status().message());
  auto size = ParseU64(args.size, "--size");
  if (!size.ok()) return UsageError(size.status().message());
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  auto proof = store->ProveInclusion(*position, *size);
  if (!proof.ok()) return Fail(proof.status());
  std::cout << JsonLine(InclusionProofToJson(*proof)) << "\n";
  return kExitOk;
}

int RunConsistency(const CliContext& ctx, const ConsistencyArgs& args) {
  auto size1 = ParseU64(args.size1, "SIZE1");
  if (!size1.ok()) return UsageError(size1.status().message());
  auto size2 = ParseU64(args.size2, "SIZE2");
  if (!size2.ok()) return UsageError(size2.status().message());
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  auto proof = store->ProveConsistency(*size1, *size2);
  if (!proof.ok()) return Fail(proof.status());
  std::cout << JsonLine(ConsistencyProofToJson(*proof)) << "\n";
  return kExitOk;
}

void RegisterInclusion(CLI::App* proof, CliContext& ctx) {
  auto args = std::make_shared<InclusionArgs>();
  CLI::App* cmd = proof->add_subcommand(
      "inclusion", "Inclusion proof of the event at POSITION: {index,size,leaf_hash,root,proof}");
  cmd->add_option("position", args->position, "Global position (leaf index)")->required();
  cmd->add_option("--size", args->size, "Tree size to prove against (0: the current size)")
      ->capture_default_str();
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunInclusion(ctx, *args); });
}

void RegisterConsistency(CLI::App* proof, CliContext& ctx) {
  auto args = std::make_shared<ConsistencyArgs>();
  CLI::App* cmd = proof->add_subcommand(
      "consistency", "Proof that the tree of SIZE1 is a prefix of the tree of SIZE2");
  cmd->add_option("size1", args->size1, "Older tree size (> 0)")->required();
  cmd->add_option("size2", args->size2, "Newer tree size")->required();
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunConsistency(ctx, *args); });
}

}  // namespace

void RegisterProofCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* proof = app.add_subcommand("proof", "Produce and verify RFC 9162 Merkle proofs");
  proof->require_subcommand(1);
  proof->fallthrough();  // `cairn proof --data-dir DIR inclusion 3` sets the global option
  RegisterInclusion(proof, ctx);
  RegisterConsistency(proof, ctx);
  RegisterProofVerifyCommands(*proof, ctx);
}

}  // namespace cairn::cli
