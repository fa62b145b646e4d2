#include "common/task_runner.h"

#include <cassert>

#include "common/thread_name.h"

namespace cairn {

TaskRunner::TaskRunner(size_t threads, size_t queue_max, std::string name)
    : queue_max_(queue_max), name_(std::move(name)) {
  assert(threads >= 1 && queue_max_ >= 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

TaskRunner::~TaskRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) t.join();
  assert(tasks_.empty());
}

bool TaskRunner::Post(std::function<void()> task) {
  assert(task);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || tasks_.size() >= queue_max_) return false;
    tasks_.push_back(std::move(task));
    assert(tasks_.size() <= queue_max_);
  }
  ready_.notify_one();
  return true;
}

size_t TaskRunner::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

void TaskRunner::Work() {
  SetCurrentThreadName(name_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and everything queued has run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace cairn
