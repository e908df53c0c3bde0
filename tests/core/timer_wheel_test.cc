#include "core/timer_wheel.h"

#include <chrono>
#include <random>
#include <vector>

#include "core/clock.h"
#include "gtest/gtest.h"

namespace causeway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ClockTest, SimulatedClockMovesOnlyForward) {
  SimulatedClock clock;
  const TimePoint start = clock.Now();
  EXPECT_GT(start, TimePoint{});
  clock.Advance(milliseconds(5));
  EXPECT_EQ(clock.Now() - start, milliseconds(5));
  clock.Advance(-milliseconds(100));
  EXPECT_EQ(clock.Now() - start, milliseconds(5));
  clock.Set(start);  // backwards: ignored
  EXPECT_EQ(clock.Now() - start, milliseconds(5));
  clock.Set(start + seconds(2));
  EXPECT_EQ(clock.Now() - start, seconds(2));
}

TEST(ClockTest, SteadyClockIsMonotonic) {
  SteadyClock clock;
  const TimePoint a = clock.Now();
  const TimePoint b = clock.Now();
  EXPECT_LE(a, b);
}

class TimerWheelTest : public ::testing::Test {
 protected:
  void Run(Duration d) { TimerWheel::AdvanceSimulated(clock_, wheel_, d); }
  Duration Elapsed() const { return clock_.Now() - start_; }

  SimulatedClock clock_;
  TimePoint start_ = clock_.Now();
  TimerWheel wheel_{clock_};
};

TEST_F(TimerWheelTest, FiresAtDeadlineNotBefore) {
  int fired = 0;
  wheel_.Schedule(milliseconds(500), [&] { ++fired; });
  EXPECT_EQ(wheel_.size(), 1u);
  clock_.Advance(milliseconds(490));
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 0u);
  clock_.Advance(milliseconds(9));
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 0u);
  EXPECT_EQ(fired, 0);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(wheel_.size(), 0u);
  EXPECT_EQ(wheel_.NextDeadline(), std::nullopt);
}

TEST_F(TimerWheelTest, SubTickDelayRoundsUp) {
  int fired = 0;
  wheel_.Schedule(milliseconds(15), [&] { ++fired; });
  clock_.Advance(milliseconds(15));
  wheel_.Advance(clock_.Now());
  EXPECT_EQ(fired, 0);  // 15 ms rounds up to the 20 ms tick: never early
  clock_.Advance(milliseconds(5));
  wheel_.Advance(clock_.Now());
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, ZeroAndNegativeDelaysFireOnNextAdvance) {
  int fired = 0;
  wheel_.Schedule(Duration::zero(), [&] { ++fired; });
  wheel_.Schedule(-seconds(3), [&] { ++fired; });
  wheel_.Advance(clock_.Now());
  EXPECT_EQ(fired, 0);
  clock_.Advance(milliseconds(10));
  wheel_.Advance(clock_.Now());
  EXPECT_EQ(fired, 2);
}

TEST_F(TimerWheelTest, FiresInDeadlineOrderThenSchedulingOrder) {
  std::vector<int> order;
  wheel_.Schedule(milliseconds(300), [&] { order.push_back(3); });
  wheel_.Schedule(milliseconds(100), [&] { order.push_back(1); });
  wheel_.Schedule(milliseconds(200), [&] { order.push_back(2); });
  wheel_.Schedule(milliseconds(100), [&] { order.push_back(11); });
  clock_.Advance(seconds(1));
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 4u);
  EXPECT_EQ(order, (std::vector<int>{1, 11, 2, 3}));
}

TEST_F(TimerWheelTest, CancelPendingAndStaleIds) {
  int fired = 0;
  TimerId a = wheel_.Schedule(milliseconds(100), [&] { ++fired; });
  TimerId b = wheel_.Schedule(milliseconds(100), [&] { fired += 10; });
  EXPECT_NE(a, kInvalidTimerId);
  EXPECT_NE(a, b);
  EXPECT_TRUE(wheel_.Cancel(a));
  EXPECT_FALSE(wheel_.Cancel(a));  // already cancelled
  EXPECT_FALSE(wheel_.Cancel(kInvalidTimerId));
  EXPECT_FALSE(wheel_.Cancel(0xdeadbeef12345ull));
  EXPECT_EQ(wheel_.size(), 1u);
  Run(milliseconds(200));
  EXPECT_EQ(fired, 10);
  EXPECT_FALSE(wheel_.Cancel(b));  // cancel after fire
  // The freed node is reused by the next timer; the old id must not cancel it.
  TimerId c = wheel_.Schedule(milliseconds(100), [&] { fired += 100; });
  EXPECT_NE(c, b);
  EXPECT_FALSE(wheel_.Cancel(b));
  EXPECT_FALSE(wheel_.Cancel(a));
  Run(milliseconds(100));
  EXPECT_EQ(fired, 110);
}

TEST_F(TimerWheelTest, CallbackCanScheduleAndCancelReentrantly) {
  std::vector<std::pair<int, Duration>> log;
  TimerId victim = kInvalidTimerId;
  wheel_.Schedule(milliseconds(100), [&] {
    log.push_back({1, Elapsed()});
    // Cancel a timer due in the same Advance, and schedule a chain.
    EXPECT_TRUE(wheel_.Cancel(victim));
    wheel_.Schedule(milliseconds(50), [&] {
      log.push_back({2, Elapsed()});
      wheel_.Schedule(Duration::zero(), [&] { log.push_back({3, Elapsed()}); });
    });
  });
  victim = wheel_.Schedule(milliseconds(100), [&] { log.push_back({99, Elapsed()}); });
  Run(seconds(1));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], std::make_pair(1, Duration(milliseconds(100))));
  EXPECT_EQ(log[1], std::make_pair(2, Duration(milliseconds(150))));
  EXPECT_EQ(log[2], std::make_pair(3, Duration(milliseconds(160))));  // next tick
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(TimerWheelTest, CallbackCancellingItsOwnIdIsHarmless) {
  TimerId self = kInvalidTimerId;
  bool cancelled = true;
  self = wheel_.Schedule(milliseconds(10), [&] { cancelled = wheel_.Cancel(self); });
  Run(milliseconds(10));
  EXPECT_FALSE(cancelled);
}

TEST_F(TimerWheelTest, NestedAdvanceFromCallbackIsIgnored) {
  int inner = -1;
  wheel_.Schedule(milliseconds(10), [&] {
    clock_.Advance(seconds(5));
    inner = static_cast<int>(wheel_.Advance(clock_.Now()));
  });
  wheel_.Schedule(seconds(1), [] {});
  clock_.Advance(milliseconds(10));
  wheel_.Advance(clock_.Now());
  EXPECT_EQ(inner, 0);
  EXPECT_EQ(wheel_.size(), 1u);
}

TEST_F(TimerWheelTest, DelaysLongerThanOneRevolution) {
  // 64 slots x 10 ms = 640 ms per revolution.
  TimerWheel small(clock_, {.tick = milliseconds(10), .slots = 50});  // rounds up to 64
  std::vector<int> fired;
  small.Schedule(milliseconds(100), [&] { fired.push_back(100); });
  small.Schedule(milliseconds(740), [&] { fired.push_back(740); });  // same slot, next round
  small.Schedule(seconds(5), [&] { fired.push_back(5000); });
  for (int i = 0; i < 73; ++i) {  // step to 730 ms in 10 ms ticks
    clock_.Advance(milliseconds(10));
    small.Advance(clock_.Now());
  }
  EXPECT_EQ(fired, (std::vector<int>{100}));
  clock_.Advance(milliseconds(10));
  small.Advance(clock_.Now());
  EXPECT_EQ(fired, (std::vector<int>{100, 740}));
  EXPECT_EQ(small.NextDeadline(), start_ + seconds(5));  // exact although 7 rounds away
  clock_.Set(start_ + milliseconds(4990));
  small.Advance(clock_.Now());
  EXPECT_EQ(fired.size(), 2u);
  clock_.Set(start_ + seconds(5));
  small.Advance(clock_.Now());
  EXPECT_EQ(fired, (std::vector<int>{100, 740, 5000}));
}

TEST_F(TimerWheelTest, CatchUpAfterLongStallKeepsDeadlineOrder) {
  TimerWheel small(clock_, {.tick = milliseconds(10), .slots = 16});
  std::vector<int> fired;
  small.Schedule(milliseconds(900), [&] { fired.push_back(900); });
  small.Schedule(milliseconds(30), [&] { fired.push_back(30); });
  small.Schedule(milliseconds(450), [&] { fired.push_back(450); });
  small.Schedule(seconds(60), [&] { fired.push_back(60000); });
  clock_.Advance(seconds(10));  // 1000 ticks: far more than one revolution
  EXPECT_EQ(small.Advance(clock_.Now()), 3u);
  EXPECT_EQ(fired, (std::vector<int>{30, 450, 900}));
  EXPECT_EQ(small.size(), 1u);
  EXPECT_EQ(small.NextDeadline(), start_ + seconds(60));
}

TEST_F(TimerWheelTest, NextDeadlineTracksEarliestTimer) {
  EXPECT_EQ(wheel_.NextDeadline(), std::nullopt);
  wheel_.Schedule(seconds(2), [] {});
  EXPECT_EQ(wheel_.NextDeadline(), start_ + seconds(2));
  TimerId early = wheel_.Schedule(milliseconds(300), [] {});
  EXPECT_EQ(wheel_.NextDeadline(), start_ + milliseconds(300));
  wheel_.Cancel(early);
  // A lower bound after a cancel: advancing to it fires nothing and refreshes the estimate.
  std::optional<TimePoint> next = wheel_.NextDeadline();
  ASSERT_TRUE(next.has_value());
  EXPECT_LE(*next, start_ + seconds(2));
  clock_.Set(*next);
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 0u);
  EXPECT_EQ(wheel_.NextDeadline(), start_ + seconds(2));
}

TEST_F(TimerWheelTest, IdleWheelSkipsElapsedTicks) {
  clock_.Advance(std::chrono::hours(10));
  int fired = 0;
  wheel_.Schedule(milliseconds(20), [&] { ++fired; });
  clock_.Advance(milliseconds(20));
  EXPECT_EQ(wheel_.Advance(clock_.Now()), 1u);
  EXPECT_EQ(fired, 1);
}

TEST_F(TimerWheelTest, HundredThousandTimers) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_ms(1, 120'000);  // up to 2 minutes: several rounds
  constexpr int kCount = 100'000;
  std::vector<TimerId> ids;
  ids.reserve(kCount);
  std::vector<int> due(kCount);
  int fired = 0;
  int late_or_early = 0;
  for (int i = 0; i < kCount; ++i) {
    due[i] = delay_ms(rng);
    ids.push_back(wheel_.Schedule(milliseconds(due[i]), [&, i] {
      ++fired;
      const Duration want = milliseconds((due[i] + 9) / 10 * 10);  // rounded up to the tick
      if (Elapsed() != want) ++late_or_early;
    }));
  }
  EXPECT_EQ(wheel_.size(), static_cast<size_t>(kCount));
  int cancelled = 0;
  for (int i = 0; i < kCount; i += 3) cancelled += wheel_.Cancel(ids[i]) ? 1 : 0;
  EXPECT_EQ(cancelled, (kCount + 2) / 3);
  Run(seconds(121));
  EXPECT_EQ(fired, kCount - cancelled);
  EXPECT_EQ(late_or_early, 0);
  EXPECT_EQ(wheel_.size(), 0u);
}

}  // namespace
}  // namespace causeway
