#pragma once
// Time sources. Everything that schedules or measures time takes a `const Clock&`, so state
// machines run on a SimulatedClock in tests and on the steady clock in production.

#include <chrono>

namespace causeway {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock();
  virtual TimePoint Now() const = 0;
};

// The monotonic system clock: never jumps with wall-clock changes.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to. Starts at an arbitrary non-zero epoch so that code which
// treats TimePoint{} as "unset" is not fooled.
class SimulatedClock final : public Clock {
 public:
  static constexpr TimePoint kDefaultStart = TimePoint{} + std::chrono::hours(1);

  explicit SimulatedClock(TimePoint start = kDefaultStart) : now_(start) {}

  TimePoint Now() const override { return now_; }
  // Negative durations are ignored: a steady clock never goes backwards.
  void Advance(Duration d) {
    if (d > Duration::zero()) now_ += d;
  }
  void Set(TimePoint t) {
    if (t > now_) now_ = t;
  }

 private:
  TimePoint now_;
};

}  // namespace causeway
