// Core dumps: a dump of a cairn process holds what its memory holds — unwrapped subject and
// storage keys, the checkpoint signing key, API-key secrets of the requests in flight, the
// plaintext of protected fields. `cairn` therefore turns core dumps off as it starts
// (DisableCoreDumps, every command), and `cairn serve` turns them back on only when the
// configuration says `server.core_dumps = true`, for a debugging session (doctor reports it).
//
// Off means: the soft RLIMIT_CORE is 0 (the hard limit is left, so that the setting can be
// restored), and the process is not dumpable (prctl PR_SET_DUMPABLE 0): no core file even
// when a core pattern pipes to a handler such as systemd-coredump, and no ptrace attach or
// /proc/PID/mem read by other processes of the same user.
//
// Thread safety: process-wide settings; call from the main thread before starting others.
#pragma once

#include "common/status.h"

namespace cairn {

// Turns core dumps off; remembers the soft limit it found for RestoreCoreDumps.
Status DisableCoreDumps();

// Undoes DisableCoreDumps: the soft limit found then, and the process dumpable again.
// A no-op when DisableCoreDumps was not called.
Status RestoreCoreDumps();

// True when a crash of this process can leave a core file (soft limit > 0 and dumpable).
bool CoreDumpsEnabled();

}  // namespace cairn
