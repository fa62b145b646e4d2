// Helpers of the policy tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/principal.h"
#include "policy/parse.h"

namespace cairn::policy::testing {

inline std::shared_ptr<const Policy> MustParse(const std::string& text) {
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(text, "test.toml");
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  if (!policy.ok()) return std::make_shared<const Policy>();
  return std::move(policy).value();
}

inline Principal MakePrincipal(std::string id, std::vector<std::string> roles = {}) {
  Principal p;
  p.id = std::move(id);
  p.roles = std::move(roles);
  p.method = AuthMethod::kApiKey;
  return p;
}

}  // namespace cairn::policy::testing
