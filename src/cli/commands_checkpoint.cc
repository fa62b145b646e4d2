// cairn checkpoint / vkey: the signed checkpoint of the log and the key that verifies it.
// With --checkpoint-file and a pinned key, `cairn checkpoint` is a witness: the checkpoint must be
// signed by the pinned key and extend the one kept in the file (a consistency proof), which then
// moves forward.
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/anchor_files.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/utf8.h"
#include "cli/output_json.h"
#include "cli/tile_log.h"
#include "cli/witness_key.h"
#include "common/wall_clock.h"
#include "integrity/cosignature.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "integrity/proof.h"

namespace cairn::cli {
namespace {

constexpr size_t kKeptCheckpointBytesMax = 64 * 1024;

struct CheckpointArgs {
  std::string data_dir;
  bool json = false;
  std::string verifier_key;
  std::string verifier_key_file;
  std::string checkpoint_file;
  std::string cosign_key_file;  // a witness's cosigner key: cosign what was checked and kept
  std::string log_url;          // a tlog-tiles log over HTTP(S) instead of the data directory
  std::string log_ca_file;
};

// RFC 9162 consistency proof between two tree sizes (the larger one's signed root is root2),
// from wherever the checkpoint came from.
using ProveConsistencyFn = std::function<Result<std::vector<crypto::Hash>>(
    uint64_t size1, uint64_t size2, const crypto::Hash& root2)>;

// Where `cairn checkpoint` reads: a store (the data directory, or a server), or a tlog-tiles log.
struct CheckpointSource {
  std::unique_ptr<engine::EventStore> store;
  engine::SignedCheckpoint checkpoint;  // from a log: only the note (the pinned key parses it)
  ProveConsistencyFn prove;
};

// kDataLoss unless `now` (signed by `key`) extends `kept` (also signed by it): the same tree at
// the same size, or a larger tree that a consistency proof from `store` shows to contain it.
Status CheckExtends(const ProveConsistencyFn& prove, const integrity::Checkpoint& kept,
                    const integrity::Checkpoint& now) {
  const std::string sizes = " (kept size " + std::to_string(kept.size) + ", now size " +
                            std::to_string(now.size) + ")";
  if (now.size < kept.size) return Status::DataLoss("the log shrank" + sizes);
  if (now.size == kept.size) {
    if (now.root != kept.root) return Status::DataLoss("two different trees of one size are signed" + sizes);
    return Status::Ok();
  }
  if (kept.size == 0) {  // the empty tree is a prefix of every tree (RFC 9162 has no proof for it)
    if (kept.root != integrity::EmptyRoot()) return Status::DataLoss("the kept empty tree has another root");
    return Status::Ok();
  }
  auto proof = prove(kept.size, now.size, now.root);
  if (!proof.ok()) return proof.status().Annotate("could not check consistency with the kept checkpoint");
  // Whatever roots the source would send are its word: only the two signed roots count.
  Status s = integrity::VerifyConsistency(kept.size, now.size, *proof, kept.root, now.root);
  if (!s.ok()) {
    return Status::DataLoss("the signed tree does not extend the kept one: history was rewritten" +
                            sizes);
  }
  return Status::Ok();
}

// Witness mode: `signed_only` (the checkpoint with only the pinned key's signature, checked)
// against the kept checkpoint, then kept. Says so when the file starts the witness's trust.
// False when another run changed the file meanwhile (it is left as that run wrote it).
Result<bool> CheckAndKeep(const ProveConsistencyFn& prove, const integrity::NoteVerifier& key,
                          const std::string& path, const integrity::Checkpoint& now,
                          const std::string& signed_only) {
  CAIRN_ASSIGN_OR_RETURN(const std::string kept_note, ReadKeptCheckpoint(path, kKeptCheckpointBytesMax));
  if (kept_note.empty()) {
    std::cerr << "cairn: no checkpoint was kept in " << TerminalSafe(path)
              << ": the witness's trust starts with this run (size " << now.size << ")\n";
  } else {
    auto kept = integrity::VerifyCheckpoint(kept_note, key);
    if (!kept.ok()) {
      return Status::FailedPrecondition("the kept checkpoint in " + path + " is not signed by the pinned key");
    }
    Status extends = CheckExtends(prove, *kept, now);
    if (!extends.ok()) {
      // The evidence of a rewrite: the refused checkpoint, as signed (the kept one stays in the
      // file). A proof that could not be had is no evidence of anything.
      if (extends.code() == StatusCode::kDataLoss) {
        std::cerr << "cairn: the refused checkpoint:\n" << TerminalSafe(signed_only);
      }
      return extends;
    }
  }
  CAIRN_ASSIGN_OR_RETURN(const bool replaced, ReplaceKeptCheckpoint(path, kept_note, signed_only));
  if (!replaced) {
    std::cerr << "cairn: warning: another run changed " << TerminalSafe(path)
              << " meanwhile; it is left as that run wrote it\n";
  }
  return replaced;
}

Status OpenLogSource(const CliContext& ctx, const CheckpointArgs& args,
                     CheckpointSource* source) {
  CAIRN_ASSIGN_OR_RETURN(TileLog log, OpenLogUrl(ctx, args.log_url, args.log_ca_file, args.data_dir));
  CAIRN_ASSIGN_OR_RETURN(source->checkpoint.note, log.FetchCheckpoint());
  source->prove = [log](uint64_t size1, uint64_t size2, const crypto::Hash& root2) {
    return log.ProveConsistency(size1, size2, root2);
  };
  return Status::Ok();
}

// The checkpoint to print and check, and how to prove consistency; the exit code on failure.
int OpenSource(const CliContext& ctx, const CheckpointArgs& args, CheckpointSource* source) {
  if (!args.log_url.empty()) {
    Status opened = OpenLogSource(ctx, args, source);
    if (opened.code() == StatusCode::kInvalidArgument) return UsageError(opened.message());
    return opened.ok() ? kExitOk : Fail(opened);
  }
  int rc = kExitOk;
  source->store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!source->store) return rc;
  auto checkpoint = source->store->Checkpoint();
  if (!checkpoint.ok()) return Fail(checkpoint.status());
  source->checkpoint = std::move(checkpoint).value();
  engine::EventStore* store = source->store.get();
  source->prove = [store](uint64_t size1, uint64_t size2,
                          const crypto::Hash&) -> Result<std::vector<crypto::Hash>> {
    CAIRN_ASSIGN_OR_RETURN(engine::ConsistencyProof proof, store->ProveConsistency(size1, size2));
    return std::move(proof.proof);
  };
  return kExitOk;
}

int RunCheckpoint(const CliContext& ctx, const CheckpointArgs& args) {
  auto vkey = PinnedVerifierKey(args.verifier_key, args.verifier_key_file);
  if (!vkey.ok()) return UsageError(vkey.status().message());
  if (vkey->empty() && !args.checkpoint_file.empty()) {
    return UsageError("--checkpoint-file needs the pinned key: --verifier-key or --verifier-key-file");
  }
  if (!args.log_url.empty() && vkey->empty()) {
    return UsageError("--log-url needs the pinned key: --verifier-key or --verifier-key-file");
  }
  if (!args.log_ca_file.empty() && args.log_url.empty()) {
    return UsageError("--log-ca needs --log-url");
  }
  if (!args.cosign_key_file.empty() && args.checkpoint_file.empty()) {
    return UsageError("--cosign-key-file needs --checkpoint-file: a witness cosigns only a "
                      "checkpoint it checked to extend the one it kept");
  }
  std::optional<integrity::NoteSigner> cosigner;
  if (!args.cosign_key_file.empty()) {
    auto read = ReadCosignerKeyFile(args.cosign_key_file);
    if (!read.ok()) return Fail(read.status());
    cosigner = std::move(read).value();
  }
  std::optional<integrity::NoteVerifier> key;
  if (!vkey->empty()) {
    auto parsed = integrity::ParseVerifierKey(*vkey);
    if (!parsed.ok()) return UsageError("--verifier-key: " + parsed.status().message());
    key = std::move(parsed).value();
  }
  CheckpointSource source;
  if (const int rc = OpenSource(ctx, args, &source); rc != kExitOk) return rc;
  engine::SignedCheckpoint* checkpoint = &source.checkpoint;
  if (key) {
    // Only the pinned key's signature is kept and shown: other lines are the source's word, and
    // would let it pad the note beyond what the kept file may hold.
    auto now = integrity::VerifyCheckpoint(checkpoint->note, *key);
    auto signed_only = integrity::NoteSignedOnlyBy(checkpoint->note, *key);
    if (!now.ok() || !signed_only.ok()) {
      return Fail(Status::DataLoss("the checkpoint is not signed by the pinned key"));
    }
    if (signed_only->size() > kKeptCheckpointBytesMax) {
      return Fail(Status::DataLoss("the checkpoint is larger than a checkpoint may be"));
    }
    checkpoint->note = *signed_only;
    checkpoint->size = now->size;
    checkpoint->root = now->root;
    bool kept = false;
    if (!args.checkpoint_file.empty()) {
      auto witnessed = CheckAndKeep(source.prove, *key, args.checkpoint_file, *now, *signed_only);
      if (!witnessed.ok()) return Fail(witnessed.status());
      kept = *witnessed;
    }
    if (cosigner && !kept) {  // another run's checkpoint is what this witness keeps now
      return Fail(Status::FailedPrecondition(
          "not cosigned: another run changed " + args.checkpoint_file +
          " meanwhile, so this checkpoint is not the one this witness kept; run again"));
    }
    if (cosigner) {  // checked and kept: the largest consistent tree this witness has seen
      auto cosigned = integrity::AddCosignature(checkpoint->note, *cosigner,
                                                static_cast<uint64_t>(NowUnixSeconds()));
      if (!cosigned.ok()) return Fail(cosigned.status());
      checkpoint->note = std::move(cosigned).value();
    }
  }
  if (args.json) {
    std::cout << JsonLine(CheckpointToJson(*checkpoint)) << "\n";
  } else {
    std::cout << checkpoint->note;  // byte for byte: verifiers check the signature over it
  }
  return kExitOk;
}

int RunVkey(const CliContext& ctx, const CheckpointArgs& args) {
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  const std::string vkey = store->verifier_key();
  if (vkey.empty()) {
    // Over the network verifier_key() cannot fail: ask once more to say why.
    auto checkpoint = store->LatestStoredCheckpoint();
    return Fail(checkpoint.ok() ? Status::Unavailable("the server sent no verifier key")
                                : checkpoint.status());
  }
  std::cout << TerminalSafe(vkey) << "\n";
  return kExitOk;
}

}  // namespace

void RegisterCheckpointCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<CheckpointArgs>();
  CLI::App* cmd = app.add_subcommand(
      "checkpoint", "Print the latest signed checkpoint (C2SP signed note), signing one if needed");
  cmd->add_flag("--json", args->json, "Print {size, root (hex), note} as JSON");
  cmd->add_option("--checkpoint-file", args->checkpoint_file,
                  "Witness: the checkpoint must extend the one kept in FILE (consistency proof), "
                  "which it then replaces; needs --verifier-key or --verifier-key-file")
      ->option_text("FILE");
  cmd->add_option("--cosign-key-file", args->cosign_key_file,
                  "Witness: add this witness's cosignature (C2SP tlog-cosignature/v1; `cairn "
                  "witness keygen`) to the checkpoint it checked and kept; needs --checkpoint-file")
      ->option_text("FILE");
  AddPinnedKeyOptions(cmd, &args->verifier_key, &args->verifier_key_file,
                      "the checkpoint must be signed by it, and only that signature is printed");
  cmd->add_option("--log-url", args->log_url,
                  "Read a C2SP tlog-tiles log over HTTP(S) (e.g. the cairn admin listener, "
                  "https://HOST:7401) instead of a store: its checkpoint, and consistency proofs "
                  "from its tiles; needs --verifier-key or --verifier-key-file")
      ->option_text("URL");
  cmd->add_option("--log-ca", args->log_ca_file,
                  "With --log-url: the only PEM CA certificate(s) trusted for its https")
      ->option_text("FILE");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunCheckpoint(ctx, *args); });

  auto vkey_args = std::make_shared<CheckpointArgs>();
  CLI::App* vkey = app.add_subcommand("vkey", "Print the checkpoint verifier key");
  AddDataDirOption(vkey, &vkey_args->data_dir);
  vkey->callback([&ctx, vkey_args] { ctx.exit_code = RunVkey(ctx, *vkey_args); });
}

}  // namespace cairn::cli
