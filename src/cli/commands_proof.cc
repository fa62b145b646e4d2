// cairn proof inclusion / consistency: RFC 9162 proofs from a data directory, a server, or a
// C2SP tlog-tiles log (--log-url: the proof is computed here from its tiles), as JSON.
#include <iostream>
#include <memory>
#include <optional>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/tile_log.h"

namespace cairn::cli {
namespace {

// --log-url and --log-ca: proofs computed from a tlog-tiles log instead of asked of a store.
struct TileFlags {
  std::string url;
  std::string ca_file;
};

void AddTileOptions(CLI::App* cmd, TileFlags* flags) {
  cmd->add_option("--log-url", flags->url,
                  "Compute the proof from a C2SP tlog-tiles log over HTTP(S) (e.g. the cairn "
                  "admin listener, https://HOST:7401) instead of a store; needs an explicit size")
      ->option_text("URL");
  cmd->add_option("--log-ca", flags->ca_file,
                  "With --log-url: the only PEM CA certificate(s) trusted for its https")
      ->option_text("FILE");
}

// The TileLog of --log-url; on failure, the exit code in *rc.
std::optional<TileLog> OpenTileLog(const CliContext& ctx, const TileFlags& flags,
                                   const std::string& data_dir, int* rc) {
  auto log = OpenLogUrl(ctx, flags.url, flags.ca_file, data_dir);
  if (log.ok()) return std::move(log).value();
  *rc = log.status().code() == StatusCode::kInvalidArgument ? UsageError(log.status().message())
                                                            : Fail(log.status());
  return std::nullopt;
}

struct InclusionArgs {
  TileFlags tiles;
  std::string data_dir;
  std::string position;
  std::string size = "0";
};

struct ConsistencyArgs {
  TileFlags tiles;
  std::string data_dir;
  std::string size1;
  std::string size2;
};

// The proof as one JSON line, or the failure.
template <typename Proof, typename ToJson>
int PrintProof(const Result<Proof>& proof, ToJson to_json) {
  if (!proof.ok()) return Fail(proof.status());
  std::cout << JsonLine(to_json(*proof)) << "\n";
  return kExitOk;
}

int RunInclusion(const CliContext& ctx, const InclusionArgs& args) {
  auto position = ParseU64(args.position, "POSITION");
  if (!position.ok()) return UsageError(position.status().message());
  auto size = ParseU64(args.size, "--size");
  if (!size.ok()) return UsageError(size.status().message());
  int rc = kExitOk;
  if (!args.tiles.url.empty()) {
    if (*size == 0) return UsageError("--log-url needs --size: the size of a checkpoint you verified");
    auto log = OpenTileLog(ctx, args.tiles, args.data_dir, &rc);
    if (!log) return rc;
    return PrintProof(log->ProveInclusion(*position, *size), InclusionProofToJson);
  }
  if (!args.tiles.ca_file.empty()) return UsageError("--log-ca needs --log-url");
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  return PrintProof(store->ProveInclusion(*position, *size), InclusionProofToJson);
}

int RunConsistency(const CliContext& ctx, const ConsistencyArgs& args) {
  auto size1 = ParseU64(args.size1, "SIZE1");
  if (!size1.ok()) return UsageError(size1.status().message());
  auto size2 = ParseU64(args.size2, "SIZE2");
  if (!size2.ok()) return UsageError(size2.status().message());
  int rc = kExitOk;
  if (!args.tiles.url.empty()) {
    auto log = OpenTileLog(ctx, args.tiles, args.data_dir, &rc);
    if (!log) return rc;
    return PrintProof(log->ProveConsistencyWithRoots(*size1, *size2), ConsistencyProofToJson);
  }
  if (!args.tiles.ca_file.empty()) return UsageError("--log-ca needs --log-url");
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  return PrintProof(store->ProveConsistency(*size1, *size2), ConsistencyProofToJson);
}

void RegisterInclusion(CLI::App* proof, CliContext& ctx) {
  auto args = std::make_shared<InclusionArgs>();
  CLI::App* cmd = proof->add_subcommand(
      "inclusion", "Inclusion proof of the event at POSITION: {index,size,leaf_hash,root,proof}");
  cmd->add_option("position", args->position, "Global position (leaf index)")->required();
  cmd->add_option("--size", args->size, "Tree size to prove against (0: the current size)")
      ->capture_default_str();
  AddTileOptions(cmd, &args->tiles);
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunInclusion(ctx, *args); });
}

void RegisterConsistency(CLI::App* proof, CliContext& ctx) {
  auto args = std::make_shared<ConsistencyArgs>();
  CLI::App* cmd = proof->add_subcommand(
      "consistency", "Proof that the tree of SIZE1 is a prefix of the tree of SIZE2");
  cmd->add_option("size1", args->size1, "Older tree size (> 0)")->required();
  cmd->add_option("size2", args->size2, "Newer tree size")->required();
  AddTileOptions(cmd, &args->tiles);
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
