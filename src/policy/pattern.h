// Precompiled matchers of a policy: stream patterns, event type sets and principal patterns.
//
// Matching never allocates; the Compile functions validate and return kInvalidArgument with a
// message naming the bad text.
//
// Stream patterns: "order-1" (exact), "order-*" (prefix), "*" (every stream). A '*' anywhere but
// at the end is rejected. System streams (ids starting with '$', such as "$audit") are matched
// only by patterns that themselves start with '$' ("$audit", "$*"): a grant on "*" or "o*" never
// reaches the store's own streams.
//
// Event type sets: a list of exact names, or the single entry "*" (any type).
//
// Principal patterns (bindings): an exact principal id ("apikey:ci-bot"), a prefix ending in '*'
// ("jwt:svc-*"), or "*" (any authenticated principal). Anything but "*" must start with one of
// the methods "jwt:", "apikey:" or "mtls:".
//
// Thread safety: immutable after Compile; safe to share between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::policy {

class StreamPattern {
 public:
  static Result<StreamPattern> Compile(std::string_view text);
  // Grants: "*" and prefixes not starting with '$' never match a system stream ('$...').
  bool Matches(std::string_view stream) const;
  // Denies: the same, except that "*" matches every stream, system streams included, so that a
  // deny of everything denies everything.
  bool MatchesForDeny(std::string_view stream) const {
    return kind_ == Kind::kAny || Matches(stream);
  }
  // As a deny: true when this pattern matches every stream that `grant` matches as a grant.
  bool CoversForDeny(const StreamPattern& grant) const;
  bool is_any() const { return kind_ == Kind::kAny; }
  const std::string& text() const { return text_; }  // as written

 private:
  enum class Kind : uint8_t { kExact, kPrefix, kAny };
  Kind kind_ = Kind::kExact;
  std::string text_;
  std::string prefix_;  // kExact: the id; kPrefix: text without the '*'
};

class EventTypeSet {
 public:
  // `names` must be non-empty; "*" must be the only entry when present.
  static Result<EventTypeSet> Compile(const std::vector<std::string>& names);
  bool Matches(std::string_view event_type) const;
  bool is_any() const { return any_; }

 private:
  bool any_ = false;
  std::vector<std::string> names_;  // sorted, unique
};

class PrincipalPattern {
 public:
  static Result<PrincipalPattern> Compile(std::string_view text);
  bool Matches(std::string_view principal_id) const;
  const std::string& text() const { return text_; }

 private:
  bool prefix_ = false;
  std::string text_;
  std::string match_;  // exact id, or the prefix without '*'
};

}  // namespace cairn::policy
