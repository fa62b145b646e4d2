// ReadFilter: the server-side filter of an EventStoreDB Read ($all or a stream, read or
// subscription): on the stream name or on the event type, by prefixes or by a regular expression.
//
// Regular expressions run on RE2 (linear time in the input, bounded memory, no backtracking), so a
// client's pattern cannot make the server spin: a pattern over kFilterRegexBytesMax bytes, one
// that needs more than kFilterRegexMemoryBytesMax to compile, or one RE2 does not accept
// (backreferences, lookaround) is refused with kInvalidArgument. Matching is a search (unanchored
// unless the pattern anchors itself), as the EventStoreDB server's .NET Regex.IsMatch does.
// Prefix lists hold at most kFilterPrefixesMax entries of at most kFilterPrefixBytesMax bytes.
//
// Thread safety: Matches() is const and safe to call concurrently; the filter is immutable after
// Parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "event_store/client/streams.pb.h"

namespace re2 {
class RE2;
}

namespace cairn::server::esdb {

inline constexpr size_t kFilterPrefixesMax = 64;
inline constexpr size_t kFilterPrefixBytesMax = 512;
inline constexpr size_t kFilterRegexBytesMax = 256;
inline constexpr int64_t kFilterRegexMemoryBytesMax = int64_t{1} << 20;

class ReadFilter {
 public:
  enum class On : uint8_t { kNothing, kStreamName, kEventType };

  // The filter of `options` (filter_option); no filter (kNothing) when it has none.
  static Result<ReadFilter> Parse(const event_store::client::streams::ReadReq::Options& options);

  ReadFilter();
  ReadFilter(ReadFilter&&) noexcept;
  ReadFilter& operator=(ReadFilter&&) noexcept;
  ~ReadFilter();

  // True when the event passes (always for kNothing).
  bool Matches(std::string_view stream, std::string_view event_type) const;

  On on() const { return on_; }
  bool active() const { return on_ != On::kNothing; }

 private:
  On on_ = On::kNothing;
  std::vector<std::string> prefixes_;
  std::unique_ptr<re2::RE2> regex_;  // set when the expression is a regex
};

}  // namespace cairn::server::esdb
