#include "subscribe/webhook_dispatcher.h"

#include "common/backoff.h"

#include "subscribe/undeliverable.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "cairn/webhooks.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/steady_clock.h"
#include "common/thread_name.h"
#include "common/utf8_cut.h"
#include "subscribe/live_access.h"
#include "subscribe/stream_page_source.h"
#include "subscribe/webhook_address_guard.h"
#include "subscribe/webhook_cloudevent.h"

namespace cairn::subscribe {
namespace {

constexpr std::string_view kWebhookParkedEventType = "$webhook-parked";
constexpr size_t kRunAsSizeBytesMax = 256;
constexpr size_t kLastErrorSizeBytesMax = 256;
constexpr int64_t kIdleWaitMs = 1000;
constexpr int64_t kPausedRecheckMs = 5000;  // a paused webhook's identity is judged again after
constexpr int64_t kRotationGraceSMax = int64_t{30} * 86400;  // as [webhooks] rotation_grace_s

int64_t SteadyMs() { return SteadyNowMs(); }

Status ValidateSource(const std::string& source) {
  if (source == kAllSource) return Status::Ok();
  return engine::ValidateStreamId(source).Annotate("source");
}

Status ValidateFilters(const std::vector<std::string>& types) {
  if (types.size() > kFilterTypesMax) {
    return Status::ResourceExhausted("at most " + std::to_string(kFilterTypesMax) +
                                     " filter types");
  }
  for (const std::string& t : types) {
    CAIRN_RETURN_IF_ERROR(engine::ValidateEventType(t).Annotate("filter type"));
  }
  return Status::Ok();
}

}  // namespace

// The runtime state of one webhook. `busy` marks the one worker that owns the delivery fields.
struct WebhookDispatcher::Hook {
  WebhookDefinition def;
  std::unique_ptr<WebhookSender> sender;
  crypto::SecureBytes secret;
  crypto::SecureBytes previous;  // empty: no previous secret
  uint64_t position = 0;         // the next position to look at
  // A webhook on one stream reads it through the stream index (made at its first turn); on
  // "$all", the log. Used by the busy worker only.
  std::optional<StreamPageSource> source;
  uint32_t attempts = 0;         // failed attempts of the event at `position`
  uint32_t local_waits = 0;      // its failures before sending that pass (not attempts)
  int64_t not_before_ms = 0;     // steady clock: the next attempt after a failure
  bool busy = false;
  bool deleted = false;
  bool broken = false;           // could not be loaded: delivers nothing
  uint64_t delivered = 0;
  uint64_t parked = 0;
  std::string last_error;
};

// The delivering identity under one policy snapshot.
struct WebhookDispatcher::Judge {
  std::shared_ptr<const policy::Policy> policy;
  policy::ResolvedPrincipal creator;
  std::optional<policy::ResolvedPrincipal> run_as;

  bool Allows(policy::Action action, std::string_view stream, std::string_view type) const {
    if (!policy->Decide(creator, action, stream, type).allowed) return false;
    return !run_as || policy->Decide(*run_as, action, stream, type).allowed;
  }
};

Principal WebhookDispatcher::Standing(const std::string& principal_id, AuthMethod method) const {
  Principal p;
  p.id = principal_id;
  p.method = method;
  if (options_.configured_roles) p.roles = options_.configured_roles(principal_id, NowUnixS());
  return p;
}

void WebhookDispatcher::RefreshJudge(const WebhookDefinition& def, Judge* judge,
                                     bool force) const {
  std::shared_ptr<const policy::Policy> current = policies_->Current();
  if (!force && current == judge->policy) return;
  judge->policy = std::move(current);
  judge->creator = judge->policy->Resolve(Standing(def.creator.id, def.creator.method));
  judge->run_as.reset();
  if (!def.run_as.empty()) {
    const AuthMethod method =
        def.run_as.starts_with("apikey:") ? AuthMethod::kApiKey : AuthMethod::kNone;
    judge->run_as = judge->policy->Resolve(Standing(def.run_as, method));
  }
}

Status WebhookDispatcher::CheckMayDeliver(const WebhookDefinition& def) const {
  const int64_t now = NowUnixS();
  LiveAccess creator(policies_, Standing(def.creator.id, def.creator.method), def.source);
  if (!creator.Refresh(now).ok()) {
    return Status::FailedPrecondition(
        "the creator may not subscribe to '" + def.source +
        "' by the policy's bindings or its configured API key roles; a webhook does not keep the "
        "roles of the token it was created with: bind them to the principal, or create it with an "
        "API key that has them");
  }
  if (!def.run_as.empty()) {
    const AuthMethod method =
        def.run_as.starts_with("apikey:") ? AuthMethod::kApiKey : AuthMethod::kNone;
    LiveAccess run_as(policies_, Standing(def.run_as, method), def.source);
    if (!run_as.Refresh(now).ok()) {
      return Status::FailedPrecondition("run_as may not subscribe to '" + def.source + "'");
    }
  }
  return Status::Ok();
}

WebhookDispatcher::WebhookDispatcher(engine::EventStore* store, policy::PolicyHolder* policies,
                                     DispatcherOptions options)
    : store_(store), policies_(policies), options_(std::move(options)), durable_(store) {
  assert(options_.workers >= 1 && options_.workers <= kWebhookWorkersMax);
  assert(options_.retries_max <= kWebhookRetriesMax);
  assert(options_.backoff_initial_ms > 0 && options_.backoff_max_ms >= options_.backoff_initial_ms);
  assert(options_.batch_events_max >= 1);
  assert(options_.secret_sweep_interval_ms > 0 && options_.secret_unused_age_ms_min >= 0);
}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

int64_t WebhookDispatcher::NowUnixS() const {
  if (options_.now_unix_s) return options_.now_unix_s();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::shared_ptr<WebhookDispatcher::Hook>> WebhookDispatcher::MakeHook(
    WebhookDefinition def, uint64_t position) {
  auto hook = std::make_shared<Hook>();
  hook->position = position;
  CAIRN_ASSIGN_OR_RETURN(AddressGuard guard, AddressGuard::Create(def.allow_addresses));
  CAIRN_ASSIGN_OR_RETURN(hook->sender,
                         WebhookSender::Create(def.url, std::move(guard), options_.sender));
  CAIRN_ASSIGN_OR_RETURN(hook->secret, durable_.LoadSecret(def.name, def.secret_version));
  if (def.previous_expires_unix_s > NowUnixS() && def.secret_version > 1) {
    auto previous = durable_.LoadSecret(def.name, def.secret_version - 1);
    if (previous.ok()) {
      hook->previous = std::move(previous).value();
    } else if (previous.status().code() != StatusCode::kNotFound) {
      // Still within its grace, so receivers may know only it: delivering signed by the new
      // secret alone would be refused and parked. Not loaded now; ReloadBrokenHooks retries.
      return previous.status().Annotate("the previous secret");
    }
  }
  hook->def = std::move(def);
  return hook;
}

Status WebhookDispatcher::Start() {
  assert(!started_);
  CAIRN_RETURN_IF_ERROR(durable_.CheckAvailable());
  CAIRN_ASSIGN_OR_RETURN(std::vector<WebhookDefinition> defs, durable_.LoadAll());
  std::vector<std::shared_ptr<Hook>> hooks;
  for (WebhookDefinition& def : defs) {
    const std::string name = def.name;
    auto position = durable_.ReadPosition(name);
    auto hook = position.ok() ? MakeHook(def, *position) : Result<std::shared_ptr<Hook>>(position.status());
    if (!hook.ok()) {  // listed with its error, delivers nothing
      auto broken = std::make_shared<Hook>();
      broken->def = std::move(def);
      broken->broken = true;
      broken->last_error = CutUtf8("not loaded: " + hook.status().message(), kLastErrorSizeBytesMax);
      hooks.push_back(std::move(broken));
      continue;
    }
    hooks.push_back(std::move(hook).value());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks_ = std::move(hooks);
    tree_size_ = store_->tree_size();
  }
  observer_ = store_->AddCommitObserver([this](uint64_t tree_size) {
    bool any_hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tree_size_ = std::max(tree_size_, tree_size);
      any_hook = !hooks_.empty();
    }
    // This runs on the commit thread after every group: with no webhook, wake nobody (the
    // workers would find nothing to do). Create() wakes them for a new webhook.
    if (any_hook) cv_.notify_all();
  });
  if (observer_ == 0) return Status::ResourceExhausted("no commit observer slot left");
  for (size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] {
      SetCurrentThreadName("cairn-webhook");
      RunWorker();
    });
  sweeper_ = std::thread([this] {
    SetCurrentThreadName("cairn-whsweep");
    RunSecretSweeper();
  });
  started_ = true;
  return Status::Ok();
}

void WebhookDispatcher::RunSecretSweeper() {
  int64_t next_sweep_ms = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    lock.unlock();
    ReloadBrokenHooks();
    if (SteadyMs() >= next_sweep_ms) {
      SweepSecrets();
      next_sweep_ms = SteadyMs() + options_.secret_sweep_interval_ms;
    }
    lock.lock();
    cv_.wait_for(lock,
                 std::chrono::milliseconds(std::min(options_.secret_sweep_interval_ms,
                                                    options_.broken_reload_interval_ms)),
                 [this] { return stop_.load(); });
  }
}

// A hook that could not be loaded at Start() (its secret's KMS unreachable, a position that could
// not be read) is loaded again here, so that a transient failure does not leave it silent until
// a restart. Loaded without admin_mu_ (a KMS that hangs must not stall the other hooks' workers,
// which take it at the end of each turn), installed under it, as Create and Delete change the
// list: only if the same broken hook is still listed, undeleted, at the same secret version.
void WebhookDispatcher::ReloadBrokenHooks() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& hook : hooks_) {
      if (hook->broken && !hook->deleted) names.push_back(hook->def.name);
    }
  }
  for (const std::string& name : names) {
    if (stop_.load()) return;
    std::shared_ptr<Hook> broken;
    WebhookDefinition def;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& hook : hooks_) {
        if (hook->def.name == name && hook->broken && !hook->deleted) broken = hook;
      }
      if (broken != nullptr) def = broken->def;
    }
    if (broken == nullptr) continue;
    auto position = durable_.ReadPosition(name);
    auto loaded = position.ok() ? MakeHook(def, *position)
                                : Result<std::shared_ptr<Hook>>(position.status());
    std::lock_guard<std::mutex> admin(admin_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    const bool still_listed =
        !broken->deleted && broken->def.secret_version == def.secret_version &&
        std::find(hooks_.begin(), hooks_.end(), broken) != hooks_.end();
    if (!still_listed) continue;  // deleted or rotated meanwhile: the next round sees it anew
    if (!loaded.ok()) {
      broken->last_error = CutUtf8("not loaded: " + loaded.status().message(), kLastErrorSizeBytesMax);
      continue;
    }
    std::replace(hooks_.begin(), hooks_.end(), broken, std::move(loaded).value());
    log::Info("a webhook that could not be loaded at start is loaded and delivering",
              {.action = "webhook.load", .outcome = "success", .extra = {{"cairn.webhook", name}}});
    cv_.notify_all();
  }
}

void WebhookDispatcher::SweepSecrets() {
  {
    const Result<size_t> destroyed =
        durable_.SweepUnusedSecrets(SteadyMs(), options_.secret_unused_age_ms_min);
    if (!destroyed.ok()) {
      log::Warn("looking for unused webhook secrets failed; retried later",
                {.action = "webhook.sweep_secrets",
                 .outcome = "failure",
                 .extra = {{"cairn.error", destroyed.status().ToString()}}});
    } else if (*destroyed > 0) {
      log::Info("destroyed webhook secrets that no webhook uses",
                {.action = "webhook.sweep_secrets",
                 .outcome = "success",
                 .extra = {{"cairn.secrets_destroyed", std::to_string(*destroyed)}}});
    }
  }
}

void WebhookDispatcher::Stop() {
  if (stop_.exchange(true)) return;
  if (observer_ != 0) store_->RemoveCommitObserver(observer_);
  {
    std::lock_guard<std::mutex> lock(mu_);  // no worker is between its check and its wait
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  if (sweeper_.joinable()) sweeper_.join();
}

std::shared_ptr<WebhookDispatcher::Hook> WebhookDispatcher::NextReady(
    std::unique_lock<std::mutex>& lock) {
  while (!stop_.load()) {
    const int64_t now_ms = SteadyMs();
    int64_t wake_ms = now_ms + kIdleWaitMs;
    const size_t n = hooks_.size();
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (cursor_ + k) % n;
      Hook& h = *hooks_[i];
      if (h.busy || h.deleted || h.broken || h.position >= tree_size_) continue;
      if (h.not_before_ms > now_ms) {
        wake_ms = std::min(wake_ms, h.not_before_ms);
        continue;
      }
      cursor_ = (i + 1) % n;
      h.busy = true;
      return hooks_[i];
    }
    cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, wake_ms - now_ms)));
  }
  return nullptr;
}

void WebhookDispatcher::RunWorker() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    std::shared_ptr<Hook> hook = NextReady(lock);
    if (!hook) break;
    lock.unlock();
    ProcessTurn(*hook);
    lock.lock();
    hook->busy = false;
    if (hook->deleted) {
      hooks_.erase(std::remove(hooks_.begin(), hooks_.end(), hook), hooks_.end());
    }
    cv_.notify_all();  // Delete() may be waiting for this hook to be idle
  }
}

bool WebhookDispatcher::Wanted(const Hook& hook, const engine::RecordedEvent& event,
                               const Judge& judge, bool* pii) const {
  const integrity::Entry& e = event.entry;
  if (hook.def.source == kAllSource) {
    if (e.stream_id.starts_with('$')) return false;  // system streams only by name
  } else if (e.stream_id != hook.def.source) {
    return false;
  }
  if (e.event_type == engine::kTombstoneEventType) return false;
  const auto& types = hook.def.filter_types;
  if (!types.empty() && std::find(types.begin(), types.end(), e.event_type) == types.end()) {
    return false;
  }
  if (!judge.Allows(policy::Action::kSubscribe, e.stream_id, e.event_type)) return false;
  *pii = judge.Allows(policy::Action::kReadPii, e.stream_id, e.event_type);
  return true;
}

Status WebhookDispatcher::DeliverOne(Hook& hook, engine::RecordedEvent event, bool pii,
                                     bool* undeliverable, bool* not_sent) {
  *undeliverable = false;
  *not_sent = false;
  // Failures before anything is sent: a KMS that is away is waited for (not an attempt); an
  // event whose protected fields do not open or whose data is not the JSON its type says fails
  // the same way on every attempt, so it is parked at once instead of holding the webhook
  // through every retry.
  auto local = [&](Status s) {
    *not_sent = true;
    *undeliverable = !FailurePasses(s.code());
    return s;
  };
  if (store_->IsProtected(event.entry.event_type)) {
    auto revealed = store_->Reveal(std::move(event), pii);
    if (!revealed.ok()) return local(revealed.status());
    event = std::move(revealed).value();
  }
  SignedDelivery delivery;
  auto body = CloudEventJson(event, store_->origin());
  if (!body.ok()) return local(body.status());
  delivery.body = std::move(body).value();
  delivery.id = engine::FormatUuid(event.entry.event_id);
  delivery.timestamp_s = NowUnixS();
  std::string signatures;
  {
    std::lock_guard<std::mutex> lock(mu_);  // RotateSecret swaps the secrets
    signatures = SignWebhook(hook.secret.view(), delivery.id, delivery.timestamp_s, delivery.body);
    if (!hook.previous.empty() && hook.def.previous_expires_unix_s > delivery.timestamp_s) {
      signatures += " " + SignWebhook(hook.previous.view(), delivery.id, delivery.timestamp_s,
                                      delivery.body);
    } else {
      hook.previous.Clear();  // the grace is over: wipe the retired secret from memory
    }
  }
  delivery.signature = std::move(signatures);
  return hook.sender->Send(delivery, &stop_).status;
}

Status WebhookDispatcher::Park(Hook& hook, const engine::RecordedEvent& event,
                               const std::string& error) {
  engine::ProposedEvent parked;
  parked.event_type = std::string(kWebhookParkedEventType);
  parked.data = nlohmann::json{{"position", event.entry.position},
                               {"event_id", engine::FormatUuid(event.entry.event_id)},
                               {"attempts", hook.attempts},
                               {"last_error", error}}
                    // Invalid UTF-8 in an error text (quoted stored bytes) is replaced, not
                    // thrown on: this runs on a delivery worker, where a throw would abort.
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::vector<engine::ProposedEvent> batch;
  batch.push_back(std::move(parked));
  std::lock_guard<std::mutex> admin(admin_mu_);
  if (!StillListed(hook)) return Status::NotFound("the webhook was deleted");
  return store_->AppendSystem(ParkedStreamName(hook.def.name), engine::ExpectedVersion::Any(),
                              std::move(batch))
      .status();
}

int64_t WebhookDispatcher::BackoffMs(uint32_t attempt) {
  return FullJitterBackoffMs(attempt, options_.backoff_initial_ms, options_.backoff_max_ms);
}

bool WebhookDispatcher::StillListed(const Hook& hook) {
  std::lock_guard<std::mutex> lock(mu_);
  return !hook.deleted;
}

void WebhookDispatcher::ProcessTurn(Hook& hook) {
  const std::string name = hook.def.name;
  uint64_t position = hook.position;  // only this worker changes it while busy
  if (hook.def.source != kAllSource && !hook.source) hook.source.emplace(store_, hook.def.source);
  auto events = hook.source ? hook.source->Read(position, options_.batch_events_max)
                            : ReadLogPage(store_, position, options_.batch_events_max);
  if (!events.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    hook.last_error = CutUtf8("read failed: " + events.status().message(), kLastErrorSizeBytesMax);
    hook.not_before_ms = SteadyMs() + BackoffMs(1);
    return;
  }
  if (events->stream_deleted && events->events.empty()) {  // past its tombstone: nothing can come
    std::lock_guard<std::mutex> lock(mu_);
    hook.last_error = "the source stream was deleted: nothing more will be delivered";
  }
  // An identity that may receive nothing of the source (its binding removed, its API key expired
  // or unconfigured, or a webhook made before roles from tokens were dropped) pauses the webhook
  // with the reason listed, instead of skipping every event for good.
  if (Status may = CheckMayDeliver(hook.def); !may.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    hook.last_error = CutUtf8("paused: " + may.message(), kLastErrorSizeBytesMax);
    hook.not_before_ms = SteadyMs() + kPausedRecheckMs;
    return;
  }
  Judge judge;
  RefreshJudge(hook.def, &judge, /*force=*/true);  // configured roles may have expired
  const uint64_t start = position;
  // The last event looked at: `position` stays at it when its delivery stops the turn.
  std::optional<uint64_t> at_position;
  uint64_t at_version = 0;
  for (engine::RecordedEvent& event : events->events) {
    if (stop_.load() || !StillListed(hook)) break;
    // The log's pages are consecutive; a stream's skip other streams' positions.
    assert(event.entry.position >= position);
    position = event.entry.position;
    at_position = event.entry.position;
    at_version = event.entry.stream_version;
    RefreshJudge(hook.def, &judge, /*force=*/false);  // a reload applies from the next event
    bool pii = false;
    if (!Wanted(hook, event, judge, &pii)) {
      std::lock_guard<std::mutex> lock(mu_);
      hook.attempts = 0;  // counted for this event (it failed before it stopped being wanted)
      hook.local_waits = 0;
      ++position;
      continue;
    }
    engine::RecordedEvent stored = event;  // kept for the parked reference
    bool undeliverable = false;
    bool not_sent = false;
    Status s = DeliverOne(hook, std::move(event), pii, &undeliverable, &not_sent);
    if (!s.ok() && stop_.load()) break;  // aborted by Stop(): not an attempt
    std::unique_lock<std::mutex> lock(mu_);
    if (s.ok()) {
      ++hook.delivered;
      hook.attempts = 0;
      hook.local_waits = 0;
      ++position;
      continue;
    }
    hook.last_error = CutUtf8(s.message(), kLastErrorSizeBytesMax);
    if (not_sent && !undeliverable) {
      // Nothing was sent and it will pass (the KMS is away): waited for, never an attempt, so
      // that an outage cannot park the events it delays. Backs off as attempts would.
      hook.local_waits = std::min<uint32_t>(hook.local_waits + 1, 31);
      hook.not_before_ms = SteadyMs() + BackoffMs(hook.local_waits);
      break;
    }
    ++hook.attempts;
    if (hook.attempts > options_.retries_max || undeliverable) {
      const std::string error = hook.last_error;
      lock.unlock();
      const Status parked = Park(hook, stored, error);
      lock.lock();
      if (!parked.ok()) {  // not parked: the event stays next, retried after a backoff
        hook.last_error = CutUtf8("parking failed: " + parked.message(), kLastErrorSizeBytesMax);
        hook.not_before_ms = SteadyMs() + BackoffMs(hook.attempts);
        break;
      }
      ++hook.parked;
      hook.attempts = 0;
      hook.local_waits = 0;
      ++position;
      continue;
    }
    hook.not_before_ms = SteadyMs() + BackoffMs(hook.attempts);
    break;
  }
  // Every event of the page handled: on to where the page says nothing below is left to see.
  const bool whole_page = events->events.empty() || position > events->events.back().entry.position;
  if (whole_page) position = std::max(position, events->read_to);
  // Stopped at an event (its retry comes next): the next read starts there without a search.
  if (!whole_page && hook.source && at_position == position) hook.source->Rewind(position, at_version);
  if (position == start) return;
  std::lock_guard<std::mutex> admin(admin_mu_);
  if (!StillListed(hook)) return;  // deleted: its name may already belong to a new webhook
  Status s = durable_.PutPosition(name, position);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) hook.last_error = CutUtf8("position not stored: " + s.message(), kLastErrorSizeBytesMax);
  hook.position = position;
}

Result<std::string> WebhookDispatcher::Create(WebhookCreate request) {
  WebhookDefinition& def = request.def;
  CAIRN_RETURN_IF_ERROR(ValidateWebhookName(def.name));
  CAIRN_RETURN_IF_ERROR(ValidateSource(def.source));
  CAIRN_RETURN_IF_ERROR(ValidateFilters(def.filter_types));
  if (def.run_as.size() > kRunAsSizeBytesMax) return Status::InvalidArgument("run_as too long");
  if (def.source == ParkedStreamName(def.name)) {
    return Status::InvalidArgument("a webhook cannot deliver its own parked stream");
  }
  def.creator.roles.clear();  // never kept: judged by bindings and configured roles (above)
  def.creator.expires_unix_s = 0;
  CAIRN_RETURN_IF_ERROR(CheckMayDeliver(def));
  CAIRN_ASSIGN_OR_RETURN(AddressGuard guard, AddressGuard::Create(def.allow_addresses));
  CAIRN_RETURN_IF_ERROR(CheckWebhookUrl(def.url, guard));  // resolves; never connects
  // Everything that can fail is done before the webhook is stored: a refused Create leaves
  // nothing behind that a restart would start delivering.
  auto hook = std::make_shared<Hook>();
  CAIRN_ASSIGN_OR_RETURN(hook->sender,
                         WebhookSender::Create(def.url, std::move(guard), options_.sender));
  std::string secret_text = request.secret.empty() ? NewWebhookSecret() : request.secret;
  CAIRN_ASSIGN_OR_RETURN(std::string secret_bytes, DecodeWebhookSecret(secret_text));
  hook->secret = crypto::SecureBytes(secret_bytes);
  crypto::Cleanse(&secret_bytes);
  def.created_unix_s = NowUnixS();
  def.secret_version = 1;
  def.previous_expires_unix_s = 0;
  const uint64_t start = request.start.value_or(store_->tree_size());
  hook->position = start;
  std::lock_guard<std::mutex> admin(admin_mu_);
  CAIRN_RETURN_IF_ERROR(durable_.Create(def, hook->secret, start));
  hook->def = def;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks_.push_back(std::move(hook));
  }
  cv_.notify_all();
  return secret_text;
}

Status WebhookDispatcher::Delete(std::string_view name) {
  std::lock_guard<std::mutex> admin(admin_mu_);
  CAIRN_RETURN_IF_ERROR(durable_.Delete(name));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = hooks_.begin(); it != hooks_.end(); ++it) {
    // A deleted hook still busy with its last turn may share the name with a newer one.
    if ((*it)->def.name != name || (*it)->deleted) continue;
    (*it)->deleted = true;
    if (!(*it)->busy) hooks_.erase(it);  // else its worker removes it when the turn ends
    break;
  }
  return Status::Ok();
}

Result<RotateResult> WebhookDispatcher::RotateSecret(std::string_view name,
                                                     std::string_view secret, int64_t grace_s) {
  if (grace_s < 0 || grace_s > kRotationGraceSMax) {
    return Status::InvalidArgument("grace must be 0 .. " + std::to_string(kRotationGraceSMax) +
                                   " s (30 days)");
  }
  if (grace_s == 0) grace_s = options_.rotation_grace_s;
  std::string secret_text = secret.empty() ? NewWebhookSecret() : std::string(secret);
  CAIRN_ASSIGN_OR_RETURN(std::string secret_bytes, DecodeWebhookSecret(secret_text));
  crypto::SecureBytes fresh(secret_bytes);
  crypto::Cleanse(&secret_bytes);
  std::lock_guard<std::mutex> admin(admin_mu_);
  CAIRN_ASSIGN_OR_RETURN(WebhookDefinition def,
                         durable_.Rotate(name, fresh, NowUnixS(), grace_s));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& hook : hooks_) {
      if (hook->def.name != name || hook->deleted) continue;
      hook->previous = std::move(hook->secret);
      hook->secret = std::move(fresh);
      hook->def.secret_version = def.secret_version;
      hook->def.previous_expires_unix_s = def.previous_expires_unix_s;
    }
  }
  return RotateResult{std::move(secret_text), def.secret_version, def.previous_expires_unix_s};
}

std::vector<WebhookStatus> WebhookDispatcher::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WebhookStatus> out;
  for (const auto& hook : hooks_) {
    if (hook->deleted) continue;
    out.push_back({hook->def, hook->position, hook->delivered, hook->parked, hook->last_error});
  }
  std::sort(out.begin(), out.end(),
            [](const WebhookStatus& a, const WebhookStatus& b) { return a.def.name < b.def.name; });
  return out;
}

}  // namespace cairn::subscribe
