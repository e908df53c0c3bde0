#include "core/runtime/runtime.h"

#include <algorithm>
#include <thread>

namespace causeway::runtime {

Runtime::Runtime(RuntimeOptions options) : options_(options) {
  size_t n = options_.workers;
  if (n == 0) n = std::max<size_t>(1, std::thread::hardware_concurrency());
  n = std::min(n, kMaxWorkers);
  workers_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, clock_, options_.wheel));
  }
}

Runtime::~Runtime() {
  Stop();
  Join();
}

absl::Status Runtime::Start() {
  if (started_.exchange(true)) return absl::FailedPreconditionError("runtime already started");
  for (auto& w : workers_) w->Start();
  return absl::OkStatus();
}

void Runtime::Stop() {
  if (!started_ || stopped_.load()) return;
  // The deadline is published before stopped_ so Join() never reads an unset one.
  TimePoint deadline = clock_.Now() + options_.stop_grace;
  stop_deadline_ns_.store(deadline.time_since_epoch().count());
  if (stopped_.exchange(true)) return;
  for (auto& w : workers_) w->Stop();
}

void Runtime::Join() {
  if (!started_) return;
  // Poll rather than block: a worker may never go idle (a peer that keeps a socket busy), and
  // only the deadline, not the worker, can decide to give up on it.
  while (true) {
    bool all_finished = true;
    for (auto& w : workers_) all_finished = all_finished && w->finished();
    if (all_finished) break;
    if (stopped_) {
      TimePoint deadline{Duration(stop_deadline_ns_.load())};
      if (clock_.Now() >= deadline) {
        for (auto& w : workers_) w->ForceStop();
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& w : workers_) w->Join();
}

}  // namespace causeway::runtime
