// The cairn::Status of a gRPC status from a cairn server: the code mapped back (a wrong
// expected version and a deleted stream recognised from the serialized cairn.v1.ErrorDetail),
// the server's message, and the detail value (current version or position) when it sent one.
// Shared by the service clients of include/cairn/.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace cairn {

Status FromGrpcStatus(const grpc::Status& status);

}  // namespace cairn
