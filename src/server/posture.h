// Posture checks: the configuration mistakes that expose data stores (`cairn doctor`, and
// `cairn serve` at start and every [doctor] interval_s).
//
// Each check has a stable id ("CAIRN-TLS-001"), a severity and, when it fires, a Finding: what
// is wrong, naming the setting (never a secret's value, a token or personal data), and the fix.
// The catalogue (PostureCatalogue) lists every check once; docs/operations.md has the same table.
//
// Most checks are pure functions of the Config (and of the files it names: modes, the server
// certificate, JWKS files, the policy file, the keyring's time of last change). The checks that
// need the data (PII-looking field names and e-mail-like stream ids in a bounded sample of recent
// events, webhook allowlists) run only when PostureContext::store is set; otherwise they are
// skipped (StoreCheckIds says which).
//
// Severities: critical = reachable or readable by others right now (plaintext off loopback, an
// allowlist of everyone, a private key readable by others, a secret in the config file);
// `cairn serve` refuses to start on a critical finding unless its id is accepted
// (--accept-risk ID or [doctor] accept_risks). `cairn doctor` exits 1 on medium or above.
//
// Thread safety: pure functions; RunPostureChecks reads the file system and, when given, the
// store (whose methods are thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"

namespace cairn::engine {
class EventStore;
}

namespace cairn::policy {
class Policy;
}  // namespace cairn::policy

namespace cairn::server {

enum class Severity : uint8_t { kInfo = 0, kLow, kMedium, kHigh, kCritical };
inline constexpr size_t kSeverityCount = 5;

const char* SeverityName(Severity severity);  // "info" | "low" | "medium" | "high" | "critical"

struct Finding {
  std::string id;       // "CAIRN-TLS-001"
  Severity severity = Severity::kInfo;
  std::string title;    // the check's title (from the catalogue)
  std::string finding;  // what is wrong here, naming the setting
  std::string fix;      // what to change
};

struct CheckInfo {
  std::string_view id;
  std::string_view title;
  bool needs_store = false;  // runs only with PostureContext::store
};

// Every check, in report order.
const std::vector<CheckInfo>& PostureCatalogue();
// The ids of the checks that need the store (skipped without one).
std::vector<std::string> StoreCheckIds();

// Bounds of the data sample (checks DATA-001/002).
inline constexpr size_t kSampleEventsMax = 1000;
inline constexpr size_t kSampleEventTypesMax = 256;
inline constexpr size_t kJsonDepthMax = 16;
// Event data parsed in one run (the sample ends early when it is reached), and the pointers one
// event type reports: the checks' memory does not grow with what appenders send.
inline constexpr size_t kSampleDataBytesMax = 32 * 1024 * 1024;
inline constexpr size_t kSamplePointersPerTypeMax = 32;
inline constexpr size_t kFindingsPerCheckMax = 20;

struct PostureContext {
  engine::EventStore* store = nullptr;  // an open store; null skips the store checks
  int64_t now_unix_s = 0;               // the time the checks judge expiry and age against
  size_t sample_events_max = kSampleEventsMax;  // recent events read (≤ kSampleEventsMax)
};

// Runs every check; findings in catalogue order, most severe first within one check.
std::vector<Finding> RunPostureChecks(const Config& config, const PostureContext& context);

// The number of findings of `severity` or above.
size_t CountAtLeast(const std::vector<Finding>& findings, Severity severity);
// The first critical finding whose id is not in `accepted`, or nullopt.
std::optional<Finding> FirstUnacceptedCritical(const std::vector<Finding>& findings,
                                               const std::vector<std::string>& accepted);

// The policy checks (CAIRN-POL-*) of `policy`, about to be installed by a reload, as `config`
// names it: its first critical finding not in `accepted`, or nullopt. A reload refuses what
// the start would refuse.
std::optional<Finding> UnacceptedCriticalOfPolicy(const policy::Policy& policy, const Config& config,
                                                  const std::vector<std::string>& accepted);

}  // namespace cairn::server
