#include "server/esdb/streams_append.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <string>
#include <utility>

#include "common/steady_clock.h"
#include "server/append_quota.h"
#include "server/call_audit.h"
#include "server/status_map.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/streams_service.h"
#include "server/esdb/streams_wire.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using policy::Action;

AppendBudget::~AppendBudget() { assert(taken_ == 0 && by_principal_.empty()); }

AppendBudget::Take AppendBudget::TryTake(std::string_view principal_id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > bytes_max_ - std::min(taken_, bytes_max_)) return Take::kServerFull;
  const uint64_t held = by_principal_.Of(principal_id);
  if (bytes > principal_bytes_max_ - std::min(held, principal_bytes_max_)) {
    return Take::kPrincipalFull;
  }
  by_principal_.Add(principal_id, bytes);
  taken_ += bytes;
  assert(taken_ <= bytes_max_ && held + bytes <= principal_bytes_max_);
  return Take::kTaken;
}

void AppendBudget::Give(std::string_view principal_id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(taken_ >= bytes);
  taken_ -= bytes;
  by_principal_.Subtract(principal_id, bytes);
}

uint64_t AppendBudget::bytes_taken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_;
}

uint64_t AppendBudget::bytes_taken(std::string_view principal_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_principal_.Of(principal_id);
}

AppendBatch::AppendBatch(uint64_t size_bytes_max, uint64_t events_max, AppendBudget* budget,
                         std::string principal_id)
    : size_bytes_max_(size_bytes_max),
      events_max_(events_max),
      budget_(budget),
      principal_id_(std::move(principal_id)) {
  assert(size_bytes_max_ > 0 && events_max_ > 0);
}

void AppendBatch::set_principal(std::string principal_id) {
  assert(budget_taken_ == 0);
  principal_id_ = std::move(principal_id);
}

AppendBatch::AppendBatch(AppendBatch&& other) noexcept
    : size_bytes_max_(other.size_bytes_max_),
      events_max_(other.events_max_),
      budget_(other.budget_),
      budget_taken_(std::exchange(other.budget_taken_, 0)),
      principal_id_(std::move(other.principal_id_)),
      size_bytes_(other.size_bytes_),
      events_(std::move(other.events_)) {}

AppendBatch::~AppendBatch() {
  if (budget_ != nullptr && budget_taken_ > 0) budget_->Give(principal_id_, budget_taken_);
}

std::vector<engine::ProposedEvent> AppendBatch::TakeEvents() {
  if (budget_ != nullptr && budget_taken_ > 0) {
    budget_->Give(principal_id_, std::exchange(budget_taken_, 0));
  }
  return std::move(events_);
}

Status AppendBatch::Add(uint64_t size_bytes, Result<engine::ProposedEvent> event) {
  if (!event.ok()) return event.status();
  size_bytes_ += size_bytes;
  if (size_bytes_ > size_bytes_max_) {
    return Status::ResourceExhausted("append larger than " + std::to_string(size_bytes_max_) +
                                     " bytes");
  }
  if (events_.size() + 1 > events_max_) {
    return Status::ResourceExhausted("append of more than " + std::to_string(events_max_) +
                                     " events");
  }
  if (budget_ != nullptr) {
    const uint64_t bytes = size_bytes + kAppendEventOverheadBytes;
    switch (budget_->TryTake(principal_id_, bytes)) {
      case AppendBudget::Take::kTaken: break;
      case AppendBudget::Take::kServerFull:
        return Status::Unavailable("the server holds its limit of unfinished appends (" +
                                   std::to_string(budget_->bytes_max()) + " bytes); retry");
      case AppendBudget::Take::kPrincipalFull:
        return Status::Unavailable("this caller's unfinished appends hold its share of the "
                                   "server's limit (" +
                                   std::to_string(budget_->principal_bytes_max()) +
                                   " bytes); finish them, then retry");
    }
    budget_taken_ += bytes;
  }
  events_.push_back(std::move(event).value());
  return Status::Ok();
}

grpc::Status AppendBatch::Authorize(const CallIdentity& id, std::string_view stream) const {
  if (events_.empty()) return Require(id, Action::kAppend, stream, "");
  std::string_view last_checked;
  for (size_t i = 0; i < events_.size(); ++i) {
    const std::string& type = events_[i].event_type;
    if (i > 0 && type == last_checked) continue;  // batches usually repeat one type
    if (grpc::Status s = Require(id, Action::kAppend, stream, type); !s.ok()) return s;
    last_checked = type;
  }
  return grpc::Status::OK;
}

grpc::Status AppendBatch::AuthorizeLast(const CallIdentity& id, std::string_view stream) const {
  assert(!events_.empty());
  const std::string& type = events_.back().event_type;
  if (events_.size() > 1 && events_[events_.size() - 2].event_type == type) {
    return grpc::Status::OK;  // checked with the previous event
  }
  return Require(id, Action::kAppend, stream, type);
}

void AuditAppend(const CallIdentity& id, std::string_view stream, size_t event_count,
                 const Status& outcome) {
  if (!id.audit->data_plane_wanted(/*is_write=*/true)) return;
  id.audit->DataPlane(id, Action::kAppend, stream,
                      outcome.ok() ? grpc::Status::OK : ToGrpcStatus(outcome),
                      {{"events", std::to_string(event_count)}, {"protocol", "esdb"}});
}

Result<std::optional<engine::AppendResult>> AppendNothing(engine::EventStore& store,
                                                          std::string_view stream,
                                                          const engine::ExpectedVersion& expected) {
  // As an append with events would be: a client never appends to a system stream, so an empty
  // append does not tell it a system stream's version either.
  CAIRN_RETURN_IF_ERROR(engine::ValidateClientStreamId(stream));
  CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info, store.GetStreamInfo(stream));
  if (info.deleted) return Status::StreamDeleted("stream deleted");
  using Kind = engine::ExpectedVersion::Kind;
  const bool ok = expected.kind == Kind::kAny ||
                  (expected.kind == Kind::kNoStream && !info.exists) ||
                  (expected.kind == Kind::kStreamExists && info.exists) ||
                  (expected.kind == Kind::kExact && info.exists &&
                   info.last_version == expected.version);
  if (!ok) {
    return Status::WrongExpectedVersion(
        "wrong expected version", info.exists ? static_cast<int64_t>(info.last_version) : -1);
  }
  if (!info.exists) return std::optional<engine::AppendResult>();
  engine::AppendResult result;
  result.first_position = result.last_position = info.last_position;
  result.first_version = result.last_version = info.last_version;
  result.idempotent_replay = true;
  return std::optional<engine::AppendResult>(result);
}

grpc::Status AppendOpenTooLong(int64_t append_open_ms_max) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "an append may stay unfinished at most limits.append_open_ms_max (" +
                          std::to_string(append_open_ms_max) + " ms); nothing of it was written");
}

namespace {

// Append (client streaming): the options, then the events, then the client half-closes. A
// callback reactor, so that a caller who streams slowly (or never half-closes) holds no server
// thread; what it may buffer is bounded by append_size_bytes_max and append_events_max. The append
// itself completes on the engine's commit thread (EventStore::AppendAsync). Reads are serial;
// the commit callback runs after the last read, so the reactor needs no lock.
class AppendReactor final : public grpc::ServerReadReactor<streams::AppendReq> {
 public:
  AppendReactor(grpc::CallbackServerContext* context, streams::AppendResp* response,
                engine::EventStore* store, const CallGate* gate,
                const StreamsServiceOptions& options)
      : context_(context),
        response_(response),
        store_(store),
        gate_(gate),
        append_size_bytes_max_(options.append_size_bytes_max),
        append_open_ms_max_(options.append_open_ms_max),
        opened_ms_(SteadyNowMs()),
        open_too_long_metric_(options.open_too_long_metric),
        batch_(options.append_size_bytes_max, options.append_events_max, options.append_budget),
        read_watch_(options.append_watchdog, [context] { context->TryCancel(); }) {
    assert(append_open_ms_max_ > 0);
    if (grpc::Status s = gate->Admit(context, &id_); !s.ok()) {
      Finish(esdb::Finish(context, FromGateStatus(s)));
      return;
    }
    batch_.set_principal(id_.principal.id);
    read_watch_.Begin();
    StartRead(&message_);
  }

  // A client that sends nothing more for the watchdog's stall limit (and does not half-close)
  // has its call cancelled, and one still sending after append_open_ms_max is refused: what it
  // buffered is dropped, nothing is appended.
  void OnReadDone(bool ok) override {
    read_watch_.Progress();
    if (!ok) {
      read_watch_.End();
      Complete();
      return;
    }
    if (SteadyNowMs() - opened_ms_ > append_open_ms_max_) {
      read_watch_.End();
      if (open_too_long_metric_ != nullptr) open_too_long_metric_->Increment();
      Finish(Refuse(FromGateStatus(AppendOpenTooLong(append_open_ms_max_))));
      return;
    }
    if (std::optional<grpc::Status> refused = Handle()) {
      read_watch_.End();
      Finish(*refused);  // no read in flight: nothing of the call is appended
      return;
    }
    read_watch_.Begin();
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

 private:
  // The message in message_; a status to end the call with when it is refused.
  std::optional<grpc::Status> Handle() {
    if (!has_options_) {
      if (message_.content_case() != streams::AppendReq::kOptions) {
        return Refuse(InvalidArgument("an append starts with its options"));
      }
      has_options_ = true;
      stream_ = StreamName(message_.options().stream_identifier());
      expected_ = ExpectedFromOptions(message_.options());
      // A caller who may not append to the stream at all is refused before anything is
      // buffered, and each new event type as it arrives: nothing is held for a refused caller.
      if (grpc::Status s = Require(id_, Action::kAppend, stream_, ""); !s.ok()) {
        return Refuse(FromGateStatus(s));
      }
      return std::nullopt;
    }
    if (message_.content_case() != streams::AppendReq::kProposedMessage) {
      return Refuse(InvalidArgument("an append sends its options only once"));
    }
    if (Status s = batch_.Add(message_.proposed_message()); !s.ok()) {
      return Refuse(FromStatus(s, stream_, expected_, append_size_bytes_max_));
    }
    if (grpc::Status s = batch_.AuthorizeLast(id_, stream_); !s.ok()) {
      return Refuse(FromGateStatus(s));
    }
    return std::nullopt;
  }

  grpc::Status Refuse(const EsdbError& error) { return esdb::Finish(context_, error); }

  // The reads ended: the client half-closed (append what it sent) or the call was cancelled
  // (append nothing: an append is all or none, and the client did not finish sending it).
  // Best effort: gRPC completes the failed read and the cancellation separately, in no fixed
  // order, and the protocol has no end-of-append marker; a cancel that is not yet known here is
  // not told from a half-close.
  void Complete() {
    if (context_->IsCancelled()) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the append was cancelled; nothing written"));
      return;
    }
    if (!has_options_) {
      Finish(Refuse(InvalidArgument("an append starts with its options")));
      return;
    }
    // The call may have lasted: judged by the policy in force and the credential's expiry now.
    if (grpc::Status s = gate_->Refresh(&id_); !s.ok()) {
      Finish(Refuse(FromGateStatus(s)));
      return;
    }
    if (grpc::Status s = batch_.Authorize(id_, stream_); !s.ok()) {
      Finish(Refuse(FromGateStatus(s)));
      return;
    }
    if (auto refused =
            ChargeAppendQuota(id_, stream_, batch_.event_count(), batch_.size_bytes())) {
      Finish(Refuse(FromGateStatus(refused->ToGrpc())));  // not the size limit's exception
      return;
    }
    id_.audit->CountAllowed(Action::kAppend);
    count_ = batch_.event_count();
    if (count_ == 0) {
      Answer(AppendNothing(*store_, stream_, expected_));
      return;
    }
    store_->AppendAsync(stream_, expected_, batch_.TakeEvents(),
                        [this](Result<engine::AppendResult> appended) {
                          Result<std::optional<engine::AppendResult>> result =
                              std::optional<engine::AppendResult>();
                          if (appended.ok()) {
                            result = std::optional<engine::AppendResult>(*appended);
                          } else {
                            result = appended.status();
                          }
                          Answer(result);
                        });
  }

  // On the engine's commit thread, or on this one when nothing was queued. The last act.
  void Answer(const Result<std::optional<engine::AppendResult>>& result) {
    AuditAppend(id_, stream_, count_, result.status());
    if (result.ok()) {
      ToWireSuccess(*result, response_->mutable_success());
      Finish(grpc::Status::OK);
      return;
    }
    if (result.status().code() == StatusCode::kWrongExpectedVersion) {
      ToWireWrongExpectedVersion(result.status(), expected_,
                                 response_->mutable_wrong_expected_version());
      Finish(grpc::Status::OK);
      return;
    }
    Finish(Refuse(FromStatus(result.status(), stream_, expected_, append_size_bytes_max_)));
  }

  grpc::CallbackServerContext* const context_;
  streams::AppendResp* const response_;
  engine::EventStore* const store_;
  const CallGate* const gate_;
  const uint64_t append_size_bytes_max_;
  const int64_t append_open_ms_max_;
  const int64_t opened_ms_;  // SteadyNowMs() when the call began
  audit::Counter* const open_too_long_metric_;  // may be null
  CallIdentity id_;
  streams::AppendReq message_;  // the read in flight
  bool has_options_ = false;
  std::string stream_;
  engine::ExpectedVersion expected_ = engine::ExpectedVersion::Any();
  AppendBatch batch_;
  size_t count_ = 0;
  WriteWatchdog::RenewedWatch read_watch_;  // while a read waits on the client
};

}  // namespace

grpc::ServerReadReactor<streams::AppendReq>* StreamsService::Append(
    grpc::CallbackServerContext* context, streams::AppendResp* response) {
  return new AppendReactor(context, response, store_, gate_, options_);
}

}  // namespace cairn::server::esdb
