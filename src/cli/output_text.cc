#include "cli/output_text.h"

#include "cli/utf8.h"
#include "common/bytes.h"

namespace cairn::cli {
namespace {

std::string DataText(const std::string& data) {
  if (IsValidUtf8(data)) return TerminalSafe(data);
  return "base64:" + Base64Encode(data);
}

}  // namespace

std::string EventLine(const engine::RecordedEvent& event) {
  const integrity::Entry& e = event.entry;
  return std::to_string(e.position) + " " + TerminalSafe(e.stream_id) + "@" +
         std::to_string(e.stream_version) + " " + TerminalSafe(e.event_type) + " " +
         engine::FormatUuid(e.event_id) + " " + DataText(event.data);
}

std::string StreamInfoText(std::string_view stream, const engine::StreamInfo& info) {
  std::string out = "stream " + TerminalSafe(stream) + "\n";
  out += std::string("exists ") + (info.exists ? "true" : "false") + "\n";
  out += std::string("deleted ") + (info.deleted ? "true" : "false") + "\n";
  out += "events " + std::to_string(info.event_count) + "\n";
  if (info.exists) {
    out += "last_version " + std::to_string(info.last_version) + "\n";
    out += "last_position " + std::to_string(info.last_position) + "\n";
  }
  return out;
}

}  // namespace cairn::cli
