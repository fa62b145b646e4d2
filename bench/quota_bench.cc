// What an append quota (server/append_quota.h) costs an append: ChargeAppendQuota for a caller
// without a quota (the policy lookup only) against one with a quota, one principal from every
// thread (one shard's mutex, the worst case) and a principal per thread. A charge is made once per
// append call, before the engine sees it, so compare these with the append itself (tens of µs).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "policy/parse.h"
#include "server/append_quota.h"
#include "server/call_gate.h"

namespace cairn::bench {
namespace {

// Rates no benchmark reaches: every charge is admitted (the admitted path is the common one).
constexpr char kPolicy[] = R"(
[[quota]]
principal = "jwt:svc-*"
append_events_per_s = 1073741824
append_bytes_per_s = 1099511627776
)";

server::AppendQuotas& Quotas() {
  static server::AppendQuotas quotas;
  return quotas;
}

server::CallIdentity Identity(const std::string& principal_id) {
  server::CallIdentity id;
  id.principal.id = principal_id;
  id.quotas = &Quotas();
  id.policy = policy::ParsePolicy(kPolicy, "bench.toml").value();
  id.resolved = id.policy->Resolve(id.principal);
  return id;
}

void Charge(benchmark::State& state, const std::string& principal_id) {
  const server::CallIdentity id = Identity(principal_id);
  for (auto _ : state) {
    benchmark::DoNotOptimize(server::ChargeAppendQuota(id, "orders-1", 100, 25'600));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Quota_NoQuota(benchmark::State& state) { Charge(state, "apikey:admin"); }
BENCHMARK(BM_Quota_NoQuota)->Threads(1)->Threads(4);

void BM_Quota_OnePrincipal(benchmark::State& state) { Charge(state, "jwt:svc-orders"); }
BENCHMARK(BM_Quota_OnePrincipal)->Threads(1)->Threads(4);

void BM_Quota_PrincipalPerThread(benchmark::State& state) {
  Charge(state, "jwt:svc-" + std::to_string(state.thread_index()));
}
BENCHMARK(BM_Quota_PrincipalPerThread)->Threads(4);

}  // namespace
}  // namespace cairn::bench
