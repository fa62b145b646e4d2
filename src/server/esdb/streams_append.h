// The parts of an EventStoreDB append shared by Append and BatchAppend (streams_service.h): the
// events of one append, gathered message by message with their size bounded, then authorised
// type by type; and the audit record of the outcome.
//
// Thread safety: an AppendBatch belongs to one call; an AppendBudget is shared by all calls and
// thread-safe; the functions are pure.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/status.h>

#include "common/status.h"
#include "engine/event_store.h"
#include "engine/types.h"
#include "server/call_gate.h"
#include "server/esdb/esdb_convert.h"
#include "server/principal_tally.h"

namespace cairn::server::esdb {

// What one buffered event holds beside its data and custom metadata (its strings, its place in
// the vector), counted against the AppendBudget.
inline constexpr uint64_t kAppendEventOverheadBytes = 512;

// The bytes of the appends that clients are still sending, over all calls of a server: an
// unfinished append holds its events in memory until its last message (outside gRPC's memory
// quota), so that a caller allowed to append cannot make the server hold more than this by
// leaving many appends open.
class AppendBudget {
 public:
  // One principal's unfinished appends hold at most bytes_max / kPrincipalShareDivisor, so that
  // one caller cannot hold the whole budget (with appends it keeps open by sending a chunk now
  // and then) and refuse every other caller's appends: it takes this many principals.
  static constexpr uint64_t kPrincipalShareDivisor = 4;
  enum class Take : uint8_t { kTaken, kServerFull, kPrincipalFull };

  explicit AppendBudget(uint64_t bytes_max)
      : bytes_max_(bytes_max), principal_bytes_max_(bytes_max / kPrincipalShareDivisor) {}
  ~AppendBudget();  // everything given back
  // Takes `bytes` for `principal_id`, or nothing: kServerFull beyond bytes_max, kPrincipalFull
  // beyond the principal's share.
  Take TryTake(std::string_view principal_id, uint64_t bytes);
  void Give(std::string_view principal_id, uint64_t bytes);
  uint64_t bytes_taken() const;
  uint64_t bytes_taken(std::string_view principal_id) const;
  uint64_t bytes_max() const { return bytes_max_; }
  uint64_t principal_bytes_max() const { return principal_bytes_max_; }

 private:
  const uint64_t bytes_max_;
  const uint64_t principal_bytes_max_;
  mutable std::mutex mu_;
  uint64_t taken_ = 0;          // guarded by mu_
  PrincipalTally by_principal_;  // guarded by mu_
};

class AppendBatch {
 public:
  // `budget` (optional, not owned, outliving the batch): what the batch holds is taken from it,
  // out of `principal_id`'s share, as events are added and given back when they are taken out
  // or the batch is dropped.
  AppendBatch(uint64_t size_bytes_max, uint64_t events_max, AppendBudget* budget = nullptr,
              std::string principal_id = "");
  // Whose share the batch takes from (a call admits its caller after making its batch); before
  // the first Add only.
  void set_principal(std::string principal_id);
  AppendBatch(AppendBatch&& other) noexcept;
  AppendBatch& operator=(AppendBatch&&) = delete;
  ~AppendBatch();

  // Adds one proposed message (AppendReq or BatchAppendReq ProposedMessage). kInvalidArgument
  // for a malformed message (id, type, content type); kResourceExhausted once the events exceed
  // size_bytes_max bytes (data + custom metadata) or events_max events; kUnavailable when the
  // budget is spent (other appends hold it: worth a retry). After an error the batch must not be
  // appended.
  template <class WireMessage>
  Status Add(const WireMessage& message) {
    return Add(message.data().size() + message.custom_metadata().size(),
               ProposedFromWire(message.id(), message.metadata(), message.custom_metadata(),
                                message.data()));
  }

  // `append` on `stream` for every distinct event type (denials audited by Require); the first
  // denial is returned (PERMISSION_DENIED).
  grpc::Status Authorize(const CallIdentity& id, std::string_view stream) const;
  // The same for the event added last (skipped when the one before had its type), so that a
  // streamed append is refused at its first denied event instead of after buffering the rest.
  grpc::Status AuthorizeLast(const CallIdentity& id, std::string_view stream) const;

  size_t event_count() const { return events_.size(); }
  uint64_t size_bytes() const { return size_bytes_; }
  // The events, handed on (to the engine, whose queue bounds them from then on).
  std::vector<engine::ProposedEvent> TakeEvents();

 private:
  Status Add(uint64_t size_bytes, Result<engine::ProposedEvent> event);

  const uint64_t size_bytes_max_;
  const uint64_t events_max_;
  AppendBudget* budget_;
  uint64_t budget_taken_ = 0;  // what this batch holds of budget_
  std::string principal_id_;   // whose share of budget_ it holds
  uint64_t size_bytes_ = 0;
  std::vector<engine::ProposedEvent> events_;
};

// The data-plane audit record of an allowed append call with its outcome, when audit.data_plane
// wants writes (the call was counted by CountAllowed before the append, as cairn.v1 does).
void AuditAppend(const CallIdentity& id, std::string_view stream, size_t event_count,
                 const Status& outcome);

// An append of no events: EventStoreDB checks the expected revision and answers with the
// stream's current revision (nullopt: the stream does not exist), writing nothing.
// kWrongExpectedVersion (detail: current version, -1 none), kStreamDeleted; kInvalidArgument for
// a system ('$') stream, which a client may not append to (so it learns nothing of it here).
Result<std::optional<engine::AppendResult>> AppendNothing(engine::EventStore& store,
                                                          std::string_view stream,
                                                          const engine::ExpectedVersion& expected);

}  // namespace cairn::server::esdb
