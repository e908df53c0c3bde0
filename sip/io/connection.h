#pragma once
// One TCP or TLS connection of a SipTransport: bounded read buffer + FrameStream framing, a
// bounded write queue, connect/handshake/idle timers. Kept alive by its pending Asio handlers
// (shared_ptr); the owning transport is reached through ConnectionOwner until Detach().
// Worker thread only.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/status/status.h"
#include "core/net_address.h"
#include "sip/codec/stream_framer.h"
#include "sip/io/transport_options.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

class StreamConnection;

// What a connection reports to its transport.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void OnConnectionMessage(StreamConnection& conn, SipMessage&& message) = 0;
  // Open (after the TLS handshake for TLS): from here the connection is reusable.
  virtual void OnConnectionOpen(StreamConnection& conn) = 0;
  // Called once; the owner drops its reference. `error` is OK for a clean close.
  virtual void OnConnectionClosed(StreamConnection& conn, const absl::Status& error) = 0;
  // A queued message with this token was not (completely) written.
  virtual void OnConnectionSendFailed(StreamConnection& conn, uint64_t token,
                                      const absl::Status& error) = 0;
  virtual TransportCounters& io_counters() = 0;
};

class StreamConnection : public std::enable_shared_from_this<StreamConnection> {
 public:
  enum class State : uint8_t { kConnecting, kHandshaking, kOpen, kDraining, kClosed };

  struct Params {
    TransportKind kind = TransportKind::kTcp;
    bool inbound = true;
    ConnectionId id = 0;
    // Shared so that handlers running after the transport is gone still see valid settings.
    std::shared_ptr<const SipTransportOptions> options;
    runtime::TlsContextPtr tls;  // required for kTls
    std::string tls_server_name;                   // outbound TLS: SNI + name check
    NetAddress remote;  // outbound: where Connect() goes; inbound: the accepted peer
  };

  // Inbound: `socket` is the accepted one. Outbound: an unopened socket and params.remote, then
  // Connect().
  StreamConnection(ConnectionOwner* owner, boost::asio::ip::tcp::socket socket, Params params);
  ~StreamConnection();
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  void StartInbound();
  void Connect();

  // Queues one serialized message. False (nothing queued) when over the queue caps or closed.
  bool Enqueue(std::string bytes, uint64_t token);
  // Closes now: pending sends fail with `error` (reported to the owner unless detached).
  void Close(const absl::Status& error);
  // Sends `answer` (may be empty), stops reading messages, closes once written and the peer is
  // done (or after options.close_linger).
  void CloseAfter(std::string answer);
  // The owner is going away: no more callbacks.
  void Detach() { owner_ = nullptr; }

  ConnectionId id() const { return params_.id; }
  TransportKind kind() const { return params_.kind; }
  bool inbound() const { return params_.inbound; }
  State state() const { return state_; }
  bool usable() const { return state_ == State::kConnecting || state_ == State::kHandshaking ||
                               state_ == State::kOpen; }
  const NetAddress& remote() const { return remote_; }
  const NetAddress& local() const { return local_; }
  const std::string& tls_server_name() const { return params_.tls_server_name; }
  bool tls_peer_verified() const { return tls_peer_verified_; }
  const std::string& tls_peer_identity() const { return tls_peer_identity_; }
  size_t queued_messages() const { return queue_.size() + inflight_.size(); }
  size_t buffered_bytes() const { return end_ - begin_; }

 private:
  struct Pending {
    std::string bytes;
    uint64_t token = 0;
  };

  boost::asio::ip::tcp::socket& lowest();
  void SetSocketOptions();
  void StartHandshake();
  void OnOpen();
  void ArmTimer(std::chrono::milliseconds after);
  void OnTimer();
  void Read();
  void OnRead(const boost::system::error_code& ec, size_t n);
  // Frames and delivers everything complete in the buffer. False when the connection closed.
  bool ProcessBuffer();
  void Reject(std::string_view raw, const absl::Status& error);
  void Flush();
  void OnWritten(const boost::system::error_code& ec, size_t n);
  void FailAll(std::deque<Pending>& pending, const absl::Status& error);
  void FinishDrain();

  ConnectionOwner* owner_;
  Params params_;
  std::optional<boost::asio::ip::tcp::socket> tcp_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_stream_;
  boost::asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  State state_ = State::kConnecting;
  NetAddress remote_;
  NetAddress local_;
  bool tls_peer_verified_ = false;
  std::string tls_peer_identity_;
  std::chrono::steady_clock::time_point last_activity_;

  // Read buffer: bytes [begin_, end_) are unconsumed; grows on demand up to the cap.
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t buffer_cap_ = 0;
  bool reading_ = false;
  StreamFramer framer_;  // remembers its scan position: trickled bytes cost O(n), not O(n^2)

  std::deque<Pending> queue_;
  std::deque<Pending> inflight_;  // the batch an async_write is sending
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool drain_after_flush_ = false;
};

}  // namespace causeway::sip
