#pragma once
// One worker = one io_context run by one thread, plus the timer wheel that thread drives. Everything
// a worker owns (connections, transactions, timers) is touched only from its thread.

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/functional/any_invocable.h"
#include "core/clock.h"
#include "core/timer_wheel.h"

namespace causeway::runtime {

class Worker {
 public:
  Worker(size_t index, const Clock& clock, TimerWheel::Options wheel_options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  size_t index() const { return index_; }
  boost::asio::io_context& io_context() { return io_; }
  const Clock& clock() const { return clock_; }

  // Runs `fn` on this worker's thread. Safe from any thread; move-only callables are fine.
  template <typename F>
  void Post(F&& fn) {
    boost::asio::post(io_, std::forward<F>(fn));
  }

  // Timers on this worker's wheel. Worker thread only. Schedule re-arms the OS timer only when the
  // new deadline is earlier than the one armed, so the common case is one wheel insert.
  TimerId Schedule(Duration delay, absl::AnyInvocable<void()> callback);
  bool Cancel(TimerId id) { return wheel_.Cancel(id); }
  // Direct access for code that schedules on the wheel itself: call Rearm() afterwards.
  TimerWheel& wheel() { return wheel_; }
  void Rearm();

  // Hooks run on this worker's thread when the runtime stops (e.g. close listeners), in reverse
  // order of registration. Register before Start() or from the worker thread.
  void AddStopHook(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }

  // The worker whose thread is running the caller, or nullptr.
  static Worker* Current();

  // Used by Runtime.
  void Start();
  // Posts: run stop hooks, stop the wheel, let run() return once no work is left.
  void Stop();
  // Makes run() return now, abandoning pending handlers. Thread-safe.
  void ForceStop() { io_.stop(); }
  // True once the thread's run() has returned.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  void Join();

 private:
  void OnTimer(const boost::system::error_code& ec);
  void Run();

  const size_t index_;
  const Clock& clock_;
  boost::asio::io_context io_{1};  // concurrency hint 1: one thread, no internal locking needed
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  TimerWheel wheel_;
  boost::asio::steady_timer os_timer_;
  bool armed_ = false;
  bool stopping_ = false;
  TimePoint armed_at_{};
  std::vector<std::function<void()>> stop_hooks_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace causeway::runtime
