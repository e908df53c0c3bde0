#pragma once
// The metrics endpoint as a daemon Service ([metrics] listen). List it LAST: it starts once the
// services whose workers registered with the collector exist (an address in use is then one line
// and exit 1, like the SIP ports), and it stops first, before the objects its sources read go
// away. It keeps serving while the daemon drains; /ready turns 503 from StopAccepting on.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gateway/daemon.h"
#include "gateway/metrics_collector.h"
#include "gateway/metrics_http.h"

namespace causeway::gateway {

class MetricsService final : public Service {
 public:
  // `worker_timeout`: how long a scrape waits for the workers' answers.
  explicit MetricsService(std::shared_ptr<MetricsCollector> collector,
                          std::chrono::milliseconds worker_timeout = std::chrono::seconds(2));

  std::string_view Name() const override { return "metrics"; }
  absl::Status Start(const StartContext& context) override;
  std::vector<std::string> Listeners() const override;
  void StopAccepting() override { ready_.store(false, std::memory_order_relaxed); }
  bool Idle() override { return true; }
  void Stop() override;

  // The bound address (port resolved); nullopt when off or not started.
  std::optional<NetAddress> local_address() const;

 private:
  std::shared_ptr<MetricsCollector> collector_;
  std::chrono::milliseconds worker_timeout_;
  absl::Time started_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<MetricsHttpServer> server_;
};

}  // namespace causeway::gateway
