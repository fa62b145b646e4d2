// KmsFailure: a KMS provider's failure as a caller of the append or read path (a client, through
// the server) sees it. The provider's own text names files, modules, slots and token labels,
// which are the operator's business: it goes to the log (the first failure of each kind —
// provider, what failed, code — in a minute), and the caller gets the code and which provider
// failed, e.g. "the local keyring cannot wrap subject keys now (the server log has the reason)". A PIN the token refuses is not the caller's
// permission: kPermissionDenied becomes kFailedPrecondition.
//
// Thread safety: thread-safe.
#pragma once

#include <string_view>

#include "common/status.h"
#include "keys/kms.h"

namespace cairn::keys {

// `what` names what failed ("wrap subject keys", "unwrap a storage key"); `detail` is the
// provider's status (not OK).
Status KmsFailure(const KmsProvider& kms, std::string_view what, const Status& detail);

}  // namespace cairn::keys
