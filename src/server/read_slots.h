// ReadSlots: bounds the cairn.v1 Read/ReadAll calls in progress, in all and per principal.
//
// Read and ReadAll are synchronous gRPC calls: each holds one of the server's request threads
// (at most kServerThreadsMax, gRPC's thread quota) for as long as its client goes on taking
// responses, and up to limits.write_stall_ms_max per response when it does not. Without a bound,
// one principal with a read grant could hold every thread with reads its clients never drain, and
// every other synchronous call (reads, stream info, proofs, WhoAmI, admin) would fail with
// "Server Threadpool Exhausted" (tests/integration/read_slots_test.cc). With it, one principal
// holds at most `per_principal_max` reads, all together at most `total_max`, and the threads
// above total_max stay for the other calls. EventStoreDB Reads (callback calls, no thread) get an
// instance of their own with the same limits: each holds a page of answers (up to
// limits.read_size_bytes_max of stored events) for as long as its client does not take them, so
// without a bound one principal could open tens of thousands and exhaust memory.
//
// A read takes a Slot after it was authorized and gives it back when the Slot is destroyed.
// A read that finds no slot is refused at once with RESOURCE_EXHAUSTED naming the limit; nothing
// waits. Memory: one entry per principal with a read in progress (≤ total_max).
// Thread safety: thread-safe (one mutex; O(1) per acquire and release).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

#include "audit/metrics.h"
#include "server/principal_tally.h"

namespace cairn::server {

// gRPC's thread quota of the server (grpc::ResourceQuota::SetMaxThreads): pollers and the
// handlers of synchronous calls together.
inline constexpr size_t kServerThreadsMax = 256;
// What limits.reads_max may take at most: the rest serve every other synchronous call.
inline constexpr size_t kReadsMaxLimit = kServerThreadsMax - 64;

class ReadSlots {
 public:
  // One read's claim; gives it back when destroyed. Move-only; an empty Slot holds nothing.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();
    bool held() const { return owner_ != nullptr; }

   private:
    friend class ReadSlots;
    void Release();
    ReadSlots* owner_ = nullptr;
    std::string principal_;
  };

  // Requires 1 <= per_principal_max <= total_max. `metrics` may be null; when set, refusals are
  // counted in cairn_reads_refused_total{limit="reads_max"|"reads_per_principal_max"}.
  ReadSlots(size_t total_max, size_t per_principal_max, audit::MetricsRegistry* metrics = nullptr);
  ReadSlots(const ReadSlots&) = delete;
  ReadSlots& operator=(const ReadSlots&) = delete;
  ~ReadSlots();  // every Slot must be gone

  // Takes a slot for a read by `principal_id` into *slot (which must be empty), or refuses:
  // RESOURCE_EXHAUSTED "too many reads in progress ..." naming the limit.
  grpc::Status Acquire(std::string_view principal_id, Slot* slot);

  size_t in_progress() const;
  size_t in_progress(std::string_view principal_id) const;

 private:
  void Release(const std::string& principal_id);

  const size_t total_max_;
  const size_t per_principal_max_;
  mutable std::mutex mu_;
  size_t total_ = 0;             // guarded by mu_
  PrincipalTally per_principal_;  // guarded by mu_
  audit::Counter* refused_total_ = nullptr;          // null when metrics are off
  audit::Counter* refused_per_principal_ = nullptr;
};

}  // namespace cairn::server
