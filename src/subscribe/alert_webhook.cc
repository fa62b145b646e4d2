#include "subscribe/alert_webhook.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "cairn/webhooks.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "subscribe/webhook_cloudevent.h"

namespace cairn::subscribe {
namespace {

constexpr size_t kSecretFileSizeBytesMax = 256;

// The raw text of an owner-only secret file (regular, owned by us, no group/other bits).
Result<crypto::SecureBytes> ReadOwnerOnlyFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) {
    return Status::NotFound("cannot open alerts.webhook_secret_file " + path + ": " +
                            std::strerror(errno));
  }
  struct stat st;
  Status refusal;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    refusal = Status::FailedPrecondition("alerts.webhook_secret_file " + path +
                                         " is not a regular file");
  } else if (st.st_uid != ::geteuid()) {
    refusal = Status::FailedPrecondition("alerts.webhook_secret_file " + path +
                                         " is not owned by the user running cairn");
  } else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    refusal = Status::FailedPrecondition("alerts.webhook_secret_file " + path +
                                         " is accessible by group or others; run: chmod 600 " +
                                         path);
  }
  if (!refusal.ok()) {
    ::close(fd);
    return refusal;
  }
  crypto::SecureBytes buffer(kSecretFileSizeBytesMax + 1);
  size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kSecretFileSizeBytesMax) {
    return Status::InvalidArgument("alerts.webhook_secret_file " + path + " is too large");
  }
  std::string_view text(reinterpret_cast<const char*>(buffer.data()), got);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return crypto::SecureBytes(text);
}

// The alert as a CloudEvents 1.0 structured-mode document (the content type the sender sets).
std::string AlertCloudEvent(const audit::Alert& alert, const std::string& origin) {
  nlohmann::ordered_json j;
  j["specversion"] = "1.0";
  j["id"] = alert.id;
  j["source"] = "cairn://" + origin + "/alerts";
  j["type"] = "cairn.alert";
  j["time"] = Rfc3339Nanos(alert.time_unix_ms * 1000000);
  j["datacontenttype"] = "application/json";
  j["data"] = nlohmann::ordered_json::parse(audit::EncodeAlertJson(alert));
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status CheckOptions(const AlertWebhookOptions& o) {
  if (o.retries_max > kAlertWebhookRetriesMax) {
    return Status::InvalidArgument("alert webhook retries_max above " +
                                   std::to_string(kAlertWebhookRetriesMax));
  }
  if (o.backoff_initial_ms < 1 || o.backoff_max_ms < o.backoff_initial_ms ||
      o.backoff_max_ms > 3600000) {
    return Status::InvalidArgument("alert webhook backoff out of range");
  }
  if (o.queue_alerts_max < 1 || o.queue_alerts_max > kAlertWebhookQueueMax) {
    return Status::InvalidArgument("alert webhook queue_alerts_max out of range");
  }
  if (o.sender.connect_timeout_ms < 1 || o.sender.timeout_ms < 1) {
    return Status::InvalidArgument("alert webhook timeouts must be positive");
  }
  return Status::Ok();
}

// Refuses a host that resolves to an address the guard does not admit. A host that does not
// resolve now (DNS down at boot, a record not yet published) does not keep the server from
// starting: it is logged, and each delivery resolves again and checks the address it connects
// to, so nothing reaches a refused address either way.
Status CheckHostAtStart(const std::string& host, const AddressGuard& guard) {
  Result<std::vector<IpAddress>> addresses = Resolve(host);
  if (addresses.ok()) return CheckResolvedAddresses(host, *addresses, guard);
  log::Warn("the alert webhook host does not resolve now; each delivery resolves it again",
            {.action = "alerts.webhook", .outcome = "unknown", .extra = {{"host", host}}});
  return Status::Ok();
}

}  // namespace

Result<crypto::SecureBytes> LoadAlertWebhookSecret(const std::string& file,
                                                   const std::string& env) {
  if (file.empty() == env.empty()) {
    return Status::InvalidArgument(
        "set exactly one of alerts.webhook_secret_file and alerts.webhook_secret_env");
  }
  crypto::SecureBytes text;
  if (!file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(text, ReadOwnerOnlyFile(file));
  } else {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == '\0') {
      return Status::FailedPrecondition("the environment variable " + env +
                                        " (the alert webhook secret) is not set");
    }
    text = crypto::SecureBytes(std::string_view(value));
  }
  Result<std::string> bytes = DecodeWebhookSecret(text.view());
  if (!bytes.ok()) {
    return Status::InvalidArgument("the alert webhook secret: " + bytes.status().message());
  }
  crypto::SecureBytes secret(*bytes);
  crypto::Cleanse(&*bytes);
  return secret;
}

Result<std::unique_ptr<AlertWebhookSink>> AlertWebhookSink::Create(
    const AlertWebhookOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  CAIRN_ASSIGN_OR_RETURN(WebhookTarget target, ParseWebhookUrl(options.url));
  CAIRN_ASSIGN_OR_RETURN(AddressGuard guard, AddressGuard::Create(options.allow_addresses));
  CAIRN_RETURN_IF_ERROR(CheckHostAtStart(target.host, guard));
  std::unique_ptr<AlertWebhookSink> sink(new AlertWebhookSink());
  CAIRN_ASSIGN_OR_RETURN(sink->secret_,
                         LoadAlertWebhookSecret(options.secret_file, options.secret_env));
  CAIRN_ASSIGN_OR_RETURN(sink->sender_,
                         WebhookSender::Create(options.url, std::move(guard), options.sender));
  sink->options_ = options;
  sink->host_ = target.host;
  AlertWebhookSink* raw = sink.get();
  sink->thread_ = std::thread([raw] {
    SetCurrentThreadName("cairn-alerthook");
    raw->Run();
  });
  return sink;
}

AlertWebhookSink::~AlertWebhookSink() { Stop(); }

void AlertWebhookSink::Deliver(const audit::Alert& alert) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_.load() || queue_.size() >= options_.queue_alerts_max) {
    ++stats_.dropped;
    return;
  }
  queue_.push_back(alert);
  cv_.notify_all();
}

void AlertWebhookSink::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_.load() || !queue_.empty(); });
    if (stop_.load()) break;
    audit::Alert alert = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    const bool sent = SendWithRetries(alert);
    lock.lock();
    busy_ = false;
    if (sent) {
      ++stats_.delivered;
    } else {
      ++stats_.dropped;
    }
    stats_.guard_refusals = sender_->guard_refusals();
    cv_.notify_all();
  }
  stats_.dropped += queue_.size();
  queue_.clear();
  cv_.notify_all();
}

bool AlertWebhookSink::SendWithRetries(const audit::Alert& alert) {
  SignedDelivery delivery;
  delivery.id = alert.id;
  delivery.body = AlertCloudEvent(alert, options_.origin);
  Status last;
  for (uint32_t attempt = 0; attempt <= options_.retries_max; ++attempt) {
    if (attempt > 0) {
      // Jittered, so the nodes of a cluster that failed to reach one receiver do not retry in
      // step; equal jitter, so that the few retries still span the backoff's time.
      const int64_t delay_ms =
          EqualJitterBackoffMs(attempt, options_.backoff_initial_ms, options_.backoff_max_ms);
      std::unique_lock<std::mutex> lock(mu_);
      ++stats_.retries;
      if (cv_.wait_for(lock, std::chrono::milliseconds(delay_ms), [&] { return stop_.load(); })) {
        break;
      }
    }
    delivery.timestamp_s = NowUnixSeconds();
    delivery.signature = SignWebhook(secret_.view(), delivery.id, delivery.timestamp_s,
                                     delivery.body);
    SendOutcome outcome = sender_->Send(delivery, &stop_);
    if (outcome.status.ok()) return true;
    last = outcome.status;
    if (stop_.load()) break;
  }
  log::Fields fields;
  fields.action = "alert.webhook";
  fields.outcome = "failure";
  fields.extra = {{"cairn.alert.id", alert.id},
                  {"cairn.alert.rule", alert.rule},
                  {"url.domain", host_},
                  {"error.message", last.message()}};
  log::Error("alert webhook delivery dropped after retries", fields);
  return false;
}

void AlertWebhookSink::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stop_.load() || (queue_.empty() && !busy_); });
}

void AlertWebhookSink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

AlertWebhookStats AlertWebhookSink::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  AlertWebhookStats s = stats_;
  return s;
}

}  // namespace cairn::subscribe
