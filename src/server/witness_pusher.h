// WitnessPusher: gets the log's checkpoints cosigned by C2SP tlog-witnesses
// (https://c2sp.org/tlog-witness; integrity/witness.h) and keeps the cosignatures for readers.
//
// A thread of its own. Every interval_ms it takes the latest stored checkpoint and, for each
// witness that has not cosigned that checkpoint yet, POSTs <url>/add-checkpoint with the
// consistency proof from the size the witness last cosigned. The witnesses of a round are asked
// at once (one short-lived thread per call); a new checkpoint is published for readers as soon as
// it has as many cosignatures as the one they have, else when the round ends. That size is learnt from the witness's answers: 0 at first,
// so the first call of a run is usually answered 409 with the witness's size, and the call is
// then repeated once with it. A 200's lines count only when they verify as this witness's
// cosignatures on the checkpoint (integrity/cosignature.h; the last, if it sent several); any
// other line of the answer is dropped. A witness
// whose call failed is tried again after an exponential backoff (interval_ms doubling, at most
// backoff_max_ms); a witness that has cosigned a larger tree than this node's latest checkpoint
// (another node of a shared log pushed first) is simply tried with the next one.
//
// Errors are logged on the first failure of a run of failures and on recovery, never with more of
// a witness's answer than its status and a cut, printable first line; a witness that holds
// another tree of the same size (a fork, or a restored log) is logged as an error every time.
// Calls are bounded by timeout_ms; Stop() aborts the calls in progress and joins.
//
// With WitnessKeeping, each note published is also handed to `keep` (at the end of the round in
// which it changed), and Start() takes the note an earlier run kept, so that readers have the
// last cosigned checkpoint across a restart even while the witnesses are down. The kept note is
// used only if it is signed by the log's key, its checkpoint is this log's (the same root at its
// size, or consistent with the log's latest checkpoint) and it carries at least one valid
// cosignature of a configured witness; only those cosignatures are taken.
//
// Thread safety: Cosigned(), WithCosignatures() and States() from any thread; Stop() from the
// owner. The first Stop() keeps what the last round published (keep_ runs on the caller's
// thread then); later calls, and the destructor after a Stop(), call keep_ no more.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "crypto/secure.h"
#include "engine/types.h"
#include "integrity/note.h"

namespace cairn::server {

inline constexpr size_t kWitnessesMax = 16;

struct WitnessEndpoint {
  integrity::NoteVerifier key;  // a cosigner key (algorithm 0x04); its name is the witness's
  std::string url;              // the submission prefix: https://…, or http:// on loopback
  std::string ca_pem;           // trust roots for https ("" = the system's)
  // A client certificate and key for a witness that requires one ("" / null = none); the key is
  // wiped when the last copy of the endpoint goes.
  std::string client_cert_pem;
  std::shared_ptr<const crypto::SecureBytes> client_key_pem;
};

struct WitnessPusherOptions {
  int64_t interval_ms = 1000;      // 10 .. 3600000
  int64_t timeout_ms = 5000;       // per call: 100 .. 60000
  int64_t backoff_max_ms = 60000;  // interval_ms .. 3600000
};

struct WitnessKeeping {
  integrity::NoteVerifier log_key;  // the log's checkpoint key
  std::string kept;                 // the note `keep` stored in an earlier run ("": none)
  // Stores a published note durably (from the pusher's thread). A failure is logged; the note
  // stays published.
  std::function<Status(const std::string& note)> keep;
};

struct WitnessState {
  std::string name;
  uint64_t cosigned_size = 0;     // the largest checkpoint it cosigned for this node
  int64_t cosigned_at_ms = 0;     // when (unix ms); 0: not yet
  uint64_t failures = 0;          // calls failed in a row
  std::string last_error;         // of the last failed call; "" after a success
};

class WitnessPusher {
 public:
  using LatestCheckpoint = std::function<Result<engine::SignedCheckpoint>()>;
  using ProveConsistency =
      std::function<Result<std::vector<crypto::Hash>>(uint64_t size1, uint64_t size2)>;

  // kInvalidArgument for no or more than kWitnessesMax witnesses, a key that is not a cosigner
  // key, a refused URL (auth::CheckFetchUrl), options out of range. A kept note that cannot be
  // used is logged as a warning, not an error: the witnesses cosign again.
  static Result<std::unique_ptr<WitnessPusher>> Start(
      std::vector<WitnessEndpoint> witnesses, LatestCheckpoint latest, ProveConsistency prove,
      WitnessPusherOptions options, std::optional<WitnessKeeping> keeping = std::nullopt);
  ~WitnessPusher();
  WitnessPusher(const WitnessPusher&) = delete;
  WitnessPusher& operator=(const WitnessPusher&) = delete;

  // The latest checkpoint that at least one witness cosigned, with every cosignature collected
  // for it; "" until the first.
  std::string Cosigned() const;
  // `note` with the cosignatures collected for it when it is the checkpoint of the current round;
  // else `note` as given.
  std::string WithCosignatures(const std::string& note) const;
  std::vector<WitnessState> States() const;
  void Stop();

 private:
  struct Witness;
  WitnessPusher(std::vector<WitnessEndpoint> witnesses, LatestCheckpoint latest,
                ProveConsistency prove, WitnessPusherOptions options);
  void Run();
  void Round();
  // Publishes the usable part of a note kept by an earlier run (before the thread starts).
  Status Adopt(const std::string& kept, const integrity::NoteVerifier& log_key);
  // Hands the published note to keep_ when it changed since it last did (the thread's only).
  void Keep();
  // Takes a witness's answer into its state and the round (mu_ held).
  void Record(size_t i, const Result<std::string>& lines,
              const engine::SignedCheckpoint& checkpoint);
  // Makes the round's note with its cosignatures what Cosigned() returns, when due (mu_ held).
  void Publish(bool round_done);
  // The witness's cosignature lines for `checkpoint`; "" when it has a larger tree already.
  Result<std::string> Push(Witness& witness, const engine::SignedCheckpoint& checkpoint);

  const LatestCheckpoint latest_;
  const ProveConsistency prove_;
  const WitnessPusherOptions options_;
  // Their known sizes and backoff: each call's thread touches only its own witness's; Record
  // (under mu_) the rest.
  std::vector<std::unique_ptr<Witness>> witnesses_;

  std::atomic<bool> cancel_{false};  // Stop(): aborts the calls in progress
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                 // guarded by mu_
  std::string round_note_;                // guarded by mu_: the checkpoint being cosigned
  std::vector<std::string> round_lines_;  // guarded by mu_: per witness, its lines for it
  std::string cosigned_;                  // guarded by mu_
  size_t published_count_ = 0;            // guarded by mu_: cosignatures on cosigned_
  std::vector<WitnessState> states_;      // guarded by mu_
  std::function<Status(const std::string&)> keep_;  // empty: nothing is kept
  std::string kept_;                      // the thread's only: what keep_ last stored
  bool keep_failing_ = false;             // the thread's only: the last keep_ failed
  std::thread thread_;
};

}  // namespace cairn::server
