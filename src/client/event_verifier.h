// EventVerifier: the checks a verifying consumer makes before its handler sees an event.
//
// Per event (CheckEvent), from the event alone and what this verifier saw before:
//  - the fields are well formed (16-byte id, 32-byte hashes, the v1 entry limits);
//  - positions strictly increase (log order, nothing repeated);
//  - SHA-256(metadata) equals metadata_hash; SHA-256(data) equals data_hash unless the event
//    lists masked, erased or revealed fields: data_hash covers the STORED form (ciphertext of
//    protected fields). When the event carries that stored form (stored_data, asked for with
//    SubscribeRequest.include_stored_data), SHA-256(stored_data) must equal data_hash and the
//    data must equal the stored form outside exactly the listed fields (client/stored_form.h);
//    only the values shown in place of those fields stay unchecked. Without it the data is
//    covered only through the leaf hash and the log, not against what the handler sees;
//  - the leaf hash recomputed from the fields (integrity::EncodeEntry, DESIGN.md's v1 entry)
//    equals the event's leaf_hash;
//  - the stream chain: version 0 has 32 zero bytes as stream_prev; when this verifier saw the
//    stream's version - 1, stream_prev is that event's leaf hash; a version at or below one
//    already seen is out of order. A version whose predecessor was not seen (a type filter, a
//    start mid-stream, a stream evicted from the bounded table) is chained to the predecessor
//    read from the server (IntegritySource::ReadStreamEvent: one event of the same stream, one
//    version lower, at a lower position): stream_prev must be the leaf hash recomputed from its
//    fields, and that leaf is proven in the same checkpoint as the event, so a server cannot
//    make up a predecessor to match. When the predecessor cannot be read (its type is not
//    readable by this consumer, the source reads no events, check_unseen_predecessors is off)
//    the link stays unchecked (chain_links_unchecked, or kFailedPrecondition with
//    require_chain_links: the server decides what it shows); the event's leaf — which commits
//    to stream_prev — is still proven in the signed tree below. A transport error of that read
//    is returned as it is (not a violation).
//  - the event is one the subscription asked for (EventScope, as the server's filter decides):
//    its stream, from the subscription's from_version, of a filter prefix and type — a valid
//    event of the log sent to a consumer that did not ask for it is a violation too
//    (VIOLATION_SCOPE): a handler may trust the stream it subscribed to.
// Per checkpoint (VerifyCheckpoint), for the events checked since the last one ("pending"):
//  - fetch the latest checkpoint and verify its C2SP signature with the PINNED verifier key
//    (the origin must be the key's name);
//  - it must extend the previous verified checkpoint — of this verifier, or one trusted from an
//    earlier session (TrustCheckpoint) —: never smaller, the same root at the same size,
//    otherwise an RFC 9162 consistency proof between the two signed roots;
//  - every pending event the checkpoint covers gets an RFC 9162 inclusion proof of ITS
//    RECOMPUTED leaf hash against the signed root (one proof per event: no sampling). Events
//    beyond the checkpoint stay pending for the next one; an event still not covered after
//    `uncovered_checkpoints_max` checkpoints and (given the time) `uncovered_ms_min` is a
//    violation (the server claims it committed it, but its signed tree does not hold it).
// Work is bounded: at most kPendingEventsMax events are pending (CheckEvent refuses more with
// kResourceExhausted: verify a checkpoint first), so one checkpoint costs at most that many
// proofs plus one consistency proof.
//
// On a violation the verifier reports it once (IntegritySource::ReportViolation, best effort),
// then stays failed: every later call returns the same kDataLoss status, whose message names the
// position (and stream and version) and what failed and whose detail() is the position.
// Transport errors while fetching checkpoints or proofs are returned as they are (not
// violations, not reported) and leave the verifier usable: the caller may retry.
//
// Thread safety: not thread-safe; one verifier per subscription, used by one thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/v1/integrity.pb.h"
#include "cairn/v1/streams.pb.h"
#include "cairn/v1/subscriptions.pb.h"
#include "common/status.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"

namespace cairn {

class Client;

// Positions proven per inclusion-proofs call (the server's limit).
inline constexpr size_t kInclusionProofsPerCall = 1000;

// Where a verifier gets checkpoints and proofs and where it reports: the server's Integrity
// service (IntegritySourceFor) or a fake in tests.
class IntegritySource {
 public:
  virtual ~IntegritySource() = default;
  virtual Result<v1::Checkpoint> GetCheckpoint() = 0;
  // The latest checkpoint the log's witnesses cosigned (Integrity.GetCheckpoint with cosigned);
  // the default answers kFailedPrecondition (a source without them).
  virtual Result<v1::Checkpoint> GetCosignedCheckpoint() {
    return Status::FailedPrecondition("this integrity source has no cosigned checkpoints");
  }
  virtual Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) = 0;
  // Proofs of `indexes` (1..kInclusionProofsPerCall of them) in the tree of `size`, in that
  // order: one GetInclusionProofs call. The default asks GetInclusionProof once per index (a
  // source without a batch call); the client's source falls back to that against a server that
  // does not know the call (UNIMPLEMENTED). A count that differs is the source's error.
  virtual Result<std::vector<v1::InclusionProof>> GetInclusionProofs(
      const std::vector<uint64_t>& indexes, uint64_t size);
  virtual Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) = 0;
  virtual Status ReportViolation(const v1::ViolationReport& report) = 0;
  // Ends the calls in progress and fails later ones soon (kUnavailable): the consumer cancelled.
  // Thread-safe; the default does nothing (a source whose calls return promptly).
  virtual void Cancel() {}
  // Version `version` of `stream` as the server reads it; nullopt when it shows none because
  // this consumer may not read it (refused, or its type filtered out), the stream was deleted,
  // or the source reads no events (this default); kNotFound when the server says it does not
  // exist (no such stream, or no such version and nothing filtered): a contradiction the
  // verifier reports, since the event after it was delivered. The
  // client's source (IntegritySourceFor) gives each read the client's timeout_ms and, after the
  // server refused a stream (PERMISSION_DENIED), answers nullopt for it for 60 s without asking.
  virtual Result<std::optional<v1::RecordedEvent>> ReadStreamEvent(const std::string& stream,
                                                                   uint64_t version) {
    return std::optional<v1::RecordedEvent>();
  }
};

// The Integrity service of `client`'s server, on the client's connection and credential.
// `client` must outlive the source.
std::unique_ptr<IntegritySource> IntegritySourceFor(Client* client);

// A kDataLoss the server sent (it found its own log damaged, or says so) is not a violation this
// client detected: it becomes kInternal (the message kept, no position detail), so that kDataLoss
// from a verifier always means one of its own checks failed. Other statuses pass unchanged.
Status NotOurViolation(Status status);

// What a subscription asked for (v1::SubscribeRequest): the events the server may send it.
struct EventScope {
  std::string stream = "$all";               // a stream id, or "$all"
  uint64_t from_version = 0;                 // a stream's from_version (0 otherwise)
  std::vector<std::string> stream_prefixes;  // empty: every stream
  std::vector<std::string> event_types;      // empty: every type
};
EventScope ScopeOf(const v1::SubscribeRequest& request);

struct EventVerifierOptions {
  // A checkpoint is due when this many events are pending (1..kPendingEventsMax) ...
  uint64_t checkpoint_every_events = 1000;
  // ... or when the oldest pending event has waited this long.
  int64_t checkpoint_every_ms = 2000;
  // Streams whose last seen (version, leaf hash) is remembered for the chain check.
  size_t streams_tracked_max = 100000;
  // Checkpoints that may pass without covering a pending event before that is a violation, and
  // (when VerifyCheckpoint is given the time) how long after the event was checked at the least:
  // on several nodes a node may deliver an event another committed a moment before its own
  // checkpoint covers it, so a few quick misses are not yet a violation.
  uint32_t uncovered_checkpoints_max = 3;
  int64_t uncovered_ms_min = 5000;
  // Events whose protected fields are shown masked, erased or decrypted carry `data` that differs
  // from the stored form data_hash covers. Sent with their stored form, they are checked against
  // it (stored_forms_checked), all but the values shown in the listed fields. Without it, their
  // data cannot be checked (nor the lists). false: such events pass with the other checks
  // (data_hashes_skipped); true: an event whose data cannot be checked — no stored form, or a
  // decrypted plaintext (no hash covers it) — ends the subscription with kFailedPrecondition (not
  // a violation: nothing is known to be wrong).
  bool require_verified_data = false;
  // true: such an event without its stored form (the only way its data can be checked) ends the
  // subscription with kFailedPrecondition too, while decrypted plaintexts with their stored form
  // pass (what VerifyingSubscription asks for by default: a response altered to claim masked
  // fields and drop the stored form would otherwise pass forged data unchecked).
  bool require_stored_form = false;
  // Events outside it are violations (VIOLATION_SCOPE). The default, "$all" unfiltered, admits
  // every event.
  EventScope scope;
  // Chain a version whose predecessor this verifier did not see to the predecessor read from the
  // source (one read per such event: for each stream's first event after a start mid-stream, and
  // for every event of a type-filtered subscription whose stream has other types between).
  bool check_unseen_predecessors = true;
  // The server decides what a read shows: it can leave a predecessor out (as it does for a type
  // the consumer may not read). false: such links are counted (chain_links_unchecked); true: an
  // event whose link cannot be checked ends the subscription with kFailedPrecondition (not a
  // violation: nothing is known to be wrong).
  bool require_chain_links = false;
  // C2SP witnesses (cosigner keys, integrity/cosignature.h) and how many of them must have
  // cosigned a checkpoint before it proves anything; 0: none required, the latest checkpoint is
  // fetched. With a quorum, the latest COSIGNED checkpoint is fetched (IntegritySource::
  // GetCosignedCheckpoint). One with fewer valid cosignatures (distinct keys), or one smaller
  // than the checkpoint held (cosigned ones lag the latest; a trusted one may be newer) but a
  // prefix of it, proves nothing new: VerifyCheckpoint returns OK and the pending events count
  // one more miss. An event no such checkpoint covers within the uncovered bounds ends the
  // verification with kUnavailable, not a violation: whether the log or its witnesses hold it
  // back, nothing unproven is passed on. A smaller one that is not a prefix is a violation.
  std::vector<integrity::NoteVerifier> witnesses;
  size_t witnesses_min = 0;  // 0 .. witnesses.size()
};

struct VerifierStats {
  uint64_t events_checked = 0;
  uint64_t chain_links_checked = 0;   // events whose stream_prev was compared to a seen leaf
  uint64_t predecessors_read = 0;     // of those, predecessors read from the source (and proven)
  uint64_t chain_links_unchecked = 0; // versions > 0 whose predecessor could not be read
  uint64_t data_hashes_skipped = 0;   // masked, erased or revealed events without a stored form
  uint64_t stored_forms_checked = 0;  // the same with one: checked but for the listed values
  uint64_t checkpoints_verified = 0;
  uint64_t consistency_proofs_checked = 0;
  uint64_t inclusion_proofs_checked = 0;
  uint64_t inclusion_proof_calls = 0;  // batches asked for (each up to kInclusionProofsPerCall)
  uint64_t cosignatures_checked = 0;   // valid witness cosignatures on verified checkpoints
};

class EventVerifier {
 public:
  static constexpr uint64_t kPendingEventsMax = 10000;

  // `source` must outlive the verifier. `key` is the pinned verifier key (ParseVerifierKey).
  EventVerifier(IntegritySource* source, integrity::NoteVerifier key,
                EventVerifierOptions options = {});

  // The per-event checks; OK means the handler may see the event now (or, when the caller holds
  // events until they are proven, after the next VerifyCheckpoint covers it).
  // `now_ms` is the caller's monotonic clock (for checkpoint_every_ms).
  Status CheckEvent(const v1::RecordedEvent& event, int64_t now_ms);
  // Every later event must be at `position` or after (an order violation otherwise): the
  // subscription's start, and each position checkpoint or caught_up marker's next_position. The
  // floor only rises.
  void RaisePositionFloor(uint64_t position) { position_floor_ = std::max(position_floor_, position); }
  // Starts from a checkpoint verified in an earlier session (its signed note text, as
  // last_checkpoint_note() gave it), so that the first checkpoint fetched must be consistent
  // with it: the log seen across sessions is one log. Only before the first VerifyCheckpoint.
  // kInvalidArgument when the note does not verify under the pinned key (not a violation: the
  // caller's own file is wrong, nothing came from the server).
  Status TrustCheckpoint(std::string_view signed_note);
  // A message of a subscription that is neither an event nor a marker: a violation
  // (VIOLATION_SCOPE) at `position` (where the subscription stands), since a verifying consumer
  // passes on only what it can check.
  Status RefuseMessage(uint64_t position, std::string what);
  // True when pending events call for a checkpoint (count reached or oldest too old).
  bool CheckpointDue(int64_t now_ms) const;
  // The per-checkpoint checks (see above). OK with nothing pending still verifies a checkpoint.
  // `now_ms` (the clock of CheckEvent) bounds uncovered events by time as well as by count;
  // without it only the count applies.
  Status VerifyCheckpoint(std::optional<int64_t> now_ms = std::nullopt);

  // Events checked but not yet proven in a verified checkpoint.
  uint64_t pending_events() const { return pending_.size(); }
  // True when the event at `position`, checked earlier, is proven in a verified checkpoint.
  bool Proven(uint64_t position) const;
  const std::optional<integrity::Checkpoint>& last_checkpoint() const { return checkpoint_; }
  // The signed note of last_checkpoint() (empty without one): keep it to TrustCheckpoint later.
  const std::string& last_checkpoint_note() const { return checkpoint_note_; }
  const VerifierStats& stats() const { return stats_; }
  bool failed() const { return !failure_.ok(); }
  // With witnesses required: the valid cosignatures on the last cosigned checkpoint fetched.
  size_t last_cosignatures() const { return last_cosignatures_; }

 private:
  struct Pending {
    uint64_t position = 0;
    std::string stream;
    uint64_t version = 0;
    integrity::Hash leaf{};
    int64_t checked_at_ms = 0;
    uint32_t checkpoints_missed = 0;
    // A predecessor read from the source to check the link: proven with the event.
    std::optional<uint64_t> pred_position;
    integrity::Hash pred_leaf{};
  };
  struct ReadPredecessor {
    uint64_t position = 0;
    integrity::Hash leaf{};
  };
  struct StreamHead {
    uint64_t version = 0;
    uint64_t position = 0;
    integrity::Hash leaf{};
    bool deleted = false;  // `version` is the stream's tombstone: no version may follow it
  };

  Status CheckFields(const v1::RecordedEvent& event, integrity::Hash* leaf);
  Status CheckChain(const v1::RecordedEvent& event, std::optional<ReadPredecessor>* read);
  // `seen`: the stream's last event this verifier saw (older than version - 1), or nullptr.
  Status CheckReadPredecessor(const v1::RecordedEvent& event, const StreamHead* seen,
                              std::optional<ReadPredecessor>* read);
  Status Unchecked(const v1::RecordedEvent& event);
  Status CheckScope(const v1::RecordedEvent& event);
  Status CheckStoredForm(const v1::RecordedEvent& event);
  void Remember(const v1::RecordedEvent& event, const integrity::Hash& leaf, int64_t now_ms,
                const std::optional<ReadPredecessor>& read);
  // The latest checkpoint, signed by the pinned key (a violation otherwise); with witnesses
  // required the latest cosigned one, or nullopt when it has too few cosignatures.
  Result<std::optional<integrity::Checkpoint>> FetchSignedCheckpoint(std::string* note);
  // Whether at least witnesses_min of the witnesses cosigned `note` (counted in stats).
  bool EnoughCosignatures(std::string_view note);
  // The checkpoint held (if any) must not be larger than `next`, and `next` must extend it.
  Status CheckConsistency(const integrity::Checkpoint& next);
  // `next` extends `prev` (prev.size <= next.size): the same root at the same size, else an
  // RFC 9162 consistency proof between the two signed roots. A violation otherwise.
  Status CheckExtends(const integrity::Checkpoint& prev, const integrity::Checkpoint& next);
  // Counts one more checkpoint (of `covered_size`) that left each pending event uncovered; past
  // the uncovered bounds a violation (kUnavailable with witnesses required).
  Status CountMisses(uint64_t covered_size, std::optional<int64_t> now_ms);
  Status ProvePending(const integrity::Checkpoint& checkpoint, std::optional<int64_t> now_ms);
  // One position to prove: a pending event's, or the predecessor read for its link.
  struct ProofTask {
    const Pending* event = nullptr;
    bool predecessor = false;
  };
  // Proves `tasks` in batches; the first failure is a violation of that task's event.
  Status ProveTasks(const std::vector<ProofTask>& tasks, const integrity::Checkpoint& checkpoint);
  Status CheckProof(const ProofTask& task, const v1::InclusionProof& proof,
                    const integrity::Checkpoint& checkpoint);
  // Records the first violation, reports it, and returns the failure status.
  Status Fail(v1::ViolationKind kind, uint64_t position, std::string_view stream,
              uint64_t version, std::string what);

  IntegritySource* source_;
  integrity::NoteVerifier key_;
  EventVerifierOptions options_;
  std::optional<uint64_t> last_position_;
  uint64_t position_floor_ = 0;  // RaisePositionFloor
  std::unordered_map<std::string, StreamHead> heads_;  // at most streams_tracked_max
  std::deque<Pending> pending_;                        // position order; ≤ kPendingEventsMax
  std::optional<integrity::Checkpoint> checkpoint_;    // the last verified one
  std::string checkpoint_note_;                        // its signed note
  Status failure_;
  VerifierStats stats_;
  size_t last_cosignatures_ = 0;  // valid ones on the last cosigned checkpoint fetched
};

}  // namespace cairn
