#pragma once
// The SIP server of one worker: owns that worker's transaction layer and is its TransactionUser.
// It dispatches each new request:
//   REGISTER for a domain we serve (and not routed elsewhere)    -> Registrar
//   OPTIONS addressed to us (our host / served domain without a user part, or Max-Forwards 0),
//   not routed elsewhere                                          -> 200 with Allow/Accept/Supported
//   everything else                                               -> Proxy (RFC 3261 §16)
// A request we answer ourselves (REGISTER, OPTIONS) with a Require we do not support gets 420
// with Unsupported (§8.2.2.3); proxied requests are not checked (§16.3: proxies ignore Require).
//
// Wiring: the io layer delivers messages to transport_user() (the transaction layer); the
// location store is shared by every worker, everything else here belongs to one worker.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/clock.h"
#include "core/timer_wheel.h"
#include "sip/codec/message.h"
#include "sip/stack/location_store.h"
#include "sip/stack/proxy.h"
#include "sip/stack/registrar.h"
#include "sip/stack/transaction.h"
#include "sip/stack/transaction_layer.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

// Requests this server answers itself on behalf of its users instead of proxying them (the Lync
// front end: self-subscriptions, SERVICE, batched presence subscriptions), and the requests such a
// service originates (NOTIFY, BENOTIFY). Everything runs on the server's worker thread.
class LocalService {
 public:
  virtual ~LocalService() = default;
  // Offered every new request that is not a REGISTER or an OPTIONS for us, before the proxy sees
  // it. True = taken: the service answers it through SipServer::layer() (now or later).
  virtual bool OnRequest(ServerTransactionId id, SipMessage& request, const ReceiveInfo& info) = 0;
  // The outcome of a request the service sent through SipServer::layer().SendRequest. False =
  // not one of the service's transactions (the proxy's, then).
  virtual bool OnResponse(ClientTransactionId id, SipMessage& response) = 0;
  // The same transaction ended without a final response: `code` 408 (timeout) or 503 (transport).
  virtual bool OnClientFailure(ClientTransactionId id, int code) = 0;
};

struct SipServerOptions {
  std::vector<std::string> domains;      // served domains for registrar and proxy (empty = any)
  std::vector<std::string> local_hosts;  // names that mean this server (besides its addresses)
  RegistrarOptions registrar;            // its `domains` is overridden by `domains`
  ProxyOptions proxy;                    // its `domains`/`local_hosts` are overridden likewise
  TransactionTimers timers;
  uint32_t shard = 0;
  // Option tags we implement as a UAS (Supported in OPTIONS answers, accepted in Require).
  std::vector<std::string> supported = {"path", "outbound"};
  // Location-store purge period; 0 disables. The store is shared: enable it on one worker only.
  Duration purge_interval = std::chrono::seconds(10);
  size_t purge_budget = 256;  // AORs examined per shard per purge
  // Told which AORs lost bindings to expiry in a purge (presence goes offline).
  std::function<void(const std::vector<std::string>& aors)> on_bindings_expired;
};

struct SipServerStats {
  uint64_t requests = 0;     // new requests (not ACK)
  uint64_t registers = 0;    // handled by the registrar
  uint64_t options = 0;      // OPTIONS answered locally
  uint64_t proxied = 0;      // handed to the proxy
  uint64_t local = 0;        // taken by the local service
  uint64_t bad_extension = 0;  // 420 answers
  uint64_t acks = 0;
  uint64_t cancels = 0;
  uint64_t responses = 0;
  uint64_t stray_responses = 0;
  uint64_t purged_bindings = 0;
};

class SipServer final : public TransactionUser {
 public:
  // References must outlive the server. `authorizer` and `directory` may be null (see
  // registrar.h / proxy.h for what that means).
  SipServer(Transport& transport, TimerWheel& timers, const Clock& clock, LocationStore& location,
            NextHopResolver& resolver, SipServerOptions options,
            RegisterAuthorizer* authorizer = nullptr, const AorDirectory* directory = nullptr);
  ~SipServer() override;
  SipServer(const SipServer&) = delete;
  SipServer& operator=(const SipServer&) = delete;

  // Where the transport delivers received messages and send failures.
  TransportUser& transport_user() { return layer_; }
  TransactionLayer& layer() { return layer_; }
  Proxy& proxy() { return *proxy_; }
  Registrar& registrar() { return registrar_; }
  const SipServerStats& stats() const { return stats_; }
  // At most one; null removes it. Must outlive the server or be removed first.
  void SetLocalService(LocalService* service) { local_ = service; }

  // The methods in our Allow header.
  static constexpr std::string_view kAllow =
      "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, SUBSCRIBE, NOTIFY, REFER, "
      "PRACK, UPDATE, PUBLISH, SERVICE, BENOTIFY";

  // TransactionUser.
  void OnRequest(ServerTransactionId id, SipMessage&& request, const ReceiveInfo& info) override;
  void OnAck(SipMessage&& ack, const ReceiveInfo& info) override;
  void OnCancel(ServerTransactionId invite, SipMessage&& cancel, const ReceiveInfo& info) override;
  void OnResponse(ClientTransactionId id, SipMessage&& response, const ReceiveInfo& info) override;
  void OnClientTimeout(ClientTransactionId id) override;
  void OnClientTransportError(ClientTransactionId id, const absl::Status& error) override;
  void OnStrayResponse(SipMessage&& response, const ReceiveInfo& info) override;

 private:
  // Adapts the transaction layer to what the proxy needs.
  class LayerAdapter final : public ProxyTransactions {
   public:
    explicit LayerAdapter(TransactionLayer& layer) : layer_(layer) {}
    absl::StatusOr<ProxyClientTxId> SendRequest(SipMessage request,
                                                const Destination& to) override {
      return layer_.SendRequest(std::move(request), to);
    }
    absl::Status SendResponse(ProxyServerTxId server, SipMessage response) override {
      return layer_.SendResponse(server, std::move(response));
    }
    absl::Status CancelClient(ProxyClientTxId client) override {
      return layer_.CancelClient(client);
    }
    absl::Status SendStateless(const SipMessage& message, const Destination& to) override {
      return layer_.SendStateless(message, to);
    }
    std::string NewBranch() override { return layer_.NewBranch(); }

   private:
    TransactionLayer& layer_;
  };

  bool IsForUs(const SipMessage& request) const;  // not routed to another element
  bool IsOptionsForUs(const SipMessage& request) const;
  // 420 + Unsupported when `request` requires an extension we lack; true if answered.
  bool RejectUnsupported(ServerTransactionId id, const SipMessage& request);
  void AnswerOptions(ServerTransactionId id, const SipMessage& request);
  void SchedulePurge();

  TimerWheel& timers_;
  const Clock& clock_;
  LocationStore& location_;
  SipServerOptions options_;
  ServedDomains domains_;
  TransactionLayer layer_;
  LayerAdapter adapter_;
  Registrar registrar_;
  std::unique_ptr<Proxy> proxy_;
  SipServerStats stats_;
  TimerId purge_timer_ = kInvalidTimerId;
  LocalService* local_ = nullptr;
};

}  // namespace causeway::sip
