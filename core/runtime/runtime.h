#pragma once
// The process's worker pool: N workers, each an io_context on its own thread (STYLE.md "Threads").
// Work for a connection/user is posted to the worker that owns it; there is no shared io_context.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/runtime/worker.h"

namespace causeway::runtime {

struct RuntimeOptions {
  size_t workers = 0;  // 0 = std::thread::hardware_concurrency() (at least 1)
  TimerWheel::Options wheel;
  // Stop(): how long workers may keep draining handlers after the stop hooks ran.
  Duration stop_grace = std::chrono::seconds(2);
};

class Runtime {
 public:
  static constexpr size_t kMaxWorkers = 256;

  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();  // Stop() + Join()
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  size_t size() const { return workers_.size(); }
  Worker& worker(size_t index) { return *workers_[index]; }
  const Clock& clock() const { return clock_; }

  // Runs `fn` on worker `index % size()`.
  template <typename F>
  void Post(size_t index, F&& fn) {
    workers_[index % workers_.size()]->Post(std::forward<F>(fn));
  }

  // Starts one thread per worker. Fails if already started.
  absl::Status Start();
  // Graceful: every worker runs its stop hooks, then its run() returns once it has no work left.
  // Idempotent; safe from any thread, including a worker.
  void Stop();
  // Waits for the workers to finish; after options.stop_grace (counted from the Stop() call) the
  // ones still busy are force-stopped. Must not be called from a worker thread.
  void Join();

 private:
  RuntimeOptions options_;
  SteadyClock clock_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> stop_deadline_ns_{0};  // steady_clock, set by Stop()
};

}  // namespace causeway::runtime
