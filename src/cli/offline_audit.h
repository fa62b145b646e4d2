// The `$admin` audit record of a key act done offline on a data directory: `cairn forget` and
// `cairn keys rotate` without a server (DESIGN.md: forget audits what it destroyed).
//
// The record is the one a server writes for the same act through Admin.Forget/RotateKey
// (action, resource, outcome, error code, details), with principal "local:<user>" (the account
// that ran the command), auth_method "local" and the detail trigger=offline, so that an auditor
// reading `$audit` sees every erasure and rotation, however it was done. Nothing is written when
// the directory's configuration turns the audit trail off (`[audit] enabled = false`).
//
// Thread safety: call from one thread (the command's).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "server/config.h"

namespace cairn::cli {

struct OfflineAct {
  std::string action;    // "forget" | "key.rotate"
  std::string resource;  // "kek", "storage" or OfflineSubjectResource(...)
  Status outcome;        // of the act
  std::vector<std::pair<std::string, std::string>> details;
};

// "subject-hash:<salted hash hex>", as the server names a subject in `$audit` (never the id).
std::string OfflineSubjectResource(const engine::EventStore& store, std::string_view subject);

// Appends the act's `$admin` record to `$audit` of `store` (opened on `data_dir`) unless the
// directory's configuration turns auditing off. The error of the append when it fails.
Status AuditOfflineAct(engine::EventStore* store, const std::string& data_dir, OfflineAct act);
// The same with the configuration given ([audit] enabled), not DIR/cairn.toml's.
Status AuditOfflineActWith(engine::EventStore* store, const server::Config& config, OfflineAct act);

}  // namespace cairn::cli
