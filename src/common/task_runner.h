// TaskRunner: a fixed set of worker threads running posted tasks in order of posting, with a
// bounded queue. For work that must not run on a thread it would pin — e.g. a long scan of the
// log started from a gRPC callback, whose threads every callback-API call shares.
//
// Post() never blocks: it returns false when the queue holds queue_max tasks (the caller then
// refuses the work) or the runner is stopping. Tasks must not throw. The destructor runs every
// task already queued, then joins the threads.
//
// Thread safety: Post() may be called from any thread, also from a task.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cairn {

class TaskRunner {
 public:
  // threads ≥ 1, queue_max ≥ 1; the threads are named `name` (≤ 15 bytes, see thread_name.h).
  TaskRunner(size_t threads, size_t queue_max, std::string name);
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  bool Post(std::function<void()> task);
  size_t queued() const;

 private:
  void Work();

  const size_t queue_max_;
  const std::string name_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_; ≤ queue_max_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace cairn
