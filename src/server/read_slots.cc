#include "server/read_slots.h"

#include <cassert>
#include <utility>

namespace cairn::server {

namespace {

constexpr std::string_view kRefusedName = "cairn_reads_refused_total";
constexpr std::string_view kRefusedHelp =
    "Reads (cairn.v1 Read/ReadAll, EventStoreDB Read) refused because too many were in progress, "
    "by the limit (limits.reads_max in all, limits.reads_per_principal_max for the caller).";

}  // namespace

ReadSlots::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), principal_(std::move(other.principal_)) {}

ReadSlots::Slot& ReadSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    principal_ = std::move(other.principal_);
  }
  return *this;
}

ReadSlots::Slot::~Slot() { Release(); }

void ReadSlots::Slot::Release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->Release(principal_);
}

ReadSlots::ReadSlots(size_t total_max, size_t per_principal_max, audit::MetricsRegistry* metrics)
    : total_max_(total_max), per_principal_max_(per_principal_max) {
  assert(per_principal_max >= 1 && per_principal_max <= total_max);
  if (metrics == nullptr) return;
  refused_total_ = metrics->GetCounter(kRefusedName, kRefusedHelp, {{"limit", "reads_max"}});
  refused_per_principal_ =
      metrics->GetCounter(kRefusedName, kRefusedHelp, {{"limit", "reads_per_principal_max"}});
}

ReadSlots::~ReadSlots() { assert(total_ == 0 && per_principal_.empty()); }

grpc::Status ReadSlots::Acquire(std::string_view principal_id, Slot* slot) {
  assert(!slot->held());
  std::lock_guard<std::mutex> lock(mu_);
  if (total_ >= total_max_) {
    if (refused_total_ != nullptr) refused_total_->Increment();
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many reads in progress on this server (limits.reads_max = " +
                            std::to_string(total_max_) + "); retry shortly");
  }
  if (per_principal_.Of(principal_id) >= per_principal_max_) {
    if (refused_per_principal_ != nullptr) refused_per_principal_->Increment();
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many reads in progress for this caller "
                        "(limits.reads_per_principal_max = " +
                            std::to_string(per_principal_max_) + "); retry when one has ended");
  }
  per_principal_.Add(principal_id, 1);
  ++total_;
  assert(total_ <= total_max_ && per_principal_.Of(principal_id) <= per_principal_max_);
  slot->owner_ = this;
  slot->principal_ = std::string(principal_id);
  return grpc::Status::OK;
}

void ReadSlots::Release(const std::string& principal_id) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(total_ > 0);
  --total_;
  per_principal_.Subtract(principal_id, 1);
}

size_t ReadSlots::in_progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

size_t ReadSlots::in_progress(std::string_view principal_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return per_principal_.Of(principal_id);
}

}  // namespace cairn::server
