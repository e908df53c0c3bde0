#include "core/runtime/worker.h"

#include <exception>

#include "core/log.h"

namespace causeway::runtime {
namespace {
thread_local Worker* current_worker = nullptr;
}  // namespace

Worker::Worker(size_t index, const Clock& clock, TimerWheel::Options wheel_options)
    : index_(index),
      clock_(clock),
      wheel_(clock, wheel_options),
      os_timer_(io_) {
  guard_.emplace(io_.get_executor());
}

Worker::~Worker() {
  if (thread_.joinable()) {
    ForceStop();
    Join();
  }
}

Worker* Worker::Current() { return current_worker; }

TimerId Worker::Schedule(Duration delay, absl::AnyInvocable<void()> callback) {
  TimerId id = wheel_.Schedule(delay, std::move(callback));
  if (stopping_) return id;
  // Cheap path: a timer due after the armed deadline needs no OS call.
  if (armed_) {
    TimePoint due = clock_.Now() + (delay > Duration::zero() ? delay : Duration::zero());
    if (due >= armed_at_) return id;
  }
  Rearm();
  return id;
}

void Worker::Rearm() {
  if (stopping_) return;
  std::optional<TimePoint> next = wheel_.NextDeadline();
  if (!next) return;  // keep any armed wait: a spurious wake-up is a no-op Advance()
  if (armed_ && *next >= armed_at_) return;
  // expires_at() cancels a pending wait; its handler sees operation_aborted and returns.
  // The OS timer runs on the real steady clock; the wheel's clock is the steady clock too in
  // production (a simulated clock is only used by tests that call Advance() themselves).
  os_timer_.expires_at(*next);
  armed_ = true;
  armed_at_ = *next;
  os_timer_.async_wait([this](const boost::system::error_code& ec) { OnTimer(ec); });
}

void Worker::OnTimer(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted || stopping_) return;
  armed_ = false;
  wheel_.Advance(clock_.Now());
  Rearm();
}

void Worker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Worker::Run() {
  current_worker = this;
  // Handlers must not throw (error_code overloads only); an escaped exception is a bug, so log
  // it loudly before the thread dies with std::terminate.
  try {
    io_.run();
  } catch (const std::exception& e) {
    log::Error("runtime", "exception escaped a handler", {{"worker", index_}, {"what", e.what()}});
    throw;
  }
  current_worker = nullptr;
  finished_.store(true, std::memory_order_release);
}

void Worker::Stop() {
  boost::asio::post(io_, [this] {
    if (stopping_) return;
    stopping_ = true;
    for (auto it = stop_hooks_.rbegin(); it != stop_hooks_.rend(); ++it) (*it)();
    stop_hooks_.clear();
    boost::system::error_code ignored;
    os_timer_.cancel(ignored);
    armed_ = false;
    guard_.reset();
  });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace causeway::runtime
