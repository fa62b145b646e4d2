// The cost of field-level protection (issue 4): the same 256-byte JSON events appended and read
// with and without a protection rule (3 protected fields, subject /customerId cycling over 1,000
// subjects), and the subject key cache: its hit rate on that workload and the cost of a miss
// against the local and the PKCS#11 (SoftHSMv2) KMS provider. Run the pairs interleaved in one
// process, so that the machine's load hits both sides alike, e.g.
//   cairn_bench --benchmark_filter='Protect|Plain|SubjectKey' --benchmark_repetitions=7
//               --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// Targets: Protect_Append_Batch100 >= 0.7 x Plain_Append_Batch100; Protect_ReadReveal >= 0.7 x
// Plain_ReadAll (items_per_second). BM_ProtectEventOnly / BM_RevealEventOnly time protect/ alone
// per event (no store), splice path against the DOM path.
#include <benchmark/benchmark.h>
#include <rocksdb/env.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cli/bench_load.h"
#include "engine/event_store.h"
#include "keys/local_kms.h"
#include "keys/pkcs11_kms.h"
#include "keys/subject_keys.h"
#include "protect/protector.h"
#include "protect/protector_paths.h"
#include "protect/rules.h"
#include "storage/rocksdb/rocks_log_store.h"

namespace cairn::bench {
namespace {

constexpr size_t kEventSizeBytes = 256;
constexpr uint64_t kSubjects = cli::kCustomerSubjects;
constexpr const char* kEventType = cli::kCustomerEventType;
constexpr char kRules[] =
    "[[rule]]\n"
    "event_type = \"CustomerRegistered\"\n"
    "subject = \"/customerId\"\n"
    "fields = [\"/email\", \"/name\", \"/street\"]\n";

// {"customerId":"c-<k>","email":…,"name":…,"street":…,"pad":"xx…"} of exactly 256 bytes: the
// same events as `cairn bench append --payload customer` (bench/protect_net_bench.sh).
std::string CustomerJson(uint64_t k) { return cli::CustomerEventData(k, kEventSizeBytes); }

// `events` events for subjects first_k, first_k+1, … (mod 1,000).
std::vector<engine::ProposedEvent> CustomerBatch(size_t events, uint64_t first_k) {
  std::vector<engine::ProposedEvent> v(events);
  for (size_t i = 0; i < events; ++i) {
    v[i].event_type = kEventType;
    v[i].data = CustomerJson((first_k + i) % kSubjects);
  }
  return v;
}

// The 1,000 events (one per subject) in batches of `batch`, made once.
const std::vector<std::vector<engine::ProposedEvent>>& Batches(size_t batch) {
  static std::mutex mu;
  static std::vector<std::vector<std::vector<engine::ProposedEvent>>> cache(101);
  std::lock_guard<std::mutex> lock(mu);
  auto& b = cache.at(batch);
  if (b.empty()) {
    for (uint64_t k = 0; k < kSubjects; k += batch) b.push_back(CustomerBatch(batch, k));
  }
  return b;
}

std::string RulesFile() {
  static const std::string path = [] {
    const std::string dir = FreshDir("protect-rules");
    std::filesystem::create_directories(dir);
    const std::string p = dir + "/rules.toml";
    std::ofstream(p) << kRules;
    ::chmod(p.c_str(), 0600);
    return p;
  }();
  return path;
}

engine::Options StoreOptions(bool protect) {
  engine::Options o;
  if (protect) o.protect_rules_file = RulesFile();
  return o;
}

void CloseProtectStores();
constexpr int kCloseRegistrationsMax = 1000;
// Closes the stores at exit, before the destructors of statics constructed earlier (RocksDB's,
// some made lazily by the stores themselves): atexit handlers and static destructors run in
// reverse order, so a handler is registered again after each benchmark run (it is idempotent).
void RegisterClose() {
  static std::atomic<int> registered{0};
  if (registered.fetch_add(1) >= kCloseRegistrationsMax) return;
  (void)rocksdb::Env::Default();
  std::atexit(CloseProtectStores);
}

// One open store at a time, shared by the threads of a run. Data directories are wiped the first
// time this process uses them; later runs of the same name (repetitions) reopen and reuse them.
class OneStore {
 public:
  engine::EventStore* Get(const std::string& name, bool protect) {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_ && name_ == name) return store_.get();
    RegisterClose();
    store_.reset();
    engine::Options options = StoreOptions(protect);
    const std::string base = std::getenv("CAIRN_BENCH_DIR") ? std::getenv("CAIRN_BENCH_DIR") : "/tmp";
    options.data_dir = base + "/cairn-bench-" + name;
    if (wiped_.insert(name).second) options.data_dir = FreshDir(name);
    if (!std::filesystem::exists(options.data_dir) &&
        !engine::EventStore::Init({options.data_dir, "bench.local/protect", {}, std::nullopt}).ok()) {
      std::abort();
    }
    auto s = engine::EventStore::Open(options);
    if (!s.ok()) {
      std::fprintf(stderr, "open %s: %s\n", name.c_str(), s.status().ToString().c_str());
      std::abort();
    }
    store_ = std::move(s).value();
    name_ = name;
    return store_.get();
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    store_.reset();
    name_.clear();
  }

 private:
  std::mutex mu_;
  std::string name_;
  std::set<std::string> wiped_;
  std::unique_ptr<engine::EventStore> store_;
};

OneStore g_store;

// ---- Appends: durable (sync on), group commit, like BM_Append_Batch100 / BM_Append_Single.

void AppendLoop(benchmark::State& state, bool protect, size_t batch) {
  const std::string name = std::string(protect ? "protect" : "plain") + "-append" +
                           std::to_string(batch) + "-" + std::to_string(state.threads());
  engine::EventStore* store = g_store.Get(name, protect);
  const std::string stream = "bench-" + std::to_string(state.thread_index());
  const auto& batches = Batches(batch);
  size_t next = static_cast<size_t>(state.thread_index()) * 7;
  uint64_t n = 0;
  for (auto _ : state) {
    auto r = store->Append(stream, engine::ExpectedVersion::Any(), batches[next % batches.size()]);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    ++next;
    n += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.SetBytesProcessed(static_cast<int64_t>(n * kEventSizeBytes));
  RegisterClose();
}

void BM_Plain_Append_Batch100(benchmark::State& state) { AppendLoop(state, false, 100); }
void BM_Protect_Append_Batch100(benchmark::State& state) { AppendLoop(state, true, 100); }
BENCHMARK(BM_Plain_Append_Batch100)->Threads(4)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_Protect_Append_Batch100)->Threads(4)->UseRealTime()->MinTime(3.0);

void BM_Plain_Append_Single(benchmark::State& state) { AppendLoop(state, false, 1); }
void BM_Protect_Append_Single(benchmark::State& state) { AppendLoop(state, true, 1); }
BENCHMARK(BM_Plain_Append_Single)->Threads(16)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Protect_Append_Single)->Threads(16)->UseRealTime()->MinTime(2.0);

// ---- Reads: ReadAll of N events (pages of 10,000); with protection, then Reveal on each.

constexpr uint64_t kReadEvents = 100'000;
constexpr uint64_t kReadPage = 10'000;

engine::EventStore* Populated(bool protect) {
  engine::EventStore* store = g_store.Get(protect ? "protect-read" : "plain-read", protect);
  for (uint64_t n = store->tree_size(); n < kReadEvents; n += 1000) {
    auto r = store->Append("s-" + std::to_string(n % 97), engine::ExpectedVersion::Any(),
                           CustomerBatch(1000, n));
    if (!r.ok()) {
      std::fprintf(stderr, "populate: %s\n", r.status().ToString().c_str());
      std::abort();
    }
  }
  return store;
}

// reveal: 0 = none (stored form), 1 = RevealMany with read.pii (plaintext), 2 = masked.
// With several threads (readers), each reads the whole log, as concurrent ReadAll calls of a
// server do; items_per_second is then their total.
void ReadLoop(benchmark::State& state, bool protect, int reveal) {
  static std::mutex populate_mu;
  engine::EventStore* store = nullptr;
  {
    std::lock_guard<std::mutex> lock(populate_mu);
    store = Populated(protect);
  }
  uint64_t read = 0;
  for (auto _ : state) {
    for (uint64_t p = 0; p < kReadEvents; p += kReadPage) {
      auto r = store->ReadAll(p, kReadPage);
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
      read += r->size();
      if (reveal == 0) {
        benchmark::DoNotOptimize(r->data());
        continue;
      }
      // As the server does: every event of the page revealed in one RevealMany (two threads).
      const std::vector<engine::FieldView> views(
          r->size(), reveal == 1 ? engine::FieldView::kPlain : engine::FieldView::kMasked);
      if (Status s = store->RevealMany(*r, views); !s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
      benchmark::DoNotOptimize(r->back().data.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(read));
  RegisterClose();
}

void BM_Plain_ReadAll(benchmark::State& state) { ReadLoop(state, false, 0); }
void BM_Protect_ReadReveal(benchmark::State& state) { ReadLoop(state, true, 1); }
void BM_Protect_ReadMask(benchmark::State& state) { ReadLoop(state, true, 2); }
void BM_Protect_ReadStored(benchmark::State& state) { ReadLoop(state, true, 0); }
BENCHMARK(BM_Plain_ReadAll)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Protect_ReadReveal)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Protect_ReadMask)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Protect_ReadStored)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
// Two readers at once (the end-to-end benchmark's two ReadAll clients): shared caches contend.
BENCHMARK(BM_Plain_ReadAll)->Threads(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Protect_ReadReveal)->Threads(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// ---- The subject key cache, measured on keys::SubjectKeys directly (the engine owns its own
// SubjectKeys and does not expose its cache statistics). Default cache options, as the engine's.

int RunTool(std::vector<std::string> args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* null = std::fopen("/dev/null", "w");
    if (null != nullptr) {
      ::dup2(::fileno(null), 1);
      ::dup2(::fileno(null), 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

constexpr char kSoftHsm[] = "/usr/lib/softhsm/libsofthsm2.so";

// A RocksLogStore + KMS + SubjectKeys with one key per subject (c-0 … c-999).
struct KeyFixture {
  std::unique_ptr<keys::KmsProvider> kms;
  std::unique_ptr<storage::LogStore> store;
  std::unique_ptr<keys::SubjectKeys> keys;
  std::vector<std::string> kids;  // kids[k]: the key of subject c-k
  std::string error;

  void Close() {
    keys.reset();
    store.reset();
    kms.reset();
  }
};

// Opens the store and SubjectKeys in `dir` over `kms`. Setup puts are not synced (sync = false):
// that only speeds up creating the 1,000 keys; a miss is a read (RocksDB get + KMS unwrap).
void OpenKeys(KeyFixture* f, const std::string& dir, bool create_subjects) {
  storage::RocksOptions o;
  o.path = dir + "/db";
  o.create_if_missing = true;
  o.sync = false;
  auto store = storage::OpenRocksLogStore(o);
  if (!store.ok()) {
    f->error = "store: " + store.status().ToString();
    return;
  }
  f->store = std::move(store).value();
  auto keys = keys::SubjectKeys::Open(f->store.get(), f->kms.get());
  if (!keys.ok()) {
    f->error = "subject keys: " + keys.status().ToString();
    return;
  }
  f->keys = std::move(keys).value();
  if (!create_subjects) return;
  for (uint64_t k = 0; k < kSubjects; ++k) {
    auto key = f->keys->KeyForWrite("c-" + std::to_string(k));
    if (!key.ok()) {
      f->error = "key for write: " + key.status().ToString();
      return;
    }
    f->kids.push_back(key->kid);
  }
}

KeyFixture* g_local = nullptr;   // created on first use, closed at exit
KeyFixture* g_pkcs11 = nullptr;

KeyFixture* LocalFixture() {
  static KeyFixture* f = g_local = [] {
    RegisterClose();
    auto* fx = new KeyFixture;
    const std::string dir = FreshDir("protect-keys-local");
    std::filesystem::create_directories(dir);
    auto kms = keys::LocalKms::Create(dir + "/keyring");
    if (!kms.ok()) {
      fx->error = "local kms: " + kms.status().ToString();
      return fx;
    }
    fx->kms = std::move(kms).value();
    OpenKeys(fx, dir, true);
    return fx;
  }();
  return f;
}

KeyFixture* Pkcs11Fixture() {
  static KeyFixture* f = g_pkcs11 = [] {
    RegisterClose();
    auto* fx = new KeyFixture;
    if (::access(kSoftHsm, R_OK) != 0) {
      fx->error = std::string(kSoftHsm) + " is not installed";
      return fx;
    }
    const std::string dir = FreshDir("protect-keys-p11");
    const std::string tokens = dir + "/tokens";
    std::filesystem::create_directories(tokens);
    const std::string conf = dir + "/softhsm2.conf";
    std::ofstream(conf) << "directories.tokendir = " << tokens
                        << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    if (RunTool({"softhsm2-util", "--init-token", "--free", "--label", "cairn-bench", "--pin",
                 "1234", "--so-pin", "5678"}) != 0) {
      fx->error = "softhsm2-util --init-token failed";
      return fx;
    }
    const std::string pin = dir + "/pin";
    std::ofstream(pin) << "1234\n";
    ::chmod(pin.c_str(), 0600);
    keys::Pkcs11Options o;
    o.module_path = kSoftHsm;
    o.token_label = "cairn-bench";
    o.pin_file = pin;
    o.key_label = "cairn-kek";
    o.create_key_if_missing = true;
    auto kms = keys::Pkcs11Kms::Open(o);
    if (!kms.ok()) {
      fx->error = "pkcs11 kms: " + kms.status().ToString();
      return fx;
    }
    fx->kms = std::move(kms).value();
    OpenKeys(fx, dir, true);
    return fx;
  }();
  return f;
}

// Every KeyForRead is a miss: ClearCache() and then one read of each of the 1,000 kids.
void MissLoop(benchmark::State& state, KeyFixture* f) {
  if (!f->error.empty()) {
    state.SkipWithError(f->error.c_str());
    return;
  }
  const keys::KeyCacheStats before = f->keys->cache_stats();
  uint64_t reads = 0;
  for (auto _ : state) {
    f->keys->ClearCache();
    for (const std::string& kid : f->kids) {
      auto k = f->keys->KeyForRead(kid);
      if (!k.ok()) {
        state.SkipWithError(k.status().ToString().c_str());
        return;
      }
      benchmark::DoNotOptimize(k->key.get());
    }
    reads += f->kids.size();
  }
  const keys::KeyCacheStats after = f->keys->cache_stats();
  const double hits = static_cast<double>(after.hits - before.hits);
  const double misses = static_cast<double>(after.misses - before.misses);
  state.SetItemsProcessed(static_cast<int64_t>(reads));
  // Microseconds per miss: time / (reads / 1e6).
  state.counters["us_per_miss"] = benchmark::Counter(
      static_cast<double>(reads) / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["miss_share"] = hits + misses > 0 ? misses / (hits + misses) : 0.0;
  RegisterClose();
}

void BM_SubjectKeyMiss_Local(benchmark::State& state) { MissLoop(state, LocalFixture()); }
void BM_SubjectKeyMiss_Pkcs11(benchmark::State& state) { MissLoop(state, Pkcs11Fixture()); }
BENCHMARK(BM_SubjectKeyMiss_Local)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_SubjectKeyMiss_Pkcs11)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(1.0);

// The cache's hit rate on the benchmarks' workload, from a fresh SubjectKeys (local KMS, default
// cache: 10,000 entries, 5 min TTL): the append path (KeyForWrite of 100,000 events, subject
// cycling over 1,000, keys created on first use) and the read path after a restart (cold cache:
// KeyForRead of the same 100,000 events' kids).
void BM_SubjectKeyCache_HitRate(benchmark::State& state) {
  const uint64_t events = kReadEvents;
  double write_rate = 0, read_rate = 0;
  for (auto _ : state) {
    state.PauseTiming();
    KeyFixture f;
    const std::string dir = FreshDir("protect-keys-hitrate");
    std::filesystem::create_directories(dir);
    auto kms = keys::LocalKms::Create(dir + "/keyring");
    if (!kms.ok()) {
      state.SkipWithError(kms.status().ToString().c_str());
      return;
    }
    f.kms = std::move(kms).value();
    OpenKeys(&f, dir, false);
    if (!f.error.empty()) {
      state.SkipWithError(f.error.c_str());
      return;
    }
    state.ResumeTiming();
    std::vector<std::string> kids(kSubjects);
    for (uint64_t n = 0; n < events; ++n) {
      auto k = f.keys->KeyForWrite("c-" + std::to_string(n % kSubjects));
      if (!k.ok()) {
        state.SkipWithError(k.status().ToString().c_str());
        return;
      }
      kids[n % kSubjects] = k->kid;
    }
    const keys::KeyCacheStats w = f.keys->cache_stats();
    write_rate = w.hit_rate();
    f.keys->ClearCache();  // as after a restart
    for (uint64_t n = 0; n < events; ++n) {
      auto k = f.keys->KeyForRead(kids[n % kSubjects]);
      if (!k.ok()) {
        state.SkipWithError(k.status().ToString().c_str());
        return;
      }
    }
    const keys::KeyCacheStats r = f.keys->cache_stats();
    const uint64_t hits = r.hits - w.hits, misses = r.misses - w.misses;
    read_rate = hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
    state.PauseTiming();
    f.Close();
    state.ResumeTiming();
  }
  state.counters["hit_rate_append"] = write_rate;
  state.counters["hit_rate_read"] = read_rate;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events * 2));
}
BENCHMARK(BM_SubjectKeyCache_HitRate)->Unit(benchmark::kMillisecond)->Iterations(1);

// ---- protect/ alone, per event, on the same events and the local fixture's subject keys (all
// cached): the splice path (json_scan.h) against the DOM path it replaced as the default, with the
// engine's reuse of AES-GCM contexts (CipherCache). Arg 1 = splice path, 0 = DOM path.

struct ProtectOnly {
  std::shared_ptr<const protect::RuleSet> rules;
  std::vector<std::string> data, ids, stored;
  protect::CipherCache ciphers;
  std::string error;
};

ProtectOnly* ProtectOnlyFixture() {
  static ProtectOnly* f = [] {
    auto* fx = new ProtectOnly;
    KeyFixture* keys = LocalFixture();
    if (!keys->error.empty()) {
      fx->error = keys->error;
      return fx;
    }
    auto rules = protect::ParseRules(kRules, "bench");
    if (!rules.ok()) {
      fx->error = rules.status().ToString();
      return fx;
    }
    fx->rules = *rules;
    for (uint64_t k = 0; k < kSubjects; ++k) {
      fx->data.push_back(CustomerJson(k));
      fx->ids.push_back(engine::NewUuidV4());
      auto stored = protect::ProtectEvent(*fx->rules->Find(kEventType), "bench", fx->ids.back(),
                                          fx->data.back(), "", *keys->keys, &fx->ciphers);
      if (!stored.ok()) {
        fx->error = stored.status().ToString();
        return fx;
      }
      fx->stored.push_back(*stored);
    }
    return fx;
  }();
  return f;
}

void BM_ProtectEventOnly(benchmark::State& state) {
  ProtectOnly* f = ProtectOnlyFixture();
  if (!f->error.empty()) return state.SkipWithError(f->error.c_str());
  const protect::Rule& rule = *f->rules->Find(kEventType);
  keys::SubjectKeys& keys = *LocalFixture()->keys;
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ % kSubjects;
    Result<std::string> out = std::string();
    if (state.range(0) == 1) {
      out = protect::ProtectEvent(rule, "bench", f->ids[k], f->data[k], "", keys, &f->ciphers);
    } else {
      out = protect::internal::ProtectWithDom(rule, "bench", f->ids[k], f->data[k], "", keys,
                                              &f->ciphers);
    }
    if (!out.ok()) return state.SkipWithError(out.status().ToString().c_str());
    benchmark::DoNotOptimize(out->data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}

// Arg 0: 1 = splice, 0 = DOM; arg 1: 1 = read.pii (plaintext), 0 = masked.
void BM_RevealEventOnly(benchmark::State& state) {
  ProtectOnly* f = ProtectOnlyFixture();
  if (!f->error.empty()) return state.SkipWithError(f->error.c_str());
  const protect::Rule& rule = *f->rules->Find(kEventType);
  keys::SubjectKeys& keys = *LocalFixture()->keys;
  const bool pii = state.range(1) == 1;
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ % kSubjects;
    Result<protect::ReadView> out = protect::ReadView();
    if (state.range(0) == 1) {
      out = protect::RevealEvent(rule, "bench", f->ids[k], f->stored[k], pii, keys, &f->ciphers);
    } else {
      out = protect::internal::RevealWithDom(rule, "bench", f->ids[k], f->stored[k], pii, keys,
                                             &f->ciphers);
    }
    if (!out.ok()) return state.SkipWithError(out.status().ToString().c_str());
    benchmark::DoNotOptimize(out->data_json.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_ProtectEventOnly)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RevealEventOnly)->Args({1, 1})->Args({0, 1})->Args({1, 0})->Args({0, 0})
    ->Unit(benchmark::kMicrosecond);

void CloseProtectStores() {
  g_store.Reset();
  if (g_local != nullptr) g_local->Close();
  if (g_pkcs11 != nullptr) g_pkcs11->Close();
}

}  // namespace
}  // namespace cairn::bench
