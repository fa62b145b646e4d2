// The --verify side of `cairn subscribe`: the flags that pin the log's verifier key, and the
// subscription they select — a cairn::VerifyingSubscription (every event checked and proven in
// a signed checkpoint before it is printed) or a plain cairn::Subscription.
//
// The key is never fetched from the server (no trust on first use): the user gives the verifier
// key line (`cairn vkey` on the server's data directory, or `cairn init`'s output) with
// --verifier-key KEY or --verifier-key-file FILE.
#pragma once

#include <memory>
#include <string>

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
};

// Adds --verify, --verifier-key and --verifier-key-file to `command`; `flags` must outlive it.
void AddVerifyFlags(CLI::App* command, VerifyFlags* flags);
// The subscription the flags ask for. kInvalidArgument (a usage error) for --verify without a
// key, a key without --verify, both key flags, or a malformed key.
Result<std::unique_ptr<Subscription>> StartSubscription(Client& client,
                                                        const v1::SubscribeRequest& request,
                                                        const VerifyFlags& flags);

}  // namespace cairn::cli
