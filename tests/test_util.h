// Helpers shared by the tests: temporary directories, running bin/cairn, reading vectors.
#pragma once

#include <string>
#include <vector>

namespace cairn::testing {

// A fresh directory under $TMPDIR, removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs the built `cairn` binary with `args` (no shell), optional stdin text; waits for it.
CommandResult RunCairn(const std::vector<std::string>& args, const std::string& stdin_text = "");
// Runs `argv` (argv[0] looked up in PATH, no shell) the same way; exit code 127 when it could
// not be started.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "");

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& contents);
// Files below `dir` whose names end in `suffix`, sorted.
std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix);
// Path of ../shared/vectors (compiled in). Tests that need vectors fail when it is missing,
// because CI always has it beside the checkout.
std::string VectorsDir();

}  // namespace cairn::testing
