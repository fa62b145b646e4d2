// LogStore::ReplaceKeyMaterialIf's contract, checked on any backend: it replaces only what it was
// told is there, and never brings destroyed key material back.
#pragma once

#include <gtest/gtest.h>

#include <string>

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

}  // namespace cairn::storage::testing
