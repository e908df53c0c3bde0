#include "gateway/metrics_collector.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

namespace causeway::gateway {

void MetricsCollector::AddSource(Source source) {
  absl::MutexLock lock(&mu_);
  sources_.push_back(std::move(source));
}

void MetricsCollector::AddWorkerSource(runtime::Worker& worker, Source source) {
  absl::MutexLock lock(&mu_);
  for (WorkerSources& entry : workers_) {
    if (entry.worker == &worker) {
      entry.sources.push_back(std::move(source));
      return;
    }
  }
  workers_.push_back(WorkerSources{&worker, {std::move(source)}});
}

std::vector<MetricFamily> MetricsCollector::Collect(std::chrono::milliseconds timeout) const {
  std::vector<Source> sources;
  std::vector<WorkerSources> workers;
  {
    absl::MutexLock lock(&mu_);
    sources = sources_;
    workers = workers_;
  }
  // Shared with the posted tasks: a worker that answers after the deadline writes into it after
  // this call returned.
  struct Gather {
    std::mutex mu;
    std::condition_variable answered_cv;
    std::vector<std::optional<MetricsWriter>> answers;
    size_t answered = 0;
  };
  auto gather = std::make_shared<Gather>();
  gather->answers.resize(workers.size());  // before any task exists
  for (size_t i = 0; i < workers.size(); ++i) {
    workers[i].worker->Post([gather, i, worker_sources = std::move(workers[i].sources)] {
      MetricsWriter out;
      for (const Source& source : worker_sources) source(out);
      std::lock_guard<std::mutex> lock(gather->mu);
      gather->answers[i] = std::move(out);
      ++gather->answered;
      gather->answered_cv.notify_all();
    });
  }

  // The process-wide sources meanwhile, on this thread.
  MetricsWriter all;
  for (const Source& source : sources) source(all);

  size_t unanswered = 0;
  {
    std::unique_lock<std::mutex> lock(gather->mu);
    const size_t expected = workers.size();
    gather->answered_cv.wait_for(lock, timeout,
                                 [&gather, expected] { return gather->answered == expected; });
    for (std::optional<MetricsWriter>& answer : gather->answers) {
      if (answer) {
        all.Merge(std::move(*answer));
        answer.reset();
      } else {
        ++unanswered;
      }
    }
  }
  all.Gauge("causeway_metrics_workers_unanswered",
            "Workers that did not answer this scrape within the timeout (their samples are "
            "missing).",
            static_cast<double>(unanswered));
  std::vector<MetricFamily> families = all.families();
  return families;
}

}  // namespace causeway::gateway
