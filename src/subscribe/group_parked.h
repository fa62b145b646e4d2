// Parked references: what a consumer group appends to `$parked-<group>` when it gives up on an
// event (retry limit reached, nacked with `park`, or no connected consumer may receive it).
//
// A reference names the event — position, stream, event id — with the reason and the number of
// deliveries; it never copies the payload, so parking duplicates no personal data. Reasons come
// from consumers: they are cut to kParkReasonSizeBytesMax bytes and reduced to printable ASCII.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::subscribe {

inline constexpr std::string_view kParkedEventType = "$parked";

struct ParkedRef {
  uint64_t position = 0;
  std::string stream;
  std::string event_id;  // 16 bytes
  std::string reason;
  uint32_t attempts = 0;
};

std::string ParkedStreamId(std::string_view group);
// Printable ASCII, at most kParkReasonSizeBytesMax bytes.
std::string CleanParkReason(std::string_view reason);
engine::ProposedEvent EncodeParkedRef(const ParkedRef& ref);
// kDataLoss for an event that is not a parked reference.
Result<ParkedRef> DecodeParkedRef(const engine::RecordedEvent& event);

}  // namespace cairn::subscribe
