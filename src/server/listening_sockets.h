// CountOwnListeningSockets: how many TCP sockets of this process listen on a port — what gRPC
// really bound for server.listen, checked after the start, because replaceable certificates are
// safe only on one socket (server/server_certificates.h).
//
// Reads /proc/self/fd (the process's socket inodes) and /proc/net/tcp and /proc/net/tcp6 (the
// listening sockets of its network namespace), and counts the sockets in both whose local port
// is `port`. kUnavailable when /proc cannot be read (not Linux, /proc not mounted).
//
// Thread safety: thread-safe; it reads /proc only.
#pragma once

#include <cstddef>

#include "common/status.h"

namespace cairn::server {

Result<size_t> CountOwnListeningSockets(int port);

}  // namespace cairn::server
