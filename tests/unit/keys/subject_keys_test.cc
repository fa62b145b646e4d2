// SubjectKeys over a real RocksDB store and the local KMS: creation, reads, forget (physically
// gone from every file), rotation, KEK re-wrapping, listing, KMS outages, the cost of a miss.
#include "keys/subject_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "keys/local_kms.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "test_util.h"
#include "unit/engine/faulty_store.h"

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

// Files under `dir` that contain `needle`, byte for byte.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = testing::ReadFile(entry.path().string());
    if (bytes.find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

// Forwards to another provider; can be made unreachable, or to fail after some wraps.
class FlakyKms final : public KmsProvider {
 public:
  explicit FlakyKms(KmsProvider* inner) : inner_(inner) {}
  std::string_view provider_name() const override { return "flaky"; }
  std::string kek_id() const override { return inner_->kek_id(); }
  Result<std::string> Wrap(std::string_view key, std::string_view context) override {
    if (before_next_wrap) std::exchange(before_next_wrap, nullptr)();
    if (unavailable) return Status::Unavailable("KMS unreachable (test)");
    if (wraps_left.load() == 0) return Status::Unavailable("KMS went away (test)");
    --wraps_left;
    return inner_->Wrap(key, context);
  }
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override {
    if (unavailable) return Status::Unavailable("KMS unreachable (test)");
    return inner_->Unwrap(wrapped, context);
  }
  Status Health() override {
    return unavailable ? Status::Unavailable("KMS unreachable (test)") : Status::Ok();
  }

  std::atomic<bool> unavailable{false};
  std::atomic<int> wraps_left{-1};  // < 0: unlimited
  std::function<void()> before_next_wrap;  // runs once, at the next Wrap (one thread only)

 private:
  KmsProvider* inner_;
};

class SubjectKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kms = LocalKms::Create(tmp_.Sub("keyring"));
    ASSERT_TRUE(kms.ok()) << kms.status().ToString();
    kms_ = std::move(kms).value();
    flaky_ = std::make_unique<FlakyKms>(kms_.get());
    OpenAll();
  }
  void OpenAll(KmsProvider* kms = nullptr) {
    storage::RocksOptions o;
    o.path = db_path();
    o.create_if_missing = true;
    auto store = storage::OpenRocksLogStore(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto keys = SubjectKeys::Open(store_.get(), kms != nullptr ? kms : flaky_.get());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();
  }
  void CloseAll() {
    keys_.reset();
    store_.reset();
  }
  void Reopen(KmsProvider* kms = nullptr) {
    CloseAll();
    OpenAll(kms);
  }
  // Two engines ("nodes") sharing this fixture's store, wrapped in a FaultyStore that follows
  // `plan` (which must outlive them); keys_ is closed.
  // Two SubjectKeys on one store, as two nodes. A plain struct, not a pair: lambdas cannot
  // capture structured bindings before C++20 compilers that implement P1091 (clang < 16).
  struct TwoNodes {
    std::unique_ptr<SubjectKeys> a;
    std::unique_ptr<SubjectKeys> b;
  };
  TwoNodes TwoNodesOnAFaultyStore(engine::FaultPlan* plan) {
    keys_.reset();
    store_ = std::make_unique<engine::FaultyStore>(std::move(store_), plan);
    auto a = SubjectKeys::Open(store_.get(), kms_.get());
    auto b = SubjectKeys::Open(store_.get(), kms_.get());
    if (!a.ok() || !b.ok()) return {};
    return {std::move(a).value(), std::move(b).value()};
  }
  std::string db_path() const { return tmp_.Sub("db"); }
  SubjectKey Write(std::string_view subject) {
    auto k = keys_->KeyForWrite(subject);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? *k : SubjectKey{};
  }
  std::string Wrapped(const std::string& kid) {
    auto v = store_->ReadKeyMaterial("skey/" + kid);
    EXPECT_TRUE(v.ok() && v->has_value());
    return v.ok() && v->has_value() ? **v : std::string();
  }

  testing::TempDir tmp_;
  std::unique_ptr<LocalKms> kms_;
  std::unique_ptr<FlakyKms> flaky_;
  std::unique_ptr<storage::LogStore> store_;
  std::unique_ptr<SubjectKeys> keys_;
};

TEST_F(SubjectKeysTest, WriteKeyIsCreatedOnceAndStaysStable) {
  const SubjectKey a = Write("customer-42");
  ASSERT_NE(a.key, nullptr);
  EXPECT_EQ(a.key->size(), 32u);
  EXPECT_EQ(a.kid.size(), 1u + 24 + 2);
  EXPECT_EQ(a.kid[0], 's');
  EXPECT_EQ(a.kid.substr(25), ".1");
  EXPECT_LE(a.kid.size(), kSubjectKidSizeBytesMax);
  EXPECT_EQ(a.kid.find("customer"), std::string::npos);

  const SubjectKey again = Write("customer-42");  // cached
  EXPECT_EQ(again.kid, a.kid);
  EXPECT_EQ(again.key->view(), a.key->view());
  keys_->ClearCache();
  const SubjectKey uncached = Write("customer-42");  // from the store
  EXPECT_EQ(uncached.kid, a.kid);
  EXPECT_EQ(uncached.key->view(), a.key->view());
  Reopen();  // durable
  const SubjectKey reopened = Write("customer-42");
  EXPECT_EQ(reopened.kid, a.kid);
  EXPECT_EQ(reopened.key->view(), a.key->view());
}

// 8 threads, spread over `engines`, make the first write of `subject` at once: all get one key.
void ExpectFirstWritesAgree(std::span<SubjectKeys* const> engines, const std::string& subject) {
  constexpr int kThreads = 8;
  std::vector<SubjectKey> got(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      auto k = engines[t % engines.size()]->KeyForWrite(subject);
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      got[t] = *k;
    });
  }
  for (std::thread& t : threads) t.join();
  for (const SubjectKey& k : got) {
    ASSERT_NE(k.key, nullptr);
    EXPECT_EQ(k.kid, got[0].kid);
    EXPECT_EQ(k.key->view(), got[0].key->view());
  }
}

TEST_F(SubjectKeysTest, ConcurrentFirstWritesOfOneSubjectAgreeOnOneVersion) {
  for (int round = 0; round < 5; ++round) {
    const std::string subject = "racer-" + std::to_string(round);
    SubjectKeys* engines[] = {keys_.get()};
    ExpectFirstWritesAgree(engines, subject);
  }
  int versions = 0;
  ASSERT_TRUE(keys_->ListKeys("", SIZE_MAX, [&](const SubjectKeyInfo&) { return ++versions, true; }).ok());
  EXPECT_EQ(versions, 5);
  std::set<std::string> stored;
  ASSERT_TRUE(store_
                  ->ScanKeyMaterial("skey/",
                                    [&](std::string_view name, std::string_view) {
                                      stored.emplace(name);
                                      return true;
                                    })
                  .ok());
  EXPECT_EQ(stored.size(), 5u);  // no orphan second version was stored either
}

// Two engines sharing one store (their in-process subject locks do not see each other): the
// first writes of a subject race in the store. One key wins; the loser's key, which protected
// nothing, is deleted (DeleteUnusedKeyMaterial), so no orphan key is left for forget to miss.
TEST_F(SubjectKeysTest, TwoEnginesRacingOnAFirstWriteAgreeAndLeaveNoOrphanKey) {
  auto other = SubjectKeys::Open(store_.get(), flaky_.get());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  SubjectKeys* engines[] = {keys_.get(), other->get()};
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    const std::string subject = "two-engines-" + std::to_string(round);
    ExpectFirstWritesAgree(engines, subject);
  }
  size_t stored = 0;
  ASSERT_TRUE(store_->ScanKeyMaterial("skey/", [&](std::string_view, std::string_view) {
    return ++stored, true;
  }).ok());
  EXPECT_EQ(stored, static_cast<size_t>(kRounds));
}

// The race above, made certain: engine A has made its new key (it is wrapping it) when engine B
// makes and stores the subject's first key. A loses the index write, deletes its own key and
// answers with B's, so both agree and the store holds exactly B's key.
TEST_F(SubjectKeysTest, AnEngineThatLosesTheFirstWriteDeletesItsKeyAndUsesTheWinners) {
  auto b_engine = SubjectKeys::Open(store_.get(), kms_.get());  // not the flaky KMS: no hook
  ASSERT_TRUE(b_engine.ok()) << b_engine.status().ToString();
  Result<SubjectKey> b_key = Status::Internal("B never wrote");
  flaky_->before_next_wrap = [&] { b_key = (*b_engine)->KeyForWrite("contended"); };
  const SubjectKey a_key = Write("contended");
  ASSERT_TRUE(b_key.ok()) << b_key.status().ToString();  // B ran inside A's first write
  EXPECT_EQ(a_key.kid, b_key->kid);
  EXPECT_EQ(a_key.key->view(), b_key->key->view());
  std::vector<std::string> stored;
  ASSERT_TRUE(store_->ScanKeyMaterial("skey/", [&](std::string_view name, std::string_view) {
    stored.emplace_back(name);
    return true;
  }).ok());
  EXPECT_EQ(stored, std::vector<std::string>{"skey/" + b_key->kid});  // A's key was deleted
  keys_->ClearCache();
  EXPECT_EQ(Write("contended").kid, b_key->kid);  // and the store agrees
}

// Two nodes rotating one subject at once make the same kid (version + 1). Engine B rotates while
// A wraps its new key: A must not overwrite B's (which may already protect data), but take it,
// so both use one key and the store holds exactly that one.
TEST_F(SubjectKeysTest, TwoEnginesRotatingOneSubjectAgreeOnTheWinnersKey) {
  auto b_engine = SubjectKeys::Open(store_.get(), kms_.get());  // not the flaky KMS: no hook
  ASSERT_TRUE(b_engine.ok()) << b_engine.status().ToString();
  const SubjectKey v1 = Write("rotated");
  Result<SubjectKey> b_key = Status::Internal("B never rotated");
  flaky_->before_next_wrap = [&] { b_key = (*b_engine)->Rotate("rotated"); };
  const Result<SubjectKey> a_key = keys_->Rotate("rotated");
  ASSERT_TRUE(a_key.ok()) << a_key.status().ToString();
  ASSERT_TRUE(b_key.ok()) << b_key.status().ToString();  // B ran inside A's rotation
  EXPECT_NE(a_key->kid, v1.kid);
  EXPECT_EQ(a_key->kid, b_key->kid);
  EXPECT_EQ(a_key->key->view(), b_key->key->view());
  keys_->ClearCache();
  (*b_engine)->ClearCache();
  const Result<SubjectKey> stored = keys_->KeyForRead(a_key->kid);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->key->view(), b_key->key->view());  // what both encrypted under is stored
  EXPECT_EQ(Write("rotated").kid, b_key->kid);
  size_t keys_stored = 0;
  ASSERT_TRUE(store_->ScanKeyMaterial("skey/", [&](std::string_view, std::string_view) {
    return ++keys_stored, true;
  }).ok());
  EXPECT_EQ(keys_stored, 2u);  // versions 1 and 2, nothing orphaned
}

// A forget on another node while this one rotates: the rotation's new key is deleted again and
// the index is not written back, so the forgotten subject stays forgotten.
TEST_F(SubjectKeysTest, ARotationRacingAForgetLeavesNothingBehind) {
  auto b_engine = SubjectKeys::Open(store_.get(), kms_.get());
  ASSERT_TRUE(b_engine.ok()) << b_engine.status().ToString();
  Write("leaving");
  Status forgot = Status::Internal("B never forgot");
  flaky_->before_next_wrap = [&] { forgot = (*b_engine)->Forget("leaving").status(); };
  const Result<SubjectKey> rotated = keys_->Rotate("leaving");
  ASSERT_TRUE(forgot.ok()) << forgot.ToString();
  EXPECT_EQ(rotated.status().code(), StatusCode::kNotFound) << rotated.status().ToString();
  size_t left = 0;
  ASSERT_TRUE(store_->ScanKeyMaterial("skey", [&](std::string_view, std::string_view) {
    return ++left, true;
  }).ok());
  EXPECT_EQ(left, 0u);
}

// A rotation that stopped between its key and its index update (a store error, a crash) leaves
// an orphan key under the next kid. The next rotation takes it as that version instead of
// failing on it forever (which would refuse every append of the subject).
TEST_F(SubjectKeysTest, AnOrphanKeyOfTheNextVersionIsAdoptedNotAnEndlessConflict) {
  const SubjectKey v1 = Write("orphaned");
  auto other = SubjectKeys::Open(store_.get(), kms_.get());
  ASSERT_TRUE(other.ok());
  // The orphan: version 2's key as another engine's rotation stored it, the index left at v1.
  const auto index = store_->ReadKeyMaterial("subject/" + keys_->SubjectHashHex("orphaned"));
  ASSERT_TRUE(index.ok() && index->has_value());
  const Result<SubjectKey> v2 = (*other)->Rotate("orphaned");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_TRUE(store_->PutKeyMaterial("subject/" + keys_->SubjectHashHex("orphaned"), **index).ok());
  keys_->ClearCache();
  const Result<SubjectKey> rotated = keys_->Rotate("orphaned");
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->kid, v2->kid);
  EXPECT_EQ(rotated->key->view(), v2->key->view());
  EXPECT_NE(rotated->kid, v1.kid);
  keys_->ClearCache();
  EXPECT_EQ(Write("orphaned").kid, v2->kid);  // and the index lists it now
}

// B's index update fails before it commits (PostgreSQL: the connection dropped), while node A,
// rotating too, found B's new key and adopts it as the next version. B must leave the key alone:
// when B looked at the index and then deleted the key, A's index update landed in between, and
// A's writers encrypted under a key that no longer existed (read back as erased).
TEST_F(SubjectKeysTest, AKeyWhoseIndexUpdateFailedIsLeftForAnotherNodeToAdopt) {
  Write("shared");
  engine::FaultPlan plan;
  TwoNodes nodes = TwoNodesOnAFaultyStore(&plan);
  SubjectKeys* a = nodes.a.get();
  SubjectKeys* b = nodes.b.get();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  std::atomic<bool> fail_index_update{true};
  plan.before_replace_key_material_if = [&](std::string_view name) {
    if (name.starts_with("subject/") && fail_index_update.exchange(false)) {
      return Status::Unavailable("injected: the connection dropped before the commit");
    }
    return Status::Ok();
  };
  Result<SubjectKey> adopted = Status::Internal("A never rotated");
  plan.before_delete_unused = [&](std::string_view) {
    if (!adopted.ok()) adopted = a->Rotate("shared");  // lands between B's look and delete
  };
  const Result<SubjectKey> failed = b->Rotate("shared");
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  if (!adopted.ok()) adopted = a->Rotate("shared");  // B left the orphan: A adopts it now
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(adopted->kid.substr(25), ".2");
  a->ClearCache();
  const Result<SubjectKey> stored = a->KeyForRead(adopted->kid);
  ASSERT_TRUE(stored.ok()) << "the adopted key was deleted: " << stored.status().ToString();
  EXPECT_EQ(stored->key->view(), adopted->key->view());
  b->ClearCache();
  auto b_write = b->KeyForWrite("shared");
  ASSERT_TRUE(b_write.ok()) << b_write.status().ToString();
  EXPECT_EQ(b_write->kid, adopted->kid);
}

// The other order: another node's rotation lands while a forget destroys (here: just before the
// forget deletes the index). The forget sees the index moved, destroys the version it gained
// too, and only then deletes it: nothing of the subject stays readable.
TEST_F(SubjectKeysTest, AForgetRacingARotationDestroysTheVersionItAdded) {
  engine::FaultPlan plan;
  TwoNodes nodes = TwoNodesOnAFaultyStore(&plan);
  SubjectKeys* a = nodes.a.get();
  SubjectKeys* b = nodes.b.get();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  const Result<SubjectKey> v1 = a->KeyForWrite("leaving");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  Result<SubjectKey> v2 = Status::Internal("B never rotated");
  bool rotated = false;
  plan.before_destroy_if = [&] {
    if (std::exchange(rotated, true)) return;
    v2 = b->Rotate("leaving");
  };
  const Result<ForgetReport> forgot = a->Forget("leaving");
  ASSERT_TRUE(forgot.ok()) << forgot.status().ToString();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(forgot->versions_destroyed, 2u);
  EXPECT_EQ(std::set<std::string>(forgot->kids.begin(), forgot->kids.end()),
            (std::set<std::string>{v1->kid, v2->kid}));
  size_t left = 0;
  ASSERT_TRUE(store_->ScanKeyMaterial("s", [&](std::string_view, std::string_view) {
    return ++left, true;
  }).ok());
  EXPECT_EQ(left, 0u) << "no key, use row or index of the subject";
  b->ClearCache();
  EXPECT_EQ(b->KeyForRead(v2->kid).status().code(), StatusCode::kNotFound);
}

// A rotation whose cache insert is refused, because another subject's forget erased cache
// entries while it ran, must not leave the previous version cached as the current one: new
// events would keep being protected by the old key.
TEST_F(SubjectKeysTest, ARotationRacingAnotherSubjectsForgetLeavesNoStaleCurrentKey) {
  engine::FaultPlan plan;
  TwoNodes nodes = TwoNodesOnAFaultyStore(&plan);
  SubjectKeys* a = nodes.a.get();
  ASSERT_TRUE(a != nullptr);
  std::string victim;  // forgotten from inside the rotation: on another lock stripe
  for (int i = 0; i < 1000 && victim.empty(); ++i) {
    const std::string candidate = "victim-" + std::to_string(i);
    if (!a->ShareLockStripe(candidate, "rotating")) victim = candidate;
  }
  ASSERT_FALSE(victim.empty());
  const Result<SubjectKey> v1 = a->KeyForWrite("rotating");  // cached as the current key
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_TRUE(a->KeyForWrite(victim).ok());
  bool forgot = false;
  plan.before_replace_key_material_if = [&](std::string_view name) {
    if (name.starts_with("subject/") && !std::exchange(forgot, true)) {
      std::thread other([&] { EXPECT_TRUE(a->Forget(victim).ok()); });
      other.join();
    }
    return Status::Ok();
  };
  const Result<SubjectKey> v2 = a->Rotate("rotating");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_TRUE(forgot);
  ASSERT_NE(v2->kid, v1->kid);
  const Result<SubjectKey> next = a->KeyForWrite("rotating");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->kid, v2->kid);
}

TEST_F(SubjectKeysTest, ReadOfAKidGivesTheWriteKeyAndSubjectsHaveDifferentKeys) {
  const SubjectKey a = Write("alice");
  const SubjectKey b = Write("bob");
  EXPECT_NE(a.kid, b.kid);
  EXPECT_NE(a.key->view(), b.key->view());
  EXPECT_NE(a.kid.substr(1, 24), b.kid.substr(1, 24));
  auto ra = keys_->KeyForRead(a.kid);
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->kid, a.kid);
  EXPECT_EQ(ra->key->view(), a.key->view());
  keys_->ClearCache();
  const uint64_t misses = keys_->cache_stats().misses;
  auto rb = keys_->KeyForRead(b.kid);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->key->view(), b.key->view());
  EXPECT_EQ(keys_->cache_stats().misses, misses + 1);
  const uint64_t hits = keys_->cache_stats().hits;
  ASSERT_TRUE(keys_->KeyForRead(b.kid).ok());
  EXPECT_EQ(keys_->cache_stats().hits, hits + 1);
  Reopen();
  EXPECT_EQ(keys_->KeyForRead(a.kid)->key->view(), a.key->view());
}

TEST_F(SubjectKeysTest, RejectsBadSubjectsAndKidsAndUnknownKidsAreNotFound) {
  EXPECT_EQ(keys_->KeyForWrite("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->KeyForWrite(std::string(kSubjectIdSizeBytesMax + 1, 'x')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(keys_->KeyForWrite(std::string(kSubjectIdSizeBytesMax, 'x')).ok());
  EXPECT_EQ(keys_->Forget("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys_->Rotate("").status().code(), StatusCode::kInvalidArgument);
  for (const char* kid : {"", "x", "s0123456789abcdef01234567", "s0123456789abcdef01234567.0",
                          "s0123456789abcdef01234567.01", "S0123456789abcdef01234567.1",
                          "s0123456789ABCDEF01234567.1", "s0123456789abcdef0123456.1",
                          "s0123456789abcdef01234567.1x", "../../storage-epoch/0"}) {
    EXPECT_EQ(keys_->KeyForRead(kid).status().code(), StatusCode::kInvalidArgument) << kid;
  }
  EXPECT_EQ(keys_->KeyForRead("s0123456789abcdef01234567.1").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(keys_->Rotate("nobody").status().code(), StatusCode::kNotFound);
}

TEST_F(SubjectKeysTest, ForgetDestroysEveryVersionPhysicallyAndLeavesOthers) {
  const SubjectKey a1 = Write("alice");
  auto a2 = keys_->Rotate("alice");
  ASSERT_TRUE(a2.ok());
  const SubjectKey b = Write("bob");
  const std::string wrapped1 = Wrapped(a1.kid);
  const std::string wrapped2 = Wrapped(a2->kid);
  const std::string index_name = "subject/" + keys_->SubjectHashHex("alice");
  ASSERT_TRUE(store_->ReadKeyMaterial(index_name)->has_value());
  // The scan can see the blobs while they are live (in the WAL at least).
  EXPECT_FALSE(FilesContaining(db_path(), wrapped1).empty());
  EXPECT_FALSE(FilesContaining(db_path(), wrapped2).empty());

  auto report = keys_->Forget("alice");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->versions_destroyed, 2u);
  EXPECT_EQ(report->kids, (std::vector<std::string>{a1.kid, a2->kid}));
  EXPECT_EQ(keys_->KeyForRead(a1.kid).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys_->KeyForRead(a2->kid).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->ReadKeyMaterial(index_name)->has_value());
  EXPECT_EQ(keys_->KeyForRead(b.kid)->key->view(), b.key->view());
  // Gone from every file, while the store is open and after it is closed.
  EXPECT_EQ(FilesContaining(db_path(), wrapped1), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(db_path(), wrapped2), std::vector<std::string>{});
  CloseAll();
  EXPECT_EQ(FilesContaining(db_path(), wrapped1), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(db_path(), wrapped2), std::vector<std::string>{});

  OpenAll();  // still forgotten after a restart; bob untouched
  EXPECT_EQ(keys_->KeyForRead(a1.kid).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys_->KeyForRead(a2->kid).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys_->KeyForRead(b.kid)->key->view(), b.key->view());
  EXPECT_EQ(Write("bob").kid, b.kid);
  auto again = keys_->Forget("alice");  // idempotent
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->versions_destroyed, 0u);
  EXPECT_TRUE(again->kids.empty());
  // A later event of the subject gets a brand-new key.
  const SubjectKey fresh = Write("alice");
  EXPECT_NE(fresh.kid, a1.kid);
  EXPECT_NE(fresh.kid, a2->kid);
  EXPECT_NE(fresh.key->view(), a1.key->view());
}

TEST_F(SubjectKeysTest, ForgetEvictsCachedKeysAndRacingReadersCannotRestoreThem) {
  const SubjectKey a = Write("alice");
  ASSERT_TRUE(keys_->KeyForRead(a.kid).ok());  // cached
  std::atomic<bool> forgotten{false};
  std::atomic<bool> stop{false};
  std::atomic<int> late_successes{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop.load()) {
        const bool after = forgotten.load();
        auto k = keys_->KeyForRead(a.kid);
        if (after && k.ok()) ++late_successes;
        if (!k.ok()) {
          EXPECT_EQ(k.status().code(), StatusCode::kNotFound);
        }
        if (t % 2 == 0) keys_->ClearCache();  // force loads from the store
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  auto report = keys_->Forget("alice");
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  forgotten = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (std::thread& t : readers) t.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString() << " after " << ms << " ms";
  EXPECT_EQ(late_successes.load(), 0);
  EXPECT_EQ(keys_->KeyForRead(a.kid).status().code(), StatusCode::kNotFound);
}

TEST_F(SubjectKeysTest, RotateMakesANewWriteVersionAndOldOnesStayReadable) {
  const SubjectKey v1 = Write("alice");
  auto v2 = keys_->Rotate("alice");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_NE(v2->kid, v1.kid);
  EXPECT_EQ(v2->kid.substr(0, 25), v1.kid.substr(0, 25));
  EXPECT_EQ(v2->kid.substr(25), ".2");
  EXPECT_NE(v2->key->view(), v1.key->view());
  EXPECT_EQ(Write("alice").kid, v2->kid);  // cached current version
  keys_->ClearCache();
  EXPECT_EQ(Write("alice").kid, v2->kid);  // from the index
  EXPECT_EQ(keys_->KeyForRead(v1.kid)->key->view(), v1.key->view());
  Reopen();
  EXPECT_EQ(Write("alice").kid, v2->kid);
  EXPECT_EQ(keys_->KeyForRead(v1.kid)->key->view(), v1.key->view());
  EXPECT_EQ(keys_->KeyForRead(v2->kid)->key->view(), v2->key->view());
  auto v3 = keys_->Rotate("alice");
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->kid.substr(25), ".3");
}

// Pages of at most keys_max keys: each page resumes after the previous page's last subject, no
// subject is listed twice or skipped, a subject's versions stay on one page (the first subject of
// a page is listed whole even when it alone has more), and the last page says nothing remains.
TEST_F(SubjectKeysTest, ListKeysPagesByKeysKeepingASubjectsVersionsTogether) {
  for (int i = 0; i < 7; ++i) Write("subject-" + std::to_string(i));
  ASSERT_TRUE(keys_->Rotate("subject-3").ok());
  ASSERT_TRUE(keys_->Rotate("subject-3").ok());  // 3 versions: 9 keys in all
  const std::string rotated = keys_->SubjectHashHex("subject-3");
  std::vector<std::string> hashes;  // one per version listed
  std::string after;
  int pages = 0;
  do {
    std::vector<std::string> page;
    auto resume = keys_->ListKeys(after, 2, [&](const SubjectKeyInfo& i) {
      page.push_back(i.subject_hash_hex);
      return true;
    });
    ASSERT_TRUE(resume.ok()) << resume.status().ToString();
    ASSERT_FALSE(page.empty());
    const size_t versions_of_rotated = static_cast<size_t>(std::count(page.begin(), page.end(), rotated));
    EXPECT_TRUE(versions_of_rotated == 0 || versions_of_rotated == 3) << "versions split";
    EXPECT_LE(page.size(), page.front() == rotated ? 3u : 2u);
    if (!resume->empty()) {
      EXPECT_EQ(*resume, page.back());
    }
    hashes.insert(hashes.end(), page.begin(), page.end());
    after = *resume;
    ASSERT_LT(++pages, 20);
  } while (!after.empty());
  ASSERT_EQ(hashes.size(), 9u);
  EXPECT_TRUE(std::is_sorted(hashes.begin(), hashes.end()));
  EXPECT_EQ(std::set<std::string>(hashes.begin(), hashes.end()).size(), 7u);

  // A page that ends exactly at the last key says nothing remains; one key short, it does not.
  auto exact = keys_->ListKeys("", 9, [](const SubjectKeyInfo&) { return true; });
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->empty());
  auto short_one = keys_->ListKeys("", 8, [](const SubjectKeyInfo&) { return true; });
  ASSERT_TRUE(short_one.ok());
  EXPECT_FALSE(short_one->empty());
  // A stop by the callback resumes before the subject it stopped in.
  std::vector<std::string> subjects(hashes.begin(), hashes.end());
  subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
  int calls = 0;
  auto stopped = keys_->ListKeys(subjects[0], 100, [&](const SubjectKeyInfo& i) {
    return ++calls, i.subject_hash_hex != subjects[2];
  });
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, subjects[1]);
}

// Index names are written only by SubjectKeys: one that is not a subject hash is damage. The
// listing says so (it could not page past it: page tokens carry hashes) instead of asserting or
// making a token the next request refuses.
TEST_F(SubjectKeysTest, ListKeysReportsAnIndexEntryWhoseNameIsNotAHashAsDataLoss) {
  for (int i = 0; i < 3; ++i) Write("subject-" + std::to_string(i));
  ASSERT_TRUE(store_->PutKeyMaterial("subject/not-a-hash", "x").ok());
  auto listed = keys_->ListKeys("", 100, [](const SubjectKeyInfo&) { return true; });
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(listed.status().message().find("not-a-hash"), std::string::npos)
      << "the damaged name is not echoed";
}

TEST_F(SubjectKeysTest, ListKeysShowsVersionsByHashedSubject) {
  const SubjectKey a1 = Write("alice");
  auto a2 = keys_->Rotate("alice");
  const SubjectKey b = Write("bob");
  ASSERT_TRUE(a2.ok());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<SubjectKeyInfo> all;
  ASSERT_TRUE(keys_->ListKeys("", SIZE_MAX, [&](const SubjectKeyInfo& i) { return all.push_back(i), true; }).ok());
  ASSERT_EQ(all.size(), 3u);
  std::map<std::string, SubjectKeyInfo> by_kid;
  for (const SubjectKeyInfo& i : all) {
    EXPECT_LE(std::abs(i.created_unix_s - now), 60);
    EXPECT_EQ(i.subject_hash_hex.size(), 64u);
    by_kid[i.kid] = i;
  }
  EXPECT_EQ(by_kid[a1.kid].subject_hash_hex, keys_->SubjectHashHex("alice"));
  EXPECT_EQ(by_kid[a1.kid].version, 1u);
  EXPECT_FALSE(by_kid[a1.kid].current);
  EXPECT_EQ(by_kid[a2->kid].version, 2u);
  EXPECT_TRUE(by_kid[a2->kid].current);
  EXPECT_EQ(by_kid[b.kid].subject_hash_hex, keys_->SubjectHashHex("bob"));
  EXPECT_TRUE(by_kid[b.kid].current);
  int calls = 0;
  ASSERT_TRUE(keys_->ListKeys("", SIZE_MAX, [&](const SubjectKeyInfo&) { return ++calls < 2; }).ok());
  EXPECT_EQ(calls, 2);
  // The hash depends on the store's salt, not only on the subject.
  testing::TempDir other_dir;
  storage::RocksOptions o;
  o.path = other_dir.Sub("db");
  o.create_if_missing = true;
  auto other_store = storage::OpenRocksLogStore(o);
  ASSERT_TRUE(other_store.ok());
  auto other = SubjectKeys::Open(other_store->get(), kms_.get());
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->SubjectHashHex("alice"), keys_->SubjectHashHex("alice"));
  Reopen();  // the salt is persistent
  EXPECT_EQ(by_kid[a1.kid].subject_hash_hex, keys_->SubjectHashHex("alice"));
}

TEST_F(SubjectKeysTest, TheKeyStoreNeverHoldsTheSubjectInClear) {
  const std::string subject = "jane.doe+unique-7f3e9a@example.com";
  const SubjectKey a = Write(subject);
  ASSERT_TRUE(keys_->Rotate(subject).ok());
  Write("someone-else");
  ASSERT_TRUE(keys_->Forget("someone-else").ok());  // flushes and compacts: SST files exist
  ASSERT_TRUE(keys_->KeyForRead(a.kid).ok());
  CloseAll();
  EXPECT_FALSE(testing::ListFiles(db_path(), ".sst").empty());
  EXPECT_EQ(FilesContaining(db_path(), subject), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(db_path(), "jane.doe"), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(db_path(), std::string(a.key->view())), std::vector<std::string>{});
}

TEST_F(SubjectKeysTest, RewrapAllMovesEveryKeyToTheNewKek) {
  std::vector<SubjectKey> written;
  for (const char* s : {"alice", "bob", "carol"}) written.push_back(Write(s));
  auto rotated = keys_->Rotate("alice");
  ASSERT_TRUE(rotated.ok());
  written.push_back(*rotated);
  auto new_kms = LocalKms::Create(tmp_.Sub("keyring-2"));
  ASSERT_TRUE(new_kms.ok());
  EXPECT_EQ(keys_->RewrapAll(*kms_).code(), StatusCode::kInvalidArgument);  // the current KEK
  ASSERT_TRUE(keys_->RewrapAll(**new_kms).ok());
  keys_->ClearCache();
  for (const SubjectKey& k : written) {
    EXPECT_EQ(keys_->KeyForRead(k.kid)->key->view(), k.key->view()) << k.kid;
  }
  const SubjectKey dave = Write("dave");  // created under the new KEK
  // The old KEK opens none of them any more; the new one opens all of them.
  Reopen(kms_.get());
  for (const SubjectKey& k : written) {
    EXPECT_EQ(keys_->KeyForRead(k.kid).status().code(), StatusCode::kFailedPrecondition);
    const std::string value = Wrapped(k.kid);
    ASSERT_GT(value.size(), 2u);
    const std::string blob = value.substr(2 + static_cast<uint8_t>(value[1]));
    EXPECT_EQ(kms_->Unwrap(blob, "skey/" + k.kid).status().code(), StatusCode::kDataLoss);
    EXPECT_TRUE((*new_kms)->Unwrap(blob, "skey/" + k.kid).ok());
  }
  Reopen(new_kms->get());
  for (const SubjectKey& k : written) {
    EXPECT_EQ(keys_->KeyForRead(k.kid)->key->view(), k.key->view());
  }
  EXPECT_EQ(keys_->KeyForRead(dave.kid)->key->view(), dave.key->view());
  EXPECT_EQ(Write("alice").kid, rotated->kid);
}

TEST_F(SubjectKeysTest, AnInterruptedRewrapIsFinishedByRunningItAgain) {
  std::vector<SubjectKey> written;
  for (int i = 0; i < 6; ++i) written.push_back(Write("subject-" + std::to_string(i)));
  auto new_local = LocalKms::Create(tmp_.Sub("keyring-2"));
  ASSERT_TRUE(new_local.ok());
  FlakyKms new_kms(new_local->get());
  new_kms.wraps_left = 3;  // the KMS goes away half-way
  EXPECT_EQ(keys_->RewrapAll(new_kms).code(), StatusCode::kUnavailable);
  // A mix: this object (still on the old KEK) reads the old half and names the KEK of the rest.
  keys_->ClearCache();
  int old_ok = 0, new_kek = 0;
  for (const SubjectKey& k : written) {
    auto r = keys_->KeyForRead(k.kid);
    if (r.ok()) {
      ++old_ok;
      EXPECT_EQ(r->key->view(), k.key->view());
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
      ++new_kek;
    }
  }
  EXPECT_EQ(old_ok, 3);
  EXPECT_EQ(new_kek, 3);
  // Run again (after a restart, with the old provider): it skips what is done and finishes.
  Reopen(kms_.get());
  new_kms.wraps_left = -1;
  ASSERT_TRUE(keys_->RewrapAll(new_kms).ok());
  Reopen(new_local->get());
  for (const SubjectKey& k : written) {
    EXPECT_EQ(keys_->KeyForRead(k.kid)->key->view(), k.key->view());
  }
}

TEST_F(SubjectKeysTest, AnUnreachableKmsIsUnavailableNotNotFound) {
  const SubjectKey a = Write("alice");
  keys_->ClearCache();
  flaky_->unavailable = true;
  EXPECT_EQ(keys_->KeyForRead(a.kid).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_->KeyForWrite("alice").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_->KeyForWrite("bob").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_->Rotate("alice").status().code(), StatusCode::kUnavailable);
  // Nothing was written for bob, and alice still has one version.
  int versions = 0;
  ASSERT_TRUE(keys_->ListKeys("", SIZE_MAX, [&](const SubjectKeyInfo&) { return ++versions, true; }).ok());
  EXPECT_EQ(versions, 1);
  flaky_->unavailable = false;
  EXPECT_EQ(keys_->KeyForRead(a.kid)->key->view(), a.key->view());
  // A blob unwrapped by the wrong KEK is kDataLoss (never kNotFound, never a wrong key).
  auto other = LocalKms::Create(tmp_.Sub("other-keyring"));
  ASSERT_TRUE(other.ok());
  const std::string value = Wrapped(a.kid);
  const std::string blob = value.substr(2 + static_cast<uint8_t>(value[1]));
  EXPECT_EQ((*other)->Unwrap(blob, "skey/" + a.kid).status().code(), StatusCode::kDataLoss);
  // A swapped blob (another kid's key under this name) fails: the wrap is bound to the name.
  const SubjectKey b = Write("bob");
  ASSERT_TRUE(store_->PutKeyMaterial("skey/" + a.kid, Wrapped(b.kid)).ok());
  keys_->ClearCache();
  EXPECT_EQ(keys_->KeyForRead(a.kid).status().code(), StatusCode::kDataLoss);
}

TEST_F(SubjectKeysTest, CostOfACacheMiss) {
  std::vector<std::string> kids;
  for (int i = 0; i < 100; ++i) kids.push_back(Write("subject-" + std::to_string(i)).kid);
  std::vector<double> micros;
  micros.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    keys_->ClearCache();
    const auto start = std::chrono::steady_clock::now();
    auto k = keys_->KeyForRead(kids[i % kids.size()]);
    const auto end = std::chrono::steady_clock::now();
    ASSERT_TRUE(k.ok());
    micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(micros.begin(), micros.end());
  std::vector<double> hit_micros;
  for (int i = 0; i < 1000; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto k = keys_->KeyForRead(kids[i % kids.size()]);
    const auto end = std::chrono::steady_clock::now();
    ASSERT_TRUE(k.ok());
    hit_micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(hit_micros.begin(), hit_micros.end());
  std::printf("[ cost     ] KeyForRead, local KMS: cache miss median %.1f us (p90 %.1f us), "
              "hit median %.2f us; hit rate %.3f\n",
              micros[500], micros[900], hit_micros[500], keys_->cache_stats().hit_rate());
}

}  // namespace
}  // namespace cairn::keys

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

// A subject key version is rolled over before it passes its encryption budget, also across a
// restart (the count is reserved durably and never undercounted), and every version stays
// readable. Budget: 10 encryptions per version, 1 per write, reserved 3 writes at a time.
TEST_F(SubjectKeysTest, RollsOverBeforeTheEncryptionLimitAlsoAfterARestart) {
  SubjectKeysOptions o;
  o.encryptions_per_version_max = 10;
  o.encryptions_per_write = 1;
  o.use_reservation_writes = 3;
  auto reopen = [&] {
    keys_.reset();
    auto k = SubjectKeys::Open(store_.get(), flaky_.get(), o);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    keys_ = std::move(k).value();
  };
  reopen();
  std::vector<std::string> kids;
  for (int i = 0; i < 25; ++i) kids.push_back(Write("alice").kid);
  EXPECT_EQ(kids[0].substr(25), ".1");
  EXPECT_EQ(kids[9].substr(25), ".1");
  EXPECT_EQ(kids[10].substr(25), ".2");
  EXPECT_EQ(kids[20].substr(25), ".3");
  EXPECT_EQ(kids[24].substr(25), ".3");
  EXPECT_EQ(Write("bob").kid.substr(25), ".1") << "budgets are per subject";

  reopen();  // 5 writes used under .3; at most 10 - 5 more before it rolls over
  int writes_before_rollover = 0;
  while (Write("alice").kid.substr(25) == ".3" && writes_before_rollover < 20) ++writes_before_rollover;
  EXPECT_LE(writes_before_rollover, 5);
  for (const std::string& kid : {kids[0], kids[10], kids[20]}) {
    EXPECT_TRUE(keys_->KeyForRead(kid).ok()) << kid;
  }
  auto forgot = keys_->Forget("alice");
  ASSERT_TRUE(forgot.ok()) << forgot.status().ToString();
  EXPECT_EQ(forgot->versions_destroyed, 4u);
  for (const std::string& kid : forgot->kids) {
    auto use = store_->ReadKeyMaterial("skey-use/" + kid);
    ASSERT_TRUE(use.ok());
    EXPECT_FALSE(use->has_value()) << "the use count of " << kid << " is destroyed too";
  }
}

// The use counts outlive the key cache: with the cache off (a documented setting), writes that
// alternate between subjects keep their reserved blocks. When the counts shared the cache's
// bound, each write evicted the other subject's count, gave up the rest of its block and claimed
// a new one: a durable put per write, and a new version after every few writes.
TEST_F(SubjectKeysTest, UseCountsAreKeptWithTheKeyCacheOff) {
  SubjectKeysOptions o;
  o.cache_entries_max = 0;
  o.encryptions_per_version_max = 8192;
  o.encryptions_per_write = 1;
  o.use_reservation_writes = 4096;
  keys_.reset();
  auto k = SubjectKeys::Open(store_.get(), flaky_.get(), o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  keys_ = std::move(k).value();
  std::string last_a, last_b;
  for (int round = 0; round < 3; ++round) {
    last_a = Write("alice").kid;
    last_b = Write("bob").kid;
  }
  EXPECT_EQ(last_a.substr(25), ".1") << "alice rolled over after 3 writes";
  EXPECT_EQ(last_b.substr(25), ".1") << "bob rolled over after 3 writes";
  // One block claimed per subject: the stored count is one block up, not three.
  auto use = store_->ReadKeyMaterial("skey-use/" + last_a);
  ASSERT_TRUE(use.ok() && use->has_value());
  ASSERT_EQ((*use)->size(), 8u);
  uint64_t claimed = 0;
  for (unsigned char c : **use) claimed = (claimed << 8) | c;
  EXPECT_EQ(claimed, 4096u);
}

// Two users of one store (two nodes of a shared store) writing under one subject: their blocks
// of the version's count never overlap, so no version encrypts more than its budget in all.
// (When each reserved up from its own count, both used the same blocks: ~2x the budget.)
TEST_F(SubjectKeysTest, TwoNodesSharingTheStoreStayWithinOneVersionsBudgetTogether) {
  SubjectKeysOptions o;
  o.encryptions_per_version_max = 10;
  o.encryptions_per_write = 1;
  o.use_reservation_writes = 3;
  o.cache_ttl_ms = 0;  // each write sees the other node's rollovers at once
  keys_.reset();
  auto a = SubjectKeys::Open(store_.get(), flaky_.get(), o);
  auto b = SubjectKeys::Open(store_.get(), flaky_.get(), o);
  ASSERT_TRUE(a.ok() && b.ok());
  std::map<std::string, int> writes_per_kid;
  for (int i = 0; i < 60; ++i) {
    auto k = (i % 2 == 0 ? *a : *b)->KeyForWrite("alice");
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    ++writes_per_kid[k->kid];
  }
  EXPECT_GE(writes_per_kid.size(), 6u);
  for (const auto& [kid, writes] : writes_per_kid) EXPECT_LE(writes, 10) << kid;
}

// A node whose cache still names a subject's key after another node forgot the subject (its
// notification not arrived yet) must not write under the destroyed key — the event would read as
// erased at once — nor leave the key's use row behind: it starts the subject again with a new key.
TEST_F(SubjectKeysTest, AWriteUnderAKeyForgottenByAnotherNodeTakesANewKeyAndLeavesNoUseRow) {
  SubjectKeysOptions o;
  o.use_reservation_writes = 1;  // every write claims from the shared count
  keys_.reset();
  auto a = SubjectKeys::Open(store_.get(), flaky_.get(), o);
  auto b = SubjectKeys::Open(store_.get(), flaky_.get(), o);
  ASSERT_TRUE(a.ok() && b.ok());
  auto first = (*a)->KeyForWrite("alice");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE((*a)->KeyForWrite("alice").ok());
  auto forgotten = (*b)->Forget("alice");
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().ToString();
  ASSERT_EQ(forgotten->kids, std::vector<std::string>{first->kid});

  auto after = (*a)->KeyForWrite("alice");  // a's cache still names the forgotten key
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_NE(after->kid, first->kid);
  EXPECT_NE(after->kid.substr(0, 25), first->kid.substr(0, 25)) << "a new handle, not a version";
  for (const char* prefix : {"skey/", "skey-use/"}) {
    auto left = store_->ReadKeyMaterial(prefix + first->kid);
    ASSERT_TRUE(left.ok());
    EXPECT_FALSE(left->has_value()) << prefix << first->kid << " was left behind";
  }
  // The new key is the subject's key for both nodes, and readable.
  auto on_b = (*b)->KeyForWrite("alice");
  ASSERT_TRUE(on_b.ok());
  EXPECT_EQ(on_b->kid, after->kid);
  EXPECT_TRUE((*b)->KeyForRead(after->kid).ok());
}

}  // namespace
}  // namespace cairn::keys
