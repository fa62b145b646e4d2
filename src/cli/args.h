// Strict parsing of command-line values. CLI11's integer conversion accepts "-5" for unsigned
// options (strtoull wraps it) and octal/hex prefixes, so numbers are taken as text and parsed
// here: plain decimal digits only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/status.h"

namespace cairn::cli {

// Files given as @FILE larger than this are refused before they reach the engine.
inline constexpr size_t kValueFileSizeBytesMax = 64u << 20;

// A non-negative decimal integer; kInvalidArgument naming `what` otherwise.
Result<uint64_t> ParseU64(std::string_view text, std::string_view what);

// For numeric options bound straight to an integer: accepts plain decimal digits only, without
// leading zeros and at most UINT64_MAX, so CLI11's base-0 strtoull never sees "-1" (it wraps),
// "010" (octal) or an overflow (it would become UINT64_MAX).
CLI::Validator DecimalDigits();

// A value given inline, as @FILE (the file's bytes) or @- (all of stdin).
Result<std::string> ReadValueArg(const std::string& value, std::string_view what);

// A data subject's id given inline, as @FILE or as @- (stdin), so that personal data need not
// appear in the process list or the shell history; one trailing line break is dropped.
// kInvalidArgument when it is empty. (An id that starts with '@' is given through a file.)
Result<std::string> SubjectArg(const std::string& value);

// --verifier-key KEY and --verifier-key-file FILE (read them with PinnedVerifierKey,
// cli/anchor_files.h); `checks` ends the --verifier-key help: what the pinned key is checked
// against.
void AddPinnedKeyOptions(CLI::App* command, std::string* key, std::string* key_file,
                         const std::string& checks);

// "a,b,c" -> {"a","b","c"}, each trimmed of spaces; "" -> {}.
std::vector<std::string> SplitList(std::string_view text);

}  // namespace cairn::cli
