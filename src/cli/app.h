// The cairn command line: builds the CLI11 app with every subcommand and runs it.
#pragma once

namespace cairn::cli {

// Parses argv, runs the chosen subcommand and returns the process exit code (see exit_codes.h).
int Run(int argc, char** argv);

}  // namespace cairn::cli
