// The soak's live subscribers and consumer-group consumers (see bench_soak.h).
#include <cassert>

#include "cli/bench_soak_state.h"

namespace cairn::cli::soak {
namespace {

constexpr uint32_t kRestartsMax = 100;  // per subscriber or consumer, over the whole run
constexpr int64_t kGroupPollMs = 200;

}  // namespace

LiveSubscriber::LiveSubscriber(SoakState& state, std::unique_ptr<Client> client)
    : state_(state), client_(std::move(client)) {}

LiveSubscriber::~LiveSubscriber() { Stop(); }

void LiveSubscriber::Start() {
  assert(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

// The caller sets state.stop first, so that Run() starts no new subscription after this.
void LiveSubscriber::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sub_) sub_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

void LiveSubscriber::Run() {
  v1::SubscribeRequest request;
  request.set_stream("$all");
  request.set_from_end(true);
  uint64_t last_position = 0;
  for (uint32_t restarts = 0; restarts <= kRestartsMax; ++restarts) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_.stop.load()) return;
      auto sub = Subscription::Start(*client_, request);
      if (!sub.ok()) return state_.Error("subscribe", sub.status());
      sub_ = std::move(sub).value();
    }
    const bool lagged = Consume(&last_position);
    if (state_.stop.load()) return;
    if (lagged) state_.lagged.fetch_add(1);
    request.set_from_position(sub_->resume_position());  // no loss, no repetition
  }
  state_.Error("subscribe", Status::ResourceExhausted("too many restarts"));
}

// Consumes until the subscription ends; true when it ended because it fell behind (which is
// the server protecting itself, not an error), false otherwise (an error was recorded unless the
// run is stopping).
bool LiveSubscriber::Consume(uint64_t* last_position) {
  for (;;) {
    auto message = sub_->Next();
    if (!message.ok()) {
      if (message.status().code() == StatusCode::kResourceExhausted) return true;
      if (!state_.stop.load()) state_.Error("subscription", message.status());
      return false;
    }
    if (!message->has_event()) continue;
    const uint64_t position = message->event().position();
    if (received_.load() > 0 && position <= *last_position) {
      state_.Error("subscription", Status::DataLoss("position " + std::to_string(position) +
                                                    " after " + std::to_string(*last_position)));
    }
    *last_position = position;
    received_.fetch_add(1);
    state_.live_events.fetch_add(1);
  }
}

GroupConsumer::GroupConsumer(SoakState& state, std::unique_ptr<Client> client, std::string group)
    : state_(state), client_(std::move(client)), group_(std::move(group)) {}

GroupConsumer::~GroupConsumer() { Stop(); }

void GroupConsumer::Start() {
  assert(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

void GroupConsumer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_) stream_->Close();
  }
  if (thread_.joinable()) thread_.join();
}

void GroupConsumer::Run() {
  for (uint32_t restarts = 0; restarts <= kRestartsMax; ++restarts) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_.stop.load()) return;
      auto stream = Groups(*client_).Connect(group_);
      if (!stream.ok()) return state_.Error("group connect", stream.status());
      stream_ = std::move(stream).value();
    }
    if (Consume()) return;
  }
  state_.Error("group", Status::ResourceExhausted("too many restarts"));
}

// Acks each event as it arrives; true when the run stops, false when the stream ended early
// (recorded as an error).
bool GroupConsumer::Consume() {
  for (;;) {
    auto event = stream_->Next(kGroupPollMs);
    Status st = event.ok() ? Status::Ok() : event.status();
    if (st.ok() && *event) st = stream_->Ack({(*event)->ack_id()});
    if (state_.stop.load()) return true;
    if (!st.ok()) {
      state_.Error("group", st);
      return false;
    }
    if (!*event) continue;
    received_.fetch_add(1);
    state_.group_events.fetch_add(1);
  }
}

}  // namespace cairn::cli::soak
