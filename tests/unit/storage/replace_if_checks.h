// The contracts of LogStore's conditional key material calls, checked on any backend:
// ReplaceKeyMaterialIf replaces only what it was told is there and never brings destroyed key
// material back; DestroyKeyMaterialsIf destroys only names that still hold the bytes given;
// DeleteUnusedKeyMaterial deletes.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "storage/log_store.h"

namespace cairn::storage::testing {

inline void ExpectReplaceKeyMaterialIf(LogStore* store) {
  const std::string name = "skey/replace-if";
  const std::string first("w1\0\xff", 4);
  ASSERT_TRUE(store->PutKeyMaterial(name, first).ok());
  Result<bool> stale = store->ReplaceKeyMaterialIf(name, "not what is there", "w2");
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_FALSE(*stale);
  EXPECT_EQ(**store->ReadKeyMaterial(name), first);
  Result<bool> replaced = store->ReplaceKeyMaterialIf(name, first, "w2");
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_TRUE(*replaced);
  EXPECT_EQ(**store->ReadKeyMaterial(name), "w2");
  // A re-wrap that read the key before a forget destroyed it must not write it back.
  ASSERT_TRUE(store->DestroyKeyMaterial(name).ok());
  Result<bool> after_destroy = store->ReplaceKeyMaterialIf(name, "w2", "w3");
  ASSERT_TRUE(after_destroy.ok()) << after_destroy.status().ToString();
  EXPECT_FALSE(*after_destroy);
  EXPECT_FALSE(store->ReadKeyMaterial(name)->has_value());
  EXPECT_EQ(store->ReplaceKeyMaterialIf("", "a", "b").status().code(), StatusCode::kInvalidArgument);
}

inline void ExpectDestroyKeyMaterialsIf(LogStore* store) {
  const std::string same = "WRAPPED-unchanged-1c9e", before = "WRAPPED-before-77aa",
                    rewritten = "WRAPPED-rewritten-3f02";
  ASSERT_TRUE(store->PutKeyMaterial("wh/a/secret/1", same).ok());
  ASSERT_TRUE(store->PutKeyMaterial("wh/b/secret/1", rewritten).ok());  // rewritten since looked at
  ASSERT_TRUE(store->PutKeyMaterial("wh/c/secret/1", "WRAPPED-untouched").ok());
  const std::vector<LogStore::ExpectedKeyMaterial> expected = {
      {"wh/a/secret/1", same}, {"wh/b/secret/1", before}, {"wh/never/secret/1", "x"}};
  size_t destroyed = 99;
  Result<DestroyReport> report = store->DestroyKeyMaterialsIf(expected, &destroyed);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(destroyed, 1u);
  EXPECT_FALSE(store->ReadKeyMaterial("wh/a/secret/1")->has_value());
  EXPECT_EQ(**store->ReadKeyMaterial("wh/b/secret/1"), rewritten);
  EXPECT_EQ(**store->ReadKeyMaterial("wh/c/secret/1"), "WRAPPED-untouched");
  // Nothing matches: nothing is deleted.
  const std::vector<LogStore::ExpectedKeyMaterial> stale = {{"wh/b/secret/1", before}};
  ASSERT_TRUE(store->DestroyKeyMaterialsIf(stale, &destroyed).ok());
  EXPECT_EQ(destroyed, 0u);
  EXPECT_EQ(**store->ReadKeyMaterial("wh/b/secret/1"), rewritten);
  const std::vector<LogStore::ExpectedKeyMaterial> too_many(LogStore::kDestroyBatchNamesMax + 1,
                                                            {"wh/a/secret/1", same});
  EXPECT_EQ(store->DestroyKeyMaterialsIf(too_many, nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

inline void ExpectDeleteUnusedKeyMaterial(LogStore* store) {
  ASSERT_TRUE(store->PutKeyMaterial("skey/lost-race.1", "WRAPPED-never-used").ok());
  ASSERT_TRUE(store->PutKeyMaterial("skey/kept.1", "WRAPPED-kept").ok());
  ASSERT_TRUE(store->DeleteUnusedKeyMaterial("skey/lost-race.1").ok());
  EXPECT_FALSE(store->ReadKeyMaterial("skey/lost-race.1")->has_value());
  EXPECT_EQ(**store->ReadKeyMaterial("skey/kept.1"), "WRAPPED-kept");
  EXPECT_TRUE(store->DeleteUnusedKeyMaterial("skey/never-there").ok());
  EXPECT_EQ(store->DeleteUnusedKeyMaterial("").code(), StatusCode::kInvalidArgument);
}

}  // namespace cairn::storage::testing
