#include "fake_log.h"

#include <stdexcept>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/entry.h"
#include "integrity/proof.h"

namespace cairn::testing {
// A plain anonymous namespace: the file's functions below it use these helpers (a test file
// keeps its own in CAIRN_UNITY_ID, CMakeLists.txt).
namespace {

integrity::NoteSigner NewSigner() {
  auto key = crypto::Ed25519PrivateKey::Generate();
  if (!key.ok()) throw std::runtime_error("Ed25519 key generation failed");
  return integrity::NoteSigner{kFakeOrigin, std::move(key).value()};
}

std::string EventId(uint64_t position) {
  std::string id(16, '\0');
  id[0] = 0x42;
  id[15] = static_cast<char>(position & 0xff);
  id[14] = static_cast<char>((position >> 8) & 0xff);
  return id;
}

}  // namespace

FakeLog::FakeLog() : signer_(NewSigner()) {}

std::string FakeLog::verifier_key_text() const {
  const integrity::NoteVerifier v = verifier();
  return integrity::VerifierKeyText(v.name, v.public_key);
}

v1::RecordedEvent FakeLog::Forge(uint64_t position, const std::string& stream, uint64_t version,
                                 const integrity::Hash& prev, const std::string& type,
                                 const std::string& data, const std::string& metadata) {
  integrity::Entry e;
  e.position = position;
  e.stream_id = stream;
  e.stream_version = version;
  e.event_id = EventId(position);
  e.event_type = type;
  e.content_type = "application/json";
  e.recorded_at_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(position);
  e.metadata_hash = crypto::Sha256(metadata);
  e.data_hash = crypto::Sha256(data);
  e.stream_prev = prev;
  const integrity::Hash leaf = integrity::LeafHash(integrity::EncodeEntry(e));
  v1::RecordedEvent w;
  w.set_position(position);
  w.set_stream(stream);
  w.set_version(version);
  w.set_id(e.event_id);
  w.set_type(type);
  w.set_content_type(e.content_type);
  w.set_recorded_at_ns(e.recorded_at_ns);
  w.set_metadata_hash(crypto::HashString(e.metadata_hash));
  w.set_data_hash(crypto::HashString(e.data_hash));
  w.set_stream_prev(crypto::HashString(prev));
  w.set_leaf_hash(crypto::HashString(leaf));
  w.set_data(data);
  w.set_metadata(metadata);
  return w;
}

v1::RecordedEvent FakeLog::Append(const std::string& stream, const std::string& type,
                                  const std::string& data, const std::string& metadata) {
  auto head = heads_.find(stream);
  const integrity::Hash prev = head == heads_.end() ? integrity::kZeroHash : head->second.second;
  return AppendEntry(stream, prev, type, data, metadata);
}

v1::RecordedEvent FakeLog::AppendWithPrev(const std::string& stream, const integrity::Hash& prev,
                                          const std::string& type, const std::string& data) {
  return AppendEntry(stream, prev, type, data, "");
}

v1::RecordedEvent FakeLog::AppendEntry(const std::string& stream, const integrity::Hash& prev,
                                       const std::string& type, const std::string& data,
                                       const std::string& metadata) {
  auto head = heads_.find(stream);
  const uint64_t version = head == heads_.end() ? 0 : head->second.first + 1;
  v1::RecordedEvent w = Forge(size(), stream, version, prev, type, data, metadata);
  const integrity::Hash leaf = crypto::HashFromBytes(w.leaf_hash());
  std::vector<std::pair<integrity::NodeId, integrity::Hash>> completed;
  range_.Append(leaf, &completed);
  nodes_.Put(completed);
  leaves_.push_back(leaf);
  heads_[stream] = {version, leaf};
  events_[{stream, version}] = w;
  return w;
}

Result<std::optional<v1::RecordedEvent>> FakeLog::ReadStreamEvent(const std::string& stream,
                                                                  uint64_t version) {
  ++read_calls;
  if (!read_error.ok()) return read_error;
  if (read_instead) return read_instead;
  auto it = events_.find({stream, version});
  if (!serve_reads || it == events_.end()) return std::optional<v1::RecordedEvent>();
  return std::optional<v1::RecordedEvent>(it->second);
}

Result<v1::Checkpoint> FakeLog::GetCheckpoint() {
  const uint64_t size = serve_size.value_or(range_.size());
  integrity::Hash root = integrity::RootOfLeafHashes(std::span(leaves_).first(size));
  if (fork_root) root = crypto::Sha256("another tree");
  CAIRN_ASSIGN_OR_RETURN(std::string note,
                         integrity::SignCheckpoint({kFakeOrigin, size, root, {}}, signer_));
  if (forge_signature) {
    // The signature blob is the last base64 token before the final newline.
    const size_t start = note.rfind(' ') + 1;
    auto blob = Base64Decode(note.substr(start, note.size() - start - 1));
    if (!blob) return Status::Internal("fake: bad note");
    (*blob)[10] ^= 0x01;
    note = note.substr(0, start) + Base64Encode(*blob) + "\n";
  }
  for (size_t i = 0; i < foreign_signature_lines; ++i) {  // well formed, by other signers
    note += std::string(integrity::kNoteSignaturePrefix) + "witness-" + std::to_string(i) + ".example " +
            Base64Encode(std::string(4 + 64 + 600, static_cast<char>(i))) + "\n";
  }
  v1::Checkpoint c;
  c.set_size(size);
  c.set_root(crypto::HashString(root));
  c.set_note(note);
  return c;
}

Result<v1::Checkpoint> FakeLog::GetCosignedCheckpoint() {
  ++cosigned_calls;
  const std::optional<uint64_t> latest = serve_size;
  if (cosigned_size) serve_size = cosigned_size;
  Result<v1::Checkpoint> checkpoint = GetCheckpoint();
  serve_size = latest;
  if (!checkpoint.ok()) return checkpoint;
  std::string note = checkpoint->note();
  for (const integrity::NoteSigner& cosigner : cosigners) {
    CAIRN_ASSIGN_OR_RETURN(note, integrity::AddCosignature(note, cosigner, 1700000000));
  }
  checkpoint->set_note(note);
  return checkpoint;
}

Result<v1::InclusionProof> FakeLog::GetInclusionProof(uint64_t index, uint64_t size) {
  ++inclusion_calls;
  CAIRN_ASSIGN_OR_RETURN(std::vector<integrity::Hash> path,
                         integrity::InclusionProof(nodes_, index, size));
  v1::InclusionProof p;
  p.set_index(index);
  p.set_size(size);
  for (const auto& h : path) p.add_proof(crypto::HashString(h));
  return p;
}

Result<std::vector<v1::InclusionProof>> FakeLog::GetInclusionProofs(
    const std::vector<uint64_t>& indexes, uint64_t size) {
  batch_sizes.push_back(indexes.size());
  if (unavailable_after_batches && batch_sizes.size() > *unavailable_after_batches) {
    return Status::Unavailable("down");
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<v1::InclusionProof> proofs,
                         IntegritySource::GetInclusionProofs(indexes, size));
  if (short_batches && !proofs.empty()) proofs.pop_back();
  return proofs;
}

Result<v1::ConsistencyProof> FakeLog::GetConsistencyProof(uint64_t size1, uint64_t size2) {
  // As the server: RFC 9162 has no consistency proof from the empty tree.
  if (size1 == 0) return Status::InvalidArgument("consistency needs 0 < size1");
  CAIRN_ASSIGN_OR_RETURN(std::vector<integrity::Hash> path,
                         integrity::ConsistencyProof(nodes_, size1, size2));
  v1::ConsistencyProof p;
  p.set_size1(size1);
  p.set_size2(size2);
  for (const auto& h : path) p.add_proof(crypto::HashString(h));
  return p;
}

Status FakeLog::ReportViolation(const v1::ViolationReport& report) {
  reports.push_back(report);
  return Status::Ok();
}

}  // namespace cairn::testing
