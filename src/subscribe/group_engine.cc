#include "subscribe/group_engine.h"

#include <algorithm>

#include <cassert>

#include "subscribe/group_parked.h"

namespace cairn::subscribe {

void GroupMembership::Leave() {
  std::call_once(left_, [this] { runner_->Leave(joined_.consumer_id); });
}

GroupEngine::GroupEngine(engine::EventStore* store, GroupLimits limits)
    : store_(store), limits_(limits), groups_(store) {
  assert(store_ != nullptr);
  assert(limits_.groups_max > 0 && limits_.consumers_per_group_max > 0);
}

GroupEngine::~GroupEngine() { Stop(); }

Status GroupEngine::Start() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, groups_.LoadNames());
  std::map<std::string, std::shared_ptr<GroupRunner>> loaded;
  for (const std::string& name : names) {
    CAIRN_ASSIGN_OR_RETURN(GroupSettings settings, groups_.LoadSettings(name));
    CAIRN_ASSIGN_OR_RETURN(std::optional<GroupPosition> position, groups_.LoadPosition(name));
    loaded[name] = std::make_shared<GroupRunner>(store_, &groups_, limits_, std::move(settings),
                                                 position.value_or(GroupPosition{}));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    assert(!started_);
    runners_ = std::move(loaded);
    for (auto& [name, runner] : runners_) runner->Start();
    started_ = true;
  }
  observer_ = store_->AddCommitObserver([this](uint64_t) { WakeAll(); });
  if (observer_ == 0) return Status::ResourceExhausted("too many commit observers");
  return Status::Ok();
}

void GroupEngine::Stop() {
  // After any Create/Delete in progress: a runner stopped here is never stopped again by it.
  std::lock_guard<std::mutex> admin(admin_mu_);
  // The observer first, outside mu_: a commit waiting on WakeAll must not wait on us.
  if (observer_ != 0) store_->RemoveCommitObserver(observer_);
  observer_ = 0;
  std::map<std::string, std::shared_ptr<GroupRunner>> stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping.swap(runners_);
    started_ = false;
  }
  for (auto& [name, runner] : stopping) {
    runner->Stop(Status::Unavailable("the server is shutting down"), /*save=*/true);
  }
}

void GroupEngine::WakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, runner] : runners_) runner->Wake();
}

std::vector<std::string> GroupEngine::NamesLocked() const {
  std::vector<std::string> names;
  for (const auto& [name, runner] : runners_) names.push_back(name);
  return names;
}

// Durable writes happen under admin_mu_ only, never under mu_: every commit's observer (WakeAll)
// takes mu_, so a group's fsyncs or PostgreSQL round trips there held up every append.
Status GroupEngine::Create(GroupSettings settings) {
  CAIRN_RETURN_IF_ERROR(NormalizeGroupSettings(limits_, &settings));
  std::lock_guard<std::mutex> admin(admin_mu_);
  // $parked-<name> outlives a deleted group of the name: a new group replays only what it parks.
  // Read under admin_mu_, so after a Delete of the name has stopped its runner (which may still
  // have been parking), and before mu_: on a shared store the read may catch up on other nodes'
  // commits, whose observers (WakeAll) take mu_ (never admin_mu_).
  CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo parked, store_->GetStreamInfo(ParkedStreamId(settings.name)));
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return Status::Unavailable("the group engine is not running");
    if (runners_.count(settings.name) > 0) {
      return Status::AlreadyExists("group '" + settings.name + "' already exists");
    }
    if (deleting_.count(settings.name) > 0) {  // its stored state is being removed
      return Status::Unavailable("group '" + settings.name + "' is being deleted; retry");
    }
    if (runners_.size() >= limits_.groups_max) {
      return Status::ResourceExhausted("at most " + std::to_string(limits_.groups_max) + " groups");
    }
    names = NamesLocked();
  }
  names.push_back(settings.name);
  std::sort(names.begin(), names.end());
  GroupPosition start;
  start.done_below = settings.start_position;
  start.replay_next = start.replay_end = parked.exists ? parked.event_count : 0;
  CAIRN_RETURN_IF_ERROR(groups_.SaveSettings(settings));
  CAIRN_RETURN_IF_ERROR(groups_.SavePosition(settings.name, start));
  CAIRN_RETURN_IF_ERROR(groups_.SaveNames(names));
  const std::string name = settings.name;
  auto runner = std::make_shared<GroupRunner>(store_, &groups_, limits_, std::move(settings), start);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return Status::Unavailable("the group engine stopped");  // loaded at start
    runners_[name] = runner;
  }
  runner->Start();
  return Status::Ok();
}

Status GroupEngine::Update(GroupSettings settings) {
  CAIRN_RETURN_IF_ERROR(NormalizeGroupSettings(limits_, &settings));
  // Not beside a Delete of the group: its settings would be stored again after they were removed.
  std::lock_guard<std::mutex> admin(admin_mu_);
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<GroupRunner> runner, Find(settings.name));
  CAIRN_RETURN_IF_ERROR(CheckGroupUpdate(runner->settings(), settings));
  CAIRN_RETURN_IF_ERROR(groups_.SaveSettings(settings));
  runner->Update(settings);
  return Status::Ok();
}

Status GroupEngine::Delete(const std::string& name) {
  std::lock_guard<std::mutex> admin(admin_mu_);
  std::shared_ptr<GroupRunner> runner;
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runners_.find(name);
    if (it == runners_.end()) return Status::NotFound("group '" + name + "' does not exist");
    runner = it->second;
    names = NamesLocked();
  }
  names.erase(std::remove(names.begin(), names.end(), name), names.end());
  CAIRN_RETURN_IF_ERROR(groups_.SaveNames(names));
  {
    std::lock_guard<std::mutex> lock(mu_);
    runners_.erase(name);
    deleting_.insert(name);  // a Create of the name waits until its state is gone
  }
  // Outside mu_: the runner may be appending (parking), and commits wake through mu_.
  runner->Stop(Status::Aborted("group '" + name + "' was deleted"), /*save=*/false);
  Status removed = groups_.Remove(name);
  std::lock_guard<std::mutex> lock(mu_);
  deleting_.erase(name);
  return removed;
}

std::vector<GroupInfo> GroupEngine::List() const {
  std::vector<std::shared_ptr<GroupRunner>> runners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, runner] : runners_) runners.push_back(runner);
  }
  std::vector<GroupInfo> out;
  for (const auto& runner : runners) out.push_back({runner->settings(), runner->counters()});
  return out;
}

Result<GroupSettings> GroupEngine::Get(const std::string& name) const {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<GroupRunner> runner, Find(name));
  return runner->settings();
}

Result<uint64_t> GroupEngine::ReplayParked(const std::string& name,
                                           std::optional<uint64_t> count_max) {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<GroupRunner> runner, Find(name));
  return runner->ReplayParked(count_max);
}

Result<std::unique_ptr<GroupMembership>> GroupEngine::Join(const std::string& name,
                                                           std::shared_ptr<GroupConsumer> consumer,
                                                           uint32_t max_in_flight,
                                                           InFlightBound bound) {
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<GroupRunner> runner, Find(name));
  CAIRN_ASSIGN_OR_RETURN(JoinResult joined,
                         runner->Join(std::move(consumer), max_in_flight, bound));
  return std::make_unique<GroupMembership>(std::move(runner), joined);
}

Result<std::shared_ptr<GroupRunner>> GroupEngine::Find(const std::string& name) const {
  CAIRN_RETURN_IF_ERROR(ValidateGroupName(name));
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return Status::Unavailable("the group engine is not running");
  auto it = runners_.find(name);
  if (it == runners_.end()) return Status::NotFound("group '" + name + "' does not exist");
  return it->second;
}

}  // namespace cairn::subscribe
