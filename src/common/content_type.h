// Content types of events (DESIGN.md: an event's content type is part of its entry).
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace cairn {

// True for application/json and any */*+json type (parameters after ';' ignored, any case).
// Only such events are parsed as JSON, and only their data can hold protected fields.
bool IsJsonContentType(std::string_view content_type);

}  // namespace cairn
