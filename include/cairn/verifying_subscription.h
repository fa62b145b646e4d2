// cairn::VerifyingSubscription — a cairn::Subscription whose events are checked against the
// log's hashes and signed checkpoints BEFORE Next() returns them.
//
//   VerifyingSubscriptionOptions options;
//   options.verifier_key = "example.org/log+9af05c04+AW8P…";   // pinned, obtained out of band
//   auto sub = VerifyingSubscription::Start(*client, request, options);
//   for (;;) {
//     auto message = (*sub)->Next();
//     if (!message.ok()) break;       // kDataLoss: a violation; detail() is its position
//     if (message->has_event()) Handle(message->event());
//   }
//
// Every event passes the per-event checks of EventVerifier (src/client/event_verifier.h: the
// event is one the request asked for — its stream, from_version, filter —, fields,
// order — strictly increasing positions, none before the start position or before the
// next_position of a position checkpoint or caught_up already received —, data/metadata hashes, leaf hash, stream chain from the second version of a stream this
// subscription sees) and is then HELD until a checkpoint
// signed by the pinned key, consistent with the previous one, proves its inclusion. Held events
// are proven together when `checkpoint_every_events` are held, when the oldest has waited
// `checkpoint_every_ms`, or when no further message arrived for `idle_wait_ms` — so an event
// reaches the caller a few milliseconds to `checkpoint_every_ms` after it arrived, and the
// proofs cost one checkpoint, at most one consistency proof, and one inclusion proof per event.
// Position checkpoints and caught_up are passed on in order, after the events before them.
//
// Protected data: an event whose protected fields are shown masked, erased or decrypted (its
// `masked`, `erased` or `revealed` list is not empty) comes with its stored form (asked for with
// verify_stored_data): the stored form is checked against data_hash and the data against the
// stored form outside exactly the listed fields (stats().stored_forms_checked); only the values
// shown in those fields stay unchecked. Such events without a stored form (the server withholds
// it when a field masked by a later rule is in clear in it; an older server does not send it;
// whoever alters responses can drop it) end the subscription (kFailedPrecondition) unless
// accept_missing_stored_form; with it, and all of them with verify_stored_data off, they pass the
// other checks and are counted in stats().data_hashes_skipped, or are refused with
// require_verified_data. Every version's link to its predecessor is checked: to the version
// seen before, or to the predecessor read from the server and proven with it
// (check_unseen_predecessors; a predecessor this consumer may not read leaves the link
// unchecked, counted in stats().chain_links_unchecked).
//
// Not detected: a server that withholds events. Every event passed on is genuine, in order and
// in the signed log, but a version or position the subscription does not see may be missing on
// purpose (a filter, or event types the caller may not read, skip events legitimately, and the
// server does not prove what it skipped). A consumer that must see every event of a stream reads
// it and checks that its versions are dense.
//
// A message that is neither an event nor a position marker is a violation too: nothing this
// client cannot check is passed on.
//
// On a violation Next() returns kDataLoss naming the position (Status::detail() = position) and
// what failed, the event is never returned, the server is told (Integrity.ReportViolation), and
// the subscription is cancelled; every later Next() returns the same status. A transport error
// while fetching proofs ends the subscription with that error (fail closed): events not yet
// proven are never returned; a DATA_LOSS the server sends (its own log damaged) ends it as
// kInternal, so kDataLoss always means a check of this client failed. resume_position() is one
// past the last event Next() returned (or a later position marker it returned, but never beyond
// the size of the last verified checkpoint: a marker is the server's word), so a new subscription
// loses nothing unverified. A from-end subscription verifies a checkpoint first, then asks the
// server for its end; an event below that checkpoint's size is dropped unseen (counted in
// events_before_start_skipped()), so an old event is never passed off as new, and a stale
// checkpoint (a replayed answer, a lagging node) cannot make the server re-send history: it only
// lowers the floor. How fresh "the end" is rests on the server; a trusted_checkpoint from an
// earlier session bounds it (a checkpoint older than that is refused). resume_position() starts
// at the floor.
//
// The caller needs `subscribe` on what it subscribes to and `proof` on the log. The verifier
// key is never taken from the server: a key fetched over the same connection would let whoever
// controls that connection vouch for its own forgeries.
//
// Thread safety: as Subscription (Next() from one thread; Cancel() from any). A reader thread
// per subscription pulls from the server into a bounded queue (kQueuedMessagesMax and
// kQueuedBytesMax); checked events wait for their proof in a bounded list (kHeldBytesMax and
// EventVerifier::kPendingEventsMax).
// Ownership: the Client must outlive the VerifyingSubscription.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cairn/client.h"
#include "cairn/subscriptions.h"
#include "client/event_verifier.h"
#include "common/status.h"

namespace cairn {

struct VerifyingSubscriptionOptions {
  // The log's verifier key line (`cairn vkey`, `cairn init`, Integrity.GetVerifierKey read by
  // an operator), e.g. "example.org/log+9af05c04+AW8P…". Required.
  std::string verifier_key;
  uint64_t checkpoint_every_events = 1000;  // 1..EventVerifier::kPendingEventsMax
  int64_t checkpoint_every_ms = 1000;
  int64_t idle_wait_ms = 20;                // quiet time before held events are proven
  // Refuse (kFailedPrecondition) events whose data cannot be checked: those with protected fields
  // shown masked, erased or decrypted (see EventVerifierOptions::require_verified_data). Off,
  // they pass every other check and are counted in stats().data_hashes_skipped.
  bool require_verified_data = false;
  // Ask the server for the stored form of events with protected fields shown masked, erased or
  // decrypted (SubscribeRequest.include_stored_data), so that their data is checked against
  // data_hash too (EventVerifier, client/stored_form.h). It costs the ciphertexts' bytes, and
  // shows this consumer their lengths and key ids (never a plaintext).
  bool verify_stored_data = true;
  // With verify_stored_data: an event with protected fields shown masked, erased or decrypted
  // that comes without its stored form ends the subscription (kFailedPrecondition, not a
  // violation), since its data cannot be checked — a response altered to claim masked fields
  // and drop the stored form would otherwise pass forged data. true: such events pass with the
  // other checks (stats().data_hashes_skipped), e.g. to read a log whose rules were widened
  // after events were written (the server withholds those events' stored forms).
  bool accept_missing_stored_form = false;
  // A stream version whose predecessor this consumer did not see (the first event of each stream
  // after a start mid-stream; with a type filter, every event whose stream has other types
  // between) is chained to that predecessor, read from the server with one Read and proven in
  // the same checkpoint (EventVerifier). false: such links are left unchecked
  // (stats().chain_links_unchecked) and cost no reads.
  bool check_unseen_predecessors = true;
  // The server decides what a read shows, so it can decline a predecessor (as it does for a type
  // this consumer may not read). true: an event whose link cannot be checked ends the
  // subscription (kFailedPrecondition) instead of passing with the count.
  bool require_chain_links = false;
  // The signed note of a checkpoint verified in an earlier session (checkpoint_note()), e.g.
  // kept in a file: the first checkpoint of this session must then be consistent with it, so a
  // server that rewrote or rolled back the log between sessions is caught (VIOLATION_CONSISTENCY).
  // Empty: trust starts with this session's first checkpoint. Start/Wrap refuse
  // (kInvalidArgument) a note that the pinned key did not sign.
  std::string trusted_checkpoint;
  static constexpr size_t kTrustedCheckpointSizeBytesMax = 64 * 1024;
  // C2SP witnesses: their cosigner verifier key lines (`cairn witness keygen`), and how many must
  // have cosigned a checkpoint for it to prove anything (0: none required). With a quorum the
  // server's latest cosigned checkpoint is used (its [[witness]] push to them), so events wait
  // for their witnesses too (about one to two seconds more); a checkpoint short of the quorum
  // proves nothing yet, and a subscription whose events no checkpoint with the quorum covers in
  // time (EventVerifierOptions' uncovered bounds) ends with kUnavailable, never with unproven
  // events. From the end, the floor is the latest cosigned checkpoint.
  // Start/Wrap refuse (kInvalidArgument) a key that is not a cosigner key, a key given twice and
  // a quorum above the keys given.
  std::vector<std::string> witness_keys;
  size_t witnesses_min = 0;
  static constexpr size_t kWitnessKeysMax = 64;
  // With witnesses, an event may wait this long for a checkpoint with the quorum (at least three
  // checkpoints too) before the subscription ends with kUnavailable: a round of the server's
  // pushes waits up to its 5 s timeout for a slow witness.
  static constexpr int64_t kWitnessUncoveredMsMin = 20000;
  SubscriptionOptions subscription;
};

class VerifyingSubscription final : public Subscription {
 public:
  static constexpr size_t kQueuedMessagesMax = 1024;
  // Memory bounds against a server that sends large messages: the reader stops pulling while the
  // queue holds this many bytes, and Next() proves what it holds before taking more once the
  // checked but unproven messages hold this many (each bound may be passed by one message).
  static constexpr size_t kQueuedBytesMax = size_t{256} << 20;
  static constexpr size_t kHeldBytesMax = size_t{256} << 20;

  // kInvalidArgument for a missing or malformed verifier key or option; otherwise as
  // Subscription::Start.
  static Result<std::unique_ptr<VerifyingSubscription>> Start(
      Client& client, const v1::SubscribeRequest& request, VerifyingSubscriptionOptions options);
  // The same over any subscription and integrity source (tests; other transports). `request`
  // is what `inner` asked the server for: its start and filter decide which events are in scope.
  // A from-end `request` needs options.trusted_checkpoint verified when `inner` started (events
  // below its size are dropped unseen; kInvalidArgument without one), as Start() does.
  static Result<std::unique_ptr<VerifyingSubscription>> Wrap(
      std::unique_ptr<Subscription> inner, std::unique_ptr<IntegritySource> source,
      const v1::SubscribeRequest& request, const VerifyingSubscriptionOptions& options);
  ~VerifyingSubscription() override;

  Status NextInto(v1::SubscribeResponse* out) override;
  void Cancel() override;
  bool cancelled() const override;
  uint64_t resume_position() const override;
  // Counters of the checks made so far (from the thread that calls Next()).
  const VerifierStats& stats() const;
  // From the end: events the server sent below the checkpoint verified at the start, dropped.
  uint64_t events_before_start_skipped() const;
  // Whether the data of the event Next() returned last went unchecked (accept_missing_stored_form
  // let it pass without its stored form); from the thread that calls Next().
  bool last_event_data_unchecked() const;
  // The signed note of the last checkpoint verified (or the trusted one; empty before any), from
  // the thread that calls Next(): keep it to pass as trusted_checkpoint next time.
  std::string checkpoint_note() const;

  class Impl;

 private:
  explicit VerifyingSubscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
