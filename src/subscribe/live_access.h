// LiveAccess: what one subscriber may see, judged by the policy in force (not the policy of the
// moment it subscribed), so that a policy reload reaches running subscriptions.
//
// Refresh() re-takes the policy snapshot from the PolicyHolder (and re-resolves the principal's
// roles when the snapshot changed), checks that the credential has not expired, and checks the
// subscription as a whole: `subscribe` on the stream, or — for "$all" — at least one `subscribe`
// grant among the principal's roles. The delivery code calls it before every batch and at every
// idle tick. Between two Refresh() calls MaySubscribe / MayReadPii decide per event against the
// same snapshot, allocation-free.
//
// Errors of Refresh(): kUnauthenticated (credential expired, or revoked: set_credential_check),
// kPermissionDenied (the grant is gone). Messages name the action and stream only, never the
// deciding rule.
//
// Thread safety: not thread-safe; one subscription's delivery owns it. The PolicyHolder must
// outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/principal.h"
#include "common/status.h"
#include "policy/holder.h"
#include "policy/policy.h"

namespace cairn::subscribe {

inline constexpr std::string_view kAllStreams = "$all";

// Whether a principal's credential is still accepted (an API key a reload removed or changed is
// not: auth::Authenticator::CheckApiKeyInForce): OK, or the kUnauthenticated that ends the
// subscription. Thread-safe; may be empty (not checked).
using CredentialCheck = std::function<Status(const Principal&)>;

class LiveAccess {
 public:
  LiveAccess(const policy::PolicyHolder* policies, Principal principal, std::string stream);

  Status Refresh(int64_t now_unix_s);
  // Checked by every Refresh() after the expiry (set before the first Refresh()).
  void set_credential_check(CredentialCheck check) { credential_check_ = std::move(check); }

  bool MaySubscribe(std::string_view stream, std::string_view event_type) const;
  bool MayReadPii(std::string_view stream, std::string_view event_type) const;

  const Principal& principal() const { return principal_; }
  // How many times Refresh() has taken a new policy snapshot (the first counts): a caller that
  // remembers it sees a reload, e.g. to re-judge what it queued under the old policy.
  uint64_t policy_changes() const { return policy_changes_; }

 private:
  bool MaySubscribeAtAll() const;

  const policy::PolicyHolder* policies_;
  CredentialCheck credential_check_;  // may be empty
  const Principal principal_;
  const std::string stream_;  // a stream id or kAllStreams
  std::shared_ptr<const policy::Policy> policy_;  // set by the first Refresh()
  policy::ResolvedPrincipal resolved_;
  uint64_t policy_changes_ = 0;
  bool may_subscribe_at_all_ = false;  // "$all": Policy::MayActSomewhere under policy_
};

}  // namespace cairn::subscribe
