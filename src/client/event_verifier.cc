#include "client/event_verifier.h"

#include <algorithm>
#include <cassert>
#include <new>
#include <utility>

#include "cairn/verifying_subscription.h"
#include "client/stored_form.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"
#include "integrity/cosignature.h"
#include "integrity/entry.h"
#include "integrity/proof.h"

namespace cairn {
namespace {

// The event a stream delete appends (engine/types.h): the last version a stream ever has.
constexpr std::string_view kTombstoneType = "$streamDeleted";


using integrity::Hash;

bool SameHash(const Hash& a, std::string_view wire) {
  return wire.size() == a.size() &&
         crypto::ConstantTimeEquals(crypto::HashView(a), wire);
}

// The v1 entry of a wire event; kDataLoss naming the field when a size is impossible.
Result<integrity::Entry> EntryOf(const v1::RecordedEvent& event) {
  integrity::Entry e;
  e.position = event.position();
  e.stream_id = event.stream();
  e.stream_version = event.version();
  if (event.id().size() != integrity::kEventIdSizeBytes) {
    return Status::DataLoss("the event id is not 16 bytes");
  }
  e.event_id = event.id();
  e.event_type = event.type();
  e.content_type = event.content_type();
  e.recorded_at_ns = event.recorded_at_ns();
  for (auto [wire, name, hash] : {std::tuple{&event.metadata_hash(), "metadata_hash", &e.metadata_hash},
                                  std::tuple{&event.data_hash(), "data_hash", &e.data_hash},
                                  std::tuple{&event.stream_prev(), "stream_prev", &e.stream_prev}}) {
    if (wire->size() != crypto::kSha256SizeBytes) {
      return Status::DataLoss(std::string(name) + " is not 32 bytes");
    }
    *hash = crypto::HashFromBytes(*wire);
  }
  if (event.leaf_hash().size() != crypto::kSha256SizeBytes) {
    return Status::DataLoss("leaf_hash is not 32 bytes");
  }
  if (Status s = integrity::ValidateEntry(e); !s.ok()) return Status::DataLoss(s.message());
  return e;
}

// ViolationReport's limits (integrity.proto): detail ≤ 256 bytes of printable ASCII, stream ≤ 512
// bytes without control characters. What does not fit is replaced ('?') and cut, so that a report
// about a hostile event or note (odd key names, bytes in a stream id) is not refused. The same
// cleaning applies to server-sent text in this client's own messages (they may reach a log).
constexpr size_t kReportDetailSizeBytesMax = 256;
constexpr size_t kReportStreamSizeBytesMax = 512;

// At most size_bytes_max bytes of `text`, without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view text, size_t size_bytes_max) {
  if (text.size() <= size_bytes_max) return text;
  size_t n = size_bytes_max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // inside a sequence
  return text.substr(0, n);
}

// U+200B..U+200F (zero-width, directional marks), U+202A..U+202E and U+2066..U+2069
// (directional embeddings, overrides and isolates): they change how the text around them shows.
bool IsInvisibleFormatChar(std::string_view text, size_t i) {
  if (i + 2 >= text.size() || static_cast<unsigned char>(text[i]) != 0xE2) return false;
  const auto b1 = static_cast<unsigned char>(text[i + 1]);
  const auto b2 = static_cast<unsigned char>(text[i + 2]);
  return (b1 == 0x80 && ((b2 >= 0x8B && b2 <= 0x8F) || (b2 >= 0xAA && b2 <= 0xAE))) ||
         (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9);
}

std::string ForReport(std::string_view text, size_t size_bytes_max, bool printable_ascii_only) {
  std::string out(CutUtf8(text, size_bytes_max));
  for (size_t i = 0; i < out.size(); ++i) {
    const auto u = static_cast<unsigned char>(out[i]);
    if (IsInvisibleFormatChar(out, i)) {
      out.replace(i, 3, "?");
    } else if (u < 0x20 || u == 0x7f || (printable_ascii_only && u > 0x7e)) {
      out[i] = '?';
    }
  }
  return out;
}

// The stream id is the server's word: cleaned and cut like a report's.
std::string Where(uint64_t position, std::string_view stream, uint64_t version) {
  std::string where = "position " + std::to_string(position);
  if (!stream.empty()) {
    where += " (stream " + ForReport(stream, kReportStreamSizeBytesMax, /*printable_ascii_only=*/false) +
             ", version " + std::to_string(version) + ")";
  }
  return where;
}

bool HasPrefix(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

EventScope ScopeOf(const v1::SubscribeRequest& request) {
  EventScope scope;
  scope.stream = request.stream();
  if (request.start_case() == v1::SubscribeRequest::kFromVersion) {
    scope.from_version = request.from_version();
  }
  scope.stream_prefixes.assign(request.filter().stream_prefixes().begin(),
                               request.filter().stream_prefixes().end());
  scope.event_types.assign(request.filter().event_types().begin(),
                           request.filter().event_types().end());
  return scope;
}

EventVerifier::EventVerifier(IntegritySource* source, integrity::NoteVerifier key,
                             EventVerifierOptions options)
    : source_(source), key_(std::move(key)), options_(options) {
  assert(source_ != nullptr);
  assert(options_.checkpoint_every_events >= 1 &&
         options_.checkpoint_every_events <= kPendingEventsMax);
  assert(options_.checkpoint_every_ms >= 1);
  assert(options_.streams_tracked_max >= 1);
  assert(options_.uncovered_checkpoints_max >= 1);
}

Status EventVerifier::Fail(v1::ViolationKind kind, uint64_t position, std::string_view stream,
                           uint64_t version, std::string what) {
  assert(failure_.ok());
  v1::ViolationReport report;
  report.set_kind(kind);
  report.set_position(position);
  report.set_stream(ForReport(stream, kReportStreamSizeBytesMax, /*printable_ascii_only=*/false));
  report.set_version(version);
  if (checkpoint_) {
    report.set_checkpoint_size(checkpoint_->size);
    report.set_checkpoint_root(crypto::HashString(checkpoint_->root));
  }
  report.set_detail(ForReport(what, kReportDetailSizeBytesMax, /*printable_ascii_only=*/true));
  // `what` may quote the server (a signer's name): cleaned and bounded like the report's copy.
  std::string message = "verification failed at " + Where(position, stream, version) + ": " + report.detail();
  if (Status reported = source_->ReportViolation(report); !reported.ok()) {
    message += " (not reported to the server: " +
               ForReport(reported.message(), kReportDetailSizeBytesMax, /*printable_ascii_only=*/true) + ")";
  }
  failure_ = Status::DataLoss(std::move(message), static_cast<int64_t>(position));
  return failure_;
}

Status EventVerifier::CheckEvent(const v1::RecordedEvent& event, int64_t now_ms) {
  if (failed()) return failure_;
  if (pending_.size() >= kPendingEventsMax) {
    return Status::ResourceExhausted("too many unproven events: verify a checkpoint first");
  }
  Hash leaf{};
  CAIRN_RETURN_IF_ERROR(CheckFields(event, &leaf));
  CAIRN_RETURN_IF_ERROR(CheckScope(event));
  std::optional<ReadPredecessor> read;
  CAIRN_RETURN_IF_ERROR(CheckChain(event, &read));
  Remember(event, leaf, now_ms, read);
  ++stats_.events_checked;
  return Status::Ok();
}

Status EventVerifier::CheckFields(const v1::RecordedEvent& event, Hash* leaf) {
  const uint64_t pos = event.position();
  auto entry = EntryOf(event);
  if (!entry.ok()) {
    return Fail(v1::VIOLATION_MALFORMED, pos, event.stream(), event.version(),
                entry.status().message());
  }
  if (last_position_ && pos <= *last_position_) {
    return Fail(v1::VIOLATION_ORDER, pos, event.stream(), event.version(),
                "position does not follow position " + std::to_string(*last_position_));
  }
  if (pos < position_floor_) {
    return Fail(v1::VIOLATION_ORDER, pos, event.stream(), event.version(),
                "position is before " + std::to_string(position_floor_) +
                    ", where the subscription started or a marker said it had arrived");
  }
  if (!SameHash(crypto::Sha256(event.metadata()), event.metadata_hash())) {
    return Fail(v1::VIOLATION_METADATA_HASH, pos, event.stream(), event.version(),
                "SHA-256 of the metadata differs from metadata_hash");
  }
  const bool lists_fields = event.masked_size() > 0 || event.erased_size() > 0 || event.revealed_size() > 0;
  if (!lists_fields) {
    if (!SameHash(crypto::Sha256(event.data()), event.data_hash())) {
      return Fail(v1::VIOLATION_DATA_HASH, pos, event.stream(), event.version(),
                  "SHA-256 of the data differs from data_hash");
    }
  } else if (!event.stored_data().empty()) {
    CAIRN_RETURN_IF_ERROR(CheckStoredForm(event));
  } else if (options_.require_verified_data || options_.require_stored_form) {
    return Status(StatusCode::kFailedPrecondition,
                  "the data of the event at position " + std::to_string(pos) +
                      " has protected fields shown masked, erased or decrypted and came without "
                      "its stored form: it cannot be checked against data_hash (the server "
                      "withholds the stored form when a field masked by a later rule is in clear "
                      "in it)",
                  static_cast<int64_t>(pos));
  } else {
    ++stats_.data_hashes_skipped;  // data_hash covers the stored (protected) form
  }
  *leaf = integrity::LeafHash(integrity::EncodeEntry(*entry));
  if (!SameHash(*leaf, event.leaf_hash())) {
    return Fail(v1::VIOLATION_LEAF_HASH, pos, event.stream(), event.version(),
                "the leaf hash recomputed from the event's fields differs from leaf_hash");
  }
  return Status::Ok();
}

// The server's filter (subscribe/live_request.cc MatchesRequest), from the client's side.
Status EventVerifier::CheckScope(const v1::RecordedEvent& event) {
  const EventScope& scope = options_.scope;
  std::string what;
  if (scope.stream != "$all" && event.stream() != scope.stream) {
    what = "the event is of another stream than the one subscribed to";
  } else if (scope.stream != "$all" && event.version() < scope.from_version) {
    what = "the version is before the subscription's from_version " +
           std::to_string(scope.from_version);
  } else if (!scope.stream_prefixes.empty() &&
             std::none_of(scope.stream_prefixes.begin(), scope.stream_prefixes.end(),
                          [&](const std::string& p) { return HasPrefix(event.stream(), p); })) {
    what = "the stream matches none of the subscription's stream prefixes";
  } else if (!scope.event_types.empty() &&
             std::find(scope.event_types.begin(), scope.event_types.end(), event.type()) ==
                 scope.event_types.end()) {
    what = "the event type is not one of the subscription's event types";
  } else {
    return Status::Ok();
  }
  return Fail(v1::VIOLATION_SCOPE, event.position(), event.stream(), event.version(),
              std::move(what));
}

Status EventVerifier::RefuseMessage(uint64_t position, std::string what) {
  if (failed()) return failure_;
  return Fail(v1::VIOLATION_SCOPE, position, "", 0, std::move(what));
}

Status EventVerifier::TrustCheckpoint(std::string_view signed_note) {
  assert(!checkpoint_ && stats_.checkpoints_verified == 0 && "only before the first checkpoint");
  auto trusted = integrity::VerifyCheckpoint(signed_note, key_);
  if (!trusted.ok()) {
    return Status::InvalidArgument("the trusted checkpoint does not verify under the pinned "
                                   "verifier key: " + trusted.status().message());
  }
  checkpoint_ = std::move(trusted).value();
  checkpoint_note_ = std::string(signed_note);
  return Status::Ok();
}

// A protected event sent with its stored form: the stored form against data_hash, and the data
// shown against the stored form outside exactly the listed fields (client/stored_form.h).
Status EventVerifier::CheckStoredForm(const v1::RecordedEvent& event) {
  const uint64_t pos = event.position();
  if (!SameHash(crypto::Sha256(event.stored_data()), event.data_hash())) {
    return Fail(v1::VIOLATION_DATA_HASH, pos, event.stream(), event.version(),
                "SHA-256 of the stored form differs from data_hash");
  }
  ShownFields fields;
  fields.masked.assign(event.masked().begin(), event.masked().end());
  fields.erased.assign(event.erased().begin(), event.erased().end());
  fields.revealed.assign(event.revealed().begin(), event.revealed().end());
  Status shown;
  try {
    shown = CheckShownAgainstStored(event.data(), event.stored_data(), fields);
  } catch (const std::bad_alloc&) {  // not the server's proven fault: an error, not a violation
    return Status(StatusCode::kResourceExhausted,
                  "the event at position " + std::to_string(pos) + " is too large to check",
                  static_cast<int64_t>(pos));
  }
  if (!shown.ok()) {
    return Fail(v1::VIOLATION_DATA_HASH, pos, event.stream(), event.version(), shown.message());
  }
  ++stats_.stored_forms_checked;
  if (options_.require_verified_data && event.revealed_size() > 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "the event at position " + std::to_string(pos) +
                      " shows decrypted protected fields, whose plaintext no hash covers "
                      "(require_verified_data)",
                  static_cast<int64_t>(pos));
  }
  return Status::Ok();
}

Status EventVerifier::CheckChain(const v1::RecordedEvent& event,
                                 std::optional<ReadPredecessor>* read) {
  const uint64_t pos = event.position();
  const uint64_t version = event.version();
  if (version == 0 && !SameHash(integrity::kZeroHash, event.stream_prev())) {
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "version 0 must have 32 zero bytes as stream_prev");
  }
  auto it = heads_.find(event.stream());
  if (it != heads_.end() && version <= it->second.version) {
    return Fail(v1::VIOLATION_ORDER, pos, event.stream(), version,
                "version does not follow version " + std::to_string(it->second.version) +
                    " of the same stream");
  }
  if (it != heads_.end() && it->second.deleted) {
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "the stream was deleted at version " + std::to_string(it->second.version) +
                    "; nothing follows its tombstone");
  }
  if (version == 0) return Status::Ok();
  if (it != heads_.end() && version == it->second.version + 1) {
    if (!SameHash(it->second.leaf, event.stream_prev())) {
      return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                  "stream_prev is not the leaf hash of version " +
                      std::to_string(it->second.version));
    }
    ++stats_.chain_links_checked;
    return Status::Ok();
  }
  return CheckReadPredecessor(event, it != heads_.end() ? &it->second : nullptr, read);
}

// A link this verifier cannot check: counted, or refused with require_chain_links.
Status EventVerifier::Unchecked(const v1::RecordedEvent& event) {
  if (options_.require_chain_links) {
    return Status(StatusCode::kFailedPrecondition,
                  "the chain link of the event at position " + std::to_string(event.position()) +
                      " cannot be checked: its predecessor was not seen and the server showed "
                      "none (or check_unseen_predecessors is off)",
                  static_cast<int64_t>(event.position()));
  }
  ++stats_.chain_links_unchecked;
  return Status::Ok();
}

// The predecessor this verifier did not see, read from the source: it must be version - 1 of the
// same stream, at a lower position, and stream_prev must be the leaf recomputed from its fields.
// Its inclusion is proven with the event's (Pending::pred_position), so a made-up predecessor
// that matches a forged stream_prev is caught too.
Status EventVerifier::CheckReadPredecessor(const v1::RecordedEvent& event, const StreamHead* seen,
                                           std::optional<ReadPredecessor>* read) {
  const uint64_t pos = event.position();
  const uint64_t version = event.version();
  assert(version > 0);
  if (!options_.check_unseen_predecessors) return Unchecked(event);
  Result<std::optional<v1::RecordedEvent>> read_pred =
      source_->ReadStreamEvent(event.stream(), version - 1);
  if (!read_pred.ok() && read_pred.status().code() == StatusCode::kNotFound) {
    // The server says a version before one it delivered does not exist: streams lose no versions.
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "the server says version " + std::to_string(version - 1) +
                    " of the stream does not exist, but delivered version " + std::to_string(version));
  }
  if (!read_pred.ok()) {  // a transport error: not a violation, but nothing unchecked passes
    return read_pred.status().Annotate("cannot read the predecessor of the event at position " +
                                       std::to_string(pos));
  }
  std::optional<v1::RecordedEvent>& pred = *read_pred;
  if (!pred) return Unchecked(event);
  const std::string what = "version " + std::to_string(version - 1) + " read from the server";
  if (pred->stream() != event.stream() || pred->version() != version - 1 ||
      pred->position() >= pos) {
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "the " + what + " is not the predecessor (another stream, version or a later "
                "position)");
  }
  auto entry = EntryOf(*pred);
  if (!entry.ok()) {
    return Fail(v1::VIOLATION_MALFORMED, pos, event.stream(), version,
                "the " + what + " is malformed: " + entry.status().message());
  }
  const Hash pred_leaf = integrity::LeafHash(integrity::EncodeEntry(*entry));
  if (!SameHash(pred_leaf, event.stream_prev())) {
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "stream_prev is not the leaf hash of the " + what + " (position " +
                    std::to_string(pred->position()) + ")");
  }
  // The read version also links back to what this verifier saw of the stream: it lies after it
  // in the log and, when it directly follows it, names its leaf (else a fork between the two,
  // with both ends proven, would pass unseen).
  if (seen != nullptr) {
    assert(seen->version < version - 1);
    if (pred->position() <= seen->position) {
      return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                  "the " + what + " is not after version " + std::to_string(seen->version) +
                      " in the log");
    }
    if (seen->version + 1 == version - 1 && !SameHash(seen->leaf, pred->stream_prev())) {
      return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                  "the " + what + " does not link to version " + std::to_string(seen->version) +
                      " (its stream_prev is not that version's leaf hash)");
    }
  }
  // Its fields are the ones the link commits to (checked just above): a genuine tombstone.
  if (pred->type() == kTombstoneType) {
    return Fail(v1::VIOLATION_STREAM_CHAIN, pos, event.stream(), version,
                "the " + what + " is the stream's tombstone; nothing follows it");
  }
  *read = ReadPredecessor{pred->position(), pred_leaf};
  ++stats_.chain_links_checked;
  ++stats_.predecessors_read;
  return Status::Ok();
}

void EventVerifier::Remember(const v1::RecordedEvent& event, const Hash& leaf, int64_t now_ms,
                             const std::optional<ReadPredecessor>& read) {
  last_position_ = event.position();
  auto it = heads_.find(event.stream());
  if (it == heads_.end()) {
    // Bounded: forget some other stream; its next event is then proven only by inclusion.
    if (heads_.size() >= options_.streams_tracked_max) heads_.erase(heads_.begin());
    it = heads_.emplace(event.stream(), StreamHead{}).first;
  }
  it->second = StreamHead{event.version(), event.position(), leaf, event.type() == kTombstoneType};
  Pending p{event.position(), event.stream(), event.version(), leaf, now_ms, 0, std::nullopt, {}};
  if (read) {
    assert(read->position < event.position());
    p.pred_position = read->position;
    p.pred_leaf = read->leaf;
  }
  pending_.push_back(std::move(p));
  assert(heads_.size() <= options_.streams_tracked_max);
  assert(pending_.size() <= kPendingEventsMax);
}

bool EventVerifier::Proven(uint64_t position) const {
  if (!checkpoint_ || position >= checkpoint_->size) return false;
  return pending_.empty() || position < pending_.front().position;
}

bool EventVerifier::CheckpointDue(int64_t now_ms) const {
  if (pending_.empty()) return false;
  return pending_.size() >= options_.checkpoint_every_events ||
         now_ms - pending_.front().checked_at_ms >= options_.checkpoint_every_ms;
}

Status EventVerifier::VerifyCheckpoint(std::optional<int64_t> now_ms) {
  if (failed()) return failure_;
  std::string note;
  CAIRN_ASSIGN_OR_RETURN(std::optional<integrity::Checkpoint> fetched, FetchSignedCheckpoint(&note));
  if (!fetched) return CountMisses(checkpoint_ ? checkpoint_->size : 0, now_ms);
  integrity::Checkpoint next = std::move(fetched).value();
  if (options_.witnesses_min > 0 && checkpoint_ && next.size < checkpoint_->size) {
    // Cosigned checkpoints lag the latest (and a trusted one may be newer): one that is a prefix
    // of the checkpoint held proves nothing new; one that is not is a fork.
    CAIRN_RETURN_IF_ERROR(CheckExtends(next, *checkpoint_));
    return ProvePending(next, now_ms);  // a prefix of the held one: what it covers is proven
  }
  CAIRN_RETURN_IF_ERROR(CheckConsistency(next));
  // Signed and consistent: it is the checkpoint this consumer holds from now on (and names in
  // a report), even if a pending event then fails to be proven in it.
  checkpoint_ = std::move(next);
  checkpoint_note_ = std::move(note);
  ++stats_.checkpoints_verified;
  return ProvePending(*checkpoint_, now_ms);
}

Result<std::optional<integrity::Checkpoint>> EventVerifier::FetchSignedCheckpoint(std::string* note) {
  const bool cosigned = options_.witnesses_min > 0;
  CAIRN_ASSIGN_OR_RETURN(v1::Checkpoint wire, cosigned ? source_->GetCosignedCheckpoint()
                                                        : source_->GetCheckpoint());
  auto signed_checkpoint = integrity::VerifyCheckpoint(wire.note(), key_);
  if (!signed_checkpoint.ok()) {
    return Fail(v1::VIOLATION_CHECKPOINT_SIGNATURE, wire.size(), "", 0,
                "the checkpoint does not verify under the pinned verifier key (" +
                    signed_checkpoint.status().message() + ")");
  }
  if (cosigned && !EnoughCosignatures(wire.note())) return std::optional<integrity::Checkpoint>();
  // Kept (and carried into the next session as trusted) without other signers' lines: a note a
  // server padded with them up to 1 MiB would otherwise not fit the trusted checkpoint's bound.
  CAIRN_ASSIGN_OR_RETURN(*note, integrity::NoteSignedOnlyBy(wire.note(), key_));
  if (note->size() > VerifyingSubscriptionOptions::kTrustedCheckpointSizeBytesMax) {
    return Status::ResourceExhausted("the signed checkpoint's text is larger than the 64 KiB a "
                                     "consumer keeps");
  }
  return std::optional<integrity::Checkpoint>(std::move(signed_checkpoint).value());
}

bool EventVerifier::EnoughCosignatures(std::string_view note) {
  size_t valid = 0;
  for (const integrity::NoteVerifier& witness : options_.witnesses) {
    if (integrity::VerifyCosignature(note, witness).ok()) ++valid;
  }
  last_cosignatures_ = valid;
  if (valid < options_.witnesses_min) return false;
  stats_.cosignatures_checked += valid;
  return true;
}

Status EventVerifier::CheckConsistency(const integrity::Checkpoint& next) {
  if (!checkpoint_) return Status::Ok();
  if (next.size < checkpoint_->size) {
    return Fail(v1::VIOLATION_CONSISTENCY, next.size, "", 0,
                "the signed tree shrank from size " + std::to_string(checkpoint_->size));
  }
  return CheckExtends(*checkpoint_, next);
}

Status EventVerifier::CheckExtends(const integrity::Checkpoint& prev,
                                   const integrity::Checkpoint& next) {
  assert(prev.size <= next.size);
  if (next.size == prev.size) {
    if (next.root != prev.root) {
      return Fail(v1::VIOLATION_CONSISTENCY, next.size, "", 0,
                  "two signed checkpoints of the same size have different roots");
    }
    return Status::Ok();
  }
  if (prev.size == 0) {  // the empty tree is a prefix of every tree (RFC 9162: no proof exists)
    if (prev.root != integrity::EmptyRoot()) {
      return Fail(v1::VIOLATION_CONSISTENCY, 0, "", 0,
                  "the trusted checkpoint of size 0 does not have the empty tree's root");
    }
    return Status::Ok();
  }
  CAIRN_ASSIGN_OR_RETURN(v1::ConsistencyProof proof,
                         source_->GetConsistencyProof(prev.size, next.size));
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  Status s = integrity::VerifyConsistency(prev.size, next.size, path,
                                          crypto::HashView(prev.root), crypto::HashView(next.root));
  ++stats_.consistency_proofs_checked;
  if (!s.ok()) {
    return Fail(v1::VIOLATION_CONSISTENCY, next.size, "", 0,
                "the checkpoint of size " + std::to_string(next.size) +
                    " is not consistent with the one of size " + std::to_string(prev.size));
  }
  return Status::Ok();
}

Result<std::vector<v1::InclusionProof>> IntegritySource::GetInclusionProofs(
    const std::vector<uint64_t>& indexes, uint64_t size) {
  std::vector<v1::InclusionProof> proofs;
  proofs.reserve(indexes.size());
  for (const uint64_t index : indexes) {
    CAIRN_ASSIGN_OR_RETURN(v1::InclusionProof proof, GetInclusionProof(index, size));
    proofs.push_back(std::move(proof));
  }
  return proofs;
}

// A proof of the task's position against the signed root (the proof's own index, size and root
// are not trusted: the path is checked for the position asked for).
Status EventVerifier::CheckProof(const ProofTask& task, const v1::InclusionProof& proof,
                                 const integrity::Checkpoint& checkpoint) {
  const Pending& p = *task.event;
  const uint64_t position = task.predecessor ? *p.pred_position : p.position;
  assert(position < checkpoint.size);
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  Status s = integrity::VerifyInclusion(position, checkpoint.size,
                                        crypto::HashView(task.predecessor ? p.pred_leaf : p.leaf),
                                        path, crypto::HashView(checkpoint.root));
  ++stats_.inclusion_proofs_checked;
  if (s.ok()) return s;
  if (!task.predecessor) {
    return Fail(v1::VIOLATION_INCLUSION, p.position, p.stream, p.version,
                "the event is not in the signed tree of size " + std::to_string(checkpoint.size));
  }
  return Fail(v1::VIOLATION_STREAM_CHAIN, p.position, p.stream, p.version,
              "the predecessor (version " + std::to_string(p.version - 1) + " at position " +
                  std::to_string(position) + ") the server showed for the chain check is "
                  "not in the signed tree of size " + std::to_string(checkpoint.size));
}

Status EventVerifier::ProveTasks(const std::vector<ProofTask>& tasks,
                                 const integrity::Checkpoint& checkpoint) {
  std::vector<uint64_t> positions;
  for (size_t begin = 0; begin < tasks.size(); begin += kInclusionProofsPerCall) {
    const size_t end = std::min(tasks.size(), begin + kInclusionProofsPerCall);
    positions.clear();
    for (size_t i = begin; i < end; ++i) {
      const Pending& p = *tasks[i].event;
      positions.push_back(tasks[i].predecessor ? *p.pred_position : p.position);
    }
    ++stats_.inclusion_proof_calls;
    CAIRN_ASSIGN_OR_RETURN(std::vector<v1::InclusionProof> proofs,
                           source_->GetInclusionProofs(positions, checkpoint.size));
    if (proofs.size() != positions.size()) {  // fail closed: nothing unproven is handed on
      return Status::Internal("the server answered " + std::to_string(proofs.size()) +
                              " inclusion proofs for " + std::to_string(positions.size()) +
                              " positions");
    }
    for (size_t i = begin; i < end; ++i) {
      CAIRN_RETURN_IF_ERROR(CheckProof(tasks[i], proofs[i - begin], checkpoint));
    }
  }
  return Status::Ok();
}

Status EventVerifier::ProvePending(const integrity::Checkpoint& checkpoint, std::optional<int64_t> now_ms) {
  // Prove first, drop after: a transport error leaves every pending event pending. Each event is
  // proven before the predecessor read for its link, as the checks are ordered for one event.
  size_t proven = 0;
  std::vector<ProofTask> tasks;
  for (const Pending& p : pending_) {
    if (p.position >= checkpoint.size) break;  // positions increase: the rest are beyond too
    assert(!p.pred_position || *p.pred_position < p.position);
    tasks.push_back({&p, false});
    if (p.pred_position) tasks.push_back({&p, true});
    ++proven;
  }
  CAIRN_RETURN_IF_ERROR(ProveTasks(tasks, checkpoint));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(proven));
  return CountMisses(checkpoint.size, now_ms);
}

Status EventVerifier::CountMisses(uint64_t covered_size, std::optional<int64_t> now_ms) {
  for (Pending& p : pending_) {
    const bool long_enough = !now_ms || *now_ms - p.checked_at_ms >= options_.uncovered_ms_min;
    if (++p.checkpoints_missed > options_.uncovered_checkpoints_max && long_enough) {
      if (options_.witnesses_min > 0) {  // the log or its witnesses hold it back: fail closed
        return Status::Unavailable(
            "the event at position " + std::to_string(p.position) +
            " is beyond every checkpoint with enough witness cosignatures (the last usable one "
            "covers size " + std::to_string(covered_size) + "; the last one fetched had " +
            std::to_string(last_cosignatures_) + " cosignatures, " +
            std::to_string(options_.witnesses_min) +
            " needed): are the log's witnesses cosigning and keeping up?");
      }
      return Fail(v1::VIOLATION_INCLUSION, p.position, p.stream, p.version,
                  "the event is beyond every signed checkpoint (latest size " +
                      std::to_string(covered_size) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace cairn
