#include "core/timer_wheel.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace causeway {

TimerWheel::TimerWheel(const Clock& clock, Options options)
    : clock_(clock),
      tick_(options.tick > Duration::zero() ? options.tick : std::chrono::milliseconds(10)),
      origin_(clock.Now()),
      slots_(std::bit_ceil(std::max<size_t>(options.slots, 2))),
      mask_(slots_.size() - 1) {}

uint64_t TimerWheel::TickFloor(TimePoint t) const {
  if (t <= origin_) return 0;
  return static_cast<uint64_t>((t - origin_) / tick_);
}

uint64_t TimerWheel::TickCeil(TimePoint t) const {
  if (t <= origin_) return 0;
  const Duration d = t - origin_;
  const auto n = static_cast<uint64_t>(d / tick_);
  return (d % tick_ == Duration::zero()) ? n : n + 1;
}

void TimerWheel::PushBack(uint32_t list, uint32_t idx) {
  List& l = ListOf(list);
  Node& n = nodes_[idx];
  n.list = list;
  n.next = kNil;
  n.prev = l.tail;
  if (l.tail != kNil) {
    nodes_[l.tail].next = idx;
  } else {
    l.head = idx;
  }
  l.tail = idx;
}

void TimerWheel::Unlink(uint32_t idx) {
  Node& n = nodes_[idx];
  List& l = ListOf(n.list);
  if (n.prev != kNil) {
    nodes_[n.prev].next = n.next;
  } else {
    l.head = n.next;
  }
  if (n.next != kNil) {
    nodes_[n.next].prev = n.prev;
  } else {
    l.tail = n.prev;
  }
  n.prev = n.next = kNil;
}

void TimerWheel::Release(uint32_t idx) {
  Node& n = nodes_[idx];
  n.list = kFree;
  if (++n.generation == 0) n.generation = 1;  // keep ids non-zero across wrap-around
  free_.push_back(idx);
  --live_;
}

TimerId TimerWheel::Schedule(Duration delay, absl::AnyInvocable<void()> callback) {
  const TimePoint now = clock_.Now();
  if (delay < Duration::zero()) delay = Duration::zero();
  if (live_ == 0 && !advancing_) {
    // Nothing pending: skip the idle ticks so the next Advance() does not walk them.
    processed_tick_ = std::max(processed_tick_, TickFloor(now));
  }
  uint64_t due = TickCeil(now + delay);
  if (due <= processed_tick_) due = processed_tick_ + 1;

  uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[idx];
  n.callback = std::move(callback);
  n.due_tick = due;
  n.seq = next_seq_++;
  PushBack(static_cast<uint32_t>(due & mask_), idx);
  if (live_ == 0 || (next_valid_ && due < next_tick_)) next_tick_ = due;
  if (live_ == 0) next_valid_ = true;
  ++live_;
  return (static_cast<uint64_t>(n.generation) << 32) | idx;
}

bool TimerWheel::Cancel(TimerId id) {
  const auto idx = static_cast<uint32_t>(id & 0xffffffffu);
  const auto generation = static_cast<uint32_t>(id >> 32);
  if (id == kInvalidTimerId || idx >= nodes_.size()) return false;
  Node& n = nodes_[idx];
  if (n.list == kFree || n.generation != generation) return false;
  Unlink(idx);
  // Destroy the callback only after the node is consistent: its captures' destructors may
  // re-enter Schedule()/Cancel().
  absl::AnyInvocable<void()> doomed = std::move(n.callback);
  n.callback = nullptr;
  Release(idx);
  return true;
}

size_t TimerWheel::FireDue() {
  size_t fired = 0;
  while (due_.head != kNil) {
    const uint32_t idx = due_.head;
    Unlink(idx);
    absl::AnyInvocable<void()> callback = std::move(nodes_[idx].callback);
    nodes_[idx].callback = nullptr;
    Release(idx);  // before running: the callback may Cancel() its own (now stale) id
    callback();
    ++fired;
  }
  return fired;
}

size_t TimerWheel::Advance(TimePoint now) {
  if (advancing_) return 0;
  const uint64_t target = TickFloor(now);
  if (target <= processed_tick_) return 0;
  advancing_ = true;
  size_t fired = 0;
  if (target - processed_tick_ <= mask_) {
    // Normal path: visit each elapsed tick's slot once, in order.
    while (processed_tick_ < target && live_ > 0) {
      const uint64_t t = ++processed_tick_;
      List& slot = slots_[t & mask_];
      for (uint32_t idx = slot.head; idx != kNil;) {
        const uint32_t next = nodes_[idx].next;
        if (nodes_[idx].due_tick <= t) {
          Unlink(idx);
          PushBack(kDueList, idx);
        }
        idx = next;
      }
      fired += FireDue();
    }
    processed_tick_ = target;
  } else {
    // Catch-up after a long stall (more than one revolution): one pass over the whole wheel,
    // then fire in deadline order.
    processed_tick_ = target;
    scratch_.clear();
    for (const List& slot : slots_) {
      for (uint32_t idx = slot.head; idx != kNil; idx = nodes_[idx].next) {
        if (nodes_[idx].due_tick <= target) scratch_.push_back(idx);
      }
    }
    std::sort(scratch_.begin(), scratch_.end(), [this](uint32_t a, uint32_t b) {
      return nodes_[a].due_tick != nodes_[b].due_tick ? nodes_[a].due_tick < nodes_[b].due_tick
                                                      : nodes_[a].seq < nodes_[b].seq;
    });
    for (uint32_t idx : scratch_) {
      Unlink(idx);
      PushBack(kDueList, idx);
    }
    scratch_.clear();
    fired += FireDue();
  }
  next_valid_ = false;
  advancing_ = false;
  return fired;
}

std::optional<TimePoint> TimerWheel::NextDeadline() {
  if (live_ == 0) return std::nullopt;
  if (due_.head != kNil) return origin_ + tick_ * processed_tick_;  // asked from a callback
  if (!next_valid_) {
    uint64_t best = UINT64_MAX;
    for (uint64_t i = 1; i <= slots_.size(); ++i) {
      const uint64_t t = processed_tick_ + i;
      for (uint32_t idx = slots_[t & mask_].head; idx != kNil; idx = nodes_[idx].next) {
        best = std::min(best, nodes_[idx].due_tick);
      }
      if (best <= t) break;  // nothing in later slots can be due earlier than this
    }
    // If the loop ran to the end it visited every node, so `best` is exact either way.
    next_tick_ = best;
    next_valid_ = true;
  }
  return origin_ + tick_ * next_tick_;
}

void TimerWheel::AdvanceSimulated(SimulatedClock& clock, TimerWheel& wheel, Duration d) {
  const TimePoint target = clock.Now() + d;
  // Each step moves the wheel's processed tick strictly forward, so this ends within the
  // number of ticks in `d`.
  for (;;) {
    const std::optional<TimePoint> next = wheel.NextDeadline();
    if (!next || *next > target) break;
    clock.Set(*next);
    wheel.Advance(std::max(*next, clock.Now()));
  }
  clock.Set(target);
  wheel.Advance(target);
}

}  // namespace causeway
