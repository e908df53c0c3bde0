#pragma once
// The seam between the SIP stack (transactions, proxy, registrar: no sockets) and sip/io (Asio
// transports). One Transport instance per worker thread; everything here runs on that thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/net_address.h"

namespace causeway::sip {

class SipMessage;  // sip/codec/message.h

enum class TransportKind : uint8_t { kUdp, kTcp, kTls };

std::string_view TransportName(TransportKind kind);      // "UDP", "TCP", "TLS" (Via form)
bool ParseTransportName(std::string_view text, TransportKind* out);  // case-insensitive
inline bool IsReliable(TransportKind kind) { return kind != TransportKind::kUdp; }

// Identifies one stream connection for its lifetime; 0 means "none" (UDP, or not yet connected).
// The top 16 bits name the worker that owns the connection, so a worker holding a flow from the
// shared location store knows where a send on it must run.
using ConnectionId = uint64_t;
inline constexpr int kConnectionOwnerShift = 48;
inline constexpr ConnectionId MakeConnectionId(uint32_t owner, uint64_t serial) {
  return (static_cast<ConnectionId>(owner & 0xffff) << kConnectionOwnerShift) |
         (serial & ((ConnectionId{1} << kConnectionOwnerShift) - 1));
}
inline constexpr uint32_t OwnerOfConnection(ConnectionId id) {
  return static_cast<uint32_t>(id >> kConnectionOwnerShift);
}

// Where a message arrived from.
struct ReceiveInfo {
  TransportKind kind = TransportKind::kUdp;
  NetAddress source;        // the peer's address as seen on the socket (Via received/rport)
  NetAddress local;         // our address the message arrived on
  ConnectionId connection = 0;
  bool tls_peer_verified = false;      // mutual TLS: client certificate verified against the CA
  std::string_view tls_peer_identity;  // verified certificate subject (SAN/CN), empty otherwise
  // The address-of-record this message was proven to come from (an MS-SIPAE signature of the
  // connection's security association), empty otherwise. Valid while the message is handled.
  std::string_view authenticated_user;
  // When the transport read the message's last bytes (steady clock); unset when unknown. For
  // measuring the latency the gateway adds, not for protocol timers.
  std::chrono::steady_clock::time_point received_at{};
};

// Where to send a message. For streams, `connection` names a connection to reuse (responses go back
// on the connection the request came in on, RFC 3261 §18.2.2); if it is gone or 0, the transport
// reuses any open connection to `address` or opens one.
struct Destination {
  TransportKind kind = TransportKind::kUdp;
  NetAddress address;
  ConnectionId connection = 0;
  std::string tls_server_name;  // SNI and certificate check for outgoing TLS; empty = no check
};

// Receives what the transport delivers. The stack implements this.
class TransportUser {
 public:
  virtual ~TransportUser() = default;
  // A complete, parsed message. Messages that fail to parse never get here: the transport answers
  // them (400/413/494 on streams and when an answer is possible on UDP) or drops them.
  virtual void OnMessage(SipMessage&& message, const ReceiveInfo& info) = 0;
  // A send with `token` failed (connect refused, connection reset, TLS handshake failure...).
  // RFC 3261 §17.1.4: the client transaction treats this as a 503.
  virtual void OnSendFailed(uint64_t token, const Destination& to, const absl::Status& error) = 0;
  // A stream connection is gone (closed by either side, failed, or timed out idle): state keyed
  // by its id (security associations, flows) can go. Not called while the transport shuts down.
  virtual void OnConnectionClosed(ConnectionId /*id*/) {}
};

// Implemented by sip/io (and by a fake in the stack's tests).
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `bytes` (one serialized message) to `to`. Never blocks. A failure is reported later
  // through TransportUser::OnSendFailed with the same `token` (0 = nobody cares).
  virtual void Send(const Destination& to, std::string bytes, uint64_t token) = 0;
  // The address to put in Via sent-by / Record-Route for this transport kind (and address family).
  virtual NetAddress AdvertisedAddress(TransportKind kind, bool v6) const = 0;
  // Whether a listener exists for this kind (e.g. no TLS listener configured).
  virtual bool Supports(TransportKind kind) const = 0;
};

}  // namespace causeway::sip
