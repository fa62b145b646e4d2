// AuditRecord: one security-relevant act, as appended to the `$audit` system stream (so it is a
// leaf of the Merkle tree and verifies with `cairn verify` like every other event).
//
// A record never holds a credential, a token (or any part of one), key bytes, an event payload or
// a personal field value: `reason` is a fixed short text ("invalid token", "expired"), `resource`
// an identifier (a stream id, a group name, a key kind), `details` small identifiers and numbers.
//
// The event stored in `$audit` has the type AuditEventType(kind) and, as data, the JSON object of
// EncodeAuditRecordJson (field names in docs/operations.md; a public format: auditors read it).
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cairn::audit {

inline constexpr std::string_view kAuditStream = "$audit";
inline constexpr size_t kAuditDetailsMax = 16;
inline constexpr size_t kAuditFieldBytesMax = 1024;  // longer values are cut when encoded

enum class AuditKind : uint8_t {
  kAuthFailure = 0,      // authentication failed (method, reason, source address)
  kAccessDenied,         // the policy denied a call (principal, action, resource, type, rule)
  kConnectionRefused,    // a peer outside server.allow_cidrs
  kAdmin,                // policy reload (details: generation, policy_sha256), key rotation,
                         // forget, subscription/group/webhook changes
  kIntegrityViolation,   // scrub mismatch or Integrity.ReportViolation
  kServerStart,          // details: config_sha256 (digest of the effective configuration)
  kServerStop,
  kDataPlane,            // an allowed data-plane call (audit.data_plane = "writes" | "all")
  kAuditGap,             // records the trail dropped, its queue full: written by the trail
                         // itself once it can (details: dropped_security, dropped_data_plane,
                         // first_dropped, last_dropped), so the trail shows where it has a hole
};

inline constexpr uint32_t kAuditKindCount = 9;

// The rule of an `$access.denied` record made by an append quota's refusal starts with this
// (the quota's label, policy::kQuotaLabelPrefix; asserted equal in server/append_quota.cc).
inline constexpr std::string_view kQuotaRulePrefix = "quota[";

// The `$audit` event type of a kind: "$auth.failure", "$access.denied", "$connection.refused",
// "$admin", "$integrity.violation", "$server.start", "$server.stop", "$data", "$audit.gap".
std::string_view AuditEventType(AuditKind kind);
// The inverse; nullopt for a type that is not an audit record's.
std::optional<AuditKind> AuditKindOfEventType(std::string_view event_type);

// "2026-11-30T17:01:02.123456789Z" (RFC 3339, UTC, nanoseconds).
std::string FormatRfc3339Ns(int64_t unix_ns);
// RFC 3339 with 'Z' or a ±hh:mm offset and 0..9 (more are ignored) fraction digits → Unix ns;
// kInvalidArgument otherwise.
Result<int64_t> ParseRfc3339(std::string_view text);

struct AuditRecord {
  AuditKind kind = AuditKind::kAdmin;
  int64_t time_unix_ns = 0;   // 0 = filled in when submitted
  std::string event_id;       // 16 bytes, its `$audit` event id; "" = a random UUID when submitted
  std::string request_id;     // the call's request id ("" for acts outside a call)
  std::string principal;      // principal id; "" when not authenticated
  std::string auth_method;    // "jwt" | "apikey" | "mtls" | ""
  std::string source_ip;      // "" for acts outside a call (scrub, start)
  std::string action;         // policy action ("append", "admin", …) or act ("auth", "connect",
                              // "policy.reload", "key.rotate", "forget", "group.create", …)
  std::string resource;       // stream id, "*", group name, webhook id, key kind
  std::string event_type;     // for per-type decisions
  std::string decision;       // "allow" | "deny" | "" when no policy decision was involved
  std::string rule;           // the deciding policy rule (audit only; never sent to callers)
  std::string outcome;        // "success" | "failure"
  std::string error_code;     // cairn StatusCode name ("PERMISSION_DENIED"), "" on success
  std::string reason;         // fixed short text; never a credential or payload
  std::vector<std::pair<std::string, std::string>> details;  // ≤ kAuditDetailsMax
};

// Cuts every string of `record` (and of its details) to kAuditFieldBytesMax bytes at a character
// boundary, as encoding would: done when a record is submitted, so that a queued record never
// holds an attacker's megabytes (a denied call's stream name, event type or principal id).
void CutAuditRecordFields(AuditRecord* record);

// The record as the JSON object stored in `$audit` (compact, UTF-8, fields in a fixed order).
std::string EncodeAuditRecordJson(const AuditRecord& record);
// The inverse, for `cairn audit`; kInvalidArgument for anything else. `kind` is taken from
// `event_type` (AuditEventType); kInvalidArgument for an unknown type.
Result<AuditRecord> DecodeAuditRecordJson(std::string_view event_type, std::string_view json);

// Sees every record submitted to an AuditTrail except data-plane ones (alerts, metrics), on the
// submitting thread, before it is queued — also when the queue is full and the record is dropped.
// Must be quick and must not call back into the trail.
class AuditListener {
 public:
  virtual ~AuditListener() = default;
  virtual void OnAuditRecord(const AuditRecord& record) = 0;
};

}  // namespace cairn::audit
