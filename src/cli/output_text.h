// Human-readable forms of engine values. Every string that comes from the log (stream ids,
// types, payloads) is passed through TerminalSafe.
#pragma once

#include <string>
#include <string_view>

#include "engine/types.h"

namespace cairn::cli {

// "<position> <stream>@<version> <type> <uuid> <data as text>". Data that is not UTF-8 is shown
// as "base64:<...>".
std::string EventLine(const engine::RecordedEvent& event);

// "key value" lines describing a stream.
std::string StreamInfoText(std::string_view stream, const engine::StreamInfo& info);

}  // namespace cairn::cli
