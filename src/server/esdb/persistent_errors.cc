#include "server/esdb/persistent_errors.h"

#include <cassert>

namespace cairn::server::esdb {

EsdbError GroupStatusError(const Status& status, std::string_view stream, std::string_view group,
                     GroupCall call) {
  assert(!status.ok());
  switch (status.code()) {
    case StatusCode::kNotFound: return PersistentSubscriptionDoesNotExist(stream, group);
    case StatusCode::kAlreadyExists: return PersistentSubscriptionExists(stream, group);
    case StatusCode::kAborted: return PersistentSubscriptionDropped(stream, group, "deleted");
    case StatusCode::kResourceExhausted:
      if (call == GroupCall::kConnect) return MaximumSubscribersReached(stream, group);
      break;
    default: break;
  }
  return FromStatus(status, stream);
}

}  // namespace cairn::server::esdb
