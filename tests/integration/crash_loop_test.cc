// Crash loop (issue 7): 16 clients, each its own TLS connection with an API key, append batches
// of 1-5 events to a real `cairn serve`, which is killed with SIGKILL at a random moment of the
// load, 20 times on the same data directory. Between the kill and the restart `cairn verify`
// checks the directory offline. After each restart the whole log is read back and held against
// a ledger of everything the clients sent:
// - every acknowledged batch is at its acknowledged positions and versions, with its ids, types,
//   data and metadata; stream versions are gap-free and every stream chain links;
// - a batch whose outcome the client does not know (cut by the kill) is wholly present
//   (contiguous, in order) or wholly absent, and stays so in later rounds; re-sent as it was
//   after the restart, it is answered as an idempotent replay of itself when present;
// - a batch the server refused (wrong expected version) is absent; nothing else is in the log;
// - every checkpoint a client obtained (during the load, and after the previous restart) is
//   consistent with the restarted server's tree, and every checkpoint is signed by the key
//   pinned before the first crash; the new checkpoint's root is the root of the leaves read.
// PostgresAcknowledgedAppendsSurviveSigkillUnderLoad runs the same with the log in PostgreSQL
// (tests/pg/pg_test_server.h), 6 kills.
// The seed (CAIRN_CRASH_SEED to repeat one) picks the kill moments and the batch mix; the
// interleaving of the 16 clients is up to the scheduler.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "crypto/sha256.h"
#include "engine/types.h"
#include "integrity/checkpoint.h"
#include "integrity/merkle.h"
#include "log_check.h"
#include "pg/pg_test_server.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr int kRounds = 20;
constexpr int kPostgresRounds = 6;  // each PostgreSQL round costs more (restart, verify)
constexpr int kClients = 16;
constexpr int kSharedStreams = 4;
constexpr int kLoadMsMin = 200;
constexpr int kLoadMsMax = 1500;
constexpr int kFirstAckWaitMs = 20000;
constexpr int kBatchesPerClientRoundMax = 5000;
constexpr int kEventsPerBatchMax = 5;
constexpr int kPaddingBytesMax = 200;
constexpr int kCheckpointPollMs = 100;
constexpr size_t kCheckpointsPerRoundMax = 32;
constexpr uint64_t kLogEventsMax = 4'000'000;

std::string OwnStream(int client) { return "crash-own-" + std::to_string(client); }
std::string SharedStream(uint64_t i) { return "crash-shared-" + std::to_string(i); }

// ---- the ledger: what the clients sent and what they were told ---------------------------------

enum class Outcome { kAcked, kUnknown, kAbsent };

struct Batch {
  v1::AppendRequest request;
  Outcome outcome = Outcome::kUnknown;
  bool refused = false;         // kAbsent because the server answered WRONG_EXPECTED_VERSION
  bool cut = false;             // the kill cut it: the client never learned its outcome
  uint64_t first_position = 0;  // kAcked: acknowledged, or found wholly present after a crash
  uint64_t first_version = 0;
};

struct RoundCounts {
  uint64_t acked_batches = 0, acked_events = 0, refused = 0;
  uint64_t unknown = 0, unknown_present = 0, unknown_absent = 0;
  uint64_t resent_replayed = 0, resent_appended = 0, resent_refused = 0;
};

// The expected first version of an append with `expected` (nullopt: ANY or a kind not used here).
std::optional<uint64_t> ExpectedFirstVersion(const v1::ExpectedVersion& expected) {
  if (expected.kind() == v1::ExpectedVersion::NO_STREAM) return 0;
  if (expected.kind() == v1::ExpectedVersion::EXACT) return expected.version() + 1;
  return std::nullopt;
}

// One client's load in one round (its thread's body is Run). Not thread-safe: one thread.
class Appender {
 public:
  Appender(int client, int round, uint64_t seed, Versions known, std::unique_ptr<Client> conn)
      : client_(client),
        round_(round),
        rng_(seed),
        known_(std::move(known)),
        conn_(std::move(conn)) {}

  // Appends until `stop` (set just before the kill) or an error that ends the connection.
  void Run(const std::atomic<bool>& stop, std::atomic<uint64_t>* acks) {
    for (int i = 0; i < kBatchesPerClientRoundMax && !stop.load(); ++i) {
      Batch batch{NextRequest(i)};
      auto result = conn_->Append(batch.request);
      if (result.ok()) acks->fetch_add(1);
      if (!Record(std::move(batch), result, stop.load())) return;
    }
  }

  std::vector<Batch> batches;
  Errors errors;  // errors before the kill, a refused own-stream batch, a malformed answer

 private:
  v1::AppendRequest NextRequest(int seq) {
    v1::AppendRequest request;
    const uint64_t pick = rng_() % 100;
    const bool own = pick < 45;
    request.set_stream(own ? OwnStream(client_) : SharedStream(rng_() % kSharedStreams));
    if (own || pick >= 80) SetExpected(request);  // else ANY (the default kind)
    const int events = 1 + static_cast<int>(rng_() % kEventsPerBatchMax);
    for (int e = 0; e < events; ++e) {
      v1::ProposedEvent* event = request.add_events();
      event->set_id(engine::NewUuidV4());
      event->set_type(rng_() % 2 ? "CrashA" : "CrashB");
      event->set_data("{\"r\":" + std::to_string(round_) + ",\"c\":" + std::to_string(client_) +
                      ",\"s\":" + std::to_string(seq) + ",\"e\":" + std::to_string(e) +
                      ",\"p\":\"" + std::string(rng_() % kPaddingBytesMax, 'x') + "\"}");
      if (rng_() % 4 == 0) event->set_metadata("{\"m\":" + std::to_string(seq) + "}");
    }
    return request;
  }

  void SetExpected(v1::AppendRequest& request) const {
    const int64_t version = KnownVersion(known_, request.stream());
    auto* expected = request.mutable_expected();
    expected->set_kind(version < 0 ? v1::ExpectedVersion::NO_STREAM : v1::ExpectedVersion::EXACT);
    if (version >= 0) expected->set_version(static_cast<uint64_t>(version));
  }

  // Files the batch under its outcome; false when this client should stop.
  bool Record(Batch batch, const Result<v1::AppendResponse>& result, bool stopping) {
    const std::string& stream = batch.request.stream();
    if (result.ok()) {
      CheckAnswer(batch.request, *result);
      batch.outcome = Outcome::kAcked;
      batch.first_position = result->first_position();
      batch.first_version = result->first_version();
      known_[stream] = static_cast<int64_t>(result->last_version());
    } else if (result.status().code() == StatusCode::kWrongExpectedVersion) {
      if (stream == OwnStream(client_)) {
        errors.Add("own stream refused: " + result.status().ToString());
      }
      batch.outcome = Outcome::kAbsent;
      batch.refused = true;
      known_[stream] = result.status().detail().value_or(-1);
    } else if (stopping) {
      batch.cut = true;
    } else {
      errors.Add("client " + std::to_string(client_) +
                 " before the kill: " + result.status().ToString());
    }
    const bool go_on = result.ok() || batch.refused;
    batches.push_back(std::move(batch));
    return go_on;
  }

  void CheckAnswer(const v1::AppendRequest& request, const v1::AppendResponse& answer) {
    const uint64_t n = static_cast<uint64_t>(request.events_size());
    const auto first_version = ExpectedFirstVersion(request.expected());
    if (answer.idempotent_replay() || answer.last_position() != answer.first_position() + n - 1 ||
        answer.last_version() != answer.first_version() + n - 1 ||
        (first_version && *first_version != answer.first_version())) {
      errors.Add("malformed answer to an append of " + std::to_string(n) + " to " +
                 request.stream() + ": " + answer.ShortDebugString());
    }
  }

  const int client_;
  const int round_;
  std::mt19937_64 rng_;
  Versions known_;
  std::unique_ptr<Client> conn_;
};

// ---- the log as read back after a restart (log_check.h reads and indexes it) -----------------

// The batch's events at first_position.. with its stream, versions, ids, types and bytes;
// "" when they are, else what differs.
std::string BatchMismatch(const Batch& b, const LogView& log) {
  const auto& events = b.request.events();
  for (int i = 0; i < events.size(); ++i) {
    const uint64_t position = b.first_position + static_cast<uint64_t>(i);
    if (position >= log.events.size()) {
      return "position " + std::to_string(position) + " is past the log";
    }
    const v1::RecordedEvent& got = log.events[position];
    const v1::ProposedEvent& sent = events[i];
    if (got.stream() != b.request.stream() ||
        got.version() != b.first_version + static_cast<uint64_t>(i) || got.id() != sent.id() ||
        got.type() != sent.type() || got.data() != sent.data() ||
        got.metadata() != sent.metadata()) {
      return "event " + std::to_string(i) + " of a batch to " + b.request.stream() +
             " differs at " + At(got);
    }
  }
  return "";
}

// How many of the batch's event ids the log holds; the position of its first event if held.
size_t IdsPresent(const Batch& b, const LogView& log, std::optional<uint64_t>* first) {
  size_t present = 0;
  for (int i = 0; i < b.request.events_size(); ++i) {
    auto it = log.position_of_id.find(b.request.events(i).id());
    if (it == log.position_of_id.end()) continue;
    if (i == 0) *first = it->second;
    ++present;
  }
  return present;
}

// An unknown batch: wholly present (then acked where found) or wholly absent.
void Resolve(Batch& b, const LogView& log, RoundCounts* counts, Errors* errors) {
  std::optional<uint64_t> first;
  const size_t present = IdsPresent(b, log, &first);
  if (present == 0) {
    b.outcome = Outcome::kAbsent;
    ++counts->unknown_absent;
    return;
  }
  if (present != static_cast<size_t>(b.request.events_size()) || !first) {
    return errors->Add("unacknowledged batch to " + b.request.stream() +
                       " partly visible: " + std::to_string(present) + " of " +
                       std::to_string(b.request.events_size()) + " events");
  }
  b.outcome = Outcome::kAcked;
  b.first_position = *first;
  b.first_version = log.events[*first].version();
  ++counts->unknown_present;
  const std::string mismatch = BatchMismatch(b, log);
  if (!mismatch.empty()) errors->Add("unacknowledged batch present out of order: " + mismatch);
}

// Holds the log against every batch; resolves the unknown ones. Nothing outside the ledger may
// be in the log (apart from '$' system streams).
void CheckLedger(std::vector<Batch>& ledger, const LogView& log, RoundCounts* counts,
                 Errors* errors) {
  uint64_t claimed = 0;
  for (Batch& b : ledger) {
    if (b.outcome == Outcome::kUnknown) Resolve(b, log, counts, errors);
    if (b.outcome == Outcome::kAcked) {
      const std::string mismatch = BatchMismatch(b, log);
      if (!mismatch.empty()) errors->Add("acknowledged batch lost or moved: " + mismatch);
      claimed += static_cast<uint64_t>(b.request.events_size());
    } else if (b.outcome == Outcome::kAbsent) {
      std::optional<uint64_t> first;
      if (IdsPresent(b, log, &first) != 0) {
        errors->Add((b.refused ? "refused" : "absent") + std::string(" batch to ") +
                    b.request.stream() + " appeared");
      }
    }
  }
  uint64_t client_events = 0;
  for (const auto& e : log.events) client_events += e.stream().starts_with('$') ? 0 : 1;
  if (client_events != claimed) {
    errors->Add("the log holds " + std::to_string(client_events) +
                " client events, the ledger accounts for " + std::to_string(claimed));
  }
}

// ---- one round ----------------------------------------------------------------------------------

struct LoadResult {
  std::vector<Batch> batches;
  std::vector<integrity::Checkpoint> checkpoints;  // signed during the load
  Errors errors;
  int64_t load_ms = 0;
};

// Polls checkpoints while the clients append, for `load_ms` after the first acknowledgement.
void PollCheckpoints(Client& client, const integrity::NoteVerifier& key,
                     const std::atomic<uint64_t>& acks, int load_ms, LoadResult* out) {
  const auto start = Clock::now();
  while (acks.load() == 0 && MsSince(start) < kFirstAckWaitMs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto first_ack = Clock::now();
  while (MsSince(first_ack) < load_ms) {
    auto checkpoint = SignedCheckpoint(client, key);
    if (!checkpoint.ok()) {
      out->errors.Add("checkpoint during the load: " + checkpoint.status().ToString());
    }
    if (checkpoint.ok() && out->checkpoints.size() < kCheckpointsPerRoundMax) {
      out->checkpoints.push_back(*checkpoint);
    }
    const int64_t left_ms = load_ms - MsSince(first_ack);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::clamp<int64_t>(left_ms, 0, kCheckpointPollMs)));
  }
  out->load_ms = MsSince(start);
}

// Runs the 16 clients against the server and kills it with SIGKILL mid-load.
LoadResult LoadAndKill(ServerEnv& env, int round, std::mt19937_64& rng, const Versions& versions,
                       const integrity::NoteVerifier& key) {
  LoadResult out;
  std::vector<std::unique_ptr<Appender>> appenders;
  for (int c = 0; c < kClients; ++c) {
    appenders.push_back(
        std::make_unique<Appender>(c, round, rng(), versions, env.ClientWith(env.admin_key)));
  }
  auto checkpoint_client = env.ClientWith(env.admin_key);
  const int load_ms = kLoadMsMin + static_cast<int>(rng() % (kLoadMsMax - kLoadMsMin + 1));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acks{0};
  std::vector<std::thread> threads;
  for (auto& a : appenders) threads.emplace_back([&stop, &acks, &a] { a->Run(stop, &acks); });
  PollCheckpoints(*checkpoint_client, key, acks, load_ms, &out);
  stop.store(true);
  if (!env.server().Kill()) {
    out.errors.Add("the server was not running at the kill: " + env.server().output());
  }
  for (auto& t : threads) t.join();
  for (auto& a : appenders) {
    for (auto& b : a->batches) out.batches.push_back(std::move(b));
    if (!a->errors.empty()) out.errors.Add(a->errors.Text());
  }
  return out;
}

// `cairn verify --json` on the stopped server's directory (and, for a log in PostgreSQL, its
// configuration's [storage]); records checked, or -1 with an error.
int64_t VerifyOffline(const ServerEnv& env, bool with_config, Errors* errors) {
  std::vector<std::string> args = {"verify", "--data-dir", env.DataDir(), "--json"};
  if (with_config) args.insert(args.end(), {"--config", env.ConfigPath()});
  CommandResult r = RunCairn(args);
  if (r.exit_code != 0) {
    errors->Add("cairn verify exit " + std::to_string(r.exit_code) + ": " + r.out + r.err);
    return -1;
  }
  auto json = nlohmann::json::parse(r.out, nullptr, false);
  if (json.is_discarded() || !json.value("ok", false)) {
    errors->Add("cairn verify: " + r.out);
    return -1;
  }
  return json.value("records_checked", int64_t{-1});
}

unsigned long long ull(uint64_t v) { return v; }

struct RoundTimesMs {
  int64_t load, verify, restart, check;
};

void PrintRound(int round, const RoundCounts& c, const RoundTimesMs& ms, uint64_t log_size) {
  std::printf(
      "[ crash    ] round %2d: load %4lld ms, acked %5llu batches (%6llu events), refused %3llu, "
      "unknown %2llu -> present %2llu absent %2llu, re-sent: replayed %2llu appended %2llu "
      "refused %2llu; log %7llu; verify %lld ms, restart %lld ms, check %lld ms\n",
      round, static_cast<long long>(ms.load), ull(c.acked_batches), ull(c.acked_events),
      ull(c.refused), ull(c.unknown), ull(c.unknown_present), ull(c.unknown_absent),
      ull(c.resent_replayed), ull(c.resent_appended), ull(c.resent_refused), ull(log_size),
      static_cast<long long>(ms.verify), static_cast<long long>(ms.restart),
      static_cast<long long>(ms.check));
  std::fflush(stdout);
}

struct Totals {
  uint64_t acked_events = 0, unknown_present = 0, unknown_absent = 0, refused = 0;
  uint64_t resent_replayed = 0, resent_appended = 0;
};

class CrashLoop {
 public:
  // `postgres`: the log is in PostgreSQL ([storage] in the server's configuration).
  CrashLoop(uint64_t seed, bool postgres) : rng_(seed), postgres_(postgres) {}

  // Starts the server the first time and pins its checkpoint key.
  void Begin(ServerEnv& env, Errors* errors) {
    if (!env.Start()) return errors->Add("server did not start: " + env.server().output());
    auto client = env.ClientWith(env.admin_key);
    auto vkey = client->GetVerifierKey();
    if (!vkey.ok()) return errors->Add("verifier key: " + vkey.status().ToString());
    auto key = integrity::ParseVerifierKey(vkey->vkey());
    if (!key.ok()) return errors->Add("verifier key: " + key.status().ToString());
    key_ = *key;
  }

  // Load, kill, verify offline, restart, check. Errors end the loop.
  void Round(ServerEnv& env, int round, Errors* errors) {
    LoadResult load = LoadAndKill(env, round, rng_, versions_, key_);
    if (!load.errors.empty()) {
      errors->Add("round " + std::to_string(round) + " load: " + load.errors.Text());
    }
    RoundCounts counts = Tally(load.batches);
    const size_t round_begin = ledger_.size();
    for (auto& b : load.batches) ledger_.push_back(std::move(b));
    const auto verify_start = Clock::now();
    const int64_t verified = VerifyOffline(env, postgres_, errors);
    const int64_t verify_ms = MsSince(verify_start);
    const auto restart_start = Clock::now();
    if (!env.Start()) {
      return errors->Add("round " + std::to_string(round) +
                         ": no restart: " + env.server().output());
    }
    const int64_t restart_ms = MsSince(restart_start);
    const auto check_start = Clock::now();
    const uint64_t log_size = CheckRestarted(env, load.checkpoints, verified, &counts, errors);
    if (errors->empty()) ResendCut(*env.ClientWith(env.admin_key), round_begin, &counts, errors);
    PrintRound(round, counts, {load.load_ms, verify_ms, restart_ms, MsSince(check_start)},
               log_size);
    if (counts.acked_batches == 0) {
      errors->Add("round " + std::to_string(round) + " acknowledged nothing");
    }
    Add(counts);
  }

  const Totals& totals() const { return totals_; }

 private:
  static RoundCounts Tally(const std::vector<Batch>& batches) {
    RoundCounts c;
    for (const Batch& b : batches) {
      if (b.outcome == Outcome::kAcked) {
        ++c.acked_batches;
        c.acked_events += static_cast<uint64_t>(b.request.events_size());
      }
      c.refused += b.refused ? 1 : 0;
      c.unknown += b.outcome == Outcome::kUnknown ? 1 : 0;
    }
    return c;
  }

  void Add(const RoundCounts& c) {
    totals_.acked_events += c.acked_events;
    totals_.unknown_present += c.unknown_present;
    totals_.unknown_absent += c.unknown_absent;
    totals_.refused += c.refused;
    totals_.resent_replayed += c.resent_replayed;
    totals_.resent_appended += c.resent_appended;
  }

  // A client re-sends every batch of this round that the kill cut, as it was (same ids, same
  // expected version): one found present must be answered as an idempotent replay of itself; one
  // found absent is appended now (then it is acknowledged, checked from the next round on) or
  // refused for its expected version. The event ids of the log survive the restart.
  void ResendCut(Client& client, size_t begin, RoundCounts* counts, Errors* errors) {
    for (size_t i = begin; i < ledger_.size(); ++i) {
      Batch& b = ledger_[i];
      if (!b.cut || b.outcome == Outcome::kUnknown) continue;
      auto r = client.Append(b.request);
      const std::string what = "re-sent batch to " + b.request.stream() + ": " +
                               (r.ok() ? r->ShortDebugString() : r.status().ToString());
      if (b.outcome == Outcome::kAcked) {
        ++counts->resent_replayed;
        const bool same = r.ok() && r->idempotent_replay() &&
                          r->first_position() == b.first_position &&
                          r->first_version() == b.first_version;
        if (!same) errors->Add("not a replay of what is in the log: " + what);
      } else if (r.ok()) {
        ++counts->resent_appended;
        if (r->idempotent_replay()) errors->Add("a replay of an absent batch: " + what);
        b.outcome = Outcome::kAcked;
        b.first_position = r->first_position();
        b.first_version = r->first_version();
        versions_[b.request.stream()] = static_cast<int64_t>(r->last_version());
      } else if (r.status().code() == StatusCode::kWrongExpectedVersion) {
        ++counts->resent_refused;
      } else {
        errors->Add(what);
      }
    }
  }

  // Reads the restarted server's log and checks it, the ledger and the checkpoints; returns the
  // log size.
  uint64_t CheckRestarted(ServerEnv& env, const std::vector<integrity::Checkpoint>& during_load,
                          int64_t verified_records, RoundCounts* counts, Errors* errors) {
    auto client = env.ClientWith(env.admin_key);
    auto now = SignedCheckpoint(*client, key_);
    if (!now.ok()) {
      errors->Add("checkpoint after the restart: " + now.status().ToString());
      return 0;
    }
    LogView log;
    Status read = ReadWholeLog(*client, &log.events, kLogEventsMax);
    if (!read.ok()) errors->Add("reading the log back: " + read.ToString());
    IndexLog(&log, errors);
    CheckLedger(ledger_, log, counts, errors);
    versions_ = log.versions;
    CheckCheckpoint(*client, *now, log, during_load, verified_records, errors);
    last_ = *now;
    return log.events.size();
  }

  void CheckCheckpoint(Client& client, const integrity::Checkpoint& now, const LogView& log,
                       const std::vector<integrity::Checkpoint>& during_load,
                       int64_t verified_records, Errors* errors) const {
    if (now.size != log.events.size() || static_cast<int64_t>(now.size) != verified_records) {
      errors->Add("sizes differ: checkpoint " + std::to_string(now.size) + ", read " +
                  std::to_string(log.events.size()) + ", cairn verify " +
                  std::to_string(verified_records));
    } else if (integrity::RootOfLeafHashes(log.leaves) != now.root) {
      errors->Add("the checkpoint's root is not the root of the leaves read");
    }
    if (last_) CheckConsistent(client, *last_, now, errors);
    for (const auto& earlier : during_load) CheckConsistent(client, earlier, now, errors);
  }

  std::mt19937_64 rng_;
  const bool postgres_;
  integrity::NoteVerifier key_;
  std::vector<Batch> ledger_;
  Versions versions_;
  std::optional<integrity::Checkpoint> last_;
  Totals totals_;
};

uint64_t SeedFromEnvironment() {
  const char* fixed = std::getenv("CAIRN_CRASH_SEED");
  return fixed != nullptr ? std::strtoull(fixed, nullptr, 10) : std::random_device{}();
}

// `rounds` kills of the server of `env` under load; `postgres`: its log is in PostgreSQL.
void RunCrashLoop(ServerEnv& env, int rounds, bool postgres) {
  const uint64_t seed = SeedFromEnvironment();
  SCOPED_TRACE("CAIRN_CRASH_SEED=" + std::to_string(seed));
  const auto start = Clock::now();
  CrashLoop loop(seed, postgres);
  Errors errors;
  loop.Begin(env, &errors);
  for (int round = 0; round < rounds && errors.empty(); ++round) loop.Round(env, round, &errors);
  ASSERT_TRUE(errors.empty()) << errors.Text() << "\nlast server output:\n"
                              << env.server().output();
  EXPECT_EQ(env.server().Stop(), 0) << env.server().output();
  const Totals& t = loop.totals();
  std::printf(
      "[ crash    ] seed %llu: %d kills in %lld ms; %llu events acknowledged, %llu refused "
      "batches, unknown batches %llu present / %llu absent; re-sent: %llu replayed, %llu "
      "appended\n",
      ull(seed), rounds, static_cast<long long>(MsSince(start)), ull(t.acked_events),
      ull(t.refused), ull(t.unknown_present), ull(t.unknown_absent), ull(t.resent_replayed),
      ull(t.resent_appended));
  EXPECT_GT(t.acked_events, 0u);
}

TEST(CrashLoopTest, AcknowledgedAppendsSurviveSigkillUnderLoad) {
  ServerEnv env;
  RunCrashLoop(env, kRounds, /*postgres=*/false);
}

// The same on PostgreSQL (issue 8): a SIGKILL cuts the node's connections mid-transaction;
// PostgreSQL rolls back what was not committed, and the restarted node continues the log.
TEST(CrashLoopTest, PostgresAcknowledgedAppendsSurviveSigkillUnderLoad) {
  ServerEnv env(PostgresStorageToml(PgTestServer::Shared().CreateDatabase()));
  RunCrashLoop(env, kPostgresRounds, /*postgres=*/true);
}

}  // namespace
}  // namespace cairn::testing
