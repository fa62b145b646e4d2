// AuditTrail: the bounded queue between the places that audit (server calls, scrub, start/stop)
// and the `$audit` stream. One writer thread takes up to batch_records_max queued records at a
// time and hands them to the AuditWriter (the server's: one AppendSystem to `$audit`), so audit
// writes are batched and never make an append wait: Submit* never blocks.
//
// The last AdminRoom(queue_records_max) slots (a sixteenth) are for admin acts only, so that
// records any caller can cause (denials, failed logins, data-plane records) cannot crowd out a
// policy reload or a forget. When the queue is full (for those records: all but that room):
//  - admin acts fail closed: ReserveAdmin() returns kUnavailable and the act must not happen
//    (a reserved slot is held until the record is submitted, so a reserved act is always audited);
//  - data-plane records are dropped and counted (stats().dropped_data_plane);
//  - other security records (auth failures, denials, …) are dropped and counted
//    (stats().dropped_security): the call they describe has already been refused.
// A failed write is retried with backoff until it succeeds; records are never re-ordered, and
// each record carries its own event id, so a retry after a write the store took in part appends
// nothing twice. While writes fail, admin acts fail closed (ReserveAdmin() returns kUnavailable)
// and the queue fills as above; every round of failed attempts is counted in
// stats().write_errors and logged. Only a batch the store refuses for good (any code but
// kUnavailable, kIOError, kAborted, kResourceExhausted and kDataLoss: after one round) and
// Stop() give a batch up (stats().lost). A batch given up while running is told in the next
// `$audit.gap` record (detail `not_written`), written at once, and admin acts stay refused
// until a write succeeds.
//
// Dropped records (queue full) are told the same way: one `$audit.gap` record (kAuditGap, seen
// by listeners and so by the audit_gap alert) after the records queued before the first drop.
//
// Data-plane records are kept only as `data_plane` says: kNone drops them silently (not counted
// as dropped), kWrites keeps appends and deletes, kAll keeps reads and subscriptions too.
//
// Thread safety: every method is thread-safe. Listeners are added before the trail is shared.
// Stop() (also run by the destructor) refuses new admin reservations, waits up to 5 s for the
// reserved ones to be submitted or dropped, writes what is queued, then joins the thread. An
// admin record submitted after that is counted lost and logged. No AdminSlot may outlive the
// trail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audit/record.h"
#include "common/status.h"

namespace cairn::audit {

enum class DataPlaneAudit : uint8_t { kNone = 0, kWrites, kAll };

inline constexpr size_t kAuditQueueRecordsMax = 1 << 20;
// Queue slots only admin acts may take: a sixteenth of queue_records_max (none below 16).
inline constexpr size_t kAdminRoomDivisor = 16;
inline constexpr size_t AdminRoom(size_t queue_records_max) {
  return queue_records_max / kAdminRoomDivisor;
}
inline constexpr size_t kAuditBatchRecordsMax = 4000;

struct AuditTrailOptions {
  size_t queue_records_max = 65536;  // 1 .. kAuditQueueRecordsMax
  size_t batch_records_max = 1000;   // 1 .. kAuditBatchRecordsMax
  DataPlaneAudit data_plane = DataPlaneAudit::kNone;
};

// Appends the encoded records, in order, as one batch; called on the trail's thread only.
using AuditWriter = std::function<Status(const std::vector<AuditRecord>& records)>;

struct AuditTrailStats {
  uint64_t written = 0;
  uint64_t dropped_data_plane = 0;
  uint64_t dropped_security = 0;
  uint64_t admin_refused = 0;   // ReserveAdmin() refusals (queue full)
  uint64_t write_errors = 0;    // rounds of failed write attempts (the batch is retried)
  uint64_t lost = 0;            // records given up: refused for good, or at Stop()
  uint64_t queue_depth = 0;
};

class AuditTrail {
 public:
  // A reserved queue slot for one admin record. Move-only; Submit() consumes it. A slot dropped
  // without Submit() is released (the act did not happen).
  class AdminSlot {
   public:
    AdminSlot() = default;
    AdminSlot(AdminSlot&& other) noexcept;
    AdminSlot& operator=(AdminSlot&& other) noexcept;
    ~AdminSlot();
    void Submit(AuditRecord record);  // record.kind must be kAdmin (asserted)

   private:
    friend class AuditTrail;
    explicit AdminSlot(AuditTrail* trail) : trail_(trail) {}
    AuditTrail* trail_ = nullptr;
  };

  static Result<std::unique_ptr<AuditTrail>> Start(const AuditTrailOptions& options,
                                                   AuditWriter writer);
  virtual ~AuditTrail() = default;

  virtual void AddListener(AuditListener* listener) = 0;  // not owned; must outlive the trail
  // Security records (every kind but kAdmin and kDataPlane). False when dropped (queue full).
  virtual bool Submit(AuditRecord record) = 0;
  // kUnavailable when no slot is free ("audit queue full") or the last write failed.
  virtual Result<AdminSlot> ReserveAdmin() = 0;
  // kDataPlane records; `is_write` for appends and deletes. False when dropped.
  virtual bool SubmitDataPlane(AuditRecord record, bool is_write) = 0;
  virtual DataPlaneAudit data_plane() const = 0;
  // Returns when every record submitted before the call is written or given up, or a round of
  // write attempts failed meanwhile and the batch will be retried (stats().write_errors grew).
  virtual void Flush() = 0;
  virtual void Stop() = 0;
  virtual AuditTrailStats stats() const = 0;

 protected:
  // For implementations: a slot bound to this trail (the reservation already counted).
  AdminSlot MakeAdminSlot() { return AdminSlot(this); }
  // For AdminSlot.
  virtual void SubmitReserved(AuditRecord record) = 0;
  virtual void ReleaseReserved() = 0;
};

}  // namespace cairn::audit
