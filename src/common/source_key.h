// SourceKey: the network source an address counts for, where one host or party is what counts
// (rate limits, audit sampling, alert thresholds): an IPv4 address as is, an IPv4-mapped IPv6
// address as its IPv4 address, other IPv6 addresses as their /64 (one host commonly holds a
// whole /64: counting its addresses one by one would give it 2^64 budgets), anything else as
// its text, cut to kSourceKeySizeBytesMax bytes.
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn {

inline constexpr size_t kSourceKeySizeBytesMax = 128;

std::string SourceKey(std::string_view address);

}  // namespace cairn
