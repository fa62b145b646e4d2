#include "subscribe/webhook_cloudevent.h"

#include <cassert>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "common/content_type.h"
#include "engine/event_codec.h"

namespace cairn::subscribe {

std::string Rfc3339Nanos(int64_t unix_ns) {
  int64_t seconds = unix_ns / 1000000000;
  int64_t nanos = unix_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    seconds -= 1;
  }
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof(frac), ".%09lldZ", static_cast<long long>(nanos));
  return std::string(text, n) + frac;
}

Result<std::string> CloudEventJson(const engine::RecordedEvent& event, std::string_view origin) {
  const integrity::Entry& e = event.entry;
  nlohmann::json doc;
  doc["specversion"] = "1.0";
  doc["id"] = engine::FormatUuid(e.event_id);
  doc["source"] = "cairn://" + std::string(origin);
  doc["type"] = e.event_type;
  doc["time"] = Rfc3339Nanos(e.recorded_at_ns);
  const std::string content_type =
      e.content_type.empty() ? std::string(engine::kDefaultContentType) : e.content_type;
  doc["datacontenttype"] = content_type;
  doc["position"] = std::to_string(e.position);
  doc["stream"] = e.stream_id;
  doc["version"] = std::to_string(e.stream_version);
  // The engine's rule, which validated the data at append: JSON types are sent as "data".
  const bool json_data = IsJsonContentType(content_type) && !event.data.empty();
  // The parser skips a leading byte-order mark; inside the document it would not be JSON.
  // (The engine refuses one at append today; this does not rely on it.)
  std::string_view data = event.data;
  if (data.starts_with("\xEF\xBB\xBF")) data.remove_prefix(3);
  if (json_data && !nlohmann::json::accept(data)) {
    return Status::InvalidArgument("event data is not valid JSON");
  }
  if (!json_data && !event.data.empty()) doc["data_base64"] = Base64Encode(event.data);
  // Non-UTF-8 stream ids cannot occur (validated); replace rather than throw regardless.
  std::string body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!json_data) return body;
  // The data goes in byte for byte as stored, not parsed and written again: a parse would round
  // numbers beyond a double's precision (amounts!), reorder members and merge duplicates, and a
  // receiver could no longer match the data against the log's.
  assert(body.size() >= 2 && body.back() == '}');
  body.pop_back();
  body += ",\"data\":";
  body += data;
  body += '}';
  return body;
}

}  // namespace cairn::subscribe
