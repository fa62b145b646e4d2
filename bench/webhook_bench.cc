// Webhook deliveries per second to a loopback HTTPS receiver (OpenSSL, keep-alive), through the
// real dispatcher: CloudEvents body, Standard Webhooks signature, libcurl with certificate
// verification and the SSRF guard on every new connection. Bounded: 2,000 events per webhook,
// at most 120 s. Args: number of webhooks on $all (each receives every event).
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "../tests/integration/webhook_receiver.h"
#include "bench_util.h"
#include "policy/parse.h"
#include "subscribe/webhook_dispatcher.h"

namespace cairn::bench {
namespace {

constexpr size_t kEvents = 2000;
constexpr int64_t kTimeoutMs = 120000;
constexpr char kPolicy[] = R"(
[[role]]
name = "hook"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "apikey:bench"
roles = ["hook"]
)";

void BM_WebhookDeliveries(benchmark::State& state) {
  const size_t hooks = static_cast<size_t>(state.range(0));
  const std::string dir = FreshDir("webhook");
  engine::InitOptions init;
  init.data_dir = dir;
  if (!engine::EventStore::Init(init).ok()) return state.SkipWithError("init failed");
  engine::Options options;
  options.data_dir = dir;
  auto store = engine::EventStore::Open(options);
  if (!store.ok()) return state.SkipWithError("open failed");
  policy::PolicyHolder policies("");
  policies.Install(policy::ParsePolicy(kPolicy, "bench").value());
  crypto::KeyAndCert ca = testing::MakeReceiverCa();
  testing::Receiver receiver(testing::MakeReceiverPair(ca));
  const std::string ca_file = dir + "/receiver-ca.pem";
  std::ofstream(ca_file) << ca.cert_pem;
  subscribe::DispatcherOptions d;
  d.sender.ca_file = ca_file;
  d.workers = 4;
  subscribe::WebhookDispatcher dispatcher(store->get(), &policies, d);
  if (!dispatcher.Start().ok()) return state.SkipWithError("dispatcher failed");
  for (size_t i = 0; i < hooks; ++i) {
    subscribe::WebhookCreate create;
    create.def.name = "bench" + std::to_string(i);
    create.def.url = receiver.Url();
    create.def.source = "$all";
    create.def.allow_addresses = {"127.0.0.1"};
    create.def.creator = Principal{"apikey:bench", {}, AuthMethod::kApiKey, 0, ""};
    create.start = 0;
    if (!dispatcher.Create(std::move(create)).ok()) return state.SkipWithError("create failed");
  }
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t n = 0; n < kEvents; n += 100) {
      if (!(*store)->Append("bench-" + std::to_string(n % 7), engine::ExpectedVersion::Any(),
                            Batch(100, 256, n)).ok()) {
        return state.SkipWithError("append failed");
      }
    }
    const size_t want = kEvents * hooks;
    receiver.WaitFor(want, kTimeoutMs);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(seconds);
    state.counters["deliveries"] = static_cast<double>(receiver.count());
    state.counters["deliveries_per_s"] = static_cast<double>(receiver.count()) / seconds;
    if (receiver.count() < want) state.SkipWithError("not every event was delivered in time");
  }
  dispatcher.Stop();
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WebhookDeliveries)->Arg(1)->Arg(4)->Iterations(1)->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cairn::bench
