#include "server/wire_convert.h"

#include <string>

namespace cairn::server {
namespace {

std::string HashBytes(const crypto::Hash& h) { return std::string(crypto::HashView(h)); }

Status HashFromWire(const std::string& bytes, std::string_view field, crypto::Hash* out) {
  if (bytes.size() != crypto::kSha256SizeBytes) {
    return Status::InvalidArgument(std::string(field) + " must be 32 bytes");
  }
  *out = crypto::HashFromBytes(bytes);
  return Status::Ok();
}

template <typename Repeated>
Status HashesFromWire(const Repeated& list, std::vector<crypto::Hash>* out) {
  out->reserve(list.size());
  for (const auto& bytes : list) {
    crypto::Hash h;
    if (Status s = HashFromWire(bytes, "proof hash", &h); !s.ok()) return s;
    out->push_back(h);
  }
  return Status::Ok();
}

}  // namespace

void ToWire(const engine::RecordedEvent& event, v1::RecordedEvent* out) {
  const integrity::Entry& e = event.entry;
  out->set_position(e.position);
  out->set_stream(e.stream_id);
  out->set_version(e.stream_version);
  out->set_id(e.event_id);
  out->set_type(e.event_type);
  out->set_content_type(e.content_type);
  out->set_recorded_at_ns(e.recorded_at_ns);
  out->set_metadata_hash(HashBytes(e.metadata_hash));
  out->set_data_hash(HashBytes(e.data_hash));
  out->set_stream_prev(HashBytes(e.stream_prev));
  out->set_leaf_hash(HashBytes(event.leaf_hash));
  out->set_data(event.data);
  out->set_metadata(event.metadata);
  for (const auto& p : event.masked) out->add_masked(p);
  for (const auto& p : event.erased) out->add_erased(p);
  for (const auto& p : event.revealed) out->add_revealed(p);
  if (!event.stored_data.empty()) out->set_stored_data(event.stored_data);
}

Result<engine::RecordedEvent> FromWire(const v1::RecordedEvent& in) {
  engine::RecordedEvent event;
  integrity::Entry& e = event.entry;
  e.position = in.position();
  e.stream_id = in.stream();
  e.stream_version = in.version();
  if (in.id().size() != 16) return Status::InvalidArgument("event id must be 16 bytes");
  e.event_id = in.id();
  e.event_type = in.type();
  e.content_type = in.content_type();
  e.recorded_at_ns = in.recorded_at_ns();
  for (auto [bytes, field, hash] :
       {std::tuple{&in.metadata_hash(), "metadata_hash", &e.metadata_hash},
        std::tuple{&in.data_hash(), "data_hash", &e.data_hash},
        std::tuple{&in.stream_prev(), "stream_prev", &e.stream_prev},
        std::tuple{&in.leaf_hash(), "leaf_hash", &event.leaf_hash}}) {
    if (Status s = HashFromWire(*bytes, field, hash); !s.ok()) return s;
  }
  event.data = in.data();
  event.metadata = in.metadata();
  event.masked.assign(in.masked().begin(), in.masked().end());
  event.erased.assign(in.erased().begin(), in.erased().end());
  event.revealed.assign(in.revealed().begin(), in.revealed().end());
  event.stored_data = in.stored_data();
  return event;
}

void ToWire(const engine::ExpectedVersion& expected, v1::ExpectedVersion* out) {
  using Kind = engine::ExpectedVersion::Kind;
  switch (expected.kind) {
    case Kind::kAny: out->set_kind(v1::ExpectedVersion::ANY); break;
    case Kind::kNoStream: out->set_kind(v1::ExpectedVersion::NO_STREAM); break;
    case Kind::kStreamExists: out->set_kind(v1::ExpectedVersion::STREAM_EXISTS); break;
    case Kind::kExact:
      out->set_kind(v1::ExpectedVersion::EXACT);
      out->set_version(expected.version);
      break;
  }
}

engine::ExpectedVersion FromWire(const v1::ExpectedVersion& expected) {
  switch (expected.kind()) {
    case v1::ExpectedVersion::NO_STREAM: return engine::ExpectedVersion::NoStream();
    case v1::ExpectedVersion::STREAM_EXISTS: return engine::ExpectedVersion::StreamExists();
    case v1::ExpectedVersion::EXACT: return engine::ExpectedVersion::Exact(expected.version());
    default: return engine::ExpectedVersion::Any();
  }
}

void ToWire(const engine::ProposedEvent& event, v1::ProposedEvent* out) {
  out->set_id(event.event_id);
  out->set_type(event.event_type);
  out->set_content_type(event.content_type);
  out->set_data(event.data);
  out->set_metadata(event.metadata);
  out->set_subject(event.subject);
}

Result<engine::ProposedEvent> FromWire(const v1::ProposedEvent& in) {
  if (!in.id().empty() && in.id().size() != 16) {
    return Status::InvalidArgument("event id must be 16 bytes (a UUID) or empty");
  }
  engine::ProposedEvent event;
  event.event_id = in.id();
  event.event_type = in.type();
  if (!in.content_type().empty()) event.content_type = in.content_type();
  event.data = in.data();
  event.metadata = in.metadata();
  event.subject = in.subject();
  return event;
}

void ToWire(const engine::AppendResult& r, v1::AppendResponse* out) {
  out->set_first_position(r.first_position);
  out->set_last_position(r.last_position);
  out->set_first_version(r.first_version);
  out->set_last_version(r.last_version);
  out->set_idempotent_replay(r.idempotent_replay);
}

engine::AppendResult FromWire(const v1::AppendResponse& in) {
  engine::AppendResult r;
  r.first_position = in.first_position();
  r.last_position = in.last_position();
  r.first_version = in.first_version();
  r.last_version = in.last_version();
  r.idempotent_replay = in.idempotent_replay();
  return r;
}

void ToWire(const engine::StreamInfo& info, v1::StreamInfo* out) {
  out->set_exists(info.exists);
  out->set_event_count(info.event_count);
  out->set_last_version(info.last_version);
  out->set_last_position(info.last_position);
  out->set_deleted(info.deleted);
}

engine::StreamInfo FromWire(const v1::StreamInfo& in) {
  engine::StreamInfo info;
  info.exists = in.exists();
  info.event_count = in.event_count();
  info.last_version = in.last_version();
  info.last_position = in.last_position();
  info.deleted = in.deleted();
  return info;
}

void ToWire(const engine::SignedCheckpoint& c, v1::Checkpoint* out) {
  out->set_size(c.size);
  out->set_root(HashBytes(c.root));
  out->set_note(c.note);
}

Result<engine::SignedCheckpoint> FromWire(const v1::Checkpoint& in) {
  engine::SignedCheckpoint c;
  c.size = in.size();
  if (Status s = HashFromWire(in.root(), "root", &c.root); !s.ok()) return s;
  c.note = in.note();
  return c;
}

void ToWire(const engine::InclusionProof& p, v1::InclusionProof* out) {
  out->set_index(p.index);
  out->set_size(p.size);
  out->set_leaf_hash(HashBytes(p.leaf_hash));
  out->set_root(HashBytes(p.root));
  for (const auto& h : p.proof) out->add_proof(HashBytes(h));
}

Result<engine::InclusionProof> FromWire(const v1::InclusionProof& in) {
  engine::InclusionProof p;
  p.index = in.index();
  p.size = in.size();
  if (Status s = HashFromWire(in.leaf_hash(), "leaf_hash", &p.leaf_hash); !s.ok()) return s;
  if (Status s = HashFromWire(in.root(), "root", &p.root); !s.ok()) return s;
  if (Status s = HashesFromWire(in.proof(), &p.proof); !s.ok()) return s;
  return p;
}

void ToWire(const engine::ConsistencyProof& p, v1::ConsistencyProof* out) {
  out->set_size1(p.size1);
  out->set_size2(p.size2);
  out->set_root1(HashBytes(p.root1));
  out->set_root2(HashBytes(p.root2));
  for (const auto& h : p.proof) out->add_proof(HashBytes(h));
}

Result<engine::ConsistencyProof> FromWire(const v1::ConsistencyProof& in) {
  engine::ConsistencyProof p;
  p.size1 = in.size1();
  p.size2 = in.size2();
  if (Status s = HashFromWire(in.root1(), "root1", &p.root1); !s.ok()) return s;
  if (Status s = HashFromWire(in.root2(), "root2", &p.root2); !s.ok()) return s;
  if (Status s = HashesFromWire(in.proof(), &p.proof); !s.ok()) return s;
  return p;
}

}  // namespace cairn::server
