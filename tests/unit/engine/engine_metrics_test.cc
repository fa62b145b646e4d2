// Engine metrics: appends, group commits, KMS calls, tree size and checkpoint age, as rendered
// for /metrics (parsed with the strict exposition parser).
#include <memory>
#include <string>

#include "audit/metrics.h"
#include "engine/metered_kms.h"
#include "engine_test_util.h"
#include "prom_parser.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

using cairn::testing::PromExposition;

PromExposition Scrape(const audit::MetricsRegistry& registry) {
  return cairn::testing::ParseOrFail(registry.RenderPrometheus());
}

class EngineMetricsTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    Options o;
    o.metrics = &registry_;
    Reopen(o);
  }
  void TearDown() override { Close(); }  // the store before the registry it publishes to

  audit::MetricsRegistry registry_;
};

using EngineMetricsBackendTest = OnBothBackends<EngineMetricsTest>;
CAIRN_ON_BOTH_BACKENDS(EngineMetricsBackendTest);

TEST_P(EngineMetricsBackendTest, AppendsCommitsAndTreeSizeAreCounted) {
  std::vector<ProposedEvent> two = {Ev("T", "{\"a\":1}"), Ev("T", "[]")};
  two[1].metadata = "{\"m\":true}";
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), two).ok());
  // Refused in the sequencer: a call and a latency, no events, no commit.
  ASSERT_FALSE(store_->Append("s", ExpectedVersion::Exact(9), One("T", "{}")).ok());
  // Refused before the sequencer (invalid JSON): a call only.
  ASSERT_FALSE(store_->Append("s", ExpectedVersion::Any(), One("T", "{not json")).ok());
  // System appends grow the log but are not client calls.
  ASSERT_TRUE(store_->AppendSystem("$sys", ExpectedVersion::Any(), One("$t", "{}")).ok());

  PromExposition e = Scrape(registry_);
  EXPECT_EQ(e.Value("cairn_append_calls_total"), 4);
  EXPECT_EQ(e.Value("cairn_appended_events_total"), 4);
  EXPECT_EQ(e.Value("cairn_appended_bytes_total"), 2 + 7 + 2 + 10 + 2);
  EXPECT_EQ(e.Value("cairn_append_latency_seconds_count"), 3);
  EXPECT_GT(e.Value("cairn_append_latency_seconds_sum"), 0);
  EXPECT_EQ(e.Value("cairn_commit_batch_events_count"), 3);
  EXPECT_EQ(e.Value("cairn_commit_batch_events_sum"), 4);
  EXPECT_EQ(e.Value("cairn_commit_batch_events_bucket", {{"le", "1"}}), 2);
  EXPECT_EQ(e.Value("cairn_commit_batch_events_bucket", {{"le", "2"}}), 3);
  EXPECT_EQ(e.Value("cairn_commit_latency_seconds_count"), 3);
  EXPECT_EQ(e.Value("cairn_tree_size"), 4);
  EXPECT_EQ(e.Value("cairn_tree_size"), static_cast<double>(store_->tree_size()));
  EXPECT_EQ(e.families["cairn_key_cache_hits_total"].type, "counter");
  for (const std::string& v : e.AllLabelValues()) {
    EXPECT_NE(v, "s");
    EXPECT_NE(v, "$sys");
    EXPECT_NE(v, "T");
  }
}

TEST_P(EngineMetricsBackendTest, KmsCallsAtOpenAndCheckpointAreVisible) {
  PromExposition e = Scrape(registry_);
  // Opening unwraps the storage-key epoch and the checkpoint signing key through the provider.
  EXPECT_GE(e.Value("cairn_kms_operations_total", {{"operation", "unwrap"}}), 2);
  EXPECT_EQ(e.Value("cairn_kms_errors_total", {{"operation", "unwrap"}}), 0);
  EXPECT_GE(e.Value("cairn_kms_operation_latency_seconds_count", {{"operation", "unwrap"}}), 2);
  EXPECT_EQ(e.Value("cairn_checkpoint_tree_size"), 0);

  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(store_->Checkpoint().ok());
  e = Scrape(registry_);
  EXPECT_EQ(e.Value("cairn_checkpoint_tree_size"), 1);
  EXPECT_GE(e.Value("cairn_checkpoint_age_seconds"), 0);
  EXPECT_LT(e.Value("cairn_checkpoint_age_seconds"), 600);
}

TEST_P(EngineMetricsBackendTest, RegistryOutlivesTheStoreWithItsLastValues) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  Close();
  PromExposition e = Scrape(registry_);  // must not call into the destroyed store
  EXPECT_EQ(e.Value("cairn_tree_size"), 1);
  EXPECT_EQ(e.Value("cairn_appended_events_total"), 1);
  // A reopened store publishes to the same series again.
  Options o;
  o.metrics = &registry_;
  Reopen(o);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  e = Scrape(registry_);
  EXPECT_EQ(e.Value("cairn_tree_size"), 2);
  EXPECT_EQ(e.Value("cairn_appended_events_total"), 2);
}

// A provider whose Wrap fails: the decorator counts the call and the error.
class FailingKms final : public keys::KmsProvider {
 public:
  std::string_view provider_name() const override { return "fake"; }
  std::string kek_id() const override { return "kek-1"; }
  Result<std::string> Wrap(std::string_view, std::string_view) override {
    return Status::Unavailable("kms down");
  }
  Result<crypto::SecureBytes> Unwrap(std::string_view, std::string_view) override {
    return Status::DataLoss("bad blob");
  }
  Status Health() override { return Status::Ok(); }
};

TEST(MeteredKms, CountsCallsErrorsAndLatencyByOperation) {
  audit::MetricsRegistry registry;
  std::unique_ptr<keys::KmsProvider> kms = MeterKms(std::make_unique<FailingKms>(), &registry);
  EXPECT_EQ(kms->provider_name(), "fake");
  EXPECT_EQ(kms->Wrap("k", "ctx").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(kms->Unwrap("w", "ctx").status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(kms->Health().ok());
  EXPECT_TRUE(kms->Health().ok());
  EXPECT_EQ(kms->AddKekVersion().status().code(), StatusCode::kFailedPrecondition);

  PromExposition e = Scrape(registry);
  EXPECT_EQ(e.Value("cairn_kms_operations_total", {{"operation", "wrap"}}), 1);
  EXPECT_EQ(e.Value("cairn_kms_errors_total", {{"operation", "wrap"}}), 1);
  EXPECT_EQ(e.Value("cairn_kms_errors_total", {{"operation", "unwrap"}}), 1);
  EXPECT_EQ(e.Value("cairn_kms_operations_total", {{"operation", "health"}}), 2);
  EXPECT_EQ(e.Value("cairn_kms_errors_total", {{"operation", "health"}}), 0);
  EXPECT_EQ(e.Value("cairn_kms_errors_total", {{"operation", "add_kek_version"}}), 1);
  EXPECT_EQ(e.Value("cairn_kms_operation_latency_seconds_count", {{"operation", "health"}}), 2);
  // No registry: the provider itself, unwrapped.
  auto plain = std::make_unique<FailingKms>();
  keys::KmsProvider* raw = plain.get();
  EXPECT_EQ(MeterKms(std::move(plain), nullptr).get(), raw);
}

}  // namespace
}  // namespace cairn::engine
