#include "policy/pattern.h"

#include <algorithm>
#include <cassert>

#include "policy/limits.h"

namespace cairn::policy {
namespace {

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x21 || u == 0x7f;
  });
}

bool IsSystemStream(std::string_view stream) { return !stream.empty() && stream[0] == '$'; }

}  // namespace

Result<StreamPattern> StreamPattern::Compile(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty stream pattern");
  if (text.size() > kStreamPatternSizeBytesMax) {
    return Status::InvalidArgument("stream pattern longer than " +
                                   std::to_string(kStreamPatternSizeBytesMax) + " bytes");
  }
  if (HasControlOrSpace(text)) {
    return Status::InvalidArgument("stream pattern '" + std::string(text) +
                                   "' contains a space or control character");
  }
  // "$all" names the whole log in requests, never a stream: a rule on it would match nothing (a
  // deny on it would deny nothing). Rules about the whole log are written on "*".
  if (text == "$all") {
    return Status::InvalidArgument(
        "stream pattern '$all': the whole log is not a stream; write \"*\" (every stream) instead");
  }
  const size_t star = text.find('*');
  if (star != std::string_view::npos && star != text.size() - 1) {
    return Status::InvalidArgument("stream pattern '" + std::string(text) +
                                   "': '*' is allowed only at the end");
  }
  StreamPattern p;
  p.text_ = std::string(text);
  if (text == "*") {
    p.kind_ = Kind::kAny;
  } else if (star != std::string_view::npos) {
    p.kind_ = Kind::kPrefix;
    p.prefix_ = std::string(text.substr(0, text.size() - 1));
    assert(!p.prefix_.empty());
  } else {
    p.kind_ = Kind::kExact;
    p.prefix_ = p.text_;
  }
  return p;
}

bool StreamPattern::CoversForDeny(const StreamPattern& grant) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return grant.kind_ == Kind::kExact && grant.prefix_ == prefix_;
    case Kind::kPrefix:
      // A grant on "*" reaches streams outside any prefix; an exact grant or a longer prefix is
      // inside when its text starts with this prefix (and is a system stream only if this is).
      return grant.kind_ != Kind::kAny && Matches(grant.prefix_);
  }
  return false;
}

bool StreamPattern::Matches(std::string_view stream) const {
  switch (kind_) {
    case Kind::kExact:
      return stream == prefix_;
    case Kind::kPrefix:
      if (IsSystemStream(stream) && !IsSystemStream(prefix_)) return false;
      return stream.starts_with(prefix_);
    case Kind::kAny:
      return !IsSystemStream(stream);
  }
  assert(false && "unknown stream pattern kind");
  return false;
}

Result<EventTypeSet> EventTypeSet::Compile(const std::vector<std::string>& names) {
  if (names.empty()) return Status::InvalidArgument("empty event type list");
  if (names.size() > kRuleEventTypesMax) {
    return Status::InvalidArgument("more than " + std::to_string(kRuleEventTypesMax) +
                                   " event types");
  }
  EventTypeSet set;
  for (const std::string& name : names) {
    if (name == "*") {
      if (names.size() != 1) {
        return Status::InvalidArgument("event type \"*\" must be the only entry of its list");
      }
      set.any_ = true;
      return set;
    }
    if (name.empty()) return Status::InvalidArgument("empty event type");
    if (name.size() > kEventTypeSizeBytesMax) {
      return Status::InvalidArgument("event type longer than " +
                                     std::to_string(kEventTypeSizeBytesMax) + " bytes");
    }
    if (name.find('*') != std::string::npos) {
      return Status::InvalidArgument("event type '" + name +
                                     "': event types are exact names or the single entry \"*\"");
    }
    set.names_.push_back(name);
  }
  std::sort(set.names_.begin(), set.names_.end());
  set.names_.erase(std::unique(set.names_.begin(), set.names_.end()), set.names_.end());
  return set;
}

bool EventTypeSet::Matches(std::string_view event_type) const {
  if (any_) return true;
  return std::binary_search(names_.begin(), names_.end(), event_type, std::less<>{});
}

Result<PrincipalPattern> PrincipalPattern::Compile(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty principal");
  if (text.size() > kPrincipalPatternSizeBytesMax) {
    return Status::InvalidArgument("principal longer than " +
                                   std::to_string(kPrincipalPatternSizeBytesMax) + " bytes");
  }
  if (HasControlOrSpace(text)) {
    return Status::InvalidArgument("principal '" + std::string(text) +
                                   "' contains a space or control character");
  }
  const size_t star = text.find('*');
  if (star != std::string_view::npos && star != text.size() - 1) {
    return Status::InvalidArgument("principal '" + std::string(text) +
                                   "': '*' is allowed only at the end");
  }
  if (text != "*" && !text.starts_with("jwt:") && !text.starts_with("apikey:") &&
      !text.starts_with("mtls:")) {
    return Status::InvalidArgument("principal '" + std::string(text) +
                                   "' must start with jwt:, apikey: or mtls: (or be \"*\")");
  }
  PrincipalPattern p;
  p.text_ = std::string(text);
  p.prefix_ = star != std::string_view::npos;
  p.match_ = p.prefix_ ? std::string(text.substr(0, text.size() - 1)) : p.text_;
  return p;
}

bool PrincipalPattern::Matches(std::string_view principal_id) const {
  if (prefix_) return principal_id.starts_with(match_);
  return principal_id == match_;
}

}  // namespace cairn::policy
