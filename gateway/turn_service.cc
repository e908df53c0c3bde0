#include "gateway/turn_service.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "core/log.h"
#include "core/runtime/tls_context.h"
#include "gateway/metrics_sources.h"
#include "gateway/turn_relay.h"
#include "gateway/wiring.h"

namespace causeway::gateway {
namespace {

// The relay addresses: configured, else the listeners' IPs (one per family).
struct RelayAddresses {
  std::optional<NetAddress> v4;
  std::optional<NetAddress> v6;
};

RelayAddresses PickRelayAddresses(const TurnConfig& t) {
  RelayAddresses out;
  auto take = [&out](NetAddress a) {
    a.set_port(0);
    if (a.is_unspecified()) return;
    auto& slot = a.is_v6() ? out.v6 : out.v4;
    if (!slot) slot = a;
  };
  for (const NetAddress& a : t.relay_addresses) take(a);
  if (t.relay_addresses.empty()) {
    for (const auto* list : {&t.udp, &t.tcp, &t.tls}) {
      for (const NetAddress& a : *list) take(a);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<TurnCredentialIssuer::Grant> TurnCredentialIssuer::Issue(
    std::string_view user) const {
  if (credentials_ == nullptr) {
    return absl::FailedPreconditionError("the media relay is not running");
  }
  absl::StatusOr<turn::IssuedCredential> issued =
      credentials_->Issue(user, template_.ttl, absl::Now());
  if (!issued.ok()) return issued.status();
  Grant grant = template_;
  grant.credential = *std::move(issued);
  return grant;
}

sip::lync::MediaRelayAuthority MakeMediaRelayAuthority(
    std::shared_ptr<const TurnCredentialIssuer> issuer) {
  return [issuer = std::move(issuer)](const sip::lync::MediaRelayRequest& request)
             -> absl::StatusOr<sip::lync::MediaRelayGrant> {
    std::string_view user = request.user;
    if (user.starts_with("sip:")) user.remove_prefix(4);
    absl::StatusOr<TurnCredentialIssuer::Grant> grant = issuer->Issue(user);
    if (!grant.ok()) return grant.status();
    sip::lync::MediaRelayGrant out;
    out.username = absl::Base64Escape(ToAbsl(grant->credential.username));
    out.password = absl::Base64Escape(ToAbsl(grant->credential.password));
    out.duration = std::chrono::minutes(absl::ToInt64Minutes(grant->ttl));
    sip::lync::MediaRelay relay;
    relay.location = sip::lync::RelayLocation::kInternet;
    relay.host = grant->host;
    relay.udp_port = grant->udp_port;
    relay.tcp_port = grant->tcp_port;
    out.relays.push_back(std::move(relay));
    return out;
  };
}

TurnService::TurnService(std::shared_ptr<MetricsCollector> metrics,
                         std::shared_ptr<TurnCredentialIssuer> issuer)
    : metrics_(std::move(metrics)), issuer_(std::move(issuer)) {}

TurnService::~TurnService() { Stop(); }

absl::Status TurnService::Start(const StartContext& context) {
  const GatewayConfig& config = *context.config;
  const TurnConfig& t = config.turn;
  if (!t.enabled()) return absl::OkStatus();

  absl::StatusOr<std::string> secret = LoadOrCreateTurnSecret(config, context.state_dir);
  if (!secret.ok()) return secret.status();
  const turn::CredentialOptions credential_options =
      MakeTurnCredentialOptions(config, *std::move(secret));

  const RelayAddresses relay = PickRelayAddresses(t);
  if (!relay.v4 && !relay.v6) {
    return absl::InvalidArgumentError(
        "turn.relay_addresses: needed when the relay listens only on wildcard addresses");
  }
  std::vector<turn::CidrRange> allow;
  for (const std::string& text : t.allow_peers) allow.push_back(*turn::CidrRange::Parse(text));
  std::vector<NetAddress> own;
  for (const auto& a : {relay.v4, relay.v6}) {
    if (a) own.push_back(*a);
  }
  for (const auto* list : {&t.udp, &t.tcp, &t.tls}) {
    for (NetAddress a : *list) {
      a.set_port(0);
      if (!a.is_unspecified()) own.push_back(a);
    }
  }
  shared_ = std::make_unique<turn::TurnShared>(MakeTurnOptions(config),
                                               turn::Credentials(credential_options),
                                               turn::PeerPolicy(std::move(allow), std::move(own)));

  media::io::RelaySocketsOptions options;
  options.udp_listen = t.udp;
  options.tcp_listen = t.tcp;
  options.tls_listen = t.tls;
  if (!t.tls.empty()) {
    absl::StatusOr<runtime::TlsContextPtr> tls =
        runtime::MakeTlsServerContext(MakeTlsServerOptions(config, context.certificate));
    if (!tls.ok()) return tls.status();
    options.tls = *tls;
  }
  options.relay_v4 = relay.v4;
  options.relay_v6 = relay.v6;
  options.min_port = static_cast<uint16_t>(t.port_min);
  options.max_port = static_cast<uint16_t>(t.port_max);
  options.limiter = std::make_shared<media::io::ClientIpLimiter>(t.max_allocations_per_ip);
  options.max_connections_per_ip = t.max_allocations_per_ip;
  // A stream outlives the allocations on it: idle means no refresh within the longest lifetime.
  options.stream_idle_timeout = std::chrono::seconds(t.max_lifetime_s + 60);

  runtime::RuntimeOptions runtime_options;
  runtime_options.workers = static_cast<size_t>(context.workers);
  runtime_ = std::make_unique<runtime::Runtime>(runtime_options);
  shards_.resize(runtime_->size());
  for (size_t i = 0; i < runtime_->size(); ++i) {
    runtime::Worker& worker = runtime_->worker(i);
    absl::StatusOr<std::unique_ptr<media::io::RelaySockets>> sockets =
        media::io::RelaySockets::Create(worker.io_context(), options);
    if (!sockets.ok()) {
      shards_.clear();
      runtime_.reset();
      return sockets.status();
    }
    if (i == 0) {
      // Port 0 (tests) resolves on the first worker; the others bind the same ports.
      options.udp_listen = (*sockets)->udp_listen();
      options.tcp_listen = (*sockets)->tcp_listen();
      options.tls_listen = (*sockets)->tls_listen();
    }
    Shard& shard = shards_[i];
    shard.sockets = *std::move(sockets);
    shard.turn = std::make_unique<turn::TurnWorker>(*shared_, *shard.sockets, worker.wheel(),
                                                    runtime_->clock());
    // The relay logic schedules allocation expiry on the wheel directly.
    shard.turn->set_on_timers_changed([&worker] { worker.Rearm(); });
    shard.sockets->Start(*shard.turn);
    // At stop, on the worker's thread: allocations end (relays close), then the listeners.
    worker.AddStopHook([&shard] {
      shard.turn->Shutdown();
      shard.sockets->Close();
    });
    if (metrics_ != nullptr) {
      metrics_->AddWorkerSource(worker, [&shard, i](MetricsWriter& out) {
        WriteTurnWorkerMetrics(shard.turn->stats(), shard.sockets->counters(), i, out);
      });
    }
  }
  if (metrics_ != nullptr) {
    turn::TurnShared* shared = shared_.get();
    metrics_->AddSource([shared](MetricsWriter& out) {
      out.Gauge("causeway_turn_allocations_total_held",
                "Allocations held by the relay across its workers (the quota's view).",
                static_cast<double>(shared->total_allocations()));
    });
  }
  if (absl::Status st = runtime_->Start(); !st.ok()) return st;

  const media::io::RelaySockets& first = *shards_.front().sockets;
  for (const NetAddress& a : first.udp_listen()) listeners_.push_back("turn-udp:" + a.ToString());
  for (const NetAddress& a : first.tcp_listen()) listeners_.push_back("turn-tcp:" + a.ToString());
  for (const NetAddress& a : first.tls_listen()) listeners_.push_back("turn-tls:" + a.ToString());

  if (issuer_ != nullptr) {
    issuer_->template_.host = TurnPublicHost(config);
    issuer_->template_.udp_port = first.udp_listen().empty() ? 0 : first.udp_listen()[0].port();
    issuer_->template_.tcp_port = first.tcp_listen().empty() ? 0 : first.tcp_listen()[0].port();
    issuer_->template_.ttl = absl::Seconds(t.credential_ttl_s);
    issuer_->credentials_ = std::make_shared<const turn::Credentials>(credential_options);
  }
  log::Info("turn", "media relay started",
            {{"realm", TurnRealm(config)},
             {"workers", absl::StrCat(runtime_->size())},
             {"relay_v4", relay.v4 ? relay.v4->HostString() : std::string("-")},
             {"relay_v6", relay.v6 ? relay.v6->HostString() : std::string("-")},
             {"ports", absl::StrCat(t.port_min, "-", t.port_max)},
             {"allow_peers", absl::StrCat(t.allow_peers.size())}});
  return absl::OkStatus();
}

void TurnService::Stop() {
  if (runtime_ == nullptr) return;
  runtime_->Stop();
  runtime_->Join();
  shards_.clear();  // after the threads: nothing runs on them any more
  runtime_.reset();
  shared_.reset();
}

}  // namespace causeway::gateway
