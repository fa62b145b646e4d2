// State shared by the subcommands of one cairn invocation: the global flags and the exit code
// that the chosen subcommand's handler sets.
#pragma once

#include <string>

#include "cli/exit_codes.h"

namespace cairn::cli {

struct CliContext {
  std::string global_data_dir;  // --data-dir given before the subcommand
  int exit_code = kExitOk;
};

}  // namespace cairn::cli
