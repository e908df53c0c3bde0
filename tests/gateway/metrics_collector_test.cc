// The collector: worker sources run on their worker's thread, a stuck worker costs one timeout
// and is reported, process sources run on the caller's thread.

#include "gateway/metrics_collector.h"

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "core/runtime/runtime.h"
#include "gtest/gtest.h"
#include "tests/gateway/metrics_test_util.h"

namespace causeway::gateway {
namespace {

using testing::SumSamples;

class MetricsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime::RuntimeOptions options;
    options.workers = 2;
    runtime_ = std::make_unique<runtime::Runtime>(options);
    ASSERT_TRUE(runtime_->Start().ok());
  }
  void TearDown() override {
    runtime_->Stop();
    runtime_->Join();
  }

  std::unique_ptr<runtime::Runtime> runtime_;
};

TEST_F(MetricsCollectorTest, WorkerSourcesRunOnTheirWorkerThread) {
  MetricsCollector collector;
  const std::thread::id caller = std::this_thread::get_id();
  collector.AddSource([caller](MetricsWriter& out) {
    out.Gauge("causeway_on_caller", "1 when run on the scraping thread.",
              std::this_thread::get_id() == caller ? 1 : 0);
  });
  for (size_t i = 0; i < runtime_->size(); ++i) {
    runtime::Worker* worker = &runtime_->worker(i);
    collector.AddWorkerSource(*worker, [worker, i](MetricsWriter& out) {
      out.Counter("causeway_test_total", "Per worker.",
                  runtime::Worker::Current() == worker ? 10.0 * static_cast<double>(i + 1) : -1000,
                  {{"worker", std::to_string(i)}});
    });
  }
  std::string text = RenderPrometheusText(collector.Collect(std::chrono::seconds(5)));
  EXPECT_EQ(SumSamples(text, "causeway_on_caller"), 1) << text;
  EXPECT_EQ(SumSamples(text, "causeway_test_total", "worker=\"0\""), 10) << text;
  EXPECT_EQ(SumSamples(text, "causeway_test_total", "worker=\"1\""), 20) << text;
  EXPECT_EQ(SumSamples(text, "causeway_metrics_workers_unanswered"), 0) << text;
}

TEST_F(MetricsCollectorTest, AStuckWorkerCostsOneTimeoutAndIsReported) {
  MetricsCollector collector;
  for (size_t i = 0; i < runtime_->size(); ++i) {
    collector.AddWorkerSource(runtime_->worker(i), [i](MetricsWriter& out) {
      out.Counter("causeway_test_total", "Per worker.", 1, {{"worker", std::to_string(i)}});
    });
  }
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  runtime_->worker(1).Post([released] { released.wait(); });

  const auto start = std::chrono::steady_clock::now();
  std::string text = RenderPrometheusText(collector.Collect(std::chrono::milliseconds(200)));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(SumSamples(text, "causeway_test_total", "worker=\"0\""), 1) << text;
  EXPECT_FALSE(SumSamples(text, "causeway_test_total", "worker=\"1\"").has_value()) << text;
  EXPECT_EQ(SumSamples(text, "causeway_metrics_workers_unanswered"), 1) << text;

  // The late answer lands in the finished scrape's state, not in the next scrape.
  release.set_value();
  text = RenderPrometheusText(collector.Collect(std::chrono::seconds(5)));
  EXPECT_EQ(SumSamples(text, "causeway_test_total"), 2) << text;
  EXPECT_EQ(SumSamples(text, "causeway_metrics_workers_unanswered"), 0) << text;
}

}  // namespace
}  // namespace causeway::gateway
