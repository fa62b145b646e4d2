// Turning stored records into RecordedEvents, and validating proposed events.
#pragma once

#include <functional>

#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/record_codec.h"
#include "engine/sequencer.h"
#include "engine/types.h"

namespace cairn::engine {

// Opens and decodes the stored record at `position` (its entry must name that position).
Status DecodeRecordedEvent(RecordCipher& cipher, uint64_t position, std::string_view stored,
                           RecordedEvent* out);

// The first event of a client append, as kInvalidArgument, that is of a type `is_protected`
// covers with a content type that is not JSON, or of another type with data that parses as
// JSON (whatever its content type) with an object member named "$enc" (escapes decoded); Ok
// otherwise. Only the server makes protected-field objects: one sent in clear data could be
// decrypted, fail every read once a rule covers its type, or be listed as a protected field by
// whoever alters responses to a verifying reader. Data that is not JSON is left to PrepareAppend.
Status CheckNoEncMembers(const std::vector<ProposedEvent>& events,
                         const std::function<bool(std::string_view event_type)>& is_protected);

// Validates a proposed append against `limits` (stream id, count, sizes, ids, types, JSON) and
// turns it into a PreparedAppend with generated ids and the data/metadata hashes computed.
// Runs in the caller's thread so that the sequencer only sequences. A kClient append may not
// name a '$' stream or event type; a kSystem append (cairn's own writers) must name a '$' stream.
enum class AppendOrigin { kClient, kSystem };

// PrepareAppend's checks of a client append except the JSON parse, and fresh ids for events
// without one, for use BEFORE field protection: an append that PrepareAppend would refuse must
// not first create subject keys (a durable store write each) or encrypt anything. The JSON is
// parsed by the protection itself, and PrepareAppend checks everything again afterwards (the
// protected data is larger).
Status PrecheckAppend(std::string_view stream_id, std::vector<ProposedEvent>* events,
                      const Limits& limits);
Result<PreparedAppend> PrepareAppend(std::string_view stream_id, ExpectedVersion expected,
                                     std::vector<ProposedEvent> events, const Limits& limits,
                                     AppendOrigin origin = AppendOrigin::kClient);

}  // namespace cairn::engine
