// The live-subscription benchmark behind `cairn bench subscribe --server …`: `subscribers` live
// subscriptions on "$all" (each on its own connection, started from the end of the log and
// caught up before the clock starts) while `clients` appenders (own connections) append batches
// at a paced total of `rate` events/s for `duration_s`. Each subscriber checks that it receives
// every appended event exactly once, in position order, and measures append→delivery latency
// (optionally beside `replayers` that replay the whole log with a filter matching nothing)
// (the event's recorded_at_ns, stamped by the server when it sequences the event, to its receipt
// by the subscriber; server and client share the machine's clock).
//
// Memory is bounded: latencies go into a fixed histogram per subscriber, not a list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cairn/client.h"
#include "cli/bench_load.h"
#include "cli/context.h"
#include "common/status.h"

namespace cairn::cli {

struct SubscribeBenchConfig {
  ClientOptions client;
  uint32_t subscribers = 16;
  uint32_t clients = 8;          // appenders
  uint32_t batch = 100;          // events per append
  uint64_t rate = 50000;         // target events/s, all appenders together
  size_t event_size_bytes = 256;
  double duration_s = 10;
  double drain_s_max = 30;       // after the appends: how long subscribers may take to finish
  // Subscriptions on "$all" (own connections) that replay the log from position 0 with a type
  // filter that matches nothing, and start again each time they catch up, for as long as the
  // appends run: history replays beside the live subscribers (their scans share the server's
  // delivery threads). 0: none.
  uint32_t replayers = 0;
};

struct SubscriberResult {
  uint64_t received = 0;
  bool kept_up = false;   // received every appended event, in order, without an error
  std::string error;      // how it ended early, if it did
};

struct SubscribeBenchResult {
  uint64_t appended = 0;
  double append_seconds = 0;
  LatencyStats append_call;     // per Append call
  LatencyStats delivery;        // append → delivery, over every subscriber's events
  double delivery_seconds = 0;  // from the first append to the last delivery
  uint64_t replays = 0;         // full replays the replayers finished meanwhile
  std::string replayer_error;   // the first replayer that stopped early, why ("" none)
  std::vector<SubscriberResult> subscribers;
  bool all_kept_up() const;  // and no replayer stopped early
  uint64_t delivered() const;
};

Result<SubscribeBenchResult> RunSubscribeBench(const SubscribeBenchConfig& config);

// Adds `subscribe` to the `bench` command (bench_subscribe_command.cc).
void RegisterSubscribeBench(CLI::App* bench, CliContext& ctx);

}  // namespace cairn::cli
