#pragma once
// SipTransport: the Asio implementation of sip::Transport for one worker. Owns that worker's UDP
// sockets, TCP/TLS acceptors (all SO_REUSEPORT, so every worker binds the same ports) and stream
// connections. Everything runs on the worker's thread: create it before the worker starts or from
// that thread, and call it only from there.
//
//   auto t = SipTransport::Create(worker.io_context(), options, &stack);
//   // other workers: options.listen = (*t)->BoundListeners() so ephemeral ports match.
//   (*t)->Send({TransportKind::kTcp, peer}, message.Serialize(), token);

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "sip/io/connection.h"
#include "sip/io/transport_options.h"
#include "sip/io/udp.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

class StreamAcceptor;  // transport.cc

class SipTransport final : public Transport, private ConnectionOwner, private UdpListener::Owner {
 public:
  // Binds every listener in options.listen. Errors name the transport and address:
  // "TCP 127.0.0.1:5060: address already in use". A TLS listener needs options.tls_server.
  static absl::StatusOr<std::unique_ptr<SipTransport>> Create(boost::asio::io_context& io,
                                                              SipTransportOptions options,
                                                              TransportUser* user);
  ~SipTransport() override;  // Close()
  SipTransport(const SipTransport&) = delete;
  SipTransport& operator=(const SipTransport&) = delete;

  // sip::Transport.
  void Send(const Destination& to, std::string bytes, uint64_t token) override;
  NetAddress AdvertisedAddress(TransportKind kind, bool v6) const override;
  bool Supports(TransportKind kind) const override;

  // Graceful stop, step 1: closes the TCP/TLS acceptors and stops reading UDP. Open connections
  // keep working and UDP can still send, so transactions in progress can finish.
  void StopAccepting();
  // Closes every socket now. Queued sends are dropped without callbacks. Idempotent.
  void Close();
  // Closes one connection (e.g. failed authentication); false if it is not open.
  bool CloseConnection(ConnectionId id);

  // The listeners with their actual ports (port 0 resolved): give these to the other workers.
  std::vector<ListenConfig> BoundListeners() const;
  const TransportCounters& counters() const { return counters_; }
  size_t connection_count() const { return connections_.size(); }
  // The connection's state, or nullptr when it is gone. For tests and admin.
  const StreamConnection* FindConnection(ConnectionId id) const;

 private:
  struct PeerKey {
    TransportKind kind;
    NetAddress address;
    friend bool operator==(const PeerKey&, const PeerKey&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const PeerKey& k) {
      return H::combine(std::move(h), k.kind, k.address);
    }
  };
  struct Listener {
    ListenConfig config;  // address with the bound port
    std::shared_ptr<UdpListener> udp;
    std::shared_ptr<StreamAcceptor> stream;
  };
  friend class StreamAcceptor;

  SipTransport(boost::asio::io_context& io, SipTransportOptions options, TransportUser* user);
  absl::Status Listen(const ListenConfig& config);
  void OnAccepted(StreamAcceptor& acceptor, boost::asio::ip::tcp::socket socket);
  void SendUdp(const Destination& to, std::string bytes, uint64_t token);
  void SendStream(const Destination& to, std::string bytes, uint64_t token);
  StreamConnection* FindReusable(const Destination& to);
  void Register(std::shared_ptr<StreamConnection> conn);
  void ReportSendFailed(uint64_t token, const Destination& to, absl::Status error);

  // ConnectionOwner.
  void OnConnectionMessage(StreamConnection& conn, SipMessage&& message) override;
  void OnConnectionOpen(StreamConnection& conn) override;
  void OnConnectionClosed(StreamConnection& conn, const absl::Status& error) override;
  void OnConnectionSendFailed(StreamConnection& conn, uint64_t token,
                              const absl::Status& error) override;
  TransportCounters& io_counters() override { return counters_; }
  // UdpListener::Owner.
  void OnDatagram(UdpListener& listener, std::string_view data,
                  const NetAddress& source) override;

  boost::asio::io_context& io_;
  const std::shared_ptr<const SipTransportOptions> options_;
  TransportUser* const user_;
  std::shared_ptr<ConnectionLimiter> limiter_;
  TransportCounters counters_;
  std::vector<Listener> listeners_;
  absl::flat_hash_map<ConnectionId, std::shared_ptr<StreamConnection>> connections_;
  absl::flat_hash_map<PeerKey, std::vector<ConnectionId>> by_peer_;
  // Posted callbacks hold a weak_ptr to this: they do nothing once the transport is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool closed_ = false;
};

}  // namespace causeway::sip
