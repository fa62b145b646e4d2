// The engine's vocabulary: events proposed and recorded, expected versions, limits, results.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "integrity/entry.h"

namespace cairn::engine {

inline constexpr std::string_view kDefaultContentType = "application/json";
// Event type of the tombstone that DeleteStream appends; user event types may not start with '$'.
inline constexpr std::string_view kTombstoneEventType = "$streamDeleted";

// Limits enforced on every append (DESIGN.md, Data model). All configurable.
struct Limits {
  size_t event_size_bytes_max = 1 << 20;       // data + metadata of one event
  size_t batch_size_bytes_max = 4 << 20;       // all events of one append
  size_t batch_events_max = 1000;
  uint64_t read_events_max = 10000;            // events returned by one read call
  // Stored bytes returned by one read call (ReadStream, ReadAll): a read ends early, with the
  // event that reached this bound, so that a call holds about this much however large its
  // events are. Every read returns at least one event when one is there.
  uint64_t read_size_bytes_max = 16 << 20;
};

// The largest limits a store takes: a stored record (the event, its entry fields — at most ~1 KiB
// more — and the at-rest header and tag) must fit the storage's 64 MiB per record, and a group
// commit (a batch plus its index entries and Merkle nodes) its 256 MiB per commit.
inline constexpr size_t kEventSizeBytesMaxLimit = size_t{63} << 20;
inline constexpr size_t kBatchSizeBytesMaxLimit = size_t{192} << 20;
// kInvalidArgument naming the limit that is 0 or beyond the bounds above.
Status ValidateLimits(const Limits& limits);

// The limits of the server's own appends (AppendSystem: `$audit`, `$alerts`, `$parked-*`): the
// configured limits bound what clients send, and may be set below what one batch of the trail
// needs; a system append is bound by the larger of each configured limit and its default, so
// that a strict configuration can never refuse the audit trail.
Limits SystemLimits(const Limits& configured);

// The expected version of an append or delete.
struct ExpectedVersion {
  enum class Kind : uint8_t { kAny, kNoStream, kStreamExists, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // kExact: the version of the stream's last event

  static ExpectedVersion Any() { return {Kind::kAny, 0}; }
  static ExpectedVersion NoStream() { return {Kind::kNoStream, 0}; }
  static ExpectedVersion StreamExists() { return {Kind::kStreamExists, 0}; }
  static ExpectedVersion Exact(uint64_t v) { return {Kind::kExact, v}; }
  // "any", "no_stream", "stream_exists" or a decimal version; kInvalidArgument otherwise.
  static Result<ExpectedVersion> Parse(std::string_view text);
  std::string ToString() const;
};

// An event as the caller proposes it.
struct ProposedEvent {
  std::string event_id;  // 16 bytes (UUID, RFC 4122 byte order); empty = generate a v4 UUID
  std::string event_type;
  std::string content_type = std::string(kDefaultContentType);
  std::string data;      // JSON when content_type is application/json (validated)
  std::string metadata;  // JSON when non-empty and content_type is JSON (validated)
  // The data subject (CloudEvents `subject`), for protection rules with subject = "$subject".
  std::string subject;
};

struct AppendResult {
  uint64_t first_position = 0;
  uint64_t last_position = 0;
  uint64_t first_version = 0;
  uint64_t last_version = 0;     // the stream's version after the append
  bool idempotent_replay = false;  // the same events were already appended; nothing was written
};

// What `forget` destroyed.
struct ForgetResult {
  uint64_t versions_destroyed = 0;  // 0: the subject had no key (idempotent)
  // The keys are destroyed (no read returns them), but their bytes may stay in the storage's
  // files for now (PostgreSQL: older transactions still run, or the key table was locked); the
  // store that answered purges them in the background once it can (storage::DestroyReport).
  bool purge_pending = false;
};

// Receives the result of an asynchronous append exactly once (see EventStore::AppendAsync).
using AppendCallback = std::function<void(Result<AppendResult>)>;

// An event as stored: every entry field, the stored bytes, and its leaf hash.
struct RecordedEvent {
  integrity::Entry entry;
  std::string data;
  std::string metadata;
  crypto::Hash leaf_hash{};
  // Protected fields (JSON pointers) shown masked, erased or decrypted (revealed, for a read.pii
  // reader) in `data` (then `data` is a view for this reader and differs from the stored bytes
  // that entry.data_hash covers). Empty for events without protection rules, and in every
  // engine read (the stored form).
  std::vector<std::string> masked;
  std::vector<std::string> erased;
  std::vector<std::string> revealed;
  // How many of `masked` are stored in clear (protect::ReadView::masked_in_clear): when not 0,
  // the stored form shows a plaintext this reader is shown masked.
  size_t masked_in_clear = 0;
  // The stored form of `data`, kept beside the view for a reader that asked for it (a
  // subscription's include_stored_data); empty otherwise.
  std::string stored_data;
};

// How one reader is shown one event's protected fields (EventStore::RevealMany).
enum class FieldView : uint8_t {
  kStored,  // left as stored: not revealed (an event the reader will not be shown)
  kMasked,  // masked (a reader without read.pii); erased once the subject is forgotten
  kPlain,   // decrypted (read.pii); erased once the subject is forgotten
};
// Runs of at least this many protected events are revealed on two threads.
inline constexpr size_t kParallelRevealMin = 64;

enum class Direction : uint8_t { kForwards, kBackwards };

struct ReadStreamResult {
  std::vector<RecordedEvent> events;
  bool end_of_stream = false;  // no more events in the read direction
};

struct StreamInfo {
  bool exists = false;
  uint64_t event_count = 0;   // including a tombstone
  uint64_t last_version = 0;  // valid when exists
  uint64_t last_position = 0;
  bool deleted = false;
};

struct SignedCheckpoint {
  uint64_t size = 0;
  crypto::Hash root{};
  std::string note;  // the C2SP signed note, exactly as served
};

struct InclusionProof {
  uint64_t index = 0;
  uint64_t size = 0;
  crypto::Hash leaf_hash{};
  crypto::Hash root{};
  std::vector<crypto::Hash> proof;
};

struct ConsistencyProof {
  uint64_t size1 = 0, size2 = 0;
  crypto::Hash root1{}, root2{};
  std::vector<crypto::Hash> proof;
};

// Validates a stream id: 1..512 bytes of UTF-8 without control characters.
Status ValidateStreamId(std::string_view stream_id);
// ValidateStreamId, and refuses the system streams ('$' first), which only cairn appends to.
Status ValidateClientStreamId(std::string_view stream_id);
// Validates an event type: 1..256 bytes of UTF-8 without control characters.
Status ValidateEventType(std::string_view event_type);

// UUID text (8-4-4-4-12 hex) <-> 16 bytes.
std::optional<std::string> ParseUuid(std::string_view text);
std::string FormatUuid(std::string_view bytes16);
std::string NewUuidV4();

}  // namespace cairn::engine
