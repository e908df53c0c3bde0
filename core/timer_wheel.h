#pragma once
// A hashed timing wheel (Varghese & Lauck, scheme 6): O(1) Schedule and Cancel, Advance costs one
// slot visit per elapsed tick plus one step per fired timer. Delays longer than one revolution
// stay in their slot and are skipped until their round comes (each node keeps its absolute tick).
//
// Single-threaded: one wheel per worker, driven by that worker's loop, which arms one OS timer
// for NextDeadline() and calls Advance(clock.Now()) when it fires.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/clock.h"

namespace causeway {

// Opaque handle: slot index + generation, so a stale id (fired or cancelled) never matches a
// reused slot. 0 is never a valid id.
using TimerId = uint64_t;
inline constexpr TimerId kInvalidTimerId = 0;

class TimerWheel {
 public:
  struct Options {
    Duration tick = std::chrono::milliseconds(10);  // granularity; timers never fire early
    size_t slots = 4096;                            // rounded up to a power of two
  };

  explicit TimerWheel(const Clock& clock) : TimerWheel(clock, Options()) {}
  TimerWheel(const Clock& clock, Options options);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Runs `callback` from the first Advance() at or after clock.Now() + delay (rounded up to the
  // next tick; negative delays count as zero). Safe to call from inside a timer callback: the
  // new timer fires no earlier than the next tick.
  TimerId Schedule(Duration delay, absl::AnyInvocable<void()> callback);

  // True if the timer was pending and is now cancelled; false for fired, cancelled or unknown
  // ids. Safe from inside callbacks, including for timers due in the same Advance().
  bool Cancel(TimerId id);

  // Fires every timer due at or before `now`, in deadline order (ties: scheduling order).
  // Returns the number fired. A nested call from inside a callback is ignored (returns 0).
  size_t Advance(TimePoint now);

  // The earliest time a timer may be due, or nullopt if none is pending. After cancellations it
  // is only a lower bound (Advance() at that time is then a cheap no-op). O(1) when cached; the
  // first call after an Advance() scans slots forward from the current tick until it finds the
  // next due timer (at most one revolution).
  std::optional<TimePoint> NextDeadline();

  size_t size() const { return live_; }
  Duration tick() const { return tick_; }

  // Test helper: moves `clock` forward by `d`, stopping at every deadline on the way so that
  // callbacks observe their exact due time and timers they schedule fire within the same span.
  static void AdvanceSimulated(SimulatedClock& clock, TimerWheel& wheel, Duration d);

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kDueList = UINT32_MAX - 1;  // `list` value of nodes about to fire
  static constexpr uint32_t kFree = UINT32_MAX;         // `list` value of free nodes

  struct Node {
    absl::AnyInvocable<void()> callback;
    uint64_t due_tick = 0;
    uint64_t seq = 0;  // scheduling order, breaks ties when several ticks are merged
    uint32_t generation = 1;
    uint32_t prev = kNil;
    uint32_t next = kNil;
    uint32_t list = kFree;  // slot index, kDueList, or kFree
  };
  struct List {
    uint32_t head = kNil;
    uint32_t tail = kNil;
  };

  uint64_t TickCeil(TimePoint t) const;
  uint64_t TickFloor(TimePoint t) const;
  List& ListOf(uint32_t list) { return list == kDueList ? due_ : slots_[list]; }
  void PushBack(uint32_t list, uint32_t node);
  void Unlink(uint32_t node);
  void Release(uint32_t node);
  size_t FireDue();

  const Clock& clock_;
  const Duration tick_;
  const TimePoint origin_;
  std::vector<List> slots_;
  uint64_t mask_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> scratch_;  // reused by the catch-up path of Advance()
  List due_;
  uint64_t processed_tick_ = 0;  // every timer with due_tick <= this has fired
  uint64_t next_seq_ = 0;
  size_t live_ = 0;
  bool advancing_ = false;
  // Lower bound of the earliest due tick, valid when next_valid_.
  uint64_t next_tick_ = 0;
  bool next_valid_ = true;
};

}  // namespace causeway
