#include "cli/args.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <iterator>

namespace cairn::cli {
namespace {

Result<std::string> ReadStream(std::istream& in, std::string_view what, std::string_view source) {
  std::string out;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > kValueFileSizeBytesMax) {
      return Status::ResourceExhausted(std::string(what) + ": " + std::string(source) +
                                       " is larger than " +
                                       std::to_string(kValueFileSizeBytesMax >> 20) + " MiB");
    }
  }
  if (in.bad()) {
    return Status::IOError(std::string(what) + ": cannot read " + std::string(source));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<uint64_t> ParseU64(std::string_view text, std::string_view what) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || text[0] == '+' || ec != std::errc() || ptr != end) {
    return Status::InvalidArgument(std::string(what) + ": '" + std::string(text) +
                                   "' is not a non-negative integer");
  }
  return v;
}

CLI::Validator DecimalDigits() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        constexpr size_t kDigitsMax = 20;  // UINT64_MAX has 20
        if (value.empty() || !std::all_of(value.begin(), value.end(),
                                          [](char c) { return c >= '0' && c <= '9'; })) {
          return "must be a plain decimal number (digits only)";
        }
        // No leading zeros: CLI11 converts with base 0, so "010" would be octal 8 (and a `check`
        // validator cannot rewrite the value).
        if (value.size() > 1 && value[0] == '0') return "must not start with 0";
        // CLI11's conversion range-checks narrower types but not uint64_t itself: strtoull's
        // overflow (UINT64_MAX, ERANGE) would pass as the largest value.
        if (value.size() > kDigitsMax || (value.size() == kDigitsMax && value > "18446744073709551615")) {
          return "is too large";
        }
        return std::string();
      },
      "N");
}

Result<std::string> ReadValueArg(const std::string& value, std::string_view what) {
  if (value.empty() || value[0] != '@') return value;
  if (value == "@-") return ReadStream(std::cin, what, "stdin");
  const std::string path = value.substr(1);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(std::string(what) + ": cannot open file '" + path + "'");
  return ReadStream(in, what, "file '" + path + "'");
}

Result<std::string> SubjectArg(const std::string& value) {
  CAIRN_ASSIGN_OR_RETURN(std::string subject, ReadValueArg(value, "SUBJECT"));
  if (!subject.empty() && subject.back() == '\n') subject.pop_back();
  if (!subject.empty() && subject.back() == '\r') subject.pop_back();
  if (subject.empty()) return Status::InvalidArgument("SUBJECT must not be empty");
  return subject;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  if (Trim(text).empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.emplace_back(Trim(text.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

void AddPinnedKeyOptions(CLI::App* command, std::string* key, std::string* key_file,
                         const std::string& checks) {
  command->add_option("--verifier-key", *key,
                      "Pin the log's verifier key line (`cairn vkey`, kept apart from the log): " +
                          checks)
      ->option_text("KEY");
  command->add_option("--verifier-key-file", *key_file,
                      "A file holding the verifier key line, instead of --verifier-key")
      ->option_text("FILE");
}

}  // namespace cairn::cli
