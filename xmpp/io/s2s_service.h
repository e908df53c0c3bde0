#pragma once
// XMPP server-to-server over the network: the S2sStream machines of xmpp/s2s on Asio TCP, with
// STARTTLS upgrading the same socket, SRV resolution (RFC 6120 §3.2) and failover over the
// targets, one outbound stream per (local, remote) domain pair created on first use, dialback
// verifications routed between streams, reconnect with backoff and idle close.
//
// One S2sService per worker (io_context), every call on that worker's thread: no locks. Inbound
// listeners use SO_REUSEPORT so every worker can listen on the same port.
//
// Nothing accepted by Send is dropped silently: a stanza is written on an authenticated stream,
// or handed to `on_undeliverable` with the condition to bounce (RFC 6120 §8.3.3):
//   remote-server-not-found  the remote domain does not resolve (DNS failure, "." SRV target)
//   remote-server-timeout    resolved, but no authenticated stream came up: connect refused or
//                            timed out, TLS, SASL or dialback failed (§8.3.3.17 names these)
//   resource-constraint      more than max_queued_per_domain stanzas waiting for one domain
//   service-unavailable      the service is shutting down
// or returned by Shutdown().

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/dns/srv_resolver.h"
#include "core/net_address.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"
#include "xmpp/io/s2s_tls.h"
#include "xmpp/s2s/s2s_stream.h"

namespace causeway::xmpp::io {

inline constexpr uint16_t kDefaultS2sPort = 5269;

struct S2sServiceConfig {
  // Domains we serve (S2sConfig::local_domains is filled from this) and their certificates.
  std::vector<std::string> local_domains;
  std::shared_ptr<const S2sTls> tls;  // nullptr: no TLS (only with stream.require_tls = false)
  // Inbound: where to accept. Port 0 picks a free port (tests); see listen_addresses().
  std::vector<NetAddress> listen = {*NetAddress::Parse("0.0.0.0", kDefaultS2sPort)};
  // XEP-0185 secret; empty disables dialback.
  std::string dialback_secret;
  // Passed to every stream; local_domains, dialback_secret, tls_available and
  // max_queued_stanzas are set from the fields here.
  s2s::S2sConfig stream;

  // ---- limits ----
  size_t max_inbound_connections = 1024;
  size_t max_inbound_per_ip = 32;
  // Stanzas waiting for one (local, remote) pair while its stream is not authenticated.
  size_t max_queued_per_domain = 1000;
  // A stream that carried nothing (no byte read, no stanza sent) for this long is closed.
  Duration idle_timeout = std::chrono::minutes(10);
  Duration connect_timeout = std::chrono::seconds(10);
  Duration reconnect_initial = std::chrono::seconds(1);
  Duration reconnect_max = std::chrono::seconds(60);
  // After a failed attempt, stanzas queued for less than this are kept for the next attempt
  // (after the backoff); older ones are bounced. Zero bounces everything at the first failure.
  Duration retry_queued_for = Duration::zero();
  // Bytes written to a stream and not yet taken by the socket; beyond this, Send keeps stanzas
  // in the service queue (in order) until the peer reads. A write that makes no progress for
  // write_stall_timeout ends the connection.
  size_t max_write_backlog = 1 << 20;
  Duration write_stall_timeout = std::chrono::seconds(60);
  // How long a closing stream may take to flush its last bytes.
  Duration close_linger = std::chrono::seconds(2);

  // ---- routing ----
  std::vector<std::string> srv_services = {"_xmpp-server._tcp"};
  uint16_t fallback_port = kDefaultS2sPort;
  dns::SrvResolverOptions dns;
  // domain -> addresses tried in order, instead of DNS (tests, sites without DNS).
  absl::flat_hash_map<std::string, std::vector<NetAddress>> static_routes;
};

struct S2sStats {
  uint64_t streams_in = 0;   // inbound connections accepted
  uint64_t streams_out = 0;  // outbound connections established (TCP)
  uint64_t streams_authenticated_in = 0;
  uint64_t streams_authenticated_out = 0;
  uint64_t pairs_sasl_external = 0;  // domain pairs authenticated, either direction
  uint64_t pairs_dialback = 0;
  uint64_t inbound_refused = 0;  // over the connection limits
  uint64_t stanzas_in = 0;
  uint64_t stanzas_out = 0;    // handed to an authenticated stream
  uint64_t bounced = 0;        // handed to on_undeliverable
  uint64_t auth_failures = 0;  // streams closed before authenticating a pair
  uint64_t connect_failures = 0;
  uint64_t dns_failures = 0;
  uint64_t dialback_verifies_sent = 0;
  uint64_t idle_closed = 0;
};

struct S2sCallbacks {
  // A stanza from an authenticated remote domain to one of ours.
  std::function<void(Element stanza, const s2s::DomainPair& pair)> on_stanza;
  // A stanza Send accepted that cannot be delivered: bounce an error to its sender.
  std::function<void(Element stanza, StanzaErrorCondition condition)> on_undeliverable;
};

class S2sService {
 public:
  static absl::StatusOr<std::unique_ptr<S2sService>> Create(
      boost::asio::io_context& io, std::shared_ptr<const S2sServiceConfig> config,
      S2sCallbacks callbacks);
  ~S2sService();
  S2sService(const S2sService&) = delete;
  S2sService& operator=(const S2sService&) = delete;

  // A stanza from one of our domains to a remote domain. InvalidArgument (stanza dropped: a
  // caller bug) when from/to do not parse, from is not ours or to is ours. Otherwise OK, or the
  // error of a refusal that was also reported through on_undeliverable.
  absl::Status Send(Element stanza);

  // Stops accepting, closes every stream with </stream:stream>, and returns the stanzas that
  // were queued and not written. Further Sends are bounced (service-unavailable).
  std::vector<Element> Shutdown();

  const S2sStats& stats() const { return stats_; }
  // The bound listen addresses (ports resolved).
  const std::vector<NetAddress>& listen_addresses() const { return bound_; }
  size_t inbound_connections() const;
  size_t outbound_connections() const;
  // Stanzas waiting for a stream to `remote_domain` (any local domain), in service queues.
  size_t queued_for(std::string_view remote_domain) const;

 private:
  class Connection;
  class Acceptor;
  struct Outbound;

  S2sService(boost::asio::io_context& io, std::shared_ptr<const S2sServiceConfig> config,
             S2sCallbacks callbacks);
  absl::Status Listen();

  // Connection reports.
  void OnAccepted(boost::asio::ip::tcp::socket socket);
  void OnConnected(Connection& conn);
  void OnConnectFailed(Connection& conn, const absl::Status& error);
  void OnAuthenticated(Connection& conn, const s2s::DomainPair& pair, s2s::AuthMethod method);
  void OnStanza(Element stanza, const s2s::DomainPair& pair);
  void OnVerifyNeeded(Connection& conn, const s2s::DialbackVerifyRequest& request);
  void OnVerifyAnswered(const s2s::DialbackVerifyResult& result);
  void OnStreamClosed(Connection& conn, const s2s::CloseInfo& info, std::vector<Element> unsent,
                      std::vector<s2s::DialbackVerifyRequest> unsent_verifies);
  void OnConnectionGone(Connection& conn);
  void OnWritable(Connection& conn);
  void Forget(Connection& conn);

  // Outbound machinery.
  Outbound& GetOutbound(const s2s::DomainPair& pair);
  void StartAttempt(Outbound& out);
  void OnResolved(const s2s::DomainPair& pair, dns::SrvResolver::Result result);
  void ConnectNext(Outbound& out);
  void AttemptFailed(Outbound& out, StanzaErrorCondition condition, std::string_view reason);
  // Moves queued stanzas into the outbound stream while it takes them.
  void DrainQueue(Outbound& out);
  void Bounce(Element stanza, StanzaErrorCondition condition);
  void AnswerVerifyFailed(const s2s::DialbackVerifyRequest& request);

  boost::asio::io_context& io_;
  std::shared_ptr<const S2sServiceConfig> config_;
  s2s::S2sConfig stream_config_;
  S2sCallbacks callbacks_;
  std::unique_ptr<dns::SrvResolver> resolver_;
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  std::vector<NetAddress> bound_;
  // Every live connection (a closing one leaves only when its socket is closed).
  absl::flat_hash_map<Connection*, std::shared_ptr<Connection>> connections_;
  absl::flat_hash_map<Connection*, std::shared_ptr<Connection>> inbound_;
  absl::flat_hash_map<std::string, size_t> inbound_per_ip_;
  // Key: local + ' ' + remote.
  absl::flat_hash_map<std::string, std::unique_ptr<Outbound>> outbound_;
  // Receiving streams waiting for a dialback verification, by stream id.
  absl::flat_hash_map<std::string, std::weak_ptr<Connection>> awaiting_verify_;
  bool shutting_down_ = false;
  std::vector<Element>* shutdown_sink_ = nullptr;  // collects unsent stanzas during Shutdown
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  S2sStats stats_;
};

}  // namespace causeway::xmpp::io
