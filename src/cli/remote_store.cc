#include "cli/remote_store.h"

#include <algorithm>

#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "keys/subject_keys.h"
#include "server/wire_convert.h"

namespace cairn::cli {

using server::FromWire;
using server::ToWire;

RemoteEventStore::RemoteEventStore(std::unique_ptr<Client> client) : client_(std::move(client)) {}

Result<engine::AppendResult> RemoteEventStore::Append(std::string_view stream_id,
                                                      engine::ExpectedVersion expected,
                                                      std::vector<engine::ProposedEvent> events) {
  v1::AppendRequest request;
  request.set_stream(std::string(stream_id));
  ToWire(expected, request.mutable_expected());
  for (const auto& event : events) ToWire(event, request.add_events());
  auto response = client_->Append(request);
  if (!response.ok()) return response.status();
  return FromWire(*response);
}

Result<engine::AppendResult> RemoteEventStore::DeleteStream(std::string_view stream_id,
                                                            engine::ExpectedVersion expected) {
  v1::DeleteRequest request;
  request.set_stream(std::string(stream_id));
  ToWire(expected, request.mutable_expected());
  auto response = client_->Delete(request);
  if (!response.ok()) return response.status();
  engine::AppendResult result;
  result.first_position = result.last_position = response->position();
  result.first_version = result.last_version = response->version();
  return result;
}

Status RemoteEventStore::Collect(const v1::ReadResponse& chunk, const CollectBounds& bounds,
                                 std::vector<engine::RecordedEvent>* out) {
  filtered_events_.fetch_add(chunk.filtered_events(), std::memory_order_relaxed);
  // A server that sends more than asked for, or out of order, is not followed (it could make the
  // CLI hold unbounded memory or print a history that is not the log's).
  if (bounds.limit != 0 && static_cast<uint64_t>(chunk.events_size()) > bounds.limit - out->size()) {
    return Status::Internal("the server sent more events than the " + std::to_string(bounds.limit) +
                            " asked for");
  }
  for (const auto& wire : chunk.events()) {
    auto event = FromWire(wire);
    if (!event.ok()) return event.status().Annotate("server sent a malformed event");
    const uint64_t position = event->entry.position;
    const bool in_order = out->empty() ? position >= bounds.position_min
                                       : bounds.backwards ? position < out->back().entry.position
                                                          : position > out->back().entry.position;
    if (!in_order) {
      return Status::Internal("the server sent position " + std::to_string(position) + " out of order");
    }
    out->push_back(std::move(event).value());
  }
  return Status::Ok();
}

Result<engine::ReadStreamResult> RemoteEventStore::ReadStream(std::string_view stream_id,
                                                              uint64_t from_version,
                                                              engine::Direction direction,
                                                              uint64_t limit) {
  v1::ReadRequest request;
  request.set_stream(std::string(stream_id));
  request.set_from_version(from_version);
  request.set_backwards(direction == engine::Direction::kBackwards);
  request.set_limit(limit);
  const CollectBounds bounds{.limit = limit, .position_min = 0, .backwards = request.backwards()};
  engine::ReadStreamResult result;
  Status collected;
  Status status = client_->Read(request, [&](const v1::ReadResponse& chunk) {
    if (chunk.end_of_stream()) result.end_of_stream = true;
    collected = Collect(chunk, bounds, &result.events);
    return collected.ok();
  });
  if (!collected.ok()) return collected;
  if (!status.ok()) return status;
  return result;
}

Result<std::vector<engine::RecordedEvent>> RemoteEventStore::ReadAll(uint64_t from_position,
                                                                     uint64_t limit) {
  v1::ReadAllRequest request;
  request.set_from_position(from_position);
  request.set_limit(limit);
  const CollectBounds bounds{.limit = limit, .position_min = from_position, .backwards = false};
  std::vector<engine::RecordedEvent> events;
  Status collected;
  Status status = client_->ReadAll(request, [&](const v1::ReadResponse& chunk) {
    collected = Collect(chunk, bounds, &events);
    return collected.ok();
  });
  if (!collected.ok()) return collected;
  if (!status.ok()) return status;
  return events;
}

Result<engine::RecordedEvent> RemoteEventStore::ReadAt(uint64_t position) {
  auto events = ReadAll(position, 1);
  if (!events.ok()) return events.status();
  if (events->empty() || events->front().entry.position != position) {
    return Status::NotFound("no readable event at position " + std::to_string(position));
  }
  return std::move(events->front());
}

Result<engine::StreamInfo> RemoteEventStore::GetStreamInfo(std::string_view stream_id) {
  auto info = client_->GetStreamInfo(stream_id);
  if (!info.ok()) return info.status();
  return FromWire(*info);
}

uint64_t RemoteEventStore::tree_size() const {
  auto info = client_->ServerInfo();
  return info.ok() ? info->tree_size() : 0;
}

std::string RemoteEventStore::origin() const {
  auto key = client_->GetVerifierKey();
  return key.ok() ? key->origin() : std::string();
}

std::string RemoteEventStore::verifier_key() const {
  auto key = client_->GetVerifierKey();
  return key.ok() ? key->vkey() : std::string();
}

Result<engine::SignedCheckpoint> RemoteEventStore::Checkpoint() {
  auto checkpoint = client_->GetCheckpoint();
  if (!checkpoint.ok()) return checkpoint.status();
  CAIRN_ASSIGN_OR_RETURN(engine::SignedCheckpoint out, FromWire(*checkpoint));
  // The size and root beside the note are not signed: they are shown (`cairn checkpoint --json`)
  // only as the note, verified with the server's key, states them.
  auto key = client_->GetVerifierKey();
  if (!key.ok()) return key.status();
  CAIRN_ASSIGN_OR_RETURN(integrity::NoteVerifier verifier, integrity::ParseVerifierKey(key->vkey()));
  CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint signed_cp,
                         integrity::VerifyCheckpoint(out.note, verifier));
  if (signed_cp.size != out.size || signed_cp.root != out.root) {
    return Status::DataLoss("the server's checkpoint size or root differs from its signed note");
  }
  return out;
}

Result<engine::SignedCheckpoint> RemoteEventStore::LatestStoredCheckpoint() { return Checkpoint(); }

Result<engine::InclusionProof> RemoteEventStore::ProveInclusion(uint64_t index, uint64_t size) {
  auto proof = client_->GetInclusionProof(index, size);
  if (!proof.ok()) return proof.status();
  return FromWire(*proof);
}

Result<engine::ConsistencyProof> RemoteEventStore::ProveConsistency(uint64_t size1,
                                                                    uint64_t size2) {
  auto proof = client_->GetConsistencyProof(size1, size2);
  if (!proof.ok()) return proof.status();
  return FromWire(*proof);
}

Result<engine::BackupResult> RemoteEventStore::Backup(const std::string& dir) {
  if (!dir.empty()) {
    return Status::InvalidArgument("a server writes its backups into its [backup] dir; --to is "
                                   "for a data directory opened offline");
  }
  auto response = client_->Backup();
  if (!response.ok()) return response.status();
  return engine::BackupResult{response->path(), response->tree_size(), response->checkpoint_size(),
                              response->checkpoint_note(), response->kek_id()};
}

Result<engine::ForgetResult> RemoteEventStore::Forget(std::string_view subject) {
  auto response = client_->Forget(subject);
  if (!response.ok()) return response.status();
  return engine::ForgetResult{response->versions_destroyed(), response->purge_pending()};
}

Result<uint32_t> RemoteEventStore::RotateStorageKey() {
  v1::RotateKeyRequest request;
  request.set_storage(true);
  auto response = client_->RotateKey(request);
  if (!response.ok()) return response.status();
  uint32_t epoch = 0;
  try {
    epoch = static_cast<uint32_t>(std::stoul(response->id()));
  } catch (...) {
    return Status::DataLoss("the server named a malformed storage epoch '" + response->id() + "'");
  }
  return epoch;
}

Result<engine::KekRotation> RemoteEventStore::RotateKek() {
  v1::RotateKeyRequest request;
  request.set_kek(true);
  auto response = client_->RotateKey(request);
  if (!response.ok()) return response.status();
  return engine::KekRotation{response->id(), response->rewrapped(), response->resumed(),
                             response->old_kek_kept(), response->unreadable_secrets()};
}

Result<std::string> RemoteEventStore::RotateSubjectKey(std::string_view subject) {
  v1::RotateKeyRequest request;
  request.set_subject(std::string(subject));
  auto response = client_->RotateKey(request);
  if (!response.ok()) return response.status();
  return response->id();
}

Result<engine::KeyPage> RemoteEventStore::ListKeys(std::string_view page_token, size_t keys_max) {
  v1::ListKeysRequest request;
  request.set_page_token(std::string(page_token));
  request.set_page_size(static_cast<uint32_t>(std::min(keys_max, engine::kKeyPageKeysMax)));
  auto response = client_->ListKeys(request);
  if (!response.ok()) return response.status();
  // A server that sends more than a page, or hands back the token it was given (a listing that
  // would never end), is not followed.
  // (A page holds all versions of the subject it starts with, even beyond page_size.)
  const size_t page_keys_max = size_t{request.page_size()} + keys::kSubjectKeyVersionsMax;
  if (static_cast<size_t>(response->keys_size()) > page_keys_max) {
    return Status::Internal("the server sent more keys than a page of " +
                            std::to_string(request.page_size()) + " may hold");
  }
  if (!page_token.empty() && response->next_page_token() == page_token) {
    return Status::Internal("the server repeated the page token it was given");
  }
  engine::KeyPage page;
  page.keys.reserve(response->keys_size());
  for (const v1::KeyInfo& k : response->keys()) {
    page.keys.push_back({k.kind(), k.id(), k.version(), k.created_unix_s(), k.subject_hash_hex(),
                         k.current()});
  }
  page.next_page_token = response->next_page_token();
  return page;
}

engine::VerifyReport RemoteEventStore::Verify() {
  engine::VerifyReport report;
  report.failure = "full verification runs offline: cairn verify --data-dir DIR";
  return report;
}

}  // namespace cairn::cli
