// A consumer-group Status in the ESDB clients' terms (esdb_errors.h), for the persistent
// subscriptions service: kNotFound → persistent-subscription-does-not-exist, kAlreadyExists →
// persistent-subscription-exists, kResourceExhausted while connecting →
// maximum-subscribers-reached, kAborted (the group was deleted under a consumer) →
// persistent-subscription-dropped; the rest as esdb::FromStatus maps it.
//
// Thread safety: pure function.
#pragma once

#include <string_view>

#include "common/status.h"
#include "server/esdb/esdb_errors.h"

namespace cairn::server::esdb {

enum class GroupCall : uint8_t { kAdmin, kConnect };

EsdbError GroupStatusError(const Status& status, std::string_view stream, std::string_view group,
                     GroupCall call = GroupCall::kAdmin);

}  // namespace cairn::server::esdb
