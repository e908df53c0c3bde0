#include "gateway/metrics_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "gateway/metrics_sources.h"
#include "gateway/metrics_text.h"

namespace causeway::gateway {

MetricsService::MetricsService(std::shared_ptr<MetricsCollector> collector,
                               std::chrono::milliseconds worker_timeout)
    : collector_(std::move(collector)), worker_timeout_(worker_timeout), started_(absl::Now()) {}

absl::Status MetricsService::Start(const StartContext& context) {
  const MetricsConfig& config = context.config->metrics;
  if (!config.listen) {
    log::Info("metrics", "metrics endpoint off (metrics.listen = \"\")");
    return absl::OkStatus();
  }
  collector_->AddSource(
      [started = started_](MetricsWriter& out) { WriteProcessMetrics(started, out); });
  MetricsHttpOptions options;
  options.listen = *config.listen;
  MetricsHttpHandlers handlers;
  handlers.metrics = [collector = collector_, timeout = worker_timeout_] {
    return RenderPrometheusText(collector->Collect(timeout));
  };
  handlers.ready = [this] { return ready_.load(std::memory_order_relaxed); };
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start(std::move(options), std::move(handlers));
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  ready_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

std::vector<std::string> MetricsService::Listeners() const {
  if (!server_) return {};
  return {absl::StrCat("http:", server_->local_address().ToString())};
}

std::optional<NetAddress> MetricsService::local_address() const {
  if (!server_) return std::nullopt;
  return server_->local_address();
}

void MetricsService::Stop() {
  ready_.store(false, std::memory_order_relaxed);
  server_.reset();  // joins the server's thread: no scrape runs after this
}

}  // namespace causeway::gateway
