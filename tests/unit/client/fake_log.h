// FakeLog: a small in-memory log for the verifying client's tests. It builds real v1 entries,
// leaf hashes, stream chains, a Merkle tree and Ed25519-signed checkpoints (the integrity
// module's code), serves them as an IntegritySource, and records the violation reports it gets.
// Knobs let a test make the "server" lie: a forged signature, a checkpoint of another tree.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/v1/streams.pb.h"
#include "client/event_verifier.h"
#include "integrity/memory_node_store.h"
#include "integrity/merkle.h"
#include "integrity/note.h"

namespace cairn::testing {

inline constexpr char kFakeOrigin[] = "verify.test/log";

class FakeLog final : public IntegritySource {
 public:
  FakeLog();

  // Appends an event (ids are derived from the position) and returns it as delivered.
  v1::RecordedEvent Append(const std::string& stream, const std::string& type,
                           const std::string& data, const std::string& metadata = "");
  // Appends the next version of `stream` with `prev` as its stream_prev instead of the leaf of
  // the version before: a broken chain written into the log (and so signed).
  v1::RecordedEvent AppendWithPrev(const std::string& stream, const integrity::Hash& prev,
                                   const std::string& type, const std::string& data);
  // A wire event with these fields as the server would send it (its hashes computed from
  // them), without adding it to the tree: a self-consistent forgery.
  static v1::RecordedEvent Forge(uint64_t position, const std::string& stream, uint64_t version,
                                 const integrity::Hash& prev, const std::string& type,
                                 const std::string& data, const std::string& metadata = "");
  uint64_t size() const { return range_.size(); }
  integrity::NoteVerifier verifier() const { return integrity::VerifierForSigner(signer_); }
  std::string verifier_key_text() const;

  // The lies.
  bool forge_signature = false;        // flip one bit of the checkpoint's signature
  size_t foreign_signature_lines = 0;  // append this many other signers' lines to the note
  bool fork_root = false;              // sign a checkpoint whose root is of another tree
  std::optional<uint64_t> serve_size;  // sign the checkpoint of this older size
  bool serve_reads = false;            // ReadStreamEvent answers (false: as a source without)
  std::optional<v1::RecordedEvent> read_instead;  // ReadStreamEvent's answer, whatever is asked
  Status read_error;                              // not OK: ReadStreamEvent fails with it
  bool short_batches = false;  // GetInclusionProofs answers one proof fewer than asked for
  std::optional<size_t> unavailable_after_batches;  // later GetInclusionProofs calls fail

  Result<v1::Checkpoint> GetCheckpoint() override;
  // GetCheckpoint's note (of cosigned_size when set) with a cosignature by each of `cosigners`.
  Result<v1::Checkpoint> GetCosignedCheckpoint() override;
  std::vector<integrity::NoteSigner> cosigners;
  std::optional<uint64_t> cosigned_size;  // witnesses behind: they cosigned this older size
  uint64_t cosigned_calls = 0;
  Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) override;
  // As the server's batch call: counted, and each proof as GetInclusionProof makes it.
  Result<std::vector<v1::InclusionProof>> GetInclusionProofs(const std::vector<uint64_t>& indexes,
                                                             uint64_t size) override;
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) override;
  Status ReportViolation(const v1::ViolationReport& report) override;
  Result<std::optional<v1::RecordedEvent>> ReadStreamEvent(const std::string& stream,
                                                           uint64_t version) override;
  uint64_t read_calls = 0;

  std::vector<v1::ViolationReport> reports;
  uint64_t inclusion_calls = 0;        // proofs made (one per position, batched or not)
  std::vector<size_t> batch_sizes;      // positions asked for per GetInclusionProofs call

 private:
  integrity::NoteSigner signer_;
  integrity::CompactRange range_;
  integrity::MemoryNodeStore nodes_;
  std::vector<integrity::Hash> leaves_;
  std::map<std::string, std::pair<uint64_t, integrity::Hash>> heads_;  // stream → version, leaf
  std::map<std::pair<std::string, uint64_t>, v1::RecordedEvent> events_;  // (stream, version)
  v1::RecordedEvent AppendEntry(const std::string& stream, const integrity::Hash& prev,
                                const std::string& type, const std::string& data,
                                const std::string& metadata);
};

}  // namespace cairn::testing
