#pragma once
// The contract between the TURN logic (media/turn, no sockets) and the socket layer (media/io).
// One TurnWorker and one RelayIo per worker thread; every call on either side happens on that
// thread, so nothing here takes a lock.
//
// Data path, no heap allocation per packet on either side:
//   client socket -> io -> TurnWorker::OnClientMessage -> RelayIo::SendToPeer  (relayed socket)
//   relayed socket -> io -> TurnWorker::OnPeerPacket   -> RelayIo::SendToClient (client socket)
// The string_views passed across are valid only for the duration of the call; io copies what it
// queues (into preallocated batch slots, for sendmmsg).

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::turn {

enum class ClientTransport : uint8_t { kUdp, kTcp, kTls };
std::string_view ClientTransportName(ClientTransport transport);  // "udp" | "tcp" | "tls"

// The 5-tuple a client reaches the relay on (RFC 8656 §2). Over streams, `connection` is the io
// layer's id of the accepted connection (0 over UDP), so a reconnect from the same address and
// port is a different flow.
struct ClientFlow {
  NetAddress client;
  NetAddress server;  // the relay address the client sent to
  ClientTransport transport = ClientTransport::kUdp;
  uint64_t connection = 0;

  friend bool operator==(const ClientFlow&, const ClientFlow&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ClientFlow& f) {
    return H::combine(std::move(h), f.client, f.server, f.transport, f.connection);
  }
};

// Names one relayed transport address (one UDP socket) for its whole life: the slot index in the
// worker's allocation table plus a generation, so a stale id never reaches a reused slot.
using RelayId = uint32_t;

// What io calls (implemented by TurnWorker; tests of media/io use their own).
class RelayHandler {
 public:
  virtual ~RelayHandler() = default;
  // One message from a client: a whole UDP datagram, or one STUN or ChannelData message cut from
  // a stream (STUN: 20-byte header + length field; ChannelData: stun::ParseChannelData with
  // Framing::kStream, which includes the padding).
  virtual void OnClientMessage(const ClientFlow& flow, std::string_view bytes) = 0;
  // One datagram a peer sent to the relayed address `relay`.
  virtual void OnPeerPacket(RelayId relay, const NetAddress& peer, std::string_view payload) = 0;
  // A stream client's connection closed (either side).
  virtual void OnClientClosed(const ClientFlow& flow) = 0;
};

class RelayIo {
 public:
  virtual ~RelayIo() = default;

  // Opens a relayed UDP socket for allocation `id` on the relay address of `v6`'s family, with a
  // port from the configured range (`even_port`: an even one, RFC 8656 EVEN-PORT). Returns the
  // relayed transport address. ResourceExhausted when no port is free (the relay answers 508).
  virtual absl::StatusOr<NetAddress> OpenRelay(RelayId id, bool v6, bool even_port) = 0;
  // RFC 8656 §7.2 R bit: binds a UDP socket at exactly `address` (the port above an even one)
  // and returns its descriptor, read by nobody, so that the Allocate with the RESERVATION-TOKEN
  // can claim it from any worker (SO_REUSEPORT may hand that client to another one).
  // ResourceExhausted when the port is taken.
  virtual absl::StatusOr<int> HoldPort(const NetAddress& address) = 0;
  // Makes a held descriptor the relayed socket of `id` on this worker; returns its address. Takes
  // the descriptor in every case (closed when this fails).
  virtual absl::StatusOr<NetAddress> AdoptRelay(RelayId id, int held) = 0;
  // Closes a held descriptor nobody claimed.
  virtual void ReleaseHeld(int held) = 0;
  // Closes it; packets still queued for it are dropped. Never fails.
  virtual void CloseRelay(RelayId id) = 0;

  // One UDP datagram from the relayed socket of `id` to `peer`.
  virtual void SendToPeer(RelayId id, const NetAddress& peer, std::string_view payload) = 0;
  // One STUN or ChannelData message to the client (already framed for the flow's transport).
  virtual void SendToClient(const ClientFlow& flow, std::string_view message) = 0;
};

}  // namespace causeway::turn
