// Manual key rotation in the engine: storage epochs started by RotateStorageKey (also while
// appends run concurrently) and subject key versions by RotateSubjectKey; ListKeys.
#include <atomic>
#include <thread>

#include "customer_rules.h"
#include "engine_test_util.h"
#include "keys/local_keyring.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {


// Options with kCustomerRules as the protection rules (written into `tmp`).
Options ProtectedOptions(const testing::TempDir& tmp) {
  testing::WriteFile(tmp.Sub("protect.toml"), kCustomerRules);
  Options o;
  o.protect_rules_file = tmp.Sub("protect.toml");
  return o;
}

size_t Lines(const std::string& path) {
  const std::string text = testing::ReadFile(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Every event of stream "c", revealed with read.pii, must show its subject's address.
void ExpectCustomersReadable(EventStore& store, const std::vector<std::string>& ids) {
  auto events = store.ReadStream("c", 0, Direction::kForwards, 100);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->events.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto view = store.Reveal(events->events[i], /*may_read_pii=*/true);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_NE(view->data.find(ids[i] + "@example.com"), std::string::npos) << view->data;
  }
  EXPECT_TRUE(store.Verify().ok) << store.Verify().failure;
}

size_t CountKind(const std::vector<KeyInfo>& keys, const std::string& kind) {
  size_t n = 0;
  for (const auto& k : keys) n += k.kind == kind;
  return n;
}

TEST_P(EngineBackendTest, ManualStorageRotationStartsANewEpochAndEverythingStaysReadable) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "0")).ok());
  auto epoch = store_->RotateStorageKey();
  ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  EXPECT_EQ(*epoch, 1u);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "1")).ok());
  auto again = store_->RotateStorageKey();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 2u);
  auto keys = AllKeys(*store_);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(CountKind(*keys, "storage"), 3u);
  EXPECT_FALSE((*keys)[0].current);
  EXPECT_TRUE((*keys)[2].current);
  EXPECT_EQ((*keys)[2].id, "2");

  Reopen();
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "2")).ok());
  auto all = store_->ReadAll(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].data, "0");
  EXPECT_EQ((*all)[2].data, "2");
  EXPECT_TRUE(store_->Verify().ok) << store_->Verify().failure;
  auto reopened = AllKeys(*store_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(CountKind(*reopened, "storage"), 3u);
  Close();
  EXPECT_TRUE(EventStore::VerifyDataDir(dir_, {}, pg_).ok);
}

TEST_P(EngineBackendTest, StorageRotationDuringConcurrentAppendsLosesNothing) {
  constexpr int kThreads = 4, kPerThread = 100, kRotations = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->Append("w-" + std::to_string(t), ExpectedVersion::Any(),
                                One("T", std::to_string(i)));
        if (!r.ok()) ++failures;
      }
    });
  }
  for (int r = 0; r < kRotations; ++r) {
    auto epoch = store_->RotateStorageKey();
    ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  auto keys = AllKeys(*store_);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(CountKind(*keys, "storage"), size_t{kRotations + 1});
  Reopen();
  auto all = store_->ReadAll(0, 10000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), size_t{kThreads * kPerThread});
  EXPECT_TRUE(store_->Verify().ok) << store_->Verify().failure;
}

TEST_P(EngineBackendTest, SubjectRotationMakesNewEventsUseTheNewVersion) {
  const std::string rules = tmp_.Sub("protect.toml");
  testing::WriteFile(rules, R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)");
  Options o;
  o.protect_rules_file = rules;
  Reopen(o);
  EXPECT_EQ(store_->RotateSubjectKey("alice").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(),
                             One("CustomerRegistered", R"({"customerId":"alice","email":"old@x"})"))
                  .ok());
  auto kid = store_->RotateSubjectKey("alice");
  ASSERT_TRUE(kid.ok()) << kid.status().ToString();
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(),
                             One("CustomerRegistered", R"({"customerId":"alice","email":"new@x"})"))
                  .ok());
  auto events = store_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].data.find(*kid), std::string::npos) << events->events[0].data;
  EXPECT_NE(events->events[1].data.find(*kid), std::string::npos) << events->events[1].data;
  auto old_view = store_->Reveal(events->events[0], /*may_read_pii=*/true);
  ASSERT_TRUE(old_view.ok()) << old_view.status().ToString();
  EXPECT_NE(old_view->data.find("old@x"), std::string::npos);
  auto new_view = store_->Reveal(events->events[1], /*may_read_pii=*/true);
  ASSERT_TRUE(new_view.ok()) << new_view.status().ToString();
  EXPECT_NE(new_view->data.find("new@x"), std::string::npos);

  auto keys = AllKeys(*store_);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(CountKind(*keys, "subject"), 2u);
  const KeyInfo& last = keys->back();
  EXPECT_EQ(last.kind, "subject");
  EXPECT_EQ(last.id, *kid);
  EXPECT_EQ(last.version, 2u);
  EXPECT_TRUE(last.current);
  EXPECT_GT(last.created_unix_s, 0);
  for (const auto& k : *keys) {
    EXPECT_EQ(k.id.find("alice"), std::string::npos);
    EXPECT_EQ(k.subject_hash_hex.find("alice"), std::string::npos);
  }
}

// An append that the limits or validation refuse creates no subject key (each is a durable write
// and a KMS call): the checks run before field protection. Else one 4 MiB request of thousands
// of tiny events naming distinct subjects would leave thousands of keys behind.
TEST_P(EngineBackendTest, ARefusedProtectedAppendCreatesNoSubjectKey) {
  Reopen(ProtectedOptions(tmp_));
  auto customers = [](int n, int from) {
    std::vector<ProposedEvent> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(One("CustomerRegistered", Customer("u" + std::to_string(from + i)))[0]);
    }
    return events;
  };
  std::vector<std::vector<ProposedEvent>> refused;
  refused.push_back(customers(static_cast<int>(Limits{}.batch_events_max) + 1, 0));  // too many
  refused.push_back(customers(3, 5000));
  refused.back()[2].event_type = "$Reserved";  // a reserved type after two protected events
  refused.push_back(customers(2, 6000));
  refused.back()[1].event_id = refused.back()[0].event_id = std::string(16, '\x07');  // twice
  refused.push_back(customers(2, 7000));
  refused.back()[1].content_type = "";
  for (size_t i = 0; i < refused.size(); ++i) {
    auto r = store_->Append("c", ExpectedVersion::Any(), refused[i]);
    EXPECT_FALSE(r.ok()) << i;
  }
  EXPECT_EQ(store_->Append("$c", ExpectedVersion::Any(), customers(1, 8000)).status().code(),
            StatusCode::kInvalidArgument);
  auto keys = AllKeys(*store_);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(CountKind(*keys, "subject"), 0u);
  EXPECT_EQ(store_->tree_size(), 0u);
  // The same events, valid, are protected as before.
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), customers(2, 9000)).ok());
  keys = AllKeys(*store_);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(CountKind(*keys, "subject"), 2u);
}

TEST_P(EngineBackendTest, KekRotationRewrapsEverythingAndOldDataStaysReadableAfterRestart) {
  const Options o = ProtectedOptions(tmp_);
  Reopen(o);
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
  ASSERT_TRUE(store_->RotateStorageKey().ok());
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
  const std::string keyring = dir_ + "/keyring";
  const std::string before = testing::ReadFile(keyring);

  auto rotation = store_->RotateKek();
  ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
  EXPECT_FALSE(rotation->resumed);
  EXPECT_EQ(rotation->rewrapped, 2u + 2u + 1u);  // two subject keys, two epochs, checkpoint key
  EXPECT_EQ(rotation->kek_id.rfind("local:", 0), 0u);
  EXPECT_NE(testing::ReadFile(keyring), before);
  if (backend() == Backend::kPostgres) {
    // A log other nodes may share: they wrap under the old version until they restart, so it is
    // kept; the next rotation (after they restarted) re-wraps what they made and retires it.
    EXPECT_TRUE(rotation->old_kek_kept);
    EXPECT_EQ(Lines(keyring), 2u) << "the old KEK is kept";
    ExpectCustomersReadable(*store_, {"alice", "bob"});
    auto finish = store_->RotateKek();
    ASSERT_TRUE(finish.ok()) << finish.status().ToString();
    EXPECT_TRUE(finish->resumed);
    EXPECT_FALSE(finish->old_kek_kept);
    EXPECT_EQ(finish->kek_id, rotation->kek_id);
  } else {
    EXPECT_FALSE(rotation->old_kek_kept);
  }
  EXPECT_EQ(Lines(keyring), 1u) << "the old KEK is retired";
  ExpectCustomersReadable(*store_, {"alice", "bob"});
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("carol"))).ok());

  Reopen(o);  // a restart: everything unwraps under the new KEK alone
  ExpectCustomersReadable(*store_, {"alice", "bob", "carol"});
  auto again = store_->RotateKek();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->kek_id, rotation->kek_id);
  Close();
  EXPECT_TRUE(EventStore::VerifyDataDir(dir_, {}, pg_).ok);
}

// Components' secrets (webhook signing secrets) are wrapped under the KEK too: a rotation
// re-wraps them before it retires the old versions, so they still unwrap after a restart.
// Before, they stayed under the retired KEK and every webhook failed to load its secret.
TEST_P(EngineBackendTest, KekRotationRewrapsComponentSecrets) {
  const std::string name = "webhook/billing/secret/1";
  const std::string secret(32, 'k');
  auto wrapped = store_->kms()->Wrap(secret, name);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  ASSERT_TRUE(store_->log_store()->PutKeyMaterial(name, *wrapped).ok());
  auto rotation = store_->RotateKek();
  ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
  EXPECT_EQ(rotation->rewrapped, 1u + 1u + 1u);  // an epoch, the checkpoint key, the secret
  if (rotation->old_kek_kept) {  // shared: finish it
    ASSERT_TRUE(store_->RotateKek().ok());
  }
  ASSERT_EQ(Lines(dir_ + "/keyring"), 1u) << "the old KEK is retired";

  Reopen(Options{});
  auto stored = store_->log_store()->ReadKeyMaterial(name);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  auto unwrapped = store_->kms()->Unwrap(**stored, name);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_EQ(unwrapped->view(), secret);
}

// A component secret that no KEK version opens (damaged, left under a KEK that a rotation before
// the fix above retired, or a token failing that way for now) is left as it is, counted, and
// keeps the old KEK versions: retiring them could make a secret that failed only for now
// unreadable for good. Once it is gone (its webhook deleted), the next call retires them.
TEST_P(EngineBackendTest, KekRotationLeavesASecretNoKekOpensAndKeepsTheOldKek) {
  const std::string name = "webhook/broken/secret/1";
  const std::string garbage(60, 'x');
  ASSERT_TRUE(store_->log_store()->PutKeyMaterial(name, garbage).ok());
  auto rotation = store_->RotateKek();
  ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
  EXPECT_EQ(rotation->rewrapped, 1u + 1u) << "an epoch and the checkpoint key, not the garbage";
  EXPECT_EQ(rotation->unreadable_secrets, 1u);
  EXPECT_TRUE(rotation->old_kek_kept);
  auto again = store_->RotateKek();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->resumed);
  EXPECT_TRUE(again->old_kek_kept) << "still there: still kept";
  EXPECT_EQ(Lines(dir_ + "/keyring"), 2u) << "the old KEK is kept";
  auto stored = store_->log_store()->ReadKeyMaterial(name);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(**stored, garbage);

  ASSERT_TRUE(store_->log_store()->DestroyKeyMaterial(name).ok());
  auto finish = store_->RotateKek();
  ASSERT_TRUE(finish.ok()) << finish.status().ToString();
  EXPECT_EQ(finish->unreadable_secrets, 0u);
  if (finish->old_kek_kept) {  // shared: finish it
    ASSERT_TRUE(store_->RotateKek().ok());
  }
  EXPECT_EQ(Lines(dir_ + "/keyring"), 1u) << "the old KEK is retired";
}

// One node rotates the KEK at a time: two nodes adding a version at once would each make their
// own (on a token: two keys of one label, which no node can open again). Another session holding
// the lock stands for another node.
TEST_P(EngineBackendTest, AKekRotationWhileAnotherNodeRotatesIsRefused) {
  storage::LogStore* log = store_->log_store();
  auto held = log->TryLockAcrossNodes(storage::LogStore::NodeLockKind::kKekRotation);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  auto refused = store_->RotateKek();
  if (log->shared()) {
    EXPECT_EQ(refused.status().code(), StatusCode::kAborted) << refused.status().ToString();
    EXPECT_EQ(Lines(dir_ + "/keyring"), 1u) << "no KEK version was added";
    held->reset();  // the other node finished
  } else {
    EXPECT_TRUE(refused.ok()) << "one process: its own mutex serialises";
  }
  auto rotation = store_->RotateKek();
  ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
  if (rotation->old_kek_kept) {  // shared: finish it
    ASSERT_TRUE(store_->RotateKek().ok());
  }
  EXPECT_EQ(Lines(dir_ + "/keyring"), 1u);
}

TEST_P(EngineBackendTest, AnInterruptedKekRotationIsFinishedByTheNextOne) {
  const Options o = ProtectedOptions(tmp_);
  Reopen(o);
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
  Close();
  // A crash right after the new KEK version was stored: nothing is re-wrapped yet.
  {
    keys::LocalKmsOptions ko;
    ko.keyring_path = dir_ + "/keyring";
    auto keyring = keys::LocalKeyring::Open(ko);
    ASSERT_TRUE(keyring.ok());
    ASSERT_TRUE((*keyring)->AddKekVersion().ok());
  }
  Reopen(o);
  ExpectCustomersReadable(*store_, {"alice"});
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
  auto rotation = store_->RotateKek();
  ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
  EXPECT_TRUE(rotation->resumed);
  if (backend() == Backend::kPostgres) {
    // A shared log: the interrupted rotation may have been the first of two (other nodes not yet
    // restarted), so this one keeps the old version too; the next one retires it.
    EXPECT_TRUE(rotation->old_kek_kept);
    EXPECT_EQ(Lines(dir_ + "/keyring"), 2u);
    auto finish = store_->RotateKek();
    ASSERT_TRUE(finish.ok()) << finish.status().ToString();
    EXPECT_TRUE(finish->resumed);
    EXPECT_FALSE(finish->old_kek_kept);
  }
  EXPECT_EQ(Lines(dir_ + "/keyring"), 1u);
  Reopen(o);
  ExpectCustomersReadable(*store_, {"alice", "bob"});
}

TEST_F(EngineTest, RefusesAnotherProviderThanTheOneRecordedAtInit) {
  Close();
  testing::SoftHsmToken token(tmp_.Sub("hsm"));
  Options o;
  o.data_dir = dir_;
  o.kms = token.Config();
  auto refused = EventStore::Open(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("\"local\" KMS provider"), std::string::npos)
      << refused.status().message();

  // Another local keyring: the recorded KEK is not in it.
  Options other;
  other.data_dir = dir_;
  other.kms.local.keyring_path = tmp_.Sub("other-keyring");
  ASSERT_TRUE(keys::LocalKms::Create(other.kms.local.keyring_path).ok());
  auto wrong = EventStore::Open(other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("does not hold"), std::string::npos)
      << wrong.status().message();
  Reopen();  // the right one still opens
}

class Pkcs11EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<testing::SoftHsmToken>(tmp_.Sub("hsm"));
    ASSERT_TRUE(token_->ok());
    testing::WriteFile(tmp_.Sub("protect.toml"), kCustomerRules);
    dir_ = tmp_.Sub("data");
    InitOptions init;
    init.data_dir = dir_;
    init.kms = token_->Config();
    Status s = EventStore::Init(init);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  Options Opts() const {
    Options o;
    o.data_dir = dir_;
    o.kms = token_->Config();
    o.protect_rules_file = tmp_.Sub("protect.toml");
    return o;
  }
  testing::TempDir tmp_;
  std::unique_ptr<testing::SoftHsmToken> token_;
  std::string dir_;
};

TEST_F(Pkcs11EngineTest, KekRotationOnTheTokenKeepsOldDataReadableAfterRestart) {
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/keyring")) << "no local keyring with pkcs11";
  std::string kek;
  {
    auto store = EventStore::Open(Opts());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
    auto rotation = (*store)->RotateKek();
    ASSERT_TRUE(rotation.ok()) << rotation.status().ToString();
    kek = rotation->kek_id;
    EXPECT_EQ(kek.rfind("pkcs11:", 0), 0u);
    ASSERT_TRUE((*store)->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
  }
  auto labels = keys::Pkcs11Kms::ListKeyLabels(token_->Options());
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(std::count(labels->begin(), labels->end(), "cairn-kek"), 0) << "version 1 retired";
  EXPECT_EQ(std::count(labels->begin(), labels->end(), "cairn-kek.v2"), 1);
  auto store = EventStore::Open(Opts());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectCustomersReadable(**store, {"alice", "bob"});

  // The local provider is refused for this directory.
  Options local;
  local.data_dir = dir_;
  store->reset();
  auto refused = EventStore::Open(local);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("\"pkcs11\" KMS provider"), std::string::npos)
      << refused.status().message();
}

TEST_F(Pkcs11EngineTest, ProtectedAppendsFailWhileTheTokenIsGoneAndWriteNothing) {
  Options o = Opts();
  o.kms_health_interval_ms = 0;
  o.kms.reopen_interval_ms = 0;
  auto store = EventStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EventStore& s = **store;
  ASSERT_TRUE(s.Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
  const uint64_t size = s.tree_size();
  ASSERT_TRUE(token_->Hide());
  auto refused = s.Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice")));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_EQ(s.tree_size(), size);
  EXPECT_TRUE(s.Append("plain", ExpectedVersion::Any(), One("Note", "{}")).ok());
  ASSERT_TRUE(token_->Show());
  EXPECT_TRUE(s.Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
}

}  // namespace
}  // namespace cairn::engine
