#include "cli/bench_soak.h"

#include <dirent.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "cli/bench_soak_state.h"
#include "common/bytes.h"
#include "common/trusted_file.h"
#include "crypto/secure.h"

namespace cairn::cli {
namespace {

using soak::SoakState;

constexpr size_t kProcStatusSizeBytesMax = 64 << 10;
constexpr uint64_t kFdsMax = 1 << 20;  // a bound on the directory walk

// Counts the open descriptors of `pid` into usage->fds and, for SST files, usage->sst_fds.
Status CountFds(pid_t pid, ProcessUsage* usage) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    // The server runs non-dumpable (common/core_dumps.h): its /proc entries are root's.
    return Status::NotFound("cannot list " + dir + " (" + std::strerror(errno) +
                            "; the server is not dumpable: run the soak as root, or the server "
                            "with server.core_dumps = true)");
  }
  uint64_t n = 0;
  char target[4096];
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string link = dir + "/" + e->d_name;
    const ssize_t size = ::readlink(link.c_str(), target, sizeof target);
    const std::string_view path(target, size > 0 ? static_cast<size_t>(size) : 0);
    ++(path.ends_with(".sst") ? usage->sst_fds : usage->fds);
    if (++n >= kFdsMax) break;
  }
  ::closedir(d);
  return Status::Ok();
}

// The server and the load it is under: every worker with its own connection(s).
class SoakRun {
 public:
  explicit SoakRun(const SoakConfig& config)
      : config_(config), state_(config, HexEncode(crypto::RandomString(4))) {}
  ~SoakRun() { Stop(); }

  Status Start();
  void Stop();
  SoakState& state() { return state_; }
  uint64_t LiveMinReceived() const;
  uint64_t GroupReceived() const;

 private:
  Status CreateGroup();
  template <typename Body>
  Status StartThreads(uint32_t count, Body body);

  const SoakConfig& config_;
  SoakState state_;
  std::unique_ptr<Client> admin_client_;
  std::vector<std::unique_ptr<Client>> clients_;  // appenders, readers, admin: one each
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<soak::LiveSubscriber>> subscribers_;
  std::vector<std::unique_ptr<soak::GroupConsumer>> consumers_;
  std::string group_;
  bool stopped_ = false;
};

template <typename Body>
Status SoakRun::StartThreads(uint32_t count, Body body) {
  for (uint32_t i = 0; i < count; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, soak::ConnectSoakClient(config_.client));
    Client* c = client.get();
    clients_.push_back(std::move(client));
    threads_.emplace_back([this, c, i, body] { body(state_, *c, i); });
  }
  return Status::Ok();
}

Status SoakRun::CreateGroup() {
  CAIRN_ASSIGN_OR_RETURN(v1::ServerInfoResponse info, admin_client_->ServerInfo());
  v1::GroupSettings settings;
  group_ = "soak-" + state_.run_id;
  settings.set_name(group_);
  settings.set_source("$all");
  settings.mutable_filter()->add_stream_prefixes(state_.StreamPrefix());
  settings.set_start_position(info.tree_size());
  return Groups(*admin_client_).Create(settings);
}

Status SoakRun::Start() {
  CAIRN_ASSIGN_OR_RETURN(admin_client_, soak::ConnectSoakClient(config_.client));
  if (config_.group_consumers > 0) CAIRN_RETURN_IF_ERROR(CreateGroup());
  for (uint32_t i = 0; i < config_.subscribers; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, soak::ConnectSoakClient(config_.client));
    subscribers_.push_back(std::make_unique<soak::LiveSubscriber>(state_, std::move(c)));
    subscribers_.back()->Start();
  }
  for (uint32_t i = 0; i < config_.group_consumers; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> c, soak::ConnectSoakClient(config_.client));
    consumers_.push_back(std::make_unique<soak::GroupConsumer>(state_, std::move(c), group_));
    consumers_.back()->Start();
  }
  CAIRN_RETURN_IF_ERROR(StartThreads(config_.appenders, soak::RunAppender));
  CAIRN_RETURN_IF_ERROR(StartThreads(config_.readers, soak::RunReader));
  return StartThreads(1, [](SoakState& s, Client& c, uint32_t) { soak::RunAdmin(s, c); });
}

void SoakRun::Stop() {
  if (stopped_) return;
  stopped_ = true;
  state_.stop = true;
  for (auto& t : threads_) t.join();
  for (auto& s : subscribers_) s->Stop();
  for (auto& c : consumers_) c->Stop();
  if (!group_.empty() && admin_client_) {
    Status st = Groups(*admin_client_).Delete(group_);
    if (!st.ok()) state_.Error("group delete", st);
  }
}

uint64_t SoakRun::LiveMinReceived() const {
  uint64_t n = UINT64_MAX;
  for (const auto& s : subscribers_) n = std::min(n, s->received());
  return subscribers_.empty() ? 1 : n;
}

uint64_t SoakRun::GroupReceived() const {
  uint64_t n = 0;
  for (const auto& c : consumers_) n += c->received();
  return consumers_.empty() ? 1 : n;
}

std::string MiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Rates over the interval since `prev`.
Result<SoakSample> TakeSample(const SoakConfig& c, const SoakState& s, const SoakTotals& prev,
                              double prev_s, SoakTotals* now) {
  SoakSample sample;
  sample.elapsed_s = s.ElapsedS();
  *now = s.Totals();
  const double dt = std::max(sample.elapsed_s - prev_s, 1e-3);
  sample.appends_per_s = static_cast<double>(now->appended - prev.appended) / dt;
  sample.reads_per_s = static_cast<double>(now->read - prev.read) / dt;
  sample.sub_events_per_s = static_cast<double>(now->live_events + now->group_events -
                                                prev.live_events - prev.group_events) / dt;
  sample.errors = now->errors;
  CAIRN_ASSIGN_OR_RETURN(sample.server, ReadProcessUsage(c.server_pid));
  return sample;
}

void Judge(const SoakConfig& c, const SoakRun& run, SoakResult* r) {
  if (r->totals.errors > 0) {
    r->failures.push_back(std::to_string(r->totals.errors) + " errors (calls or checks failed)");
  }
  if (run.LiveMinReceived() == 0) r->failures.push_back("a live subscriber received nothing");
  if (run.GroupReceived() == 0) r->failures.push_back("the consumer group received nothing");
  const ProcessUsage& w = r->warm.server;
  const ProcessUsage& e = r->last.server;
  if (e.fds > w.fds + c.fd_growth_max) {
    r->failures.push_back("open fds grew from " + std::to_string(w.fds) + " to " +
                          std::to_string(e.fds) + " (bound +" + std::to_string(c.fd_growth_max) +
                          ")");
  }
  if (e.sst_fds > c.sst_fds_max) {
    r->failures.push_back("open SST files reached " + std::to_string(e.sst_fds) + " (bound " +
                          std::to_string(c.sst_fds_max) + ")");
  }
  const double rss_bound = static_cast<double>(w.rss_bytes) * c.rss_growth_factor_max +
                           static_cast<double>(c.rss_slack_bytes);
  if (static_cast<double>(e.rss_bytes) > rss_bound) {
    r->failures.push_back("RSS grew from " + MiB(w.rss_bytes) + " to " + MiB(e.rss_bytes) +
                          " (bound " + MiB(static_cast<uint64_t>(rss_bound)) + ")");
  }
}

}  // namespace

Result<ProcessUsage> ReadProcessUsage(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  CAIRN_ASSIGN_OR_RETURN(std::string status,
                         ReadSmallFile(path, "process status", kProcStatusSizeBytesMax));
  ProcessUsage usage;
  std::istringstream lines(status);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kib) == 1) {
      usage.rss_bytes = static_cast<uint64_t>(kib) * 1024;
      found = true;
    }
  }
  if (!found) return Status::NotFound("no VmRSS in " + path);
  CAIRN_RETURN_IF_ERROR(CountFds(pid, &usage));
  return usage;
}

Result<SoakResult> RunSoak(const SoakConfig& c,
                           const std::function<void(const SoakSample&)>& on_sample) {
  assert(c.report_interval_s > 0 && c.duration_s > c.warmup_s);
  CAIRN_RETURN_IF_ERROR(ReadProcessUsage(c.server_pid).status());
  SoakRun run(c);
  CAIRN_RETURN_IF_ERROR(run.Start());
  SoakResult result;
  SoakTotals prev;
  double prev_s = 0;
  bool warm = false;
  for (uint64_t k = 1; result.samples.size() < kSoakSamplesMax; ++k) {
    const double at_s = std::min(k * c.report_interval_s, c.duration_s);
    run.state().SleepUntil(run.state().At(at_s));
    SoakTotals now;
    CAIRN_ASSIGN_OR_RETURN(SoakSample sample, TakeSample(c, run.state(), prev, prev_s, &now));
    prev = now;
    prev_s = sample.elapsed_s;
    if (!warm && sample.elapsed_s >= c.warmup_s) {
      result.warm = sample;
      warm = true;
    }
    result.samples.push_back(sample);
    on_sample(sample);
    if (at_s >= c.duration_s) break;
  }
  run.Stop();
  result.last = result.samples.back();
  result.totals = run.state().Totals();
  result.errors = run.state().ErrorMessages();
  Judge(c, run, &result);
  return result;
}

}  // namespace cairn::cli
