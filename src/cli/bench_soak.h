// The soak run behind `cairn bench soak --server …` (issue 7): for `duration_s` it drives a
// running server with mixed load and watches the server process for leaks.
//
// The load, each part on its own connection(s) and thread(s):
//   - appenders: batches paced to `rate` events/s in total, to a fixed set of streams per
//     appender; every `protected_every`-th batch is of the protected type kSoakProtectedType with
//     a data subject per event (the server's protection rules must protect it, see bench/soak.sh);
//   - readers: the tail of a stream just appended to (every acknowledged event must be there, in
//     version order) and a page of "$all" (positions contiguous);
//   - live subscribers on "$all" from the end (positions strictly increasing; a subscriber that
//     fell behind subscribes again from its resume position and is counted as `lagged`);
//   - a consumer group on the run's streams with consumers that ack what they get;
//   - admin: every `policy_interval_s` the policy file is rewritten and ReloadPolicy called; every
//     `forget_interval_s` the subjects of the previous interval are forgotten; every
//     `rotate_interval_s` the storage key and a current subject's key are rotated.
// Every `report_interval_s` a SoakSample is taken: rates since the previous sample, errors so
// far, and the server's RSS (/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd).
//
// Verdict: the run passes when no call failed and no check failed (any error counts), every live
// subscriber and the group received events, and from the first sample at or after `warmup_s` to
// the last one the server's fds other than SST files grew by at most `fd_growth_max`, its open SST
// files stayed at most `sst_fds_max` (the store caps its table cache at 512 files, see
// storage/rocksdb/rocks_tuning.cc; the count of files on disk grows with forgets), and its RSS
// stayed at most `rss_growth_factor_max` × the warm-up RSS + `rss_slack_bytes`.
//
// Memory is bounded: samples are kept (one per report interval, at most kSoakSamplesMax) and
// the first kSoakErrorsKept error messages; everything else is counters.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cairn/client.h"
#include "cli/context.h"
#include "common/status.h"

namespace cairn::cli {

inline constexpr char kSoakProtectedType[] = "SoakCustomer";
inline constexpr size_t kSoakSamplesMax = 100000;
inline constexpr size_t kSoakErrorsKept = 20;

struct SoakConfig {
  ClientOptions client;
  pid_t server_pid = 0;             // the server process to watch (must be on this machine)
  std::string policy_file;          // the server's policy file, rewritten for each reload
  double duration_s = 600;
  double warmup_s = 30;
  double report_interval_s = 10;
  double policy_interval_s = 10;
  double forget_interval_s = 10;
  double rotate_interval_s = 30;
  uint32_t appenders = 4;
  uint32_t streams_per_appender = 16;
  uint32_t readers = 2;
  uint32_t subscribers = 3;
  uint32_t group_consumers = 2;
  uint32_t batch = 20;
  uint64_t rate = 2000;             // appended events/s, all appenders together
  uint32_t protected_every = 4;     // every n-th batch is protected; 0: none
  uint32_t subjects_per_interval = 4;
  size_t event_size_bytes = 256;
  uint64_t fd_growth_max = 32;
  uint64_t sst_fds_max = 512 + 16;  // the store's open-files cap + files a compaction holds
  double rss_growth_factor_max = 1.5;
  uint64_t rss_slack_bytes = uint64_t{64} << 20;
};

struct ProcessUsage {
  uint64_t rss_bytes = 0;
  uint64_t fds = 0;      // open descriptors other than SST files
  uint64_t sst_fds = 0;  // open SST files (RocksDB's table cache)
};

struct SoakSample {
  double elapsed_s = 0;
  double appends_per_s = 0;      // acknowledged appended events
  double reads_per_s = 0;        // events returned by reads
  double sub_events_per_s = 0;   // events received by live subscribers and group consumers
  uint64_t errors = 0;           // so far
  ProcessUsage server;
};

struct SoakTotals {
  uint64_t appended = 0, read = 0, live_events = 0, group_events = 0;
  uint64_t errors = 0, lagged = 0;
  uint64_t policy_reloads = 0, forgets = 0, storage_rotations = 0, subject_rotations = 0;
};

struct SoakResult {
  std::vector<SoakSample> samples;
  SoakSample warm;  // the first sample at or after warmup_s
  SoakSample last;
  SoakTotals totals;
  std::vector<std::string> errors;    // the first kSoakErrorsKept messages
  std::vector<std::string> failures;  // why the verdict is fail; empty: pass
  bool passed() const { return failures.empty(); }
};

// Reads VmRSS and the number of open descriptors of `pid`.
Result<ProcessUsage> ReadProcessUsage(pid_t pid);

// Runs the soak; `on_sample` runs on the calling thread for each sample as it is taken.
Result<SoakResult> RunSoak(const SoakConfig& config,
                           const std::function<void(const SoakSample&)>& on_sample);

// Adds `soak` to the `bench` command (bench_soak_command.cc).
void RegisterSoakBench(CLI::App* bench, CliContext& ctx);

}  // namespace cairn::cli
