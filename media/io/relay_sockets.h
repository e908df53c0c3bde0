#pragma once
// RelaySockets: media/io's implementation of turn::RelayIo for one worker — the TURN relay's
// client listeners (UDP, TCP, TLS), its relayed UDP sockets and their batched data path. One
// instance per worker thread, created and used only on that thread; nothing here takes a lock on
// the data path (the per-client-IP connection limiter is taken once per accepted connection).
//
//   auto sockets = RelaySockets::Create(worker.io_context(), options);   // binds everything
//   TurnWorker turn(shared, **sockets, worker.wheel(), clock);
//   (*sockets)->Start(turn);                                              // starts reading
//   // other workers: options.udp_listen = (*sockets)->udp_listen() etc. so ephemeral ports match
//
// UDP (client and relayed sockets): each socket is drained with recvmmsg into a worker-wide
// preallocated batch when Asio reports it readable (async_wait, no speculative reads). Sends made
// while a batch is being handled are copied into preallocated sendmmsg batches and flushed once
// the batch is done; sends from outside a batch (timers) go out at once. A full socket buffer
// drops the datagram and counts it: nothing waits, nothing grows.
//
// Streams: RFC 8656 §12.5 framing, or MS-TURN's when the connection starts with its header
// (media/io/stream_framer.h); one bounded read buffer and one bounded write queue per
// connection, idle and TLS-handshake timeouts, a per-client-IP cap.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/net_address.h"
#include "core/runtime/tls_context.h"
#include "media/io/udp_batch.h"
#include "media/turn/relay_io.h"

namespace causeway::media::io {

// Caps stream connections per client IP (port ignored). Share one across the workers so the cap
// holds even though SO_REUSEPORT spreads a client's connections over several workers; taken once
// per connection open/close, never per message.
class ClientIpLimiter {
 public:
  explicit ClientIpLimiter(size_t max_per_ip) : max_per_ip_(max_per_ip) {}
  bool TryAcquire(const NetAddress& client);
  void Release(const NetAddress& client);
  size_t count_for(const NetAddress& client) const;

 private:
  static NetAddress Ip(const NetAddress& client) {
    NetAddress ip = client;
    ip.set_port(0);
    return ip;
  }
  const size_t max_per_ip_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<NetAddress, size_t> per_ip_ ABSL_GUARDED_BY(mu_);
};

struct RelaySocketsOptions {
  // Client listeners; port 0 = ephemeral (tests). UDP and TCP/TLS sockets use SO_REUSEPORT so
  // every worker binds the same addresses. A wildcard UDP listener (0.0.0.0, [::]) reports the
  // address each datagram was sent to as ClientFlow::server and answers from it (IP_PKTINFO).
  std::vector<NetAddress> udp_listen;
  std::vector<NetAddress> tcp_listen;
  std::vector<NetAddress> tls_listen;
  runtime::TlsContextPtr tls;  // required when tls_listen is not empty

  // The addresses relayed sockets bind to (their ports are ignored): OpenRelay(v6=false) needs
  // relay_v4, OpenRelay(v6=true) relay_v6.
  std::optional<NetAddress> relay_v4;
  std::optional<NetAddress> relay_v6;
  // Relayed ports, shared by every worker and process on the host: bind() decides who gets a
  // port. Candidates are tried from a random offset, at most max_port_attempts of them.
  uint16_t min_port = 49152;
  uint16_t max_port = 65535;
  size_t max_port_attempts = 64;

  size_t recv_batch = 32;             // datagrams per recvmmsg
  size_t send_batch = 64;             // datagrams per sendmmsg
  size_t send_arena_bytes = 256 * 1024;  // bytes a send batch holds before it is flushed
  size_t max_datagram_bytes = 65535;  // receive slot size; a longer datagram is dropped (counted)
  size_t recv_bursts_per_wakeup = 4;  // full recvmmsg batches per socket before yielding

  // Streams. 64 KiB + 4 fits every ChannelData frame (4 + 65535 padded); a STUN message over it
  // closes the connection.
  size_t max_stream_message_bytes = 65536 + 4;
  // Bytes queued or being written per connection; a send over it is dropped (counted).
  size_t max_write_queue_bytes = 256 * 1024;
  // Longer than the allocation lifetime the relay grants (600 s by default), so a client that
  // only refreshes keeps its connection.
  std::chrono::milliseconds stream_idle_timeout = std::chrono::seconds(660);
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(10);
  size_t max_connections_per_ip = 64;
  // Share one limiter across the workers; nullptr = a private one from max_connections_per_ip.
  std::shared_ptr<ClientIpLimiter> limiter;
};

// Plain counters, written and read on the worker thread (the metrics endpoint posts its read).
struct RelayIoCounters {
  // Client UDP.
  uint64_t client_datagrams_in = 0;
  uint64_t client_datagrams_out = 0;
  // Relayed sockets.
  uint64_t peer_datagrams_in = 0;
  uint64_t peer_datagrams_out = 0;
  uint64_t recv_batches = 0;  // recvmmsg calls that returned datagrams
  uint64_t send_batches = 0;  // sendmmsg flushes
  uint64_t send_drops_would_block = 0;  // UDP socket buffer full
  uint64_t send_drops_queue_full = 0;   // stream write queue over its cap
  uint64_t send_errors = 0;    // refused by the kernel, unknown flow/relay, oversized
  uint64_t recv_truncated = 0;  // datagrams longer than max_datagram_bytes, dropped
  uint64_t relay_sockets_open = 0;  // gauge
  uint64_t relay_sockets_opened = 0;
  uint64_t port_exhaustion = 0;  // OpenRelay found no free port
  // Streams.
  uint64_t stream_accepted = 0;
  uint64_t stream_rejected = 0;  // over the per-IP cap
  uint64_t stream_closed = 0;
  uint64_t stream_open = 0;  // gauge
  uint64_t stream_invalid = 0;  // closed for garbage or an oversized frame
  uint64_t stream_idle_closed = 0;
  uint64_t tls_handshake_failures = 0;
  uint64_t stream_messages_in = 0;
  uint64_t stream_messages_out = 0;
};

class RelaySockets final : public turn::RelayIo {
 public:
  // Binds every listener. Errors name the transport and address: "TURN UDP 0.0.0.0:3478: address
  // already in use". Nothing is read before Start().
  static absl::StatusOr<std::unique_ptr<RelaySockets>> Create(boost::asio::io_context& io,
                                                              RelaySocketsOptions options);
  // Create() + Start(handler).
  static absl::StatusOr<std::unique_ptr<RelaySockets>> Create(boost::asio::io_context& io,
                                                              turn::RelayHandler& handler,
                                                              RelaySocketsOptions options);
  ~RelaySockets() override;  // Close()
  RelaySockets(const RelaySockets&) = delete;
  RelaySockets& operator=(const RelaySockets&) = delete;

  // Starts reading and accepting; `handler` must outlive this object or Close().
  void Start(turn::RelayHandler& handler);
  // Closes every socket and connection now, without handler callbacks (stop the TURN logic
  // first: TurnWorker::Shutdown closes its relays). Idempotent.
  void Close();

  // turn::RelayIo. OpenRelay errors: ResourceExhausted (no free port: the relay answers 508),
  // FailedPrecondition (no relay address of that family configured: 440), AlreadyExists (the id
  // is open), Unavailable (the socket could not be created).
  absl::StatusOr<NetAddress> OpenRelay(turn::RelayId id, bool v6, bool even_port) override;
  absl::StatusOr<int> HoldPort(const NetAddress& address) override;
  absl::StatusOr<NetAddress> AdoptRelay(turn::RelayId id, int held) override;
  void ReleaseHeld(int held) override;
  void CloseRelay(turn::RelayId id) override;
  void SendToPeer(turn::RelayId id, const NetAddress& peer, std::string_view payload) override;
  void SendToClient(const turn::ClientFlow& flow, std::string_view message) override;

  // The listeners with their bound ports (port 0 resolved): give these to the other workers.
  const std::vector<NetAddress>& udp_listen() const { return bound_udp_; }
  const std::vector<NetAddress>& tcp_listen() const { return bound_tcp_; }
  const std::vector<NetAddress>& tls_listen() const { return bound_tls_; }
  const RelayIoCounters& counters() const { return counters_; }
  size_t stream_count() const { return streams_.size(); }

  // RelayId layout shared with media/turn: the slot is the low 20 bits.
  static constexpr uint32_t kSlotBits = 20;
  static constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;

 private:
  struct Udp;
  class Acceptor;
  class Stream;
  friend class Acceptor;
  friend class Stream;

  RelaySockets(boost::asio::io_context& io, RelaySocketsOptions options);
  absl::Status ListenUdp(const NetAddress& address);
  // OpenRelay/AdoptRelay: a port from the range (even ones only if asked), or the bound
  // descriptor `adopt` (>= 0) of a held port.
  absl::StatusOr<NetAddress> BindRelay(turn::RelayId id, bool v6, bool even_port, int adopt);
  absl::StatusOr<NetAddress> RegisterRelay(turn::RelayId id, std::shared_ptr<Udp> socket);
  absl::Status ListenStream(const NetAddress& address, turn::ClientTransport transport);

  void Wait(Udp& socket);
  void Drain(Udp& socket);
  void FlushSends();
  void PostClientFlush();
  void FlushPeerBatch();
  void FlushClientBatch(Udp& socket);
  void CloseUdp(Udp& socket);
  Udp* FindClientSocket(const NetAddress& server);
  Udp* FindRelay(turn::RelayId id);

  void OnAccepted(Acceptor& acceptor, boost::asio::ip::tcp::socket socket);
  void OnStreamClosed(Stream& stream, bool notify);

  boost::asio::io_context& io_;
  RelaySocketsOptions options_;
  turn::RelayHandler* handler_ = nullptr;
  bool closed_ = false;

  std::vector<std::shared_ptr<Udp>> clients_;  // UDP client listeners
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  std::vector<NetAddress> bound_udp_, bound_tcp_, bound_tls_;

  std::vector<std::shared_ptr<Udp>> relays_;  // indexed by RelayId slot
  uint64_t rng_;

  RecvBatch recv_;          // shared by every socket of this worker: drains never nest
  int batch_depth_ = 0;     // > 0 while a received batch is handed to the handler
  // Peer datagrams arrive one or two per relayed socket per wake-up; their answers to clients all
  // leave through the client listener. Flushing that batch once per reactor round (a posted
  // handler runs after the other completions of the same epoll round) instead of once per
  // relayed socket turns N sendmmsg calls of one datagram into one of N.
  bool client_flush_posted_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);  // posted handlers check it
  SendBatch peer_batch_;    // sends to peers, all through one relayed socket
  std::shared_ptr<Udp> peer_target_;  // that socket

  absl::flat_hash_map<uint64_t, std::shared_ptr<Stream>> streams_;  // by connection id
  RelayIoCounters counters_;
};

}  // namespace causeway::media::io
