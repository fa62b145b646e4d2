// cairn proof verify-inclusion / verify-consistency: offline proof checks, no data directory.
// Exit 0 and "valid" when the proof holds, 1 and "invalid: <reason>" when it does not, 2 for
// malformed arguments (hash text that is not 64 hex digits or base64 of 32 bytes).
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "common/bytes.h"
#include "integrity/proof.h"

namespace cairn::cli {
namespace {

struct VerifyInclusionArgs {
  std::string index, size, leaf_hash, root, proof;
};

struct VerifyConsistencyArgs {
  std::string size1, size2, root1, root2, proof;
};

Result<crypto::Hash> ParseHash(const std::string& text, const std::string& what) {
  auto bytes = DecodeHashText(text);
  if (!bytes) {
    return Status::InvalidArgument(what + ": '" + text +
                                   "' is not a SHA-256 hash (64 hex digits or base64)");
  }
  return crypto::HashFromBytes(*bytes);
}

Result<std::vector<crypto::Hash>> ParseProof(const std::string& text) {
  std::vector<crypto::Hash> proof;
  const std::vector<std::string> items = SplitList(text);
  for (size_t i = 0; i < items.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(crypto::Hash h,
                           ParseHash(items[i], "--proof element " + std::to_string(i + 1)));
    proof.push_back(h);
  }
  return proof;
}

int ReportVerdict(const Status& verdict) {
  if (verdict.ok()) {
    std::cout << "valid\n";
    return kExitOk;
  }
  std::cout << "invalid: " << verdict.message() << "\n";
  return kExitFailure;
}

int RunVerifyInclusion(const VerifyInclusionArgs& args) {
  auto index = ParseU64(args.index, "--index");
  if (!index.ok()) return UsageError(index.status().message());
  auto size = ParseU64(args.size, "--size");
  if (!size.ok()) return UsageError(size.status().message());
  auto leaf = ParseHash(args.leaf_hash, "--leaf-hash");
  if (!leaf.ok()) return UsageError(leaf.status().message());
  auto root = ParseHash(args.root, "--root");
  if (!root.ok()) return UsageError(root.status().message());
  auto proof = ParseProof(args.proof);
  if (!proof.ok()) return UsageError(proof.status().message());
  return ReportVerdict(integrity::VerifyInclusion(*index, *size, *leaf, *proof, *root));
}

int RunVerifyConsistency(const VerifyConsistencyArgs& args) {
  auto size1 = ParseU64(args.size1, "--size1");
  if (!size1.ok()) return UsageError(size1.status().message());
  auto size2 = ParseU64(args.size2, "--size2");
  if (!size2.ok()) return UsageError(size2.status().message());
  auto root1 = ParseHash(args.root1, "--root1");
  if (!root1.ok()) return UsageError(root1.status().message());
  auto root2 = ParseHash(args.root2, "--root2");
  if (!root2.ok()) return UsageError(root2.status().message());
  auto proof = ParseProof(args.proof);
  if (!proof.ok()) return UsageError(proof.status().message());
  return ReportVerdict(integrity::VerifyConsistency(*size1, *size2, *proof, *root1, *root2));
}

void RegisterVerifyInclusion(CLI::App& proof, CliContext& ctx) {
  auto args = std::make_shared<VerifyInclusionArgs>();
  CLI::App* cmd = proof.add_subcommand(
      "verify-inclusion", "Check an inclusion proof offline (no data directory needed)");
  cmd->add_option("--index", args->index, "Leaf index (global position)")->required();
  cmd->add_option("--size", args->size, "Tree size")->required();
  cmd->add_option("--leaf-hash", args->leaf_hash, "Leaf hash (hex or base64)")->required();
  cmd->add_option("--root", args->root, "Root of the tree of --size (hex or base64)")->required();
  cmd->add_option("--proof", args->proof, "Comma-separated proof hashes (may be empty)")
      ->required();
  cmd->callback([&ctx, args] { ctx.exit_code = RunVerifyInclusion(*args); });
}

void RegisterVerifyConsistency(CLI::App& proof, CliContext& ctx) {
  auto args = std::make_shared<VerifyConsistencyArgs>();
  CLI::App* cmd = proof.add_subcommand(
      "verify-consistency", "Check a consistency proof offline (no data directory needed)");
  cmd->add_option("--size1", args->size1, "Older tree size")->required();
  cmd->add_option("--size2", args->size2, "Newer tree size")->required();
  cmd->add_option("--root1", args->root1, "Root of the older tree (hex or base64)")->required();
  cmd->add_option("--root2", args->root2, "Root of the newer tree (hex or base64)")->required();
  cmd->add_option("--proof", args->proof, "Comma-separated proof hashes (may be empty)")
      ->required();
  cmd->callback([&ctx, args] { ctx.exit_code = RunVerifyConsistency(*args); });
}

}  // namespace

void RegisterProofVerifyCommands(CLI::App& proof, CliContext& ctx) {
  RegisterVerifyInclusion(proof, ctx);
  RegisterVerifyConsistency(proof, ctx);
}

}  // namespace cairn::cli
