// The --verify side of `cairn subscribe`: the flags that pin the log's verifier key, and the
// subscription they select — a cairn::VerifyingSubscription (every event checked and proven in
// a signed checkpoint before it is printed) or a plain cairn::Subscription.
//
// The key is never fetched from the server (no trust on first use): the user gives the verifier
// key line (`cairn vkey` on the server's data directory, or `cairn init`'s output) with
// --verifier-key KEY or --verifier-key-file FILE.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cairn/client.h"
#include "cairn/subscriptions.h"
#include "common/status.h"

namespace CLI {
class App;
}

namespace cairn::cli {

struct VerifyFlags {
  bool verify = false;
  std::string verifier_key;
  std::string verifier_key_file;
  // --checkpoint-file: the last verified checkpoint (its signed note) is kept here between runs;
  // read at start if present (the first checkpoint must be consistent with it), replaced
  // whenever a newer one is verified.
  std::string checkpoint_file;
  // --accept-unchecked-data: events whose protected data came without its stored form pass
  // unchecked (VerifyingSubscriptionOptions::accept_missing_stored_form).
  bool accept_unchecked_data = false;
  // --require-chain-links: an event whose stream link cannot be checked (the server declined its
  // predecessor) ends the run (VerifyingSubscriptionOptions::require_chain_links).
  bool require_chain_links = false;
  // --witness-key (repeated) and --witnesses-min: prove events only in checkpoints that this
  // many of these C2SP witnesses cosigned (VerifyingSubscriptionOptions::witness_keys); the
  // quorum defaults to every key given.
  std::vector<std::string> witness_keys;
  size_t witnesses_min = 0;
};

// What --checkpoint-file holds as far as this run knows, for SaveVerifiedCheckpoint.
struct KeptCheckpoint {
  std::string note;  // "" while the file does not exist
  uint64_t saved_count = 0;  // checkpoints verified when it was last written
  bool left_to_another_run = false;  // another run changed the file: not written any more
};

// Adds --verify, --verifier-key, --verifier-key-file and --checkpoint-file to `command`; `flags`
// must outlive it.
void AddVerifyFlags(CLI::App* command, VerifyFlags* flags);
// The subscription the flags ask for; sets `kept->note` to what --checkpoint-file holds.
// kInvalidArgument (a usage error) for --verify without a key, a key or checkpoint file without
// --verify, both key flags, a malformed key, or a checkpoint file the key did not sign.
Result<std::unique_ptr<Subscription>> StartSubscription(Client& client,
                                                        const v1::SubscribeRequest& request,
                                                        const VerifyFlags& flags,
                                                        KeptCheckpoint* kept);

// Writes `sub`'s latest verified checkpoint to --checkpoint-file when it is newer than the one
// written last, and only while the file holds what this run last read or wrote there: when
// another run changed it, says so on `err` once and leaves the file to that run. OK and nothing
// written without the flag or for a plain subscription.
Status SaveVerifiedCheckpoint(const Subscription& sub, const VerifyFlags& flags,
                              KeptCheckpoint* kept, std::ostream& err);

// With --verify, after each event Next() returned: a warning on `err` when that event's data
// could not be checked (--accept-unchecked-data let it pass), so it is never shown as verified.
void WarnIfDataUnchecked(const Subscription& sub, uint64_t position, std::ostream& err);
// With --verify, at the end of a run: what was checked and what was not, one line on `err`.
void PrintVerifySummary(const Subscription& sub, std::ostream& err);

}  // namespace cairn::cli
