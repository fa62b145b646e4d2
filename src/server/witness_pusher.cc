#include "server/witness_pusher.h"

#include <algorithm>
#include <cassert>
#include <exception>
#include <limits>

#include "auth/http_fetch.h"
#include "common/log.h"
#include "common/steady_clock.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/proof.h"
#include "integrity/witness.h"

namespace cairn::server {
namespace {

constexpr size_t kReplyBytesMax = 64 * 1024;
constexpr size_t kReasonBytesMax = 200;
constexpr int kAttemptsPerRound = 2;  // the second after a 409 that told the witness's size

// The first line of a witness's answer, printable ASCII only and cut: for logs and States().
std::string Reason(const auth::HttpReply& reply) {
  std::string reason = "HTTP " + std::to_string(reply.status);
  std::string line;
  for (char c : reply.body.substr(0, reply.body.find('\n'))) {
    if (line.size() == kReasonBytesMax) break;
    line += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return line.empty() ? reason : reason + ": " + line;
}

Status CheckOptions(const WitnessPusherOptions& o) {
  if (o.interval_ms < 10 || o.interval_ms > 3600000) {
    return Status::InvalidArgument("witness interval_ms must be 10..3600000");
  }
  if (o.timeout_ms < 100 || o.timeout_ms > 60000) {
    return Status::InvalidArgument("witness timeout_ms must be 100..60000");
  }
  if (o.backoff_max_ms < o.interval_ms || o.backoff_max_ms > 3600000) {
    return Status::InvalidArgument("witness backoff_max_ms must be interval_ms..3600000");
  }
  return Status::Ok();
}

// The last of a witness's verified lines (each ends with '\n').
std::string LastLine(const std::string& lines) {
  assert(!lines.empty() && lines.back() == '\n');
  const size_t last = lines.size() < 2 ? std::string::npos : lines.rfind('\n', lines.size() - 2);
  return last == std::string::npos ? lines : lines.substr(last + 1);
}

// OK when `kept` is a checkpoint of the tree whose latest checkpoint is `latest`: the same root
// at the same size, or consistent with it.
Status CheckOfThisLog(const integrity::Checkpoint& kept, const engine::SignedCheckpoint& latest,
                      const WitnessPusher::ProveConsistency& prove) {
  if (kept.size > latest.size) {
    return Status::FailedPrecondition("it is of a larger tree (" + std::to_string(kept.size) +
                                      ") than the log's latest checkpoint (" +
                                      std::to_string(latest.size) + ")");
  }
  if (kept.size == latest.size) {
    if (kept.root == latest.root) return Status::Ok();
    return Status::DataLoss("it is of another tree of size " + std::to_string(kept.size) +
                            " than this log's");
  }
  if (kept.size == 0) return Status::Ok();
  CAIRN_ASSIGN_OR_RETURN(std::vector<crypto::Hash> proof, prove(kept.size, latest.size));
  return integrity::VerifyConsistency(kept.size, latest.size, proof, kept.root, latest.root)
      .Annotate("it is not consistent with the log's latest checkpoint");
}

}  // namespace

struct WitnessPusher::Witness {
  WitnessEndpoint endpoint;
  std::optional<uint64_t> known_size;  // what it last said it cosigned
  int64_t retry_at_ms = 0;
  uint64_t failures = 0;
};

Result<std::unique_ptr<WitnessPusher>> WitnessPusher::Start(
    std::vector<WitnessEndpoint> witnesses, LatestCheckpoint latest, ProveConsistency prove,
    WitnessPusherOptions options, std::optional<WitnessKeeping> keeping) {
  if (witnesses.empty() || witnesses.size() > kWitnessesMax) {
    return Status::InvalidArgument("give 1..16 witnesses");
  }
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  for (const WitnessEndpoint& w : witnesses) {
    if (w.key.key_id != integrity::NoteKeyId(w.key.name, w.key.public_key,
                                             integrity::kCosignatureAlgorithmEd25519)) {
      return Status::InvalidArgument("witness " + w.key.name + ": not a cosigner key");
    }
    CAIRN_RETURN_IF_ERROR(auth::CheckFetchUrl(w.url).Annotate("witness " + w.key.name + " url"));
  }
  assert(latest && prove);
  std::unique_ptr<WitnessPusher> pusher(
      new WitnessPusher(std::move(witnesses), std::move(latest), std::move(prove), options));
  if (keeping) {
    pusher->keep_ = std::move(keeping->keep);
    if (!keeping->kept.empty()) {
      if (Status adopted = pusher->Adopt(keeping->kept, keeping->log_key); !adopted.ok()) {
        log::Warn("the cosigned checkpoint kept by an earlier run is not used",
                  {.action = "witness.keep", .outcome = "failure",
                   .extra = {{"error.message", adopted.message()}}});
      }
    }
  }
  pusher->thread_ = std::thread([p = pusher.get()] {
    SetCurrentThreadName("cairn-witness");
    p->Run();
  });
  return pusher;
}

WitnessPusher::WitnessPusher(std::vector<WitnessEndpoint> witnesses, LatestCheckpoint latest,
                             ProveConsistency prove, WitnessPusherOptions options)
    : latest_(std::move(latest)), prove_(std::move(prove)), options_(options) {
  for (WitnessEndpoint& endpoint : witnesses) {
    while (!endpoint.url.empty() && endpoint.url.back() == '/') endpoint.url.pop_back();
    WitnessState state;
    state.name = endpoint.key.name;
    states_.push_back(std::move(state));
    auto w = std::make_unique<Witness>();
    w->endpoint = std::move(endpoint);
    witnesses_.push_back(std::move(w));
  }
  round_lines_.resize(witnesses_.size());
}

WitnessPusher::~WitnessPusher() { Stop(); }

void WitnessPusher::Stop() {
  cancel_.store(true);  // ends the calls in progress
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;  // stopped before: keep_'s store may be gone by now
  thread_.join();
  Keep();  // what the last round published, if Stop() came before it was kept
}

std::string WitnessPusher::Cosigned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cosigned_;
}

std::string WitnessPusher::WithCosignatures(const std::string& note) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (note != round_note_) return note;
  std::string out = note;
  for (const std::string& lines : round_lines_) out += lines;
  return out;
}

std::vector<WitnessState> WitnessPusher::States() const {
  std::lock_guard<std::mutex> lock(mu_);
  return states_;
}

Status WitnessPusher::Adopt(const std::string& kept, const integrity::NoteVerifier& log_key) {
  CAIRN_ASSIGN_OR_RETURN(std::string note, integrity::NoteSignedOnlyBy(kept, log_key));
  CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint checkpoint, integrity::VerifyCheckpoint(note, log_key));
  CAIRN_ASSIGN_OR_RETURN(engine::SignedCheckpoint latest, latest_());
  CAIRN_RETURN_IF_ERROR(CheckOfThisLog(checkpoint, latest, prove_));
  std::vector<std::string> lines(witnesses_.size());
  std::vector<int64_t> cosigned_at_ms(witnesses_.size(), 0);
  size_t count = 0;
  for (size_t i = 0; i < witnesses_.size(); ++i) {
    const integrity::NoteVerifier& key = witnesses_[i]->endpoint.key;
    Result<std::string> mine = integrity::CosignatureLines(kept, key);
    Result<uint64_t> timestamp_s = integrity::VerifyCosignature(kept, key);
    if (!mine.ok() || !timestamp_s.ok()) continue;  // not a configured witness's any more
    lines[i] = LastLine(*mine);
    cosigned_at_ms[i] = static_cast<int64_t>(
        std::min<uint64_t>(*timestamp_s, std::numeric_limits<int64_t>::max() / 1000) * 1000);
    ++count;
  }
  if (count == 0) {
    return Status::FailedPrecondition("it carries no valid cosignature of a configured witness");
  }
  std::lock_guard<std::mutex> lock(mu_);
  assert(cosigned_.empty() && !thread_.joinable());
  round_note_ = std::move(note);
  round_lines_ = std::move(lines);
  for (size_t i = 0; i < witnesses_.size(); ++i) {
    if (round_lines_[i].empty()) continue;
    witnesses_[i]->known_size = checkpoint.size;  // what it said it cosigned
    states_[i].cosigned_size = checkpoint.size;
    states_[i].cosigned_at_ms = cosigned_at_ms[i];
  }
  Publish(/*round_done=*/true);
  assert(published_count_ == count);
  kept_ = cosigned_;
  return Status::Ok();
}

void WitnessPusher::Keep() {
  if (!keep_) return;
  std::string note;
  {
    std::lock_guard<std::mutex> lock(mu_);
    note = cosigned_;
  }
  if (note.empty() || note == kept_) return;
  Status kept = keep_(note);
  if (kept.ok()) {
    if (keep_failing_) {
      log::Info("the cosigned checkpoint is kept again", {.action = "witness.keep", .outcome = "success"});
    }
    keep_failing_ = false;
    kept_ = std::move(note);
    return;
  }
  if (!keep_failing_) {  // once per run of failures; it is tried again after each round
    log::Warn("the cosigned checkpoint could not be kept for a restart",
              {.action = "witness.keep", .outcome = "failure",
               .extra = {{"error.message", kept.message()}}});
  }
  keep_failing_ = true;
}

void WitnessPusher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      Round();
    } catch (const std::exception& e) {  // e.g. no memory for a call's thread: the next round
      log::Error("a witness round failed", {.action = "witness.push", .outcome = "failure",
                                            .extra = {{"error.message", e.what()}}});
    }
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms), [&] { return stopping_; });
  }
}

void WitnessPusher::Round() {
  Result<engine::SignedCheckpoint> latest = latest_();
  if (!latest.ok()) return;  // none signed yet, or the store is closing
  std::vector<size_t> asked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (latest->note != round_note_) {
      round_note_ = latest->note;
      std::fill(round_lines_.begin(), round_lines_.end(), std::string());
    }
    const int64_t now_ms = SteadyNowMs();
    for (size_t i = 0; i < witnesses_.size(); ++i) {
      if (round_lines_[i].empty() && now_ms >= witnesses_[i]->retry_at_ms) asked.push_back(i);
    }
  }
  // The witnesses are asked at once, each answer taken as it comes: a slow one delays nobody
  // else's. jthreads: whatever is thrown, every call started is joined.
  std::vector<std::jthread> calls;
  calls.reserve(asked.size());
  for (size_t i : asked) {
    calls.emplace_back([this, i, &latest] {
      Result<std::string> lines = Push(*witnesses_[i], *latest);
      if (cancel_.load()) return;  // aborted by Stop(): not the witness's failure
      std::lock_guard<std::mutex> lock(mu_);
      Record(i, lines, *latest);
      Publish(/*round_done=*/false);
    });
  }
  for (std::jthread& call : calls) call.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    Publish(/*round_done=*/true);
  }
  if (!cancel_.load()) Keep();
}

void WitnessPusher::Publish(bool round_done) {
  size_t count = 0;
  std::string cosigned = round_note_;
  for (const std::string& lines : round_lines_) {
    cosigned += lines;
    count += lines.empty() ? 0 : 1;
  }
  // Mid-round only when it has as many cosignatures as the note readers have now: they never
  // see fewer only because the other answers are still on their way. At the round's end, with
  // whatever it got (a witness that failed does not hold the log's checkpoint back for good).
  if (count == 0 || (!round_done && count < published_count_)) return;
  cosigned_ = std::move(cosigned);
  published_count_ = count;
}

void WitnessPusher::Record(size_t i, const Result<std::string>& lines,
                           const engine::SignedCheckpoint& checkpoint) {
  Witness& w = *witnesses_[i];
  WitnessState& state = states_[i];
  if (lines.ok()) {
    if (w.failures != 0) {
      log::Info("the witness cosigns again", {.action = "witness.push", .outcome = "success",
                                               .extra = {{"witness", w.endpoint.key.name}}});
    }
    w.failures = 0;
    w.retry_at_ms = 0;
    state.failures = 0;
    state.last_error.clear();
    if (lines->empty()) {  // it holds a larger tree already (another node of the log pushed it)
      state.last_error = "the witness holds a larger tree (" +
                         std::to_string(w.known_size.value_or(0)) +
                         ") than this node's latest checkpoint";
      return;
    }
    round_lines_[i] = *lines;
    state.cosigned_size = std::max(state.cosigned_size, checkpoint.size);
    state.cosigned_at_ms = NowUnixMs();
    return;
  }
  if (w.failures == 0 || lines.status().code() == StatusCode::kDataLoss) {
    const bool fork = lines.status().code() == StatusCode::kDataLoss;
    log::Write(fork ? log::Level::kError : log::Level::kWarn,
               fork ? "a witness holds another tree of this log (a fork, or a restore)"
                    : "a witness did not cosign the checkpoint",
               {.action = "witness.push", .outcome = "failure",
                .extra = {{"witness", w.endpoint.key.name},
                          {"tree.size", std::to_string(checkpoint.size)},
                          {"error.message", lines.status().message()}}});
  }
  ++w.failures;
  const int64_t backoff_ms = std::min<int64_t>(
      options_.backoff_max_ms, options_.interval_ms << std::min<uint64_t>(w.failures, 20));
  w.retry_at_ms = SteadyNowMs() + backoff_ms;
  state.failures = w.failures;
  state.last_error = lines.status().message();
}

Result<std::string> WitnessPusher::Push(Witness& w, const engine::SignedCheckpoint& checkpoint) {
  auth::HttpGetOptions http;
  http.ca_pem = w.endpoint.ca_pem;
  http.client_cert_pem = w.endpoint.client_cert_pem;
  if (w.endpoint.client_key_pem) http.client_key_pem = w.endpoint.client_key_pem->view();
  http.timeout_ms = options_.timeout_ms;
  http.body_size_max_bytes = kReplyBytesMax;
  http.cancel = &cancel_;
  for (int attempt = 0; attempt < kAttemptsPerRound; ++attempt) {
    const uint64_t old_size = w.known_size.value_or(0);
    if (old_size > checkpoint.size) return std::string();  // another node pushed a larger tree
    integrity::AddCheckpointRequest request{old_size, {}, checkpoint.note};
    if (old_size != 0 && old_size != checkpoint.size) {
      CAIRN_ASSIGN_OR_RETURN(request.proof, prove_(old_size, checkpoint.size));
    }
    if (request.proof.size() > integrity::kWitnessProofLinesMax) {
      return Status::Internal("the consistency proof has more than 63 hashes");
    }
    CAIRN_ASSIGN_OR_RETURN(auth::HttpReply reply,
                           auth::HttpPost(w.endpoint.url + "/add-checkpoint", "text/plain",
                                          integrity::FormatAddCheckpoint(request), http));
    if (reply.status == 409 && reply.content_type.starts_with(integrity::kTlogSizeContentType)) {
      Result<uint64_t> size = integrity::ParseTlogSize(reply.body);
      if (!size.ok()) return Status::Unavailable("HTTP 409 with a malformed size");
      if (*size == old_size) {
        // The same size with another root than ours: the witness saw another tree of this log.
        return Status::DataLoss("the witness holds another tree of size " +
                                std::to_string(*size) + " than this log");
      }
      w.known_size = *size;
      continue;
    }
    if (reply.status != 200) return Status::Unavailable(Reason(reply));
    // Only this witness's verified lines are kept (the last, if it sent several): nothing else
    // an answer carries reaches the note readers get.
    Result<std::string> lines = integrity::CosignatureLines(checkpoint.note + reply.body, w.endpoint.key);
    if (!lines.ok()) {
      return Status::Unavailable("HTTP 200 without a valid cosignature by this witness's key");
    }
    w.known_size = checkpoint.size;
    return LastLine(*lines);
  }
  return Status::Unavailable("the witness's size changed while it was asked (HTTP 409 twice)");
}

}  // namespace cairn::server
