// The body of a webhook delivery: one event as a CloudEvents 1.0 structured-mode JSON document
// (content type `application/cloudevents+json`).
//
// Attributes: specversion "1.0"; id = the event id (UUID text, also the webhook-id); source =
// "cairn://<log origin>"; type = the event type; time = recorded_at as RFC 3339 UTC with
// nanoseconds; datacontenttype = the event's content type; data = the JSON payload for JSON
// content types (application/json, */*+json), data_base64 otherwise. cairn extension attributes
// (lowercase alphanumeric names, string values because CloudEvents integers are 32-bit):
// position (global log position), stream (stream id), version (stream version). `subject` is
// left out: the data subject is not stored in clear (field protection). The event passed in is
// already the receiver's view (protected fields masked without read.pii).
//
// Thread safety: pure function.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::subscribe {

inline constexpr std::string_view kCloudEventsContentType = "application/cloudevents+json";

// kInvalidArgument when a JSON-typed payload does not parse (never for stored events, which
// were validated on append).
Result<std::string> CloudEventJson(const engine::RecordedEvent& event, std::string_view origin);

// RFC 3339 UTC with 9 fractional digits: "2026-11-30T14:00:00.123456789Z".
std::string Rfc3339Nanos(int64_t unix_ns);

}  // namespace cairn::subscribe
