#pragma once
// What a scrape collects, from where. Process-wide sources (atomics, tables with their own locks,
// /proc) are read on the scraping thread. Per-worker sources read plain counters that only their
// worker's thread writes, so a scrape posts them to that worker's io_context and waits for the
// answers with a deadline: the data path takes no lock and never waits for a scrape, and a stuck
// worker delays a scrape by at most the timeout (its figures are then missing, and
// causeway_metrics_workers_unanswered says so).

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/runtime/worker.h"
#include "gateway/metrics_text.h"

namespace causeway::gateway {

class MetricsCollector {
 public:
  using Source = std::function<void(MetricsWriter& out)>;

  // Read on the scraping thread: must be safe from any thread.
  void AddSource(Source source);
  // Run on `worker`'s thread. The worker, and whatever `source` reads, must outlive the last
  // Collect (the metrics service stops before the services that own them).
  void AddWorkerSource(runtime::Worker& worker, Source source);

  // Every source's samples: process-wide sources first, then the workers in the order they were
  // first added. Waits at most `timeout` for the workers. Any thread but a worker's (it would
  // wait for itself); concurrent calls are fine.
  std::vector<MetricFamily> Collect(std::chrono::milliseconds timeout) const;

 private:
  struct WorkerSources {
    runtime::Worker* worker;
    std::vector<Source> sources;
  };

  mutable absl::Mutex mu_;
  std::vector<Source> sources_ ABSL_GUARDED_BY(mu_);
  std::vector<WorkerSources> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace causeway::gateway
