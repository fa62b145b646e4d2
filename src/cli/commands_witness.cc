// cairn witness keygen | verify: a witness's cosigner key (C2SP tlog-cosignature/v1, Ed25519),
// and the check a log client makes of cosigned checkpoints. The cosigning itself is `cairn
// checkpoint --checkpoint-file FILE --cosign-key-file KEY` (commands_checkpoint.cc: the witness
// pulls) or `cairn witness serve` (commands_witness_serve.cc: logs push, C2SP tlog-witness); a
// witness cosigns only what it checked to extend what it kept.
#include <iostream>
#include <memory>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/utf8.h"
#include "common/trusted_file.h"
#include "crypto/x509.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"

namespace cairn::cli {
namespace {

constexpr size_t kNoteFileSizeBytesMax = 1 << 20;

struct WitnessKeygenArgs {
  std::string name;
  std::string out;
};

struct WitnessVerifyArgs {
  std::string note_file;
  std::string verifier_key;
  std::string verifier_key_file;
  std::vector<std::string> witness_keys;
  size_t witnesses_min = 0;  // 0: every given witness
  bool json = false;
};

int RunWitnessKeygen(const WitnessKeygenArgs& args) {
  if (!integrity::IsValidNoteKeyName(args.name)) {
    return UsageError("--name must be a key name: no spaces, '+' or control characters");
  }
  auto key = crypto::Ed25519PrivateKey::Generate();
  if (!key.ok()) return Fail(key.status());
  crypto::SecureBytes text =
      integrity::SignerKeyText(args.name, *key, integrity::kCosignatureAlgorithmEd25519);
  std::string file;
  file.reserve(text.size() + 1);  // one buffer: no freed copy of the seed
  file.append(text.view());
  file += '\n';
  Status written = crypto::WritePrivateFile(args.out, file);
  crypto::Cleanse(&file);
  if (!written.ok()) return Fail(written.Annotate("cannot write the witness key to " + args.out));
  std::cout << integrity::VerifierKeyText(args.name, key->public_key(),
                                          integrity::kCosignatureAlgorithmEd25519)
            << "\n";
  return kExitOk;
}

int RunWitnessVerify(const WitnessVerifyArgs& args) {
  auto vkey = PinnedVerifierKey(args.verifier_key, args.verifier_key_file);
  if (!vkey.ok()) return UsageError(vkey.status().message());
  if (vkey->empty()) return UsageError("give the log's verifier key: --verifier-key or --verifier-key-file");
  auto log_key = integrity::ParseVerifierKey(*vkey);
  if (!log_key.ok()) return UsageError("--verifier-key: " + log_key.status().message());
  if (args.witness_keys.empty()) return UsageError("give at least one --witness-key");
  std::vector<integrity::NoteVerifier> witnesses;
  for (const std::string& text : args.witness_keys) {
    auto w = integrity::ParseVerifierKey(text, integrity::kCosignatureAlgorithmEd25519);
    if (!w.ok()) return UsageError("--witness-key: " + w.status().message());
    for (const integrity::NoteVerifier& seen : witnesses) {
      // One key is one witness, whatever its name: it must not count twice toward the quorum.
      if (seen.public_key == w->public_key) return UsageError("--witness-key: a key is given twice");
    }
    witnesses.push_back(std::move(w).value());
  }
  const size_t needed = args.witnesses_min == 0 ? witnesses.size() : args.witnesses_min;
  if (needed > witnesses.size()) return UsageError("--witnesses-min is more than the witness keys given");
  auto note = ReadOwnedFile(args.note_file, "checkpoint file", kNoteFileSizeBytesMax);
  if (!note.ok()) return Fail(note.status());
  auto checkpoint = integrity::VerifyCheckpoint(*note, *log_key);
  if (!checkpoint.ok()) {
    return Fail(Status::DataLoss("the checkpoint is not signed by the log's key (" +
                                 checkpoint.status().message() + ")"));
  }
  size_t cosigned = 0;
  Json out;
  out["size"] = checkpoint->size;
  out["cosignatures"] = Json::array();
  for (const integrity::NoteVerifier& w : witnesses) {
    auto timestamp = integrity::VerifyCosignature(*note, w);
    Json entry;
    entry["witness"] = w.name;
    if (timestamp.ok()) {
      ++cosigned;
      entry["time"] = *timestamp;
    } else {
      entry["error"] = timestamp.status().message();
    }
    out["cosignatures"].push_back(std::move(entry));
    if (!args.json) {
      std::cout << TerminalSafe(w.name) << ": "
                << (timestamp.ok() ? "cosigned at " + std::to_string(*timestamp)
                                   : TerminalSafe(timestamp.status().message()))
                << "\n";
    }
  }
  out["ok"] = cosigned >= needed;
  if (args.json) std::cout << JsonLine(out) << "\n";
  if (cosigned < needed) {
    return Fail(Status::DataLoss("the checkpoint of size " + std::to_string(checkpoint->size) +
                                 " has " + std::to_string(cosigned) + " valid cosignature(s); " +
                                 std::to_string(needed) + " needed"));
  }
  if (!args.json) {
    std::cout << "checkpoint of size " << checkpoint->size << ": " << cosigned << " of "
              << witnesses.size() << " witnesses cosigned it\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterWitnessCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* witness = app.add_subcommand(
      "witness", "Witness cosignatures of checkpoints (C2SP tlog-cosignature/v1, Ed25519)");
  witness->require_subcommand(1);

  auto keygen = std::make_shared<WitnessKeygenArgs>();
  CLI::App* keygen_cmd = witness->add_subcommand(
      "keygen", "Make a witness's cosigner key in a new 0600 file; print its verifier key line");
  keygen_cmd->add_option("--name", keygen->name, "The witness's key name, e.g. witness.example.org/w1")
      ->required();
  keygen_cmd->add_option("--out", keygen->out, "The private key file to create (never overwritten)")
      ->required()
      ->option_text("FILE");
  keygen_cmd->callback([&ctx, keygen] { ctx.exit_code = RunWitnessKeygen(*keygen); });

  auto verify = std::make_shared<WitnessVerifyArgs>();
  CLI::App* verify_cmd = witness->add_subcommand(
      "verify", "Check a checkpoint's signature by the log and its witnesses' cosignatures");
  verify_cmd->add_option("--note-file", verify->note_file, "The cosigned checkpoint (signed note)")
      ->required()
      ->option_text("FILE");
  AddPinnedKeyOptions(verify_cmd, &verify->verifier_key, &verify->verifier_key_file,
                      "the checkpoint must be signed by it");
  verify_cmd->add_option("--witness-key", verify->witness_keys,
                         "A witness's verifier key line (`cairn witness keygen`); repeat for each")
      ->option_text("KEY");
  verify_cmd->add_option("--witnesses-min", verify->witnesses_min,
                         "Valid cosignatures needed (default: every --witness-key)");
  verify_cmd->add_flag("--json", verify->json, "Print the result as JSON");
  verify_cmd->callback([&ctx, verify] { ctx.exit_code = RunWitnessVerify(*verify); });
  RegisterWitnessServe(witness, ctx);
}

}  // namespace cairn::cli
