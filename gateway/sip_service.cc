#include "gateway/sip_service.h"

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/directory.h"
#include "core/log.h"
#include "core/runtime/runtime.h"
#include "core/runtime/tls_context.h"
#include "core/status.h"
#include "core/strings.h"
#include "gateway/presence_federation.h"
#include "gateway/sip_im_bridge.h"
#include "gateway/sqlite_directory.h"
#include "gateway/sqlite_roaming_store.h"
#include "gateway/wiring.h"
#include "sip/codec/message.h"
#include "sip/io/resolver.h"
#include "sip/io/resolver_uri.h"
#include "sip/io/transport.h"
#include "sip/lync/client_policy.h"
#include "sip/lync/diagnostics.h"
#include "sip/lync/front_end.h"
#include "sip/lync/registration.h"
#include "sip/lync/roaming_store.h"
#include "sip/lync/security_layer.h"
#include "sip/stack/location_store.h"
#include "sip/stack/registrar.h"
#include "sip/stack/sip_server.h"
#include "sip/stack/transaction_layer.h"

namespace causeway::gateway {
namespace {

using sip::SipMessage;

class SipService;

// The proxy's view of the directory: an AOR that is not a user is 404, not 480.
class DirectoryAors final : public sip::AorDirectory {
 public:
  explicit DirectoryAors(const UserDirectory& users) : users_(users) {}
  bool Exists(std::string_view aor) const override { return users_.FindByUri(aor) != nullptr; }

 private:
  const UserDirectory& users_;
};

// Everything one worker owns. It sits between the transport and the transaction layer on both
// sides: inbound it routes responses to the shard that owns their transaction and re-arms the
// worker's OS timer after the stack scheduled timers on the wheel; outbound it hands sends on a
// stream connection another worker owns (a registered flow, RFC 5626) to that worker.
class Shard final : public sip::TransportUser, public sip::Transport, public sip::NextHopResolver {
 public:
  Shard(SipService& service, runtime::Worker& worker) : service_(service), worker_(worker) {}

  absl::Status Init(const GatewayConfig& config, sip::SipTransportOptions transport_options,
                    sip::LocationStore& location, bool purge);

  // sip::TransportUser.
  // A signed-in client's connection is its registration flow (MS-SIPAE, RFC 5626): when it
  // closes, its bindings go and its watchers see the new availability.
  void OnConnectionClosed(sip::ConnectionId id) override {
    if (!security_ || !security_->HasAssociation(id)) return;
    security_->OnConnectionClosed(id);
    std::vector<std::string> aors;
    location_->RemoveFlow(id, &aors);
    if (front_end_) {
      for (const std::string& aor : aors) front_end_->OnRegistrationChanged(aor);
    }
    worker_.Rearm();
  }

  // sip::TransportUser.
  void OnMessage(SipMessage&& message, const sip::ReceiveInfo& info) override;
  void OnSendFailed(uint64_t token, const sip::Destination& to, const absl::Status& error) override;

  // sip::Transport, for this worker's stack.
  void Send(const sip::Destination& to, std::string bytes, uint64_t token) override;
  NetAddress AdvertisedAddress(sip::TransportKind kind, bool v6) const override {
    return transport_->AdvertisedAddress(kind, v6);
  }
  bool Supports(sip::TransportKind kind) const override { return transport_->Supports(kind); }

  // sip::NextHopResolver.
  void Resolve(const sip::Uri& uri, Callback done) override;

  // Delivers a response another worker received for one of our transactions.
  void DeliverFromOtherShard(SipMessage&& message, sip::ReceiveInfo info) {
    if (!server_) return;  // closed while the message was in flight
    server_->transport_user().OnMessage(std::move(message), info);
    worker_.Rearm();
  }

  // Sends for another worker's stack on a connection this worker owns. A failure goes back to
  // `origin` with the stack's own token.
  void SendForOtherShard(uint32_t origin, const sip::Destination& to, std::string bytes,
                         uint64_t token) {
    if (!server_) return;  // closed while the send was in flight
    diagnostics_->OnOutgoing(bytes,
                             [&] { return security_ && security_->HasAssociation(to.connection); });
    if (security_) security_->OnOutgoing(to, bytes);
    transport_->Send(to, std::move(bytes), token == 0 ? 0 : ForwardedToken(origin, token));
  }

  // An answer for an IM session or MESSAGE held by this worker's bridge, from another worker's bus.
  void AnswerFromOtherShard(const SipImBridge::Answer& answer) {
    if (im_bridge_) im_bridge_->OnAnswer(answer);
  }

  runtime::Worker& worker() { return worker_; }
  Bus& bus() { return bus_; }

  // Worker thread only (SipServiceHooks::on_worker_stats).
  SipWorkerStats Stats() const {
    SipWorkerStats stats;
    if (transport_) {
      stats.transport = &transport_->counters();
      stats.connections = transport_->connection_count();
    }
    if (!server_) return stats;  // closed
    stats.open = true;
    stats.client_transactions = server_->layer().client_count();
    stats.server_transactions = server_->layer().server_count();
    stats.proxy_contexts = server_->proxy().context_count();
    stats.server = server_->stats();
    stats.proxy = server_->proxy().stats();
    stats.registrar = server_->registrar().stats();
    if (security_) {
      stats.security = security_->stats();
      stats.security_associations = security_->association_count();
    }
    if (presence_federation_) stats.presence_federation = presence_federation_->stats();
    return stats;
  }
  sip::SipTransport& transport() { return *transport_; }
  sip::SipServer& server() { return *server_; }

  // Worker thread only.
  void StopAccepting() {
    transport_->StopAccepting();
    server_->layer().StopAccepting();
  }
  // Transactions still waiting for a final response; completed ones only absorb retransmissions
  // and ACKs (an INVITE's non-2xx waits up to 32 s for an ACK some clients never send).
  size_t live_transactions() const { return server_->layer().pending_count(); }
  void Close() {
    if (server_) server_->SetLocalService(nullptr);
    presence_federation_.reset();
    im_bridge_.reset();
    front_end_.reset();
    server_.reset();  // cancels its timers on the still-alive wheel
    if (transport_) transport_->Close();
  }

 private:
  // A forwarded send's token carries its origin: top bit set, origin worker in bits 48-62. The
  // stack's own tokens are per-worker counters that never come near 2^48.
  static constexpr uint64_t kForwardedBit = uint64_t{1} << 63;
  static constexpr int kOriginShift = 48;
  static constexpr uint64_t kTokenMask = (uint64_t{1} << kOriginShift) - 1;
  static uint64_t ForwardedToken(uint32_t origin, uint64_t token) {
    return kForwardedBit | (static_cast<uint64_t>(origin & 0x7fff) << kOriginShift) |
           (token & kTokenMask);
  }

  SipService& service_;
  runtime::Worker& worker_;
  Bus bus_;  // this worker's event bus (core/bus.h: single-threaded, one per worker)
  std::unique_ptr<sip::Resolver> resolver_;
  std::unique_ptr<sip::SipTransport> transport_;
  // MS-SIPAE sign-in and signing; null when the directory has no users (lab mode: no auth).
  std::unique_ptr<sip::lync::SecurityLayer> security_;
  std::vector<std::string> served_domains_;  // the Digest realms whose credentials we consume
  sip::LocationStore* location_ = nullptr;
  std::unique_ptr<sip::SipServer> server_;
  std::unique_ptr<sip::lync::FrontEnd> front_end_;  // uses server_: declared after it
  std::unique_ptr<SipImBridge> im_bridge_;          // null: XMPP off; in front of front_end_
  std::unique_ptr<PresenceFederation> presence_federation_;  // null: XMPP off; uses front_end_
  // ms-diagnostics on errors for signed-in clients, stripped at the organisation's edge.
  std::unique_ptr<sip::lync::DiagnosticsFilter> diagnostics_;
  std::unique_ptr<sip::lync::ClientPolicy> client_policy_;  // null: no lync.blocked_clients
};

class SipService final : public Service {
 public:
  explicit SipService(SipServiceHooks hooks) : hooks_(std::move(hooks)) {}
  const SipServiceHooks& hooks() const { return hooks_; }
  std::string_view Name() const override { return "sip"; }
  absl::Status Start(const StartContext& context) override;
  std::vector<std::string> Listeners() const override { return listeners_; }
  void StopAccepting() override {
    OnEachWorker([](Shard& shard) { shard.StopAccepting(); });
  }
  bool Idle() override {
    size_t live = 0;
    OnEachWorker([&live](Shard& shard) { live += shard.live_transactions(); });
    return live == 0;
  }
  void Stop() override;

  Shard* shard(size_t index) { return index < shards_.size() ? shards_[index].get() : nullptr; }
  const UserDirectory* directory() const { return directory_.get(); }
  const sip::AorDirectory* aor_directory() const { return aor_directory_.get(); }
  const CertificateInfo& certificate() const { return certificate_; }
  sip::lync::FrontEndState& front_end_state() { return *front_end_state_; }

 private:
  // Runs `fn` on every worker's thread, one after the other, and waits (bounded) for each.
  template <typename F>
  void OnEachWorker(F fn) {
    if (!runtime_ || !running_) return;
    for (auto& shard : shards_) {
      std::promise<void> done;
      std::future<void> finished = done.get_future();
      Shard* s = shard.get();
      s->worker().Post([s, &fn, &done] {
        fn(*s);
        done.set_value();
      });
      // A worker stuck for seconds is a bug; never hang shutdown on it.
      if (finished.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        log::Error("sip", "worker did not answer", {{"worker", s->worker().index()}});
        finished.wait();  // `fn` and `done` live on this stack: the task must finish first
      }
    }
  }

  // Re-reads the user directory when `causeway user ...` changed it, until Stop().
  void WatchDirectory();

  SipServiceHooks hooks_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<SqliteDirectory> directory_;
  std::unique_ptr<sip::AorDirectory> aor_directory_;
  CertificateInfo certificate_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;
  std::thread watcher_;
  std::unique_ptr<sip::LocationStore> location_;
  std::unique_ptr<sip::lync::RoamingStore> roaming_store_;
  std::unique_ptr<sip::lync::FrontEndState> front_end_state_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::string> listeners_;
  bool running_ = false;
};

absl::Status Shard::Init(const GatewayConfig& config, sip::SipTransportOptions transport_options,
                         sip::LocationStore& location, bool purge) {
  sip::ResolverOptions resolver_options;
  std::string servers;
  for (const NetAddress& server : config.dns.servers) {
    if (!servers.empty()) servers += ",";
    NetAddress with_port = server;
    if (with_port.port() == 0) with_port.set_port(53);
    servers += with_port.ToString();
  }
  resolver_options.dns.servers = servers;
  resolver_options.dns.timeout = std::chrono::milliseconds(config.dns.timeout_ms);
  resolver_options.dns.tries = static_cast<int>(config.dns.tries);
  auto resolver = sip::Resolver::Create(worker_.io_context(), resolver_options);
  if (!resolver.ok()) return resolver.status();
  resolver_ = std::move(*resolver);

  auto transport =
      sip::SipTransport::Create(worker_.io_context(), std::move(transport_options), this);
  if (!transport.ok()) return transport.status();
  transport_ = std::move(*transport);

  location_ = &location;
  const UserDirectory* directory = service_.directory();
  if (directory != nullptr && directory->Size() > 0) {
    security_ = std::make_unique<sip::lync::SecurityLayer>(
        MakeSecurityLayerOptions(config, service_.certificate(), directory->Domains()),
        worker_.clock(), *directory);
  }

  sip::SipServerOptions options = MakeSipServerOptions(config);
  if (options.domains.empty() && directory != nullptr) options.domains = directory->Domains();
  served_domains_ = options.domains;
  diagnostics_ = std::make_unique<sip::lync::DiagnosticsFilter>(sip::lync::DiagnosticsFilterOptions{
      LyncServerName(config, service_.certificate()), options.domains});
  if (!config.lync.blocked_clients.empty()) {
    auto policy = sip::lync::ClientPolicy::Create(config.lync.blocked_clients);
    if (!policy.ok()) return policy.status();
    client_policy_ = std::make_unique<sip::lync::ClientPolicy>(*std::move(policy));
  }
  sip::lync::RegistrationOptions lync;
  lync.keep_alive = std::chrono::seconds(config.lync.keep_alive_s);
  options.registrar.decorate_accepted = [this, lync](const SipMessage& request,
                                                     SipMessage& response) {
    sip::lync::AddRegisterOkHeaders(request, response, lync);
    // Signing in or out changes what the user's watchers see.
    if (front_end_ && request.to().uri.is_sip()) {
      if (absl::StatusOr<std::string> aor = sip::CanonicalAor(request.to().uri); aor.ok()) {
        front_end_->OnRegistrationChanged(*aor);
      }
    }
  };
  for (const sip::ListenConfig& listen : transport_->BoundListeners()) {
    options.local_hosts.push_back(listen.address.HostString());
    if (listen.advertised) options.local_hosts.push_back(listen.advertised->HostString());
  }
  options.shard = static_cast<uint32_t>(worker_.index());
  if (!purge) options.purge_interval = Duration::zero();
  options.on_bindings_expired = [this](const std::vector<std::string>& aors) {
    if (!front_end_) return;
    for (const std::string& aor : aors) front_end_->OnRegistrationChanged(aor);
  };
  server_ = std::make_unique<sip::SipServer>(*this, worker_.wheel(), worker_.clock(),
                                             location, *this, std::move(options),
                                             security_.get(), service_.aor_directory());
  const sip::TransportKind contact_kind =
      transport_->Supports(sip::TransportKind::kTls) ? sip::TransportKind::kTls
      : transport_->Supports(sip::TransportKind::kTcp) ? sip::TransportKind::kTcp
                                                        : sip::TransportKind::kUdp;
  const NetAddress contact_address = transport_->AdvertisedAddress(contact_kind, false);
  const std::string contact =
      absl::StrCat("<sip:", contact_address.HostForUri(), ":", contact_address.port(),
                   ";transport=",
                   absl::AsciiStrToLower(ToAbsl(sip::TransportName(contact_kind))), ">");
  front_end_ = std::make_unique<sip::lync::FrontEnd>(service_.front_end_state(), *server_,
                                                     worker_.clock(), contact);
  if (const SipServiceHooks& hooks = service_.hooks(); hooks.xmpp_domains) {
    SipImBridgeOptions bridge;
    bridge.domains = hooks.xmpp_domains;
    bridge.receipt_wait = hooks.receipt_wait;
    bridge.contact = contact;
    bridge.sdp_host = contact_address.HostString();
    bridge.warning_agent = LyncServerName(config, service_.certificate());
    bridge.via_kind = contact_kind;
    bridge.worker = static_cast<uint32_t>(worker_.index());
    im_bridge_ = std::make_unique<SipImBridge>(
        std::move(bridge), *server_, worker_, bus_, front_end_.get(),
        [this](uint32_t worker, SipImBridge::Answer answer) {
          if (Shard* owner = service_.shard(worker)) {
            owner->worker().Post(
                [owner, a = std::move(answer)] { owner->AnswerFromOtherShard(a); });
          }
        });
    server_->SetLocalService(im_bridge_.get());
    presence_federation_ =
        std::make_unique<PresenceFederation>(*front_end_, bus_, hooks.xmpp_domains);
  } else {
    server_->SetLocalService(front_end_.get());
  }
  worker_.AddStopHook([this] { Close(); });
  return absl::OkStatus();
}

void Shard::OnMessage(SipMessage&& message, const sip::ReceiveInfo& received) {
  sip::ReceiveInfo info = received;
  // Client version policy (MS-OCSPROT 2.6.1): a blocked client never reaches authentication.
  if (client_policy_ && message.is_request() && message.method() == sip::Method::kRegister) {
    if (std::optional<SipMessage> blocked =
            client_policy_->AnswerRegister(message, diagnostics_->options().source)) {
      sip::Destination back;
      back.kind = info.kind;
      back.address = info.source;
      back.connection = info.connection;
      transport_->Send(back, blocked->Serialize(), 0);
      return;
    }
  }
  if (security_) {
    sip::lync::SecurityLayer::ResponseHeaders auth_headers;
    absl::Status verified = security_->OnIncoming(message, &info, &auth_headers);
    if (!verified.ok()) {
      // A request with a bad or missing signature (or Digest proof, 407) gets its answer; a
      // response is dropped.
      if (message.is_request() && message.method() != sip::Method::kAck) {
        const int code = SipCodeOf(verified).value_or(403);
        // A refusal says why (security_layer.h); challenges keep the standard phrase.
        const std::string_view reason = code == 403 ? FromAbsl(verified.message()) : "";
        SipMessage answer = sip::MakeResponse(message, code, reason, sip::NewLocalTag());
        for (const auto& [name, value] : auth_headers) (void)answer.AppendHeader(name, value);
        sip::Destination back;
        back.kind = info.kind;
        back.address = info.source;
        back.connection = info.connection;
        Send(back, answer.Serialize(), 0);  // diagnostics and signing apply as to any answer
      }
      return;
    }
    // Proven: the credentials were for us, not for whoever the message is forwarded to.
    sip::lync::RemoveConsumedCredentials(message, served_domains_);
  }
  // The stack hands every ACK for a 2xx to the proxy; one for an IM session the bridge answered
  // as the XMPP contact ends here.
  if (im_bridge_ && message.is_request() && message.method() == sip::Method::kAck &&
      im_bridge_->AbsorbAck(message)) {
    return;
  }
  if (!message.is_request() && !message.vias().empty()) {
    std::optional<uint32_t> owner =
        sip::TransactionLayer::ShardOfBranch(message.vias().front().branch);
    if (owner && *owner != worker_.index()) {
      if (Shard* target = service_.shard(*owner)) {
        sip::ReceiveInfo copy = info;
        // Views into this worker's connection state; responses do not need them.
        copy.tls_peer_identity = {};
        copy.authenticated_user = {};
        target->worker().Post([target, m = std::move(message), copy]() mutable {
          target->DeliverFromOtherShard(std::move(m), copy);
        });
        return;
      }
    }
  }
  // A CANCEL for an IM session INVITE the bridge holds: the layer answers the CANCEL (and does not
  // tell local services), then the bridge answers the INVITE 487.
  std::optional<std::pair<std::string, std::string>> cancel;
  if (im_bridge_ && message.is_request() && message.method() == sip::Method::kCancel &&
      !message.vias().empty()) {
    cancel.emplace(message.call_id(), message.vias().front().branch);
  }
  server_->transport_user().OnMessage(std::move(message), info);
  if (cancel && im_bridge_) im_bridge_->OnCancel(cancel->first, cancel->second);
  worker_.Rearm();
}

void Shard::Send(const sip::Destination& to, std::string bytes, uint64_t token) {
  if (sip::IsReliable(to.kind) && to.connection != 0) {
    const uint32_t owner = sip::OwnerOfConnection(to.connection);
    if (owner != worker_.index()) {
      if (Shard* target = service_.shard(owner)) {
        const uint32_t origin = static_cast<uint32_t>(worker_.index());
        target->worker().Post([target, origin, to, b = std::move(bytes), token]() mutable {
          target->SendForOtherShard(origin, to, std::move(b), token);
        });
        return;
      }
    }
  }
  diagnostics_->OnOutgoing(bytes,
                           [&] { return security_ && security_->HasAssociation(to.connection); });
  if (security_) security_->OnOutgoing(to, bytes);
  transport_->Send(to, std::move(bytes), token);
}

void Shard::OnSendFailed(uint64_t token, const sip::Destination& to, const absl::Status& error) {
  if (token & kForwardedBit) {
    const uint32_t origin = static_cast<uint32_t>((token & ~kForwardedBit) >> kOriginShift);
    if (Shard* target = service_.shard(origin)) {
      const uint64_t own = token & kTokenMask;
      target->worker().Post([target, own, to, error] { target->OnSendFailed(own, to, error); });
    }
    return;
  }
  if (!server_) return;
  server_->transport_user().OnSendFailed(token, to, error);
  worker_.Rearm();
}

void Shard::Resolve(const sip::Uri& uri, Callback done) {
  // Resolver callbacks are copyable std::functions; ours is move-only.
  auto shared_done = std::make_shared<Callback>(std::move(done));
  sip::ResolveUri(*resolver_, uri, [this, shared_done](sip::Resolver::Result result) {
    if (!result.ok()) {
      (*shared_done)(result.status());
    } else {
      std::vector<sip::Destination> destinations;
      destinations.reserve(result->size());
      for (const sip::ResolvedTarget& target : *result) {
        sip::Destination d;
        d.kind = target.kind;
        d.address = target.address;
        d.tls_server_name = target.server_name;
        destinations.push_back(std::move(d));
      }
      (*shared_done)(std::move(destinations));
    }
    worker_.Rearm();
  });
}

absl::Status SipService::Start(const StartContext& context) {
  const GatewayConfig& config = *context.config;
  runtime::RuntimeOptions runtime_options = MakeRuntimeOptions(config);
  runtime_options.workers = static_cast<size_t>(context.workers);
  runtime_ = std::make_unique<runtime::Runtime>(runtime_options);
  location_ = std::make_unique<sip::LocationStore>();
  certificate_ = context.certificate;

  auto directory = SqliteDirectory::Open(context.state_dir);
  if (!directory.ok()) {
    return absl::Status(directory.status().code(),
                        absl::StrCat("user directory: ", directory.status().message()));
  }
  directory_ = std::move(*directory);
  if (directory_->Size() > 0) {
    aor_directory_ = std::make_unique<DirectoryAors>(*directory_);
    log::Info("sip", "user directory loaded", {{"users", static_cast<int64_t>(directory_->Size())}});
  } else {
    log::Warn("sip", "user directory is empty: sign-in is not authenticated (add users with "
                     "`causeway user add`)");
  }

  sip::lync::FrontEndOptions front_end;
  front_end.domains = config.sip.domains.empty() ? directory_->Domains() : config.sip.domains;
  front_end.require_authentication = directory_->Size() > 0;
  front_end.media_relay = hooks_.media_relay;
  if (hooks_.xmpp_domains) front_end.federated_domain = FederatedDomains(hooks_.xmpp_domains);
  auto roaming_store = SqliteRoamingStore::Open(context.state_dir);
  if (!roaming_store.ok()) {
    return absl::Status(roaming_store.status().code(),
                        absl::StrCat("roaming store: ", roaming_store.status().message()));
  }
  roaming_store_ = std::move(*roaming_store);
  front_end_state_ = std::make_unique<sip::lync::FrontEndState>(
      std::move(front_end), *roaming_store_, *location_, directory_.get());

  sip::SipTransportOptions transport = MakeSipTransportOptions(config);
  transport.limiter = std::make_shared<sip::ConnectionLimiter>(transport.max_connections_per_ip,
                                                               transport.max_connections);
  if (!config.sip.tls.empty()) {
    auto server_tls = runtime::MakeTlsServerContext(MakeTlsServerOptions(config, context.certificate));
    if (!server_tls.ok()) return server_tls.status();
    transport.tls_server = *server_tls;
  }
  auto client_tls = runtime::MakeTlsClientContext(MakeTlsClientOptions(config, context.certificate));
  if (!client_tls.ok()) return client_tls.status();
  transport.tls_client = *client_tls;

  for (size_t i = 0; i < runtime_->size(); ++i) {
    auto shard = std::make_unique<Shard>(*this, runtime_->worker(i));
    transport.owner = static_cast<uint32_t>(i);
    absl::Status status = shard->Init(config, transport, *location_, /*purge=*/i == 0);
    if (!status.ok()) return status;
    if (hooks_.on_worker) hooks_.on_worker(runtime_->worker(i), shard->bus());
    if (hooks_.on_worker_stats) {
      const Shard* stats_of = shard.get();
      hooks_.on_worker_stats(runtime_->worker(i), [stats_of] { return stats_of->Stats(); });
    }
    if (i == 0) {
      // Later workers bind the ports the first one got (port 0 in tests means ephemeral).
      transport.listen = shard->transport().BoundListeners();
      for (const sip::ListenConfig& listen : transport.listen) {
        listeners_.push_back(absl::StrCat(absl::AsciiStrToLower(ToAbsl(sip::TransportName(listen.kind))),
                                          ":", listen.address.ToString()));
      }
    }
    shards_.push_back(std::move(shard));
  }
  if (hooks_.on_shared_stats) {
    hooks_.on_shared_stats([this] {
      return SipSharedStats{location_->aor_count(), location_->binding_count(),
                            front_end_state_->stats(), front_end_state_->subscription_count()};
    });
  }
  absl::Status started = runtime_->Start();
  if (!started.ok()) return started;
  running_ = true;
  watcher_ = std::thread([this] { WatchDirectory(); });
  return absl::OkStatus();
}

void SipService::WatchDirectory() {
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!watch_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return watch_stop_; })) {
    absl::StatusOr<bool> reloaded = directory_->Refresh();
    if (!reloaded.ok()) {
      log::Warn("sip", "user directory refresh failed",
                {{"why", FromAbsl(reloaded.status().message())}});
    } else if (*reloaded) {
      log::Info("sip", "user directory reloaded",
                {{"users", static_cast<int64_t>(directory_->Size())}});
    }
  }
}

void SipService::Stop() {
  if (watcher_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      watch_stop_ = true;
    }
    watch_cv_.notify_all();
    watcher_.join();
  }
  if (!runtime_) return;
  running_ = false;
  runtime_->Stop();  // stop hooks close each shard on its own thread
  runtime_->Join();
  shards_.clear();
  runtime_.reset();
}

}  // namespace

std::unique_ptr<Service> MakeSipService(SipServiceHooks hooks) {
  return std::make_unique<SipService>(std::move(hooks));
}

}  // namespace causeway::gateway
