// RemoteEventStore: the engine::EventStore interface over a cairn server (cairn::Client), so
// that every CLI command has one code path for the offline and the network mode.
//
// Calls map one to one onto the cairn.v1 RPCs and return the server's Status (a wrong expected
// version keeps its current-version detail). Offline-only operations (Verify, VerifyDataDir)
// answer kFailedPrecondition. Reads that left events out because the caller may not read their
// type add the count to filtered_events(), which the read commands report on stderr.
//
// Thread safety: as cairn::Client (safe to share); filtered_events() is a relaxed counter.
#pragma once

#include <atomic>
#include <memory>

#include "cairn/client.h"
#include "engine/event_store.h"

namespace cairn::cli {

class RemoteEventStore final : public engine::EventStore {
 public:
  explicit RemoteEventStore(std::unique_ptr<Client> client);

  Result<engine::AppendResult> Append(std::string_view stream_id, engine::ExpectedVersion expected,
                                      std::vector<engine::ProposedEvent> events) override;
  Result<engine::AppendResult> DeleteStream(std::string_view stream_id,
                                            engine::ExpectedVersion expected) override;
  Result<engine::ReadStreamResult> ReadStream(std::string_view stream_id, uint64_t from_version,
                                              engine::Direction direction, uint64_t limit) override;
  Result<std::vector<engine::RecordedEvent>> ReadAll(uint64_t from_position,
                                                     uint64_t limit) override;
  Result<engine::RecordedEvent> ReadAt(uint64_t position) override;
  Result<engine::StreamInfo> GetStreamInfo(std::string_view stream_id) override;
  uint64_t tree_size() const override;
  std::string origin() const override;
  std::string verifier_key() const override;
  Result<engine::SignedCheckpoint> Checkpoint() override;
  Result<engine::SignedCheckpoint> LatestStoredCheckpoint() override;
  Result<engine::InclusionProof> ProveInclusion(uint64_t index, uint64_t size) override;
  Result<engine::ConsistencyProof> ProveConsistency(uint64_t size1, uint64_t size2) override;
  engine::VerifyReport Verify() override;
  Result<engine::ForgetResult> Forget(std::string_view subject) override;
  Result<uint32_t> RotateStorageKey() override;
  Result<std::string> RotateSubjectKey(std::string_view subject) override;
  Result<engine::KekRotation> RotateKek() override;
  // The server chooses where (its [backup] dir): `dir` must be empty (kInvalidArgument).
  Result<engine::BackupResult> Backup(const std::string& dir) override;
  Result<engine::KeyPage> ListKeys(std::string_view page_token, size_t keys_max) override;

  Client& client() { return *client_; }
  uint64_t filtered_events() const { return filtered_events_.load(std::memory_order_relaxed); }

 private:
  // What a read asked for: at most `limit` events (0: any number), positions from
  // `position_min`, strictly increasing (decreasing when `backwards`).
  struct CollectBounds {
    uint64_t limit = 0;
    uint64_t position_min = 0;
    bool backwards = false;
  };
  Status Collect(const v1::ReadResponse& chunk, const CollectBounds& bounds,
                 std::vector<engine::RecordedEvent>* out);

  std::unique_ptr<Client> client_;
  std::atomic<uint64_t> filtered_events_{0};
};

}  // namespace cairn::cli
