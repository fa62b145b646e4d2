#include "log_check.h"

#include "crypto/sha256.h"
#include "integrity/entry.h"
#include "integrity/proof.h"

namespace cairn::testing {

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

int64_t KnownVersion(const Versions& versions, const std::string& stream) {
  auto it = versions.find(stream);
  return it == versions.end() ? -1 : it->second;
}

void Errors::Add(std::string what) {
  ++count_;
  if (list_.size() < kErrorsMax) list_.push_back(std::move(what));
}

std::string Errors::Text() const {
  std::string out = std::to_string(count_) + " failure(s):";
  for (const auto& e : list_) out += "\n  " + e;
  return out;
}

Status ReadWholeLog(Client& client, std::vector<v1::RecordedEvent>* events, uint64_t events_max) {
  v1::ReadAllRequest request;  // from 0 up to the tree size at the start of the call
  bool end = false;
  uint64_t filtered = 0;
  Status status = client.ReadAll(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) events->push_back(e);
    filtered += chunk.filtered_events();
    end = chunk.end();
    return events->size() < events_max;
  });
  if (!status.ok()) return status;
  if (!end) return Status::DataLoss("the read ended without end = true");
  if (filtered != 0) return Status::DataLoss(std::to_string(filtered) + " events filtered");
  return Status::Ok();
}

std::string At(const v1::RecordedEvent& e) {
  return "position " + std::to_string(e.position()) + " (" + e.stream() + " v" +
         std::to_string(e.version()) + ")";
}

std::optional<integrity::Hash> RecomputedLeaf(const v1::RecordedEvent& e) {
  if (e.stream_prev().size() != 32 || e.id().size() != 16) return std::nullopt;
  integrity::Entry entry;
  entry.position = e.position();
  entry.stream_id = e.stream();
  entry.stream_version = e.version();
  entry.event_id = e.id();
  entry.event_type = e.type();
  entry.content_type = e.content_type();
  entry.recorded_at_ns = e.recorded_at_ns();
  entry.metadata_hash = crypto::Sha256(e.metadata());
  entry.data_hash = crypto::Sha256(e.data());
  entry.stream_prev = crypto::HashFromBytes(e.stream_prev());
  return integrity::LeafHash(integrity::EncodeEntry(entry));
}

void IndexLog(LogView* log, Errors* errors) {
  std::map<std::string, integrity::Hash> last_leaf;
  for (size_t i = 0; i < log->events.size(); ++i) {
    const v1::RecordedEvent& e = log->events[i];
    if (e.position() != i) {
      return errors->Add("read position " + std::to_string(e.position()) + " at index " +
                         std::to_string(i));
    }
    const auto leaf = RecomputedLeaf(e);
    if (!leaf || crypto::HashView(*leaf) != e.leaf_hash()) {
      errors->Add("leaf hash differs at " + At(e));
    }
    log->leaves.push_back(leaf.value_or(integrity::Hash{}));
    if (!log->position_of_id.emplace(e.id(), i).second) {
      errors->Add("repeated event id at " + At(e));
    }
    const int64_t previous = KnownVersion(log->versions, e.stream());
    if (static_cast<int64_t>(e.version()) != previous + 1) errors->Add("version gap at " + At(e));
    const integrity::Hash prev = previous < 0 ? integrity::kZeroHash : last_leaf[e.stream()];
    if (crypto::HashView(prev) != e.stream_prev()) errors->Add("stream chain broken at " + At(e));
    log->versions[e.stream()] = static_cast<int64_t>(e.version());
    last_leaf[e.stream()] = log->leaves.back();
  }
}

Result<integrity::Checkpoint> SignedCheckpoint(Client& client, const integrity::NoteVerifier& key) {
  auto checkpoint = client.GetCheckpoint();
  if (!checkpoint.ok()) return checkpoint.status();
  auto parsed = integrity::VerifyCheckpoint(checkpoint->note(), key);
  if (!parsed.ok()) return parsed.status().Annotate("checkpoint signature");
  if (parsed->size != checkpoint->size() || crypto::HashView(parsed->root) != checkpoint->root()) {
    return Status::DataLoss("checkpoint fields differ from its signed note");
  }
  return parsed;
}

void CheckConsistent(Client& client, const integrity::Checkpoint& earlier,
                     const integrity::Checkpoint& now, Errors* errors) {
  const std::string what =
      "checkpoint " + std::to_string(earlier.size) + " -> " + std::to_string(now.size);
  if (earlier.size > now.size) return errors->Add(what + ": the tree shrank");
  if (earlier.size == 0) return;
  auto proof = client.GetConsistencyProof(earlier.size, now.size);
  if (!proof.ok()) return errors->Add(what + ": " + proof.status().ToString());
  std::vector<std::string> path(proof->proof().begin(), proof->proof().end());
  Status ok = integrity::VerifyConsistency(
      earlier.size, now.size, path, crypto::HashView(earlier.root), crypto::HashView(now.root));
  if (!ok.ok()) errors->Add(what + ": " + ok.ToString());
}

}  // namespace cairn::testing
