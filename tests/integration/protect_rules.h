// Field protection for a test server: writes `rules` (a protection rules TOML) into the
// environment's directory and returns the `[protect]` table that names it, to put first in
// ServerEnv::extra_config before Start().
#pragma once

#include <string>

#include "server_env.h"
#include "test_util.h"

namespace cairn::testing {

inline std::string ProtectRulesConfig(const ServerEnv& env, const std::string& rules) {
  WriteFile(env.dir().Sub("protect.toml"), rules);
  return "[protect]\nfile = \"protect.toml\"\n";
}

}  // namespace cairn::testing
