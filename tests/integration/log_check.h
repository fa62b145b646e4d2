// Checks of a whole log as a client reads it back, shared by the integration tests that hold a
// real server's log against what their clients sent (crash loop, multi-node, PostgreSQL outage):
// - ReadWholeLog: ReadAll from position 0 to the end, nothing filtered;
// - IndexLog: positions 0..n-1 in order, leaf hashes recomputed from the fields and bytes read,
//   event ids unique, each stream's versions gap-free from 0 and its hash chain linked;
// - SignedCheckpoint / CheckConsistent: a checkpoint verified against a pinned key, and an
//   earlier checkpoint proven a prefix of a later one by the server's consistency proof.
// Failures are collected in Errors (the first kErrorsMax kept) so that one test run reports all.
//
// Thread safety: plain functions; an Errors or LogView is used from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/client.h"
#include "common/status.h"
#include "integrity/checkpoint.h"
#include "integrity/merkle.h"

namespace cairn::testing {

using Clock = std::chrono::steady_clock;
int64_t MsSince(Clock::time_point start);

using Versions = std::map<std::string, int64_t>;  // stream -> last version (-1: no stream)
int64_t KnownVersion(const Versions& versions, const std::string& stream);

// Failures found by a test's checks, kept to the first kErrorsMax (all are counted).
class Errors {
 public:
  static constexpr size_t kErrorsMax = 20;
  void Add(std::string what);
  bool empty() const { return count_ == 0; }
  std::string Text() const;

 private:
  size_t count_ = 0;
  std::vector<std::string> list_;
};

// The log as read back.
struct LogView {
  std::vector<v1::RecordedEvent> events;  // events[i].position() == i
  std::unordered_map<std::string, uint64_t> position_of_id;
  Versions versions;
  std::vector<integrity::Hash> leaves;
};

// Reads positions 0 .. the tree size at the start of the call (at most `events_max` events).
// kDataLoss when the read ended without `end` or some events were filtered out.
Status ReadWholeLog(Client& client, std::vector<v1::RecordedEvent>* events,
                    uint64_t events_max = 4'000'000);

// "position P (stream vV)", for messages.
std::string At(const v1::RecordedEvent& e);

// The leaf hash recomputed from the event's fields and the bytes read (nullopt: malformed).
std::optional<integrity::Hash> RecomputedLeaf(const v1::RecordedEvent& e);

// Fills position_of_id, versions and leaves from log->events, adding every failure of the
// checks above to `errors`.
void IndexLog(LogView* log, Errors* errors);

// The client's current checkpoint, its signature verified with `key` and its fields matched
// against the signed note.
Result<integrity::Checkpoint> SignedCheckpoint(Client& client, const integrity::NoteVerifier& key);

// `earlier` is a prefix of `now`, by the consistency proof `client` serves, checked against the
// roots held here.
void CheckConsistent(Client& client, const integrity::Checkpoint& earlier,
                     const integrity::Checkpoint& now, Errors* errors);

}  // namespace cairn::testing
