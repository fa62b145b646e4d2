// PolicyHolder: the policy in force, swapped atomically on reload.
//
// Readers take a snapshot with Current() and decide against it for the whole of one call, so a
// reload in the middle of a read never mixes two policies. Reload() re-reads the file; an invalid
// or unreadable file is rejected with its Status and the policy in force stays in force (the
// server audits both outcomes). Without a path the holder keeps the empty policy, which denies
// everything.
//
// Thread safety: every method may be called from any thread. Reloads are serialised among
// themselves; Current() never waits for a reload's file I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "policy/policy.h"

namespace cairn::policy {

class PolicyHolder {
 public:
  // Starts with the empty policy (generation 0); call Reload() to load `path` ("" = no policy
  // file configured).
  explicit PolicyHolder(std::string path);
  PolicyHolder(const PolicyHolder&) = delete;
  PolicyHolder& operator=(const PolicyHolder&) = delete;

  // Loads the file and, when valid (and the reload check, if set, accepts it), makes it current
  // and increments generation(). On error nothing changes. With no path configured: OK,
  // nothing changes.
  // `in_force`, when given, is set to the generation and text digest of the policy in force
  // when the reload ended (the new one, or the kept one), read under the reload lock: a
  // concurrent reload cannot swap in its own between.
  struct Version {
    uint64_t generation = 0;
    std::string text_sha256;
  };
  Status Reload(Version* in_force = nullptr);

  // A check every reloaded policy must pass before it is installed (the server's posture
  // checks: a reload must not bring in what the start refuses). Set before the first Reload;
  // not thread-safe with it.
  using ReloadCheck = std::function<Status(const Policy&)>;
  void SetReloadCheck(ReloadCheck check) { reload_check_ = std::move(check); }

  // Makes `policy` current (tests, and a policy built in memory); increments generation().
  void Install(std::shared_ptr<const Policy> policy);

  // The policy in force; never null.
  std::shared_ptr<const Policy> Current() const;

  // Number of successful installs since construction.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  const std::string& path() const { return path_; }

 private:
  Status ReloadLocked();  // reload_mu_ held

  const std::string path_;
  ReloadCheck reload_check_;        // may be empty
  std::mutex reload_mu_;            // serialises Reload/Install
  mutable std::mutex current_mu_;   // guards current_ (held only to copy the pointer)
  std::shared_ptr<const Policy> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace cairn::policy
