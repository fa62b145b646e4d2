#include "server/esdb/streams_filter.h"

#include <cassert>
#include <utility>

#include <re2/re2.h>

namespace cairn::server::esdb {

using Options = event_store::client::streams::ReadReq::Options;
using Expression = Options::FilterOptions::Expression;

namespace {

Result<std::unique_ptr<re2::RE2>> CompileRegex(const std::string& pattern) {
  if (pattern.size() > kFilterRegexBytesMax) {
    return Status::InvalidArgument("filter regex longer than " +
                                   std::to_string(kFilterRegexBytesMax) + " bytes");
  }
  re2::RE2::Options options;
  options.set_max_mem(kFilterRegexMemoryBytesMax);
  options.set_log_errors(false);
  auto regex = std::make_unique<re2::RE2>(pattern, options);
  if (!regex->ok()) {
    // RE2's error names the construct, never more than the client sent.
    return Status::InvalidArgument("filter regex not accepted: " + regex->error());
  }
  return regex;
}

Status CheckPrefixes(const Expression& expression) {
  if (static_cast<size_t>(expression.prefix_size()) > kFilterPrefixesMax) {
    return Status::InvalidArgument("filter has more than " + std::to_string(kFilterPrefixesMax) +
                                   " prefixes");
  }
  for (const std::string& prefix : expression.prefix()) {
    if (prefix.size() > kFilterPrefixBytesMax) {
      return Status::InvalidArgument("filter prefix longer than " +
                                     std::to_string(kFilterPrefixBytesMax) + " bytes");
    }
  }
  return Status::Ok();
}

}  // namespace

ReadFilter::ReadFilter() = default;
ReadFilter::ReadFilter(ReadFilter&&) noexcept = default;
ReadFilter& ReadFilter::operator=(ReadFilter&&) noexcept = default;
ReadFilter::~ReadFilter() = default;

Result<ReadFilter> ReadFilter::Parse(const Options& options) {
  ReadFilter filter;
  if (options.filter_option_case() != Options::kFilter) return filter;
  const Options::FilterOptions& wire = options.filter();
  const Expression* expression = nullptr;
  switch (wire.filter_case()) {
    case Options::FilterOptions::kStreamIdentifier:
      filter.on_ = On::kStreamName;
      expression = &wire.stream_identifier();
      break;
    case Options::FilterOptions::kEventType:
      filter.on_ = On::kEventType;
      expression = &wire.event_type();
      break;
    case Options::FilterOptions::FILTER_NOT_SET:
      return filter;
  }
  assert(expression != nullptr);
  if (!expression->regex().empty()) {
    CAIRN_ASSIGN_OR_RETURN(filter.regex_, CompileRegex(expression->regex()));
    return filter;
  }
  CAIRN_RETURN_IF_ERROR(CheckPrefixes(*expression));
  filter.prefixes_.assign(expression->prefix().begin(), expression->prefix().end());
  return filter;
}

bool ReadFilter::Matches(std::string_view stream, std::string_view event_type) const {
  if (on_ == On::kNothing) return true;
  const std::string_view subject = on_ == On::kStreamName ? stream : event_type;
  if (regex_ != nullptr) {
    return re2::RE2::PartialMatch(re2::StringPiece(subject.data(), subject.size()), *regex_);
  }
  for (const std::string& prefix : prefixes_) {
    if (subject.substr(0, prefix.size()) == prefix) return true;
  }
  return prefixes_.empty();  // an expression with neither regex nor prefix filters nothing
}

}  // namespace cairn::server::esdb
