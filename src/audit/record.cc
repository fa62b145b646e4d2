#include "audit/record.h"

#include <array>
#include <cassert>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace cairn::audit {
namespace {

constexpr std::array<std::string_view, kAuditKindCount> kEventTypes = {
    "$auth.failure", "$access.denied",   "$connection.refused", "$admin",
    "$integrity.violation", "$server.start", "$server.stop", "$data", "$audit.gap"};

constexpr int64_t kNsPerSecond = 1'000'000'000;

// Length of the longest prefix of `s` of at most `max` bytes that does not cut a UTF-8 sequence.
size_t Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) { len = 2; cp = b0 & 0x1F; }
  else if ((b0 & 0xF0) == 0xE0) { len = 3; cp = b0 & 0x0F; }
  else if ((b0 & 0xF8) == 0xF0) { len = 4; cp = b0 & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void CutField(std::string* field) {
  if (field->size() > kAuditFieldBytesMax) field->resize(Utf8Prefix(*field, kAuditFieldBytesMax));
}

// Appends `value` (cut to kAuditFieldBytesMax) as a JSON string: control characters escaped,
// invalid UTF-8 bytes replaced by U+FFFD.
void AppendJsonString(std::string* out, std::string_view value) {
  value = value.substr(0, Utf8Prefix(value, kAuditFieldBytesMax));
  out->push_back('"');
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const size_t len = Utf8SequenceLength(value, i);
      if (len == 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(value.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (u < 0x20 || u == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
    ++i;
  }
  out->push_back('"');
}

void AppendField(std::string* out, std::string_view name, std::string_view value) {
  if (out->size() > 1) out->push_back(',');
  AppendJsonString(out, name);
  out->push_back(':');
  AppendJsonString(out, value);
}

// Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string StringMember(const nlohmann::ordered_json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

std::string_view AuditEventType(AuditKind kind) {
  const auto index = static_cast<uint32_t>(kind);
  assert(index < kAuditKindCount);
  return kEventTypes[index];
}

std::optional<AuditKind> AuditKindOfEventType(std::string_view event_type) {
  for (uint32_t i = 0; i < kAuditKindCount; ++i) {
    if (kEventTypes[i] == event_type) return static_cast<AuditKind>(i);
  }
  return std::nullopt;
}

std::string FormatRfc3339Ns(int64_t unix_ns) {
  int64_t secs = unix_ns / kNsPerSecond;
  int64_t frac = unix_ns % kNsPerSecond;
  if (frac < 0) {
    frac += kNsPerSecond;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

namespace {

int DaysInMonth(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

Result<int64_t> ParseRfc3339(std::string_view text) {
  const Status bad = Status::InvalidArgument("not an RFC 3339 time");
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !ParseDigits(text, 0, 4, &year) || text[4] != '-' ||
      !ParseDigits(text, 5, 2, &month) || text[7] != '-' || !ParseDigits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
      !ParseDigits(text, 11, 2, &hour) || text[13] != ':' || !ParseDigits(text, 14, 2, &minute) ||
      text[16] != ':' || !ParseDigits(text, 17, 2, &second)) {
    return bad;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad;
  }
  if (year < 1970 || year > 2261) return bad;  // Unix nanoseconds fit in an int64
  if (day > DaysInMonth(year, month)) return bad;  // "2026-02-31" is no day, not 3 March
  if (second == 60) second = 59;  // a leap second (RFC 3339 allows it) counts as :59
  size_t pos = 19;
  int64_t frac_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = kNsPerSecond;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) {
        scale /= 10;
        frac_ns += (text[pos] - '0') * scale;
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad;
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!ParseDigits(text, pos + 1, 2, &oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !ParseDigits(text, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad;
    }
    offset_s = (text[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad;
  }
  if (pos != text.size()) return bad;
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  return secs * kNsPerSecond + frac_ns;
}

void CutAuditRecordFields(AuditRecord* r) {
  for (std::string* f : {&r->request_id, &r->principal, &r->auth_method, &r->source_ip,
                         &r->action, &r->resource, &r->event_type, &r->decision, &r->rule,
                         &r->outcome, &r->error_code, &r->reason}) {
    CutField(f);
  }
  if (r->details.size() > kAuditDetailsMax) r->details.resize(kAuditDetailsMax);
  for (auto& [name, value] : r->details) {
    CutField(&name);
    CutField(&value);
  }
}

std::string EncodeAuditRecordJson(const AuditRecord& record) {
  assert(record.details.size() <= kAuditDetailsMax);
  std::string out;
  out.reserve(256);
  out.push_back('{');
  AppendField(&out, "time", FormatRfc3339Ns(record.time_unix_ns));
  AppendField(&out, "request_id", record.request_id);
  AppendField(&out, "principal", record.principal);
  AppendField(&out, "auth_method", record.auth_method);
  AppendField(&out, "source_ip", record.source_ip);
  AppendField(&out, "action", record.action);
  AppendField(&out, "resource", record.resource);
  AppendField(&out, "event_type", record.event_type);
  AppendField(&out, "decision", record.decision);
  AppendField(&out, "rule", record.rule);
  AppendField(&out, "outcome", record.outcome);
  AppendField(&out, "error_code", record.error_code);
  AppendField(&out, "reason", record.reason);
  out.append(",\"details\":{");
  const size_t details = std::min(record.details.size(), kAuditDetailsMax);
  for (size_t i = 0; i < details; ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, record.details[i].first);
    out.push_back(':');
    AppendJsonString(&out, record.details[i].second);
  }
  out.append("}}");
  return out;
}

Result<AuditRecord> DecodeAuditRecordJson(std::string_view event_type, std::string_view json) {
  auto kind = AuditKindOfEventType(event_type);
  if (!kind) return Status::InvalidArgument("not an audit event type");
  nlohmann::ordered_json object = nlohmann::ordered_json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return Status::InvalidArgument("audit record is not a JSON object");
  }
  AuditRecord record;
  record.kind = *kind;
  auto time = ParseRfc3339(StringMember(object, "time"));
  if (!time.ok()) return Status::InvalidArgument("audit record has no valid time");
  record.time_unix_ns = *time;
  record.request_id = StringMember(object, "request_id");
  record.principal = StringMember(object, "principal");
  record.auth_method = StringMember(object, "auth_method");
  record.source_ip = StringMember(object, "source_ip");
  record.action = StringMember(object, "action");
  record.resource = StringMember(object, "resource");
  record.event_type = StringMember(object, "event_type");
  record.decision = StringMember(object, "decision");
  record.rule = StringMember(object, "rule");
  record.outcome = StringMember(object, "outcome");
  record.error_code = StringMember(object, "error_code");
  record.reason = StringMember(object, "reason");
  auto details = object.find("details");
  if (details != object.end()) {
    if (!details->is_object()) return Status::InvalidArgument("audit record details not an object");
    for (auto it = details->begin(); it != details->end(); ++it) {
      if (record.details.size() == kAuditDetailsMax) break;
      if (!it.value().is_string()) continue;
      record.details.emplace_back(it.key(), it.value().get<std::string>());
    }
  }
  return record;
}

}  // namespace cairn::audit
