// Where the integration tests find the independent implementations that `make interop` builds
// or installs into the build tree (Makefile, "interop"): Go's sumdb checker and the pinned npm
// packages with the test scripts beside them. A test that needs one fails when it is missing,
// or is skipped with CAIRN_INTEROP_OPTIONAL=1.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace cairn::testing {

inline std::filesystem::path InteropDir() {
  return std::filesystem::path(CAIRN_BIN).parent_path().parent_path() / "interop";
}
// tests/interop/tlog_interop.go, built.
inline std::filesystem::path GoChecker() { return InteropDir() / "tlog_interop"; }
// tests/interop/node/*.mjs beside node_modules (jose, standardwebhooks, cloudevents).
inline std::filesystem::path NodeInteropDir() { return InteropDir() / "node"; }
inline bool NodeInteropReady() {
  return std::filesystem::exists(NodeInteropDir() / "node_modules" / "jose" / "package.json");
}

inline bool InteropOptional() {
  const char* optional = std::getenv("CAIRN_INTEROP_OPTIONAL");
  return optional != nullptr && std::string(optional) == "1";
}

inline bool OnPath(const std::string& program) {
  return RunCommand({"sh", "-c", "command -v " + program + " >/dev/null"}).exit_code == 0;
}

// Runs tests/interop/node/<script> with node; stdout and stderr apart.
inline CommandResult RunNodeScript(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"node", (NodeInteropDir() / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

}  // namespace cairn::testing

// In a test body: fails the test when a tool is missing, or skips it (CAIRN_INTEROP_OPTIONAL=1).
#define CAIRN_INTEROP_REQUIRE(present, why)                                                    \
  if (!(present)) {                                                                            \
    if (::cairn::testing::InteropOptional()) {                                                 \
      GTEST_SKIP() << (why) << " (skipped: CAIRN_INTEROP_OPTIONAL=1)";                         \
    }                                                                                          \
    FAIL() << (why);                                                                           \
  }

#define CAIRN_INTEROP_REQUIRE_NODE()                                                           \
  CAIRN_INTEROP_REQUIRE(::cairn::testing::NodeInteropReady(),                                  \
                        "no " + ::cairn::testing::NodeInteropDir().string() +                  \
                            "/node_modules: run `make interop`")
