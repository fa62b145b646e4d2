// BatchAppend (streams_service.h): a bidi stream of appends, each a series of chunks under one
// correlation id, the first chunk with the options, the last with is_final. Each append is
// answered once, with success or a google.rpc.Status the client unpacks (streams_wire.h), in the
// order the appends complete.
//
// Appends go to the engine with AppendAsync, so the appends of one call (the Node.js client
// sends all of a connection's appends on one BatchAppend call) share group commits. Bounds: at
// most batch_appends_in_flight_max appends (batch_in_flight_bytes_max bytes) waiting for their
// commit and about as many answers waiting to be written (reading stops meanwhile; one chunk
// may add batch_open_correlations_max answers of expired appends beyond), at most
// batch_open_correlations_max appends
// whose chunks are still arriving, each at most append_size_bytes_max bytes and for at most
// append_open_ms_max.
#include <cassert>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "common/steady_clock.h"
#include "server/append_quota.h"
#include "server/call_audit.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/streams_append.h"
#include "server/esdb/streams_service.h"
#include "server/esdb/streams_wire.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using policy::Action;

namespace {

using Request = streams::BatchAppendReq;
using Response = streams::BatchAppendResp;

engine::ExpectedVersion ExpectedOfBatch(const Request::Options& options) {
  switch (options.expected_stream_position_case()) {
    case Request::Options::kStreamPosition:
      return engine::ExpectedVersion::Exact(options.stream_position());
    case Request::Options::kNoStream: return engine::ExpectedVersion::NoStream();
    case Request::Options::kStreamExists: return engine::ExpectedVersion::StreamExists();
    default: return engine::ExpectedVersion::Any();
  }
}

// The request's expected state echoed in the answer.
void ToWireExpected(const engine::ExpectedVersion& expected, Response* out) {
  switch (expected.kind) {
    case engine::ExpectedVersion::Kind::kExact: out->set_stream_position(expected.version); break;
    case engine::ExpectedVersion::Kind::kNoStream: out->mutable_no_stream(); break;
    case engine::ExpectedVersion::Kind::kStreamExists: out->mutable_stream_exists(); break;
    case engine::ExpectedVersion::Kind::kAny: out->mutable_any(); break;
  }
}

// The batch's deadline passed: an absolute one (deadline_21_10_0), or one relative to when its
// first chunk arrived (`opened_ns`, steady clock).
bool DeadlinePassed(const Request::Options& options, int64_t opened_ns) {
  if (options.has_deadline()) {  // a Duration
    const google::protobuf::Duration& d = options.deadline();
    if (d.seconds() < 0 || (d.seconds() == 0 && d.nanos() <= 0)) return true;
    const int64_t elapsed_ns = SteadyNowNs() - opened_ns;
    if (d.seconds() > elapsed_ns / 1'000'000'000) return false;  // also keeps the product in range
    return d.seconds() * 1'000'000'000 + d.nanos() < elapsed_ns;
  }
  if (!options.has_deadline_21_10_0()) return false;
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t deadline_s = options.deadline_21_10_0().seconds();
  if (deadline_s < 0) return true;
  if (deadline_s >= now_ns / 1'000'000'000 + 1) return false;  // also keeps the product in range
  return deadline_s * 1'000'000'000 + options.deadline_21_10_0().nanos() < now_ns;
}

// One append whose chunks are arriving.
struct OpenAppend {
  OpenAppend(const Request::Options& options, const StreamsServiceOptions& limits,
             const std::string& principal_id)
      : stream(StreamName(options.stream_identifier())),
        expected(ExpectedOfBatch(options)),
        options(options),
        batch(limits.append_size_bytes_max, limits.append_events_max, limits.append_budget,
              principal_id),
        opened_ns(SteadyNowNs()) {}

  std::string stream;
  engine::ExpectedVersion expected;
  Request::Options options;  // for the deadline, checked at is_final
  event_store::client::UUID correlation_id;  // as the client sent it
  AppendBatch batch;
  int64_t opened_ns;  // when its first chunk arrived (steady clock), for a relative deadline
  Status error;  // the first error of a chunk; answered at is_final
};

class BatchAppendReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  BatchAppendReactor(grpc::CallbackServerContext* context, engine::EventStore* store,
                     const CallGate* gate, const StreamsServiceOptions& options)
      : store_(store),
        gate_(gate),
        options_(options),
        read_watch_(options.append_watchdog, [context] { context->TryCancel(); }) {
    if (grpc::Status s = gate->Admit(context, &id_); !s.ok()) {
      Finish(esdb::Finish(context, FromGateStatus(s)));
      return;
    }
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    // Only a chunk that opens, extends or completes an append renews the watch: an empty one,
    // or one of a refused append (dropped), moves no held append nearer its end, or a client
    // could hold its appends' chunks open forever.
    const bool progress = !ok || Handle();  // reading_ stays set meanwhile: nothing else starts a read
    const bool partial = !open_.empty();
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (progress) read_watch_.Progress();
      partial_ = partial;
      reading_ = false;
      if (!ok) reads_done_ = true;
      finish = NextLocked();
    }
    if (finish) Finish(*finish);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      read_watch_.Progress();  // the client took an answer
      writing_ = false;
      if (!ok) {  // the client went away: nothing more is read or written
        reads_done_ = true;
        answers_.clear();
      }
      finish = NextLocked();
    }
    if (finish) Finish(*finish);
  }

  void OnDone() override { delete this; }

 private:
  // The chunk in request_: opens, extends or completes its append. True when it did one of
  // those (with messages, when it extends one).
  bool Handle() {
    if (!ExpireOpenAppends()) return false;  // the call ends
    auto key = UuidBytes(request_.correlation_id());
    if (!key) {
      std::lock_guard<std::mutex> lock(mu_);
      Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "batch append without correlation id"));
      return false;
    }
    if (auto r = refused_.find(*key); r != refused_.end()) {  // answered at its first chunk
      if (request_.is_final()) refused_.erase(r);
      return false;
    }
    auto it = open_.find(*key);
    const bool opens = it == open_.end();
    if (opens) {
      if (!request_.has_options() || open_.size() >= options_.batch_open_correlations_max) {
        Refuse(*key);
        return false;
      }
      it = open_.try_emplace(*key, request_.options(), options_, id_.principal.id).first;
      it->second.correlation_id = request_.correlation_id();
      // A caller who may not append to the stream at all buffers nothing: its chunks are dropped
      // and the final one answered with the denial (as the plain Append refuses at its options).
      if (grpc::Status s = gate_->Refresh(&id_); !s.ok()) {  // the policy and credential now
        it->second.error = Status::Unauthenticated(s.error_message());
      } else if (grpc::Status d = Require(id_, Action::kAppend, it->second.stream, ""); !d.ok()) {
        it->second.error = Status::PermissionDenied(d.error_message());
      }
    }
    OpenAppend& open = it->second;
    for (const auto& message : request_.proposed_messages()) {
      if (!open.error.ok()) break;
      open.error = open.batch.Add(message);
      if (!open.error.ok()) break;  // AuthorizeLast needs the event just added
      if (grpc::Status s = open.batch.AuthorizeLast(id_, open.stream); !s.ok()) {
        open.error = Status::PermissionDenied(s.error_message());
      }
    }
    if (!open.error.ok()) open.batch.TakeEvents();  // refused: hold nothing until the final chunk
    if (!request_.is_final()) return opens || request_.proposed_messages_size() > 0;
    OpenAppend done = std::move(it->second);
    open_.erase(it);
    Complete(std::move(done));
    return true;
  }

  // Refuses the appends of the call that stayed unfinished longer than append_open_ms_max
  // (checked as each chunk arrives; the watchdog bounds the wait for one): each is answered
  // once, its events dropped, and its later chunks dropped (remembered in refused_). When
  // refused_ has no room left to remember one, the call ends instead (false): a later chunk of
  // it must never open a new append of the same correlation id and write what was refused.
  bool ExpireOpenAppends() {
    const int64_t open_ns_max = options_.append_open_ms_max * 1'000'000;
    const int64_t now_ns = SteadyNowNs();
    for (auto it = open_.begin(); it != open_.end();) {
      if (now_ns - it->second.opened_ns <= open_ns_max) {
        ++it;
        continue;
      }
      if (options_.open_too_long_metric != nullptr) options_.open_too_long_metric->Increment();
      if (refused_.size() >= options_.batch_open_correlations_max) {
        open_.clear();  // nothing of them is written; the call ends with the refusal
        std::lock_guard<std::mutex> lock(mu_);
        Fail(AppendOpenTooLong(options_.append_open_ms_max));
        return false;
      }
      Response answer = BaseAnswer(it->second.stream, it->second.expected);
      *answer.mutable_error() = BatchStatusOf(AppendOpenTooLong(options_.append_open_ms_max));
      *answer.mutable_correlation_id() = it->second.correlation_id;
      {
        std::lock_guard<std::mutex> lock(mu_);
        answers_.push_back(std::move(answer));
      }
      refused_.insert(it->first);
      it = open_.erase(it);
    }
    return true;
  }

  // The chunk in request_ opens no append (no options, or too many open): answered now, once.
  // Its later chunks are dropped unanswered: at most batch_open_correlations_max refused appends
  // are remembered, and one more ends the call (mu_ not held), so that a later chunk of a
  // refused append never opens a new one of the same correlation id and writes part of it.
  void Refuse(const std::string& key) {
    const Status refused = request_.has_options()
                               ? Status::Unavailable("too many batch appends open on this call")
                               : Status::InvalidArgument("the first chunk of a batch append carries its options");
    Answer(ErrorAnswer(refused, StreamName(request_.options().stream_identifier()),
                       engine::ExpectedVersion::Any()));
    if (!request_.is_final() && refused_.size() < options_.batch_open_correlations_max) {
      refused_.insert(key);
    } else if (!request_.is_final()) {
      std::lock_guard<std::mutex> lock(mu_);
      Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many refused batch appends unfinished on this call"));
    }
    assert(refused_.size() <= options_.batch_open_correlations_max);
  }

  // The last chunk arrived: refuse, or append.
  void Complete(OpenAppend open) {
    if (DeadlinePassed(open.options, open.opened_ns)) {  // first: a late batch is answered as late
      Response answer = BaseAnswer(open.stream, open.expected);
      *answer.mutable_error() = BatchTimeoutStatus();
      Answer(std::move(answer));
      return;
    }
    if (!open.error.ok()) {
      Answer(ErrorAnswer(open.error, open.stream, open.expected));
      return;
    }
    // One call carries many appends (the EventStoreDB clients keep it open per channel): each is
    // judged by the policy in force and the credential's expiry now, not at the call's start.
    if (grpc::Status s = gate_->Refresh(&id_); !s.ok()) {
      Answer(ErrorAnswer(Status::Unauthenticated(s.error_message()), open.stream, open.expected));
      return;
    }
    if (grpc::Status s = open.batch.Authorize(id_, open.stream); !s.ok()) {
      Answer(ErrorAnswer(Status::PermissionDenied(s.error_message()), open.stream, open.expected));
      return;
    }
    if (auto refused = ChargeAppendQuota(id_, open.stream, open.batch.event_count(),
                                         open.batch.size_bytes())) {
      Response answer = BaseAnswer(open.stream, open.expected);
      *answer.mutable_error() = BatchStatusOf(refused->ToGrpc());
      Answer(std::move(answer));
      return;
    }
    id_.audit->CountAllowed(Action::kAppend);
    const size_t count = open.batch.event_count();
    if (count == 0) {
      auto result = AppendNothing(*store_, open.stream, open.expected);
      AuditAppend(id_, open.stream, 0, result.status());
      Answer(ResultAnswer(result, open.stream, open.expected));
      return;
    }
    const uint64_t bytes = open.batch.size_bytes();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      in_flight_bytes_ += bytes;
    }
    auto done = std::make_shared<OpenAppend>(std::move(open));
    store_->AppendAsync(done->stream, done->expected, done->batch.TakeEvents(),
                        [this, done, count, bytes](Result<engine::AppendResult> result) {
                          OnAppended(*done, count, bytes, result);
                        });
  }

  // On the engine's commit thread, on one of its protect threads (a protected append refused
  // there), or inline when the engine refused the batch at once.
  void OnAppended(const OpenAppend& open, size_t count, uint64_t bytes,
                  const Result<engine::AppendResult>& result) {
    AuditAppend(id_, open.stream, count, result.status());
    Result<std::optional<engine::AppendResult>> answer = std::optional<engine::AppendResult>();
    if (result.ok()) {
      answer = std::optional<engine::AppendResult>(*result);
    } else {
      answer = result.status();
    }
    Response response = ResultAnswer(answer, open.stream, open.expected);
    *response.mutable_correlation_id() = open.correlation_id;
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      assert(in_flight_ > 0 && in_flight_bytes_ >= bytes);
      --in_flight_;
      in_flight_bytes_ -= bytes;
      answers_.push_back(std::move(response));
      finish = NextLocked();
    }
    if (finish) Finish(*finish);
  }

  Response BaseAnswer(const std::string& stream, const engine::ExpectedVersion& expected) const {
    Response answer;
    ToWireStream(stream, answer.mutable_stream_identifier());
    ToWireExpected(expected, &answer);
    return answer;
  }
  Response ErrorAnswer(const Status& error, const std::string& stream,
                       const engine::ExpectedVersion& expected) const {
    Response answer = BaseAnswer(stream, expected);
    *answer.mutable_error() =
        BatchErrorStatus(error, stream, expected, options_.append_size_bytes_max);
    return answer;
  }
  Response ResultAnswer(const Result<std::optional<engine::AppendResult>>& result,
                        const std::string& stream, const engine::ExpectedVersion& expected) const {
    if (!result.ok()) return ErrorAnswer(result.status(), stream, expected);
    Response answer = BaseAnswer(stream, expected);
    ToWireSuccess(*result, answer.mutable_success());
    return answer;
  }
  // Queues an answer to the chunk being handled (its correlation id as the client sent it).
  void Answer(Response answer) {
    *answer.mutable_correlation_id() = request_.correlation_id();
    std::lock_guard<std::mutex> lock(mu_);
    answers_.push_back(std::move(answer));
  }

  // Ends the call once the appends in flight are answered (mu_ held).
  void Fail(grpc::Status status) {
    if (!failure_) failure_ = std::move(status);
    reads_done_ = true;
  }

  // Starts the next write or read, or returns the status to finish with (mu_ held; the caller
  // finishes after unlocking, as its last act: OnDone may delete the reactor at once).
  std::optional<grpc::Status> NextLocked() {
    if (finished_) return std::nullopt;
    if (!writing_ && !answers_.empty()) {
      current_ = std::move(answers_.front());
      answers_.pop_front();
      writing_ = true;
      StartWrite(&current_);
    }
    const bool room = in_flight_ < options_.batch_appends_in_flight_max &&
                      in_flight_bytes_ < options_.batch_in_flight_bytes_max &&
                      answers_.size() < options_.batch_appends_in_flight_max;
    if (!reading_ && !reads_done_ && room) {
      reading_ = true;
      StartRead(&request_);
    }
    // Watched while an append of the call is unfinished (its chunks are held) and the call waits
    // on the client: for the rest of it, or to take the answers that keep the next read from
    // starting. An idle call with nothing unfinished holds nothing and may stay; one that waits
    // only on its own appends' commits is not the client's doing.
    if (partial_ && !reads_done_ && (reading_ || writing_)) {
      read_watch_.Begin();
    } else {
      read_watch_.End();
    }
    if (reads_done_ && !reading_ && !writing_ && in_flight_ == 0 && answers_.empty()) {
      finished_ = true;
      return failure_.value_or(grpc::Status::OK);
    }
    return std::nullopt;
  }

  engine::EventStore* const store_;
  const CallGate* const gate_;
  const StreamsServiceOptions options_;
  CallIdentity id_;
  Request request_;  // the read in flight; touched only by OnReadDone's thread
  std::map<std::string, OpenAppend> open_;  // by correlation id (16 bytes); OnReadDone only
  std::set<std::string> refused_;           // refused appends awaiting their final chunk; same

  std::mutex mu_;
  std::deque<Response> answers_;
  Response current_;  // the write in flight
  size_t in_flight_ = 0;
  uint64_t in_flight_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool reads_done_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> failure_;
  bool partial_ = false;                    // an append of the call awaits more chunks
  WriteWatchdog::RenewedWatch read_watch_;  // guarded by mu_
};

}  // namespace

grpc::ServerBidiReactor<Request, Response>* StreamsService::BatchAppend(
    grpc::CallbackServerContext* context) {
  return new BatchAppendReactor(context, store_, gate_, options_);
}

}  // namespace cairn::server::esdb
