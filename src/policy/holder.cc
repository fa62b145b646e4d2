#include "policy/holder.h"

#include <cassert>

#include "policy/parse.h"

namespace cairn::policy {

PolicyHolder::PolicyHolder(std::string path)
    : path_(std::move(path)), current_(std::make_shared<const Policy>()) {}

Status PolicyHolder::Reload(Version* in_force) {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  const Status s = ReloadLocked();
  if (in_force != nullptr) {
    in_force->generation = generation();
    in_force->text_sha256 = Current()->text_sha256();
  }
  return s;
}

Status PolicyHolder::ReloadLocked() {
  if (path_.empty()) return Status::Ok();
  Result<std::shared_ptr<const Policy>> loaded = LoadPolicyFile(path_);
  if (!loaded.ok()) return loaded.status().Annotate("policy reload rejected, previous policy kept");
  assert(loaded.value() != nullptr);
  if (reload_check_) {
    CAIRN_RETURN_IF_ERROR(reload_check_(**loaded).Annotate("policy reload rejected, previous policy kept"));
  }
  std::shared_ptr<const Policy> previous = std::move(loaded).value();
  {
    std::lock_guard<std::mutex> lock(current_mu_);
    current_.swap(previous);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  return Status::Ok();  // `previous` is released here, outside the lock
}

void PolicyHolder::Install(std::shared_ptr<const Policy> policy) {
  assert(policy != nullptr);
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  {
    std::lock_guard<std::mutex> lock(current_mu_);
    current_.swap(policy);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
}

std::shared_ptr<const Policy> PolicyHolder::Current() const {
  std::lock_guard<std::mutex> lock(current_mu_);
  assert(current_ != nullptr);
  return current_;
}

}  // namespace cairn::policy
