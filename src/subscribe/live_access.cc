#include "subscribe/live_access.h"

#include <cassert>
#include <utility>

namespace cairn::subscribe {

using policy::Action;

LiveAccess::LiveAccess(const policy::PolicyHolder* policies, Principal principal, std::string stream)
    : policies_(policies), principal_(std::move(principal)), stream_(std::move(stream)) {
  assert(policies_ != nullptr);
}

Status LiveAccess::Refresh(int64_t now_unix_s) {
  if (principal_.expires_unix_s > 0 && now_unix_s >= principal_.expires_unix_s) {
    return Status::Unauthenticated("the credential expired during the subscription");
  }
  if (credential_check_) CAIRN_RETURN_IF_ERROR(credential_check_(principal_));
  std::shared_ptr<const policy::Policy> current = policies_->Current();
  assert(current != nullptr);
  if (current != policy_) {
    policy_ = std::move(current);
    resolved_ = policy_->Resolve(principal_);
    policy_changes_++;
    // The whole log's gate is judged once per policy (it walks grants × denies), not per batch.
    may_subscribe_at_all_ = stream_ == kAllStreams
                                ? policy_->MayActSomewhere(resolved_, Action::kSubscribe)
                                : false;
  }
  if (!MaySubscribeAtAll()) {
    return Status::PermissionDenied("permission denied: subscribe on '" + stream_ + "'");
  }
  return Status::Ok();
}

bool LiveAccess::MaySubscribeAtAll() const {
  if (stream_ != kAllStreams) {
    return policy_->Decide(resolved_, Action::kSubscribe, stream_, "").allowed;
  }
  // The whole log: some grant of `subscribe` that no deny covers (computed when the policy
  // changed); each event is then judged on its own.
  return may_subscribe_at_all_;
}

bool LiveAccess::MaySubscribe(std::string_view stream, std::string_view event_type) const {
  assert(policy_ != nullptr);
  return policy_->Decide(resolved_, Action::kSubscribe, stream, event_type).allowed;
}

bool LiveAccess::MayReadPii(std::string_view stream, std::string_view event_type) const {
  assert(policy_ != nullptr);
  return policy_->Decide(resolved_, Action::kReadPii, stream, event_type).allowed;
}

}  // namespace cairn::subscribe
