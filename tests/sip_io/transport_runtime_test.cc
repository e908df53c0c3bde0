// core/runtime tests live here (sip_io_test is the runtime's first user and owner's test binary).
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/runtime/runtime.h"
#include "gtest/gtest.h"

namespace causeway::runtime {
namespace {

using namespace std::chrono_literals;

RuntimeOptions Opts(size_t workers, Duration tick = Duration::zero(), size_t slots = 0,
                    Duration grace = std::chrono::seconds(2)) {
  RuntimeOptions o;
  o.workers = workers;
  if (tick > Duration::zero()) o.wheel.tick = tick;
  if (slots > 0) o.wheel.slots = slots;
  o.stop_grace = grace;
  return o;
}

TEST(Runtime, DefaultsToHardwareConcurrencyAndCaps) {
  Runtime r;
  EXPECT_GE(r.size(), 1u);
  Runtime big(Opts(100000));
  EXPECT_EQ(big.size(), Runtime::kMaxWorkers);
}

TEST(Runtime, PostRunsOnTheNamedWorkerThread) {
  Runtime r(Opts(3));
  ASSERT_TRUE(r.Start().ok());
  EXPECT_FALSE(r.Start().ok());  // twice is an error
  std::vector<std::promise<std::pair<size_t, std::thread::id>>> done(6);
  for (size_t i = 0; i < 6; ++i) {
    r.Post(i, [&done, i] {
      done[i].set_value({Worker::Current()->index(), std::this_thread::get_id()});
    });
  }
  std::set<std::thread::id> threads;
  for (size_t i = 0; i < 6; ++i) {
    auto [index, tid] = done[i].get_future().get();
    EXPECT_EQ(index, i % 3);
    EXPECT_NE(tid, std::this_thread::get_id());
    threads.insert(tid);
  }
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(Worker::Current(), nullptr);
  r.Stop();
  r.Join();
}

TEST(Runtime, WheelTimersFireInOrderAndCancel) {
  Runtime r(Opts(1, 1ms, 256));
  ASSERT_TRUE(r.Start().ok());
  std::mutex mu;
  std::vector<int> fired;
  std::promise<void> last;
  auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> elapsed_ms{0};
  r.Post(0, [&] {
    Worker& w = *Worker::Current();
    // Scheduled out of order; a later one first so the re-arm-when-earlier path is exercised.
    w.Schedule(120ms, [&] {
      std::lock_guard l(mu);
      fired.push_back(3);
      elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
      last.set_value();
    });
    w.Schedule(20ms, [&] {
      std::lock_guard l(mu);
      fired.push_back(1);
    });
    TimerId cancelled = w.Schedule(50ms, [&] {
      std::lock_guard l(mu);
      fired.push_back(99);
    });
    w.Schedule(60ms, [&] {
      std::lock_guard l(mu);
      fired.push_back(2);
    });
    EXPECT_TRUE(w.Cancel(cancelled));
  });
  ASSERT_EQ(last.get_future().wait_for(5s), std::future_status::ready);
  {
    std::lock_guard l(mu);
    EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  }
  EXPECT_GE(elapsed_ms.load(), 120);  // never early
  r.Stop();
  r.Join();
}

TEST(Runtime, TimerScheduledFromATimerFires) {
  Runtime r(Opts(1, 1ms, 64));
  ASSERT_TRUE(r.Start().ok());
  std::promise<int> done;
  r.Post(0, [&] {
    Worker* w = Worker::Current();
    // 200 ms is more than one revolution of this 64 ms wheel.
    w->Schedule(5ms, [w, &done] { w->Schedule(200ms, [&done] { done.set_value(7); }); });
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), 7);
}

TEST(Runtime, StopRunsHooksOnEachWorkerAndJoins) {
  Runtime r(Opts(2));
  std::atomic<int> hooks{0};
  std::vector<int> order;
  std::mutex mu;
  r.worker(0).AddStopHook([&] {
    std::lock_guard l(mu);
    order.push_back(1);
    ++hooks;
  });
  r.worker(0).AddStopHook([&] {
    std::lock_guard l(mu);
    order.push_back(2);
    ++hooks;
  });
  r.worker(1).AddStopHook([&] { ++hooks; });
  ASSERT_TRUE(r.Start().ok());
  r.Stop();
  r.Stop();  // idempotent
  r.Join();
  EXPECT_EQ(hooks.load(), 3);
  EXPECT_EQ(order, (std::vector<int>{2, 1}));  // reverse registration order
  EXPECT_TRUE(r.worker(0).finished());
}

TEST(Runtime, JoinForceStopsABusyWorkerAfterTheGrace) {
  Runtime r(Opts(1, Duration::zero(), 0, 100ms));
  ASSERT_TRUE(r.Start().ok());
  // A self-reposting handler never lets the worker go idle.
  std::function<void()> spin;
  std::atomic<bool> spinning{false};
  spin = [&] {
    spinning = true;
    std::this_thread::sleep_for(1ms);
    r.Post(0, spin);
  };
  r.Post(0, spin);
  while (!spinning) std::this_thread::sleep_for(1ms);
  auto start = std::chrono::steady_clock::now();
  r.Stop();
  r.Join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 3s);
}

TEST(Runtime, StopFromAWorkerThread) {
  Runtime r(Opts(2));
  ASSERT_TRUE(r.Start().ok());
  r.Post(1, [&] { r.Stop(); });
  r.Join();
  EXPECT_TRUE(r.worker(0).finished());
  EXPECT_TRUE(r.worker(1).finished());
}

}  // namespace
}  // namespace causeway::runtime
