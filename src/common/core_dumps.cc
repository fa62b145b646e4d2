#include "common/core_dumps.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

namespace cairn {
namespace {

std::optional<rlim_t> saved_soft_limit;  // main thread only (see the header)

Status Errno(const char* what) {
  return Status::Internal(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

Status DisableCoreDumps() {
  rlimit limit{};
  if (getrlimit(RLIMIT_CORE, &limit) != 0) return Errno("getrlimit(RLIMIT_CORE)");
  if (!saved_soft_limit) saved_soft_limit = limit.rlim_cur;
  limit.rlim_cur = 0;
  if (setrlimit(RLIMIT_CORE, &limit) != 0) return Errno("setrlimit(RLIMIT_CORE)");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Errno("prctl(PR_SET_DUMPABLE, 0)");
  return Status::Ok();
}

Status RestoreCoreDumps() {
  if (!saved_soft_limit) return Status::Ok();
  rlimit limit{};
  if (getrlimit(RLIMIT_CORE, &limit) != 0) return Errno("getrlimit(RLIMIT_CORE)");
  limit.rlim_cur = *saved_soft_limit;
  if (setrlimit(RLIMIT_CORE, &limit) != 0) return Errno("setrlimit(RLIMIT_CORE)");
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return Errno("prctl(PR_SET_DUMPABLE, 1)");
  saved_soft_limit.reset();
  return Status::Ok();
}

bool CoreDumpsEnabled() {
  rlimit limit{};
  if (getrlimit(RLIMIT_CORE, &limit) != 0) return false;
  return limit.rlim_cur > 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

}  // namespace cairn
