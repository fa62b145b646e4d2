#include "cli/subscribe_verify.h"

#include <cassert>

#include <CLI/CLI.hpp>

#include "cairn/verifying_subscription.h"
#include "cli/anchor_files.h"
#include "cli/utf8.h"

namespace cairn::cli {
namespace {

// The key line of --verifier-key or --verifier-key-file (trailing whitespace dropped).
Result<std::string> PinnedKey(const VerifyFlags& flags) {
  const bool inline_key = !flags.verifier_key.empty();
  const bool file_key = !flags.verifier_key_file.empty();
  if (!flags.verify) {
    if (inline_key || file_key || !flags.checkpoint_file.empty() || !flags.witness_keys.empty() ||
        flags.witnesses_min != 0) {
      return Status::InvalidArgument("--verifier-key, --verifier-key-file, --checkpoint-file, "
                                     "--witness-key and --witnesses-min go with --verify");
    }
    return std::string();
  }
  if (inline_key == file_key) {
    return Status::InvalidArgument(
        "--verify needs exactly one of --verifier-key KEY or --verifier-key-file FILE (the "
        "line `cairn vkey` prints on the server's data directory)");
  }
  return PinnedVerifierKey(flags.verifier_key, flags.verifier_key_file);
}

}  // namespace

void AddVerifyFlags(CLI::App* command, VerifyFlags* flags) {
  command->add_flag("--verify", flags->verify,
                    "Check every event's hashes and stream chain and prove it in a checkpoint "
                    "signed by the pinned verifier key before printing it; stop at the first "
                    "mismatch and report it to the server (needs `proof`)");
  command->add_option("--verifier-key", flags->verifier_key,
                      "The log's verifier key line (from `cairn vkey`), for --verify");
  command->add_option("--verifier-key-file", flags->verifier_key_file,
                      "A file holding the verifier key line, for --verify");
  command->add_option("--checkpoint-file", flags->checkpoint_file,
                      "Keep the last verified checkpoint in this file between runs, for "
                      "--verify: the next run's first checkpoint must be consistent with it");
  command->add_flag("--accept-unchecked-data", flags->accept_unchecked_data,
                    "With --verify: pass events whose protected fields came without their "
                    "stored form instead of stopping (the server withholds it when a rule was "
                    "widened after the event was written). The data of such events is NOT "
                    "verified — whoever controls the connection could have changed all of it; "
                    "each is flagged on stderr");
  command->add_flag("--require-chain-links", flags->require_chain_links,
                    "With --verify: stop when an event's link to its stream predecessor cannot "
                    "be checked (the server declined to show the predecessor; needs `read` on "
                    "the streams) instead of counting it");
  command->add_option("--witness-key", flags->witness_keys,
                      "With --verify: a C2SP witness's cosigner key line (`cairn witness "
                      "keygen`); events are proven only in checkpoints the witnesses cosigned "
                      "(the server pushes to them: [[witness]]); repeat for each")
      ->option_text("KEY");
  command->add_option("--witnesses-min", flags->witnesses_min,
                      "With --witness-key: how many of them must have cosigned (default: all)");
}

Result<std::unique_ptr<Subscription>> StartSubscription(Client& client,
                                                        const v1::SubscribeRequest& request,
                                                        const VerifyFlags& flags,
                                                        KeptCheckpoint* kept) {
  CAIRN_ASSIGN_OR_RETURN(std::string key, PinnedKey(flags));
  if (!flags.verify) return Subscription::Start(client, request);
  VerifyingSubscriptionOptions options;
  options.verifier_key = std::move(key);
  options.accept_missing_stored_form = flags.accept_unchecked_data;
  options.require_chain_links = flags.require_chain_links;
  if (flags.witnesses_min != 0 && flags.witness_keys.empty()) {
    return Status::InvalidArgument("--witnesses-min needs --witness-key");
  }
  options.witness_keys = flags.witness_keys;
  options.witnesses_min = flags.witnesses_min == 0 ? flags.witness_keys.size() : flags.witnesses_min;
  if (!flags.checkpoint_file.empty()) {
    constexpr size_t kSizeBytesMax = VerifyingSubscriptionOptions::kTrustedCheckpointSizeBytesMax;
    CAIRN_ASSIGN_OR_RETURN(options.trusted_checkpoint,
                           ReadKeptCheckpoint(flags.checkpoint_file, kSizeBytesMax));
  }
  kept->note = options.trusted_checkpoint;
  auto sub = VerifyingSubscription::Start(client, request, options);
  if (!sub.ok()) {
    if (sub.status().code() == StatusCode::kInvalidArgument) {
      const std::string_view message = sub.status().message();
      if (message.find("witness") != std::string_view::npos) {
        return sub.status().Annotate("--witness-key");
      }
      return sub.status().Annotate(options.trusted_checkpoint.empty() ? "--verifier-key"
                                                                      : "--checkpoint-file");
    }
    return sub.status();
  }
  return std::unique_ptr<Subscription>(std::move(sub).value());
}

void WarnIfDataUnchecked(const Subscription& sub, uint64_t position, std::ostream& err) {
  const auto* verifying = dynamic_cast<const VerifyingSubscription*>(&sub);
  if (verifying == nullptr || !verifying->last_event_data_unchecked()) return;
  err << "cairn: warning: event at position " << position
      << ": its data is NOT verified (no stored form; --accept-unchecked-data)\n";
}

void PrintVerifySummary(const Subscription& sub, std::ostream& err) {
  const auto* verifying = dynamic_cast<const VerifyingSubscription*>(&sub);
  if (verifying == nullptr) return;
  const VerifierStats& s = verifying->stats();
  err << "cairn: checked " << s.events_checked << " events (those printed were proven) in "
      << s.checkpoints_verified << " checkpoints (" << s.inclusion_proofs_checked << " inclusion, "
      << s.consistency_proofs_checked << " consistency proofs); stream links: "
      << s.chain_links_checked << " checked (" << s.predecessors_read << " predecessors read), "
      << s.chain_links_unchecked << " unchecked; data unchecked: " << s.data_hashes_skipped;
  if (s.cosignatures_checked > 0) err << "; witness cosignatures checked: " << s.cosignatures_checked;
  if (verifying->events_before_start_skipped() > 0) {
    err << "; dropped below the start: " << verifying->events_before_start_skipped();
  }
  err << "\n";
}

Status SaveVerifiedCheckpoint(const Subscription& sub, const VerifyFlags& flags,
                              KeptCheckpoint* kept, std::ostream& err) {
  if (flags.checkpoint_file.empty() || kept->left_to_another_run) return Status::Ok();
  const auto* verifying = dynamic_cast<const VerifyingSubscription*>(&sub);
  if (verifying == nullptr || verifying->stats().checkpoints_verified == kept->saved_count) {
    return Status::Ok();
  }
  kept->saved_count = verifying->stats().checkpoints_verified;
  const std::string note = verifying->checkpoint_note();
  assert(!note.empty());
  CAIRN_ASSIGN_OR_RETURN(const bool replaced,
                         ReplaceKeptCheckpoint(flags.checkpoint_file, kept->note, note));
  if (!replaced) {
    kept->left_to_another_run = true;
    err << "cairn: warning: another run changed " << TerminalSafe(flags.checkpoint_file)
        << "; this one no longer writes it\n";
    return Status::Ok();
  }
  kept->note = note;
  return Status::Ok();
}

}  // namespace cairn::cli
