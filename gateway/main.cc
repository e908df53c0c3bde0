// causeway: the gateway daemon. Everything but the list of services lives in the gateway library
// (daemon.h); the composition root wires the services together here: the SIP service owns the
// workers and their buses, the XMPP edge attaches to each worker through the SIP service's
// on_worker hook, and both register their statistics with the metrics collector that the metrics
// endpoint (listed last) reads.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"
#include "core/strings.h"
#include "gateway/daemon.h"
#include "gateway/metrics_collector.h"
#include "gateway/metrics_service.h"
#include "gateway/metrics_sources.h"
#include "gateway/sip_service.h"
#include "gateway/turn_service.h"
#include "gateway/wiring.h"
#include "gateway/xmpp_edge.h"

namespace causeway::gateway {
namespace {

// The XMPP edge as a Service listed BEFORE the SIP service. Why a Service and not a factory that
// reads the config on the first on_worker call: the hook cannot fail, but Start can. Everything
// that may go wrong (domain map, certificate, s2s port taken, component settings) is checked here
// with the config snapshot and aborts startup with one line; the hook, called per worker during
// the SIP service's Start, only builds each worker's XmppEdge from the prepared, immutable options.
// Shutdown order, s2s mode: the SIP service stops first (reverse order); its workers run the
// edges' stop hooks (registered after the SIP shards' hooks, so they run before them: failures
// for queued messages still reach the SIP side), then Stop() here frees the stopped edges.
// Component mode: the one component stream closes in StopAccepting (the first service asked, the
// workers all running), so what it had not written comes back to the SIP senders as failures, and
// IMs sent while the daemon drains fail at once; the edges then stop as in s2s mode.
class XmppService final : public Service {
 public:
  explicit XmppService(std::shared_ptr<MetricsCollector> metrics) : metrics_(std::move(metrics)) {}

  std::string_view Name() const override { return "xmpp"; }

  absl::Status Start(const StartContext& context) override {
    const GatewayConfig& config = *context.config;
    if (config.xmpp.mode == XmppMode::kOff) return absl::OkStatus();
    absl::StatusOr<mappings::DomainMap> domains = MakeDomainMap(config);
    if (!domains.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("xmpp.domains: ", domains.status().message()));
    }
    auto options = std::make_shared<XmppEdgeOptions>();
    options->domains = std::make_shared<const mappings::DomainMap>(*std::move(domains));
    options->blocked_domains = config.xmpp.blocked_domains;
    options->resource = config.xmpp.resource;
    if (config.xmpp.mode == XmppMode::kComponent) {
      // Connects at once; the edges attach moments later, and what arrives before is held.
      absl::StatusOr<std::unique_ptr<ComponentLink>> link =
          ComponentLink::Start(MakeComponentConfig(config));
      if (!link.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("xmpp.component: ", link.status().message()));
      }
      link_ = *std::move(link);
      metrics_->AddSource([link = link_.get()](MetricsWriter& out) {
        WriteComponentMetrics(link->stats(), link->lost(), out);
      });
      options_ = std::move(options);
      log::Info("xmpp", "component edge prepared",
                {{"domain", config.xmpp.component_domain},
                 {"server", absl::StrCat(ToAbsl(config.xmpp.component_host), ":",
                                         config.xmpp.component_port)},
                 {"federation", config.xmpp.open_federation ? "open" : "allow-list"}});
      return absl::OkStatus();
    }
    std::vector<std::string> local = LocalXmppDomains(config);
    auto s2s = std::make_shared<xmpp::io::S2sServiceConfig>(MakeS2sServiceConfig(config, local));
    absl::StatusOr<std::shared_ptr<const xmpp::io::S2sTls>> tls =
        xmpp::io::S2sTls::Create(MakeS2sTlsOptions(config, context.certificate, local));
    if (!tls.ok()) {
      return absl::Status(tls.status().code(),
                          absl::StrCat("s2s certificate: ", tls.status().message()));
    }
    s2s->tls = *tls;
    // The listen ports are bound by every worker with SO_REUSEPORT during the SIP service's
    // Start, where a failure cannot stop the daemon: bind them once here first, so a port held
    // by another server is reported now.
    {
      boost::asio::io_context probe_io;
      auto probe = xmpp::io::S2sService::Create(
          probe_io, s2s,
          {.on_stanza = [](xmpp::Element, const xmpp::s2s::DomainPair&) {},
           .on_undeliverable = [](xmpp::Element, xmpp::StanzaErrorCondition) {}});
      if (!probe.ok()) return probe.status();
    }
    options->s2s = std::move(s2s);
    options_ = std::move(options);
    routing_ = std::make_unique<EdgeRouting>(static_cast<size_t>(context.workers));
    log::Info("xmpp", "s2s edge prepared",
              {{"domains", absl::StrJoin(local, ",")},
               {"federation", config.xmpp.open_federation ? "open" : "allow-list"},
               {"require_tls", config.xmpp.require_tls ? "yes" : "no"}});
    return absl::OkStatus();
  }

  // The domains reached over XMPP; null when [xmpp] is off.
  std::shared_ptr<const mappings::DomainMap> domains() const {
    return options_ ? options_->domains : nullptr;
  }

  // SipServiceHooks::on_worker: main thread, before the worker runs.
  void AttachToWorker(runtime::Worker& worker, Bus& bus) {
    if (options_ == nullptr) return;
    absl::StatusOr<std::unique_ptr<XmppEdge>> edge =
        link_ ? XmppEdge::CreateOnComponent(worker, bus, options_, *link_)
              : XmppEdge::Create(worker, bus, options_, routing_.get());
    if (!edge.ok()) {
      log::Error("xmpp", "edge not started on worker",
                 {{"worker", static_cast<int64_t>(worker.index())},
                  {"why", FromAbsl(edge.status().message())}});
      return;
    }
    metrics_->AddWorkerSource(
        worker, [edge_ptr = edge->get(), index = worker.index()](MetricsWriter& out) {
          WriteXmppEdgeMetrics(edge_ptr->stats(), edge_ptr->s2s_stats(), index, out);
        });
    if (listeners_.empty()) {
      for (const NetAddress& address : (*edge)->listen_addresses()) {
        listeners_.push_back(absl::StrCat("xmpp-s2s:", address.ToString()));
      }
    }
    edges_.push_back(*std::move(edge));
  }

  std::vector<std::string> Listeners() const override { return listeners_; }
  // s2s: the edges close their listeners in the workers' stop hooks. Component: see above.
  void StopAccepting() override {
    if (link_) link_->Shutdown();
  }
  bool Idle() override { return true; }
  // After the SIP service's Stop: the workers have run the edges' stop hooks and are joined. The
  // edges go first so that a link still open here (startup failed) has nowhere to post.
  void Stop() override {
    edges_.clear();
    link_.reset();
  }

 private:
  std::shared_ptr<MetricsCollector> metrics_;
  std::shared_ptr<const XmppEdgeOptions> options_;  // null: [xmpp] mode = "off"
  std::unique_ptr<ComponentLink> link_;             // component mode
  std::unique_ptr<EdgeRouting> routing_;            // s2s mode: one outbound stream per domain
  std::vector<std::unique_ptr<XmppEdge>> edges_;
  std::vector<std::string> listeners_;
};

// The SIP service, made at Start: its hooks carry what [xmpp] decides (the domains reached over
// XMPP, the receipt wait), and the config is only known there (ServicesFactory takes none).
class SipServiceWithXmpp final : public Service {
 public:
  SipServiceWithXmpp(XmppService& xmpp, std::shared_ptr<MetricsCollector> metrics,
                     std::shared_ptr<const TurnCredentialIssuer> turn)
      : xmpp_(xmpp), metrics_(std::move(metrics)), turn_(std::move(turn)) {}

  std::string_view Name() const override { return "sip"; }

  absl::Status Start(const StartContext& context) override {
    SipServiceHooks hooks;
    hooks.on_worker = [xmpp = &xmpp_](runtime::Worker& worker, Bus& bus) {
      xmpp->AttachToWorker(worker, bus);
    };
    // Null when [xmpp] is off: the SIP side then runs no IM bridge.
    hooks.xmpp_domains = xmpp_.domains();
    hooks.receipt_wait = std::chrono::milliseconds(context.config->xmpp.receipt_wait_ms);
    if (context.config->turn.enabled()) hooks.media_relay = MakeMediaRelayAuthority(turn_);
    AttachSipMetrics(*metrics_, hooks);
    sip_ = MakeSipService(std::move(hooks));
    return sip_->Start(context);
  }
  std::vector<std::string> Listeners() const override {
    return sip_ ? sip_->Listeners() : std::vector<std::string>{};
  }
  void StopAccepting() override {
    if (sip_) sip_->StopAccepting();
  }
  bool Idle() override { return sip_ == nullptr || sip_->Idle(); }
  void Stop() override {
    if (sip_) sip_->Stop();
  }

 private:
  XmppService& xmpp_;
  std::shared_ptr<MetricsCollector> metrics_;
  std::shared_ptr<const TurnCredentialIssuer> turn_;
  std::unique_ptr<Service> sip_;
};

std::vector<std::unique_ptr<Service>> MakeServices() {
  auto metrics = std::make_shared<MetricsCollector>();
  auto turn_issuer = std::make_shared<TurnCredentialIssuer>();
  auto xmpp = std::make_unique<XmppService>(metrics);
  auto sip = std::make_unique<SipServiceWithXmpp>(*xmpp, metrics, turn_issuer);
  std::vector<std::unique_ptr<Service>> services;
  services.push_back(std::move(xmpp));  // first: prepared before the SIP workers exist
  // Before the SIP service: its MRAS answers read the relay's credentials.
  services.push_back(std::make_unique<TurnService>(metrics, turn_issuer));
  services.push_back(std::move(sip));
  // Last: starts once the workers registered their sources, stops before they go away.
  services.push_back(std::make_unique<MetricsService>(std::move(metrics)));
  return services;
}

}  // namespace
}  // namespace causeway::gateway

int main(int argc, char** argv) {
  return causeway::gateway::RunMain(argc, argv, &causeway::gateway::MakeServices);
}
