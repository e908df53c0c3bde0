#include "media/io/relay_sockets.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "media/io/stream_framer.h"

namespace causeway::media::io {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
using SteadyClock = std::chrono::steady_clock;
using turn::ClientTransport;

constexpr size_t kInitialStreamBuffer = 4096;
constexpr size_t kMinReadSpace = 2048;
constexpr size_t kShrinkAbove = 65536;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// Connection ids are unique in the process, so a flow names one connection on any worker.
std::atomic<uint64_t> next_connection_id{1};

asio::ip::address ToAsio(const NetAddress& a) {
  if (a.is_v6()) return asio::ip::address_v6(a.bytes());
  return asio::ip::address_v4(a.v4_host_order());
}

template <typename Endpoint>
NetAddress FromAsio(const Endpoint& ep) {
  sockaddr_storage ss{};
  std::memcpy(&ss, ep.data(), std::min<size_t>(ep.size(), sizeof(ss)));
  return FromSockaddr(ss);
}

// "TURN UDP 127.0.0.1:3478: address already in use" (the shape of sip/io's ListenError).
absl::Status ListenError(std::string_view transport, const NetAddress& address,
                         const boost::system::error_code& ec) {
  std::string reason = ec.message();
  if (!reason.empty()) reason[0] = absl::ascii_tolower(static_cast<unsigned char>(reason[0]));
  absl::StatusCode code = ec == asio::error::address_in_use ? absl::StatusCode::kAlreadyExists
                                                            : absl::StatusCode::kInvalidArgument;
  return absl::Status(code, absl::StrCat("TURN ", ToAbsl(transport), " ", address.ToString(),
                                         ": ", reason));
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// ---- limiter ------------------------------------------------------------------------------------

bool ClientIpLimiter::TryAcquire(const NetAddress& client) {
  absl::MutexLock lock(&mu_);
  size_t& n = per_ip_[Ip(client)];
  if (n >= max_per_ip_) {
    if (n == 0) per_ip_.erase(Ip(client));
    return false;
  }
  ++n;
  return true;
}

void ClientIpLimiter::Release(const NetAddress& client) {
  absl::MutexLock lock(&mu_);
  auto it = per_ip_.find(Ip(client));
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
}

size_t ClientIpLimiter::count_for(const NetAddress& client) const {
  absl::MutexLock lock(&mu_);
  auto it = per_ip_.find(Ip(client));
  return it == per_ip_.end() ? 0 : it->second;
}

// ---- UDP sockets (client listeners and relayed sockets) -----------------------------------------

struct RelaySockets::Udp : std::enable_shared_from_this<RelaySockets::Udp> {
  explicit Udp(asio::io_context& io) : socket(io) {}

  udp::socket socket;
  RelaySockets* owner = nullptr;  // nullptr once closed: pending handlers then do nothing
  NetAddress local;
  bool relay = false;
  bool wildcard = false;  // bound to 0.0.0.0 or [::]: packet info names the address used
  turn::RelayId id = 0;
  bool waiting = false;
  std::unique_ptr<SendBatch> batch;  // client listeners: replies to clients
};

// ---- stream acceptor ----------------------------------------------------------------------------

class RelaySockets::Acceptor : public std::enable_shared_from_this<RelaySockets::Acceptor> {
 public:
  Acceptor(asio::io_context& io, RelaySockets* owner, ClientTransport transport)
      : acceptor_(io), retry_(io), owner_(owner), transport_(transport) {}

  absl::Status Open(const NetAddress& bind) {
    std::string_view name = transport_ == ClientTransport::kTls ? "TLS" : "TCP";
    boost::system::error_code ec;
    acceptor_.open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (ec) return ListenError(name, bind, ec);
    if (bind.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor_.set_option(ReusePort(true), ec);  // one acceptor per worker on the same port
    if (ec) return ListenError(name, bind, ec);
    acceptor_.bind(tcp::endpoint(ToAsio(bind), bind.port()), ec);
    if (ec) return ListenError(name, bind, ec);
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ListenError(name, bind, ec);
    tcp::endpoint local = acceptor_.local_endpoint(ec);
    if (ec) return ListenError(name, bind, ec);
    local_ = FromAsio(local);
    return absl::OkStatus();
  }

  void Accept() {
    if (owner_ == nullptr || !acceptor_.is_open()) return;
    acceptor_.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (self->owner_ == nullptr || ec == asio::error::operation_aborted) return;
          if (ec) {  // out of descriptors or similar: back off instead of spinning
            self->retry_.expires_after(kAcceptRetryDelay);
            self->retry_.async_wait([self](const boost::system::error_code& wait_ec) {
              if (!wait_ec) self->Accept();
            });
            return;
          }
          self->owner_->OnAccepted(*self, std::move(socket));
          self->Accept();
        });
  }

  void Close() {
    owner_ = nullptr;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

  const NetAddress& local() const { return local_; }
  ClientTransport transport() const { return transport_; }

 private:
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  RelaySockets* owner_;
  ClientTransport transport_;
  NetAddress local_;
};

// ---- stream connection --------------------------------------------------------------------------

class RelaySockets::Stream : public std::enable_shared_from_this<RelaySockets::Stream> {
 public:
  Stream(RelaySockets* owner, tcp::socket socket, turn::ClientFlow flow)
      : owner_(owner),
        limits_{owner->options_.max_stream_message_bytes, owner->options_.max_write_queue_bytes,
                owner->options_.stream_idle_timeout, owner->options_.tls_handshake_timeout},
        flow_(std::move(flow)),
        timer_(socket.get_executor()) {
    if (flow_.transport == ClientTransport::kTls) {
      tls_.emplace(std::move(socket), *owner->options_.tls);
    } else {
      tcp_.emplace(std::move(socket));
    }
    buffer_cap_ = limits_.max_message_bytes + kMinReadSpace;
    last_activity_ = SteadyClock::now();
  }

  const turn::ClientFlow& flow() const { return flow_; }
  bool opened() const { return opened_; }

  void Start() {
    boost::system::error_code ignored;
    lowest().set_option(tcp::no_delay(true), ignored);  // STUN answers and media are latency-bound
    if (tls_) {
      state_ = State::kHandshaking;
      ArmTimer(limits_.handshake_timeout);
      tls_->async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](const boost::system::error_code& ec) {
                              if (self->state_ != State::kHandshaking) return;
                              if (ec) {
                                if (self->owner_) ++self->owner_->counters_.tls_handshake_failures;
                                self->Close(/*notify=*/true);
                                return;
                              }
                              self->OnOpen();
                            });
      return;
    }
    OnOpen();
  }

  // Appends one framed message to the write queue; false (dropped) when over the cap or closed.
  bool Enqueue(std::string_view message) {
    if (state_ == State::kClosed) return false;
    // Counts the write in progress too: a client that stops reading holds at most the cap.
    if (out_.size() + inflight_.size() + message.size() > limits_.max_write_queue_bytes) {
      return false;
    }
    out_.append(message.data(), message.size());
    Flush();
    return true;
  }

  // Closes now. `notify`: tell the handler (OnClientClosed) if it ever saw this flow.
  void Close(bool notify) {
    if (state_ == State::kClosed) return;
    auto self = shared_from_this();
    state_ = State::kClosed;
    ++timer_generation_;
    timer_.cancel();
    boost::system::error_code ignored;
    lowest().close(ignored);  // pending operations complete with operation_aborted
    out_.clear();
    // buffer_ and inflight_ may still be referenced by a pending read or write: they go with the
    // object once its last handler has run.
    if (owner_ != nullptr) {
      RelaySockets* owner = std::exchange(owner_, nullptr);
      owner->OnStreamClosed(*this, notify);
    }
  }

 private:
  enum class State : uint8_t { kHandshaking, kOpen, kClosed };

  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) f(*tls_);
    else f(*tcp_);
  }

  void OnOpen() {
    state_ = State::kOpen;
    opened_ = true;
    last_activity_ = SteadyClock::now();
    if (limits_.idle_timeout.count() > 0) {
      ArmTimer(limits_.idle_timeout);
    } else {
      ++timer_generation_;
      timer_.cancel();
    }
    Read();
    Flush();
  }

  void ArmTimer(std::chrono::milliseconds after) {
    uint64_t generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
      if (ec || generation != self->timer_generation_) return;
      self->OnTimer();
    });
  }

  void OnTimer() {
    if (state_ == State::kHandshaking) {
      if (owner_) ++owner_->counters_.tls_handshake_failures;
      Close(/*notify=*/true);
      return;
    }
    if (state_ != State::kOpen) return;
    // Re-armed lazily: activity only stamps last_activity_, the timer checks it when it fires.
    const std::chrono::milliseconds idle = limits_.idle_timeout;
    auto elapsed = SteadyClock::now() - last_activity_;
    if (elapsed >= idle) {
      if (owner_) ++owner_->counters_.stream_idle_closed;
      Close(/*notify=*/true);
      return;
    }
    auto remaining = std::chrono::ceil<std::chrono::milliseconds>(idle - elapsed);
    ArmTimer(std::max(remaining, std::chrono::milliseconds(1)));
  }

  void Read() {
    if (reading_ || state_ != State::kOpen) return;
    if (buffer_.size() - end_ < kMinReadSpace && begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() - end_ < kMinReadSpace && buffer_.size() < buffer_cap_) {
      buffer_.resize(std::min(buffer_cap_, std::max(buffer_.size() * 2, kInitialStreamBuffer)));
    }
    if (end_ == buffer_.size()) {  // the framer rejects oversized frames before this
      if (owner_) ++owner_->counters_.stream_invalid;
      Close(/*notify=*/true);
      return;
    }
    reading_ = true;
    asio::mutable_buffer space(buffer_.data() + end_, buffer_.size() - end_);
    auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
      self->OnRead(ec, n);
    };
    WithStream([&](auto& stream) { stream.async_read_some(space, handler); });
  }

  void OnRead(const boost::system::error_code& ec, size_t n) {
    reading_ = false;
    if (state_ != State::kOpen) return;
    if (ec) {  // EOF, reset, TLS truncation: the client is gone either way
      Close(/*notify=*/true);
      return;
    }
    last_activity_ = SteadyClock::now();
    end_ += n;
    if (!ProcessBuffer()) return;
    Read();
  }

  // Hands every complete frame to the handler. False when the connection closed.
  bool ProcessBuffer() {
    auto self = shared_from_this();  // a callback may close this connection
    // Every iteration consumes a frame or returns, so this ends within the buffered bytes.
    while (begin_ < end_ && state_ == State::kOpen && owner_ != nullptr) {
      std::string_view view(buffer_.data() + begin_, end_ - begin_);
      if (dialect_ == StreamDialect::kUnknown) {
        dialect_ = DetectStreamDialect(view);
        if (dialect_ == StreamDialect::kUnknown) break;
      }
      StreamFrame frame = NextStreamFrame(view, limits_.max_message_bytes, dialect_);
      if (frame.kind == StreamFrame::Kind::kNeedMore) break;
      if (frame.kind == StreamFrame::Kind::kInvalid) {
        ++owner_->counters_.stream_invalid;
        Close(/*notify=*/true);
        return false;
      }
      begin_ += frame.length;
      ++owner_->counters_.stream_messages_in;
      if (owner_->handler_ != nullptr) {
        owner_->handler_->OnClientMessage(flow_, view.substr(0, frame.length));
      }
    }
    if (state_ != State::kOpen) return false;
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (buffer_.size() > kShrinkAbove) std::vector<char>(kInitialStreamBuffer).swap(buffer_);
    }
    return true;
  }

  void Flush() {
    if (writing_ || state_ != State::kOpen || out_.empty()) return;
    inflight_.swap(out_);  // both keep their capacity: no allocation per message
    out_.clear();
    writing_ = true;
    auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
      self->OnWritten(ec);
    };
    WithStream([&](auto& stream) {
      asio::async_write(stream, asio::buffer(inflight_.data(), inflight_.size()), handler);
    });
  }

  void OnWritten(const boost::system::error_code& ec) {
    writing_ = false;
    if (state_ != State::kOpen) return;
    if (ec) {
      Close(/*notify=*/true);
      return;
    }
    inflight_.clear();
    if (inflight_.capacity() > kShrinkAbove) std::string().swap(inflight_);
    last_activity_ = SteadyClock::now();
    Flush();
  }

  // A copy: pending handlers may run after the owner is gone.
  struct Limits {
    size_t max_message_bytes;
    size_t max_write_queue_bytes;
    std::chrono::milliseconds idle_timeout;
    std::chrono::milliseconds handshake_timeout;
  };

  RelaySockets* owner_;
  const Limits limits_;
  turn::ClientFlow flow_;
  std::optional<tcp::socket> tcp_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  State state_ = State::kHandshaking;
  bool opened_ = false;
  SteadyClock::time_point last_activity_;

  std::vector<char> buffer_;  // bytes [begin_, end_) not yet framed
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t buffer_cap_ = 0;
  bool reading_ = false;
  StreamDialect dialect_ = StreamDialect::kUnknown;  // the first bytes decide, for good

  std::string out_;       // queued, not yet handed to the socket
  std::string inflight_;  // the async_write in progress
  bool writing_ = false;
};

// ---- RelaySockets -------------------------------------------------------------------------------

RelaySockets::RelaySockets(asio::io_context& io, RelaySocketsOptions options)
    : io_(io),
      options_(std::move(options)),
      recv_(std::max<size_t>(options_.recv_batch, 1),
            std::max<size_t>(options_.max_datagram_bytes, 1)),
      peer_batch_(std::max<size_t>(options_.send_batch, 1), options_.send_arena_bytes) {
  if (!options_.limiter) {
    options_.limiter = std::make_shared<ClientIpLimiter>(options_.max_connections_per_ip);
  }
  std::random_device device;
  rng_ = uint64_t{device()} << 32 | device();
}

RelaySockets::~RelaySockets() { Close(); }

absl::StatusOr<std::unique_ptr<RelaySockets>> RelaySockets::Create(asio::io_context& io,
                                                                   RelaySocketsOptions options) {
  if (!options.tls_listen.empty() && !options.tls) {
    return absl::InvalidArgumentError("TURN TLS listener needs a TLS server context");
  }
  if (options.min_port == 0 || options.min_port > options.max_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("TURN relay port range ", options.min_port, "-", options.max_port,
                     " is empty"));
  }
  std::unique_ptr<RelaySockets> sockets(new RelaySockets(io, std::move(options)));
  for (const NetAddress& a : sockets->options_.udp_listen) {
    if (absl::Status s = sockets->ListenUdp(a); !s.ok()) return s;
  }
  for (const NetAddress& a : sockets->options_.tcp_listen) {
    if (absl::Status s = sockets->ListenStream(a, ClientTransport::kTcp); !s.ok()) return s;
  }
  for (const NetAddress& a : sockets->options_.tls_listen) {
    if (absl::Status s = sockets->ListenStream(a, ClientTransport::kTls); !s.ok()) return s;
  }
  return sockets;
}

absl::StatusOr<std::unique_ptr<RelaySockets>> RelaySockets::Create(asio::io_context& io,
                                                                   turn::RelayHandler& handler,
                                                                   RelaySocketsOptions options) {
  auto sockets = Create(io, std::move(options));
  if (sockets.ok()) (*sockets)->Start(handler);
  return sockets;
}

absl::Status RelaySockets::ListenUdp(const NetAddress& bind) {
  auto s = std::make_shared<Udp>(io_);
  boost::system::error_code ec;
  s->socket.open(bind.is_v6() ? udp::v6() : udp::v4(), ec);
  if (ec) return ListenError("UDP", bind, ec);
  if (bind.is_v6()) s->socket.set_option(asio::ip::v6_only(true), ec);  // [::] and 0.0.0.0 coexist
  s->socket.set_option(udp::socket::reuse_address(true), ec);
  s->socket.set_option(ReusePort(true), ec);  // one socket per worker on the same address
  if (ec) return ListenError("UDP", bind, ec);
  boost::system::error_code ignored;
  s->socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);  // bursts
  s->socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ignored);
  s->socket.bind(udp::endpoint(ToAsio(bind), bind.port()), ec);
  if (ec) return ListenError("UDP", bind, ec);
  s->socket.non_blocking(true, ec);
  if (ec) return ListenError("UDP", bind, ec);
  udp::endpoint local = s->socket.local_endpoint(ec);
  if (ec) return ListenError("UDP", bind, ec);
  s->local = FromAsio(local);
  if (s->local.is_unspecified()) {
    s->wildcard = true;
    if (!EnablePacketInfo(s->socket.native_handle(), s->local.is_v6())) {
      return ListenError("UDP", bind,
                         boost::system::error_code(errno, boost::system::system_category()));
    }
  }
  s->owner = this;
  s->batch = std::make_unique<SendBatch>(std::max<size_t>(options_.send_batch, 1),
                                         options_.send_arena_bytes);
  bound_udp_.push_back(s->local);
  clients_.push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status RelaySockets::ListenStream(const NetAddress& bind, ClientTransport transport) {
  auto acceptor = std::make_shared<Acceptor>(io_, this, transport);
  if (absl::Status s = acceptor->Open(bind); !s.ok()) return s;
  (transport == ClientTransport::kTls ? bound_tls_ : bound_tcp_).push_back(acceptor->local());
  acceptors_.push_back(std::move(acceptor));
  return absl::OkStatus();
}

void RelaySockets::Start(turn::RelayHandler& handler) {
  if (closed_) return;
  handler_ = &handler;
  for (auto& s : clients_) Wait(*s);
  for (auto& a : acceptors_) a->Accept();
  for (auto& r : relays_) {
    if (r) Wait(*r);
  }
}

void RelaySockets::Close() {
  if (closed_) return;
  closed_ = true;
  peer_batch_.Clear();
  peer_target_.reset();
  for (auto& s : clients_) CloseUdp(*s);
  clients_.clear();
  for (auto& a : acceptors_) a->Close();
  acceptors_.clear();
  for (auto& r : relays_) {
    if (r) CloseUdp(*r);
  }
  relays_.clear();
  counters_.relay_sockets_open = 0;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) stream->Close(/*notify=*/false);
  handler_ = nullptr;
}

void RelaySockets::CloseUdp(Udp& s) {
  s.owner = nullptr;
  boost::system::error_code ignored;
  s.socket.close(ignored);  // a pending async_wait completes with operation_aborted
}

// ---- UDP data path ------------------------------------------------------------------------------

void RelaySockets::Wait(Udp& s) {
  if (s.waiting || s.owner == nullptr || handler_ == nullptr) return;
  s.waiting = true;
  s.socket.async_wait(udp::socket::wait_read,
                      [self = s.shared_from_this()](const boost::system::error_code& ec) {
                        self->waiting = false;
                        if (ec || self->owner == nullptr) return;
                        self->owner->Drain(*self);
                      });
}

void RelaySockets::Drain(Udp& s) {
  auto self = s.shared_from_this();  // the handler may close this socket mid-batch
  const int fd = s.socket.native_handle();
  bool more = false;
  // A few full batches per wake-up, then yield: other sockets of this worker get their turn.
  for (size_t burst = 0; burst < std::max<size_t>(options_.recv_bursts_per_wakeup, 1); ++burst) {
    int n = recv_.Receive(fd, s.wildcard);
    if (n < 0) {
      // A pending socket error (e.g. ICMP unreachable) is consumed by reporting it: read on.
      more = true;
      break;
    }
    if (n == 0) {
      more = false;
      break;
    }
    ++counters_.recv_batches;
    ++batch_depth_;
    for (int i = 0; i < n && s.owner != nullptr && handler_ != nullptr; ++i) {
      if (recv_.truncated(i)) {
        ++counters_.recv_truncated;
        continue;
      }
      if (s.relay) {
        ++counters_.peer_datagrams_in;
        handler_->OnPeerPacket(s.id, recv_.source(i), recv_.payload(i));
      } else {
        ++counters_.client_datagrams_in;
        // server = the address the client sent to (a wildcard socket learns it per datagram).
        turn::ClientFlow flow{recv_.source(i), s.wildcard ? recv_.destination(i, s.local) : s.local,
                              ClientTransport::kUdp, 0};
        handler_->OnClientMessage(flow, recv_.payload(i));
      }
    }
    --batch_depth_;
    if (batch_depth_ == 0) {
      if (s.relay) {
        FlushPeerBatch();
        PostClientFlush();
      } else {
        FlushSends();
      }
    }
    if (s.owner == nullptr) return;
    more = static_cast<size_t>(n) == recv_.capacity();
    if (!more) break;
  }
  if (s.owner == nullptr) return;
  if (more) {
    // Asio's reactor is edge-triggered and async_wait is not speculative: with data left in the
    // socket, waiting could sleep until the next datagram. Come back through the queue instead.
    asio::post(io_, [self] {
      if (self->owner != nullptr) self->owner->Drain(*self);
    });
    return;
  }
  Wait(s);
}

void RelaySockets::PostClientFlush() {
  bool pending = false;
  for (auto& c : clients_) pending = pending || !c->batch->empty();
  if (!pending || client_flush_posted_) return;
  client_flush_posted_ = true;
  asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) return;
    client_flush_posted_ = false;
    if (batch_depth_ == 0) FlushSends();
  });
}

void RelaySockets::FlushSends() {
  for (auto& c : clients_) {
    if (!c->batch->empty()) FlushClientBatch(*c);
  }
  FlushPeerBatch();
}

void RelaySockets::FlushClientBatch(Udp& s) {
  SendBatch::Result r = s.batch->Flush(s.socket.native_handle());
  ++counters_.send_batches;
  counters_.client_datagrams_out += r.sent;
  counters_.send_drops_would_block += r.would_block;
  counters_.send_errors += r.failed;
}

void RelaySockets::FlushPeerBatch() {
  if (peer_batch_.empty()) return;
  if (!peer_target_ || peer_target_->owner == nullptr) {
    peer_batch_.Clear();  // the relay closed meanwhile (CloseRelay flushes first; defensive)
    return;
  }
  SendBatch::Result r = peer_batch_.Flush(peer_target_->socket.native_handle());
  ++counters_.send_batches;
  counters_.peer_datagrams_out += r.sent;
  counters_.send_drops_would_block += r.would_block;
  counters_.send_errors += r.failed;
}

void RelaySockets::SendToClient(const turn::ClientFlow& flow, std::string_view message) {
  if (closed_) return;
  if (flow.transport != ClientTransport::kUdp) {
    auto it = streams_.find(flow.connection);
    if (it == streams_.end()) {
      ++counters_.send_errors;  // the connection closed meanwhile
      return;
    }
    if (it->second->Enqueue(message)) {
      ++counters_.stream_messages_out;
    } else {
      ++counters_.send_drops_queue_full;
    }
    return;
  }
  Udp* socket = FindClientSocket(flow.server);
  if (socket == nullptr || !socket->batch->fits_ever(message.size())) {
    ++counters_.send_errors;
    return;
  }
  // From a wildcard socket, answer from the address the client used (IP_PKTINFO), as RFC 8656
  // expects the 5-tuple to hold in both directions.
  const NetAddress* source =
      socket->wildcard && !flow.server.is_unspecified() ? &flow.server : nullptr;
  if (!socket->batch->Add(flow.client, message, source)) {
    FlushClientBatch(*socket);
    socket->batch->Add(flow.client, message, source);
  }
  if (batch_depth_ == 0) FlushClientBatch(*socket);
}

RelaySockets::Udp* RelaySockets::FindClientSocket(const NetAddress& server) {
  for (auto& c : clients_) {
    if (c->local == server) return c.get();
  }
  for (auto& c : clients_) {  // a wildcard listener answers for every address of its family
    if (c->wildcard && c->local.port() == server.port() && c->local.is_v6() == server.is_v6()) {
      return c.get();
    }
  }
  return nullptr;
}

// ---- relayed sockets ----------------------------------------------------------------------------

RelaySockets::Udp* RelaySockets::FindRelay(turn::RelayId id) {
  const uint32_t slot = id & kSlotMask;
  if (slot >= relays_.size()) return nullptr;
  Udp* s = relays_[slot].get();
  return s != nullptr && s->id == id ? s : nullptr;
}

absl::StatusOr<NetAddress> RelaySockets::OpenRelay(turn::RelayId id, bool v6, bool even_port) {
  return BindRelay(id, v6, even_port, -1);
}

absl::StatusOr<int> RelaySockets::HoldPort(const NetAddress& address) {
  if (closed_) return absl::UnavailableError("TURN relay sockets are closed");
  const int fd = ::socket(address.is_v6() ? AF_INET6 : AF_INET,
                          SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("hold socket: ", std::strerror(errno)));
  if (address.is_v6()) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  }
  const udp::endpoint endpoint(ToAsio(address), address.port());
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    const int saved = errno;
    ::close(fd);
    if (saved == EADDRINUSE || saved == EACCES) {
      return absl::ResourceExhaustedError(absl::StrCat("port ", address.port(), " is taken"));
    }
    return absl::UnavailableError(absl::StrCat("hold bind: ", std::strerror(saved)));
  }
  return fd;
}

absl::StatusOr<NetAddress> RelaySockets::AdoptRelay(turn::RelayId id, int held) {
  return BindRelay(id, false, false, held);
}

void RelaySockets::ReleaseHeld(int held) {
  if (held >= 0) ::close(held);
}

absl::StatusOr<NetAddress> RelaySockets::BindRelay(turn::RelayId id, bool v6, bool even_port,
                                                   int adopt) {
  if (adopt >= 0) {
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (::getsockname(adopt, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
      ::close(adopt);
      return absl::UnavailableError(absl::StrCat("adopted socket: ", std::strerror(errno)));
    }
    v6 = local.ss_family == AF_INET6;
  }
  // An adopted descriptor is ours from here on: closed on every failure.
  auto fail = [adopt](absl::Status status) {
    if (adopt >= 0) ::close(adopt);
    return status;
  };
  if (closed_) return fail(absl::UnavailableError("TURN relay sockets are closed"));
  const std::optional<NetAddress>& base = v6 ? options_.relay_v6 : options_.relay_v4;
  if (!base) {
    return fail(absl::FailedPreconditionError(v6 ? "no IPv6 relay address configured"
                                                 : "no IPv4 relay address configured"));
  }
  const uint32_t slot = id & kSlotMask;
  if (slot < relays_.size() && relays_[slot]) {
    if (relays_[slot]->id == id) return fail(absl::AlreadyExistsError("relay id already open"));
    CloseRelay(relays_[slot]->id);  // a stale generation: its allocation is gone
  }

  auto s = std::make_shared<Udp>(io_);
  boost::system::error_code ec;
  if (adopt >= 0) {
    s->socket.assign(v6 ? udp::v6() : udp::v4(), adopt, ec);
    if (ec) {
      ::close(adopt);
      return absl::UnavailableError(absl::StrCat("adopted socket: ", ec.message()));
    }
    return RegisterRelay(id, std::move(s));
  }
  s->socket.open(v6 ? udp::v6() : udp::v4(), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("relay socket: ", ec.message()));
  if (v6) s->socket.set_option(asio::ip::v6_only(true), ec);
  // No SO_REUSEADDR/SO_REUSEPORT: bind() must fail for a port another socket holds.
  uint32_t low = options_.min_port;
  const uint32_t high = options_.max_port;
  if (even_port && low % 2 != 0) ++low;
  const uint32_t step = even_port ? 2 : 1;
  const uint32_t candidates = low > high ? 0 : (high - low) / step + 1;
  const size_t attempts =
      std::min<size_t>(candidates, std::max<size_t>(options_.max_port_attempts, 1));
  const uint32_t start = candidates == 0 ? 0 : static_cast<uint32_t>(SplitMix(rng_) % candidates);
  bool bound = false;
  for (size_t k = 0; k < attempts; ++k) {
    const uint16_t port = static_cast<uint16_t>(low + ((start + k) % candidates) * step);
    s->socket.bind(udp::endpoint(ToAsio(*base), port), ec);
    if (!ec) {
      bound = true;
      break;
    }
    if (ec != asio::error::address_in_use && ec != asio::error::access_denied) {
      return absl::UnavailableError(absl::StrCat("relay bind ", base->HostForUri(), ":", port,
                                                 ": ", ec.message()));
    }
  }
  if (!bound) {
    ++counters_.port_exhaustion;
    return absl::ResourceExhaustedError(
        absl::StrCat("no free relay port in ", options_.min_port, "-", options_.max_port, " on ",
                     base->HostString(), " after ", attempts, " attempts"));
  }
  return RegisterRelay(id, std::move(s));
}

absl::StatusOr<NetAddress> RelaySockets::RegisterRelay(turn::RelayId id,
                                                       std::shared_ptr<Udp> s) {
  const uint32_t slot = id & kSlotMask;
  boost::system::error_code ec;
  s->socket.non_blocking(true, ec);
  udp::endpoint local = s->socket.local_endpoint(ec);
  if (ec) return absl::UnavailableError(absl::StrCat("relay socket: ", ec.message()));
  s->local = FromAsio(local);
  s->relay = true;
  s->id = id;
  s->owner = this;
  if (slot >= relays_.size()) {
    relays_.resize(std::max<size_t>(slot + 1, std::min<size_t>(relays_.size() * 2, kSlotMask + 1)));
  }
  relays_[slot] = s;
  ++counters_.relay_sockets_open;
  ++counters_.relay_sockets_opened;
  Wait(*s);
  return s->local;
}

void RelaySockets::CloseRelay(turn::RelayId id) {
  Udp* s = FindRelay(id);
  if (s == nullptr) return;
  if (peer_target_.get() == s) {
    FlushPeerBatch();  // sends made before the close still go out, none after
    peer_target_.reset();
  }
  CloseUdp(*s);
  relays_[id & kSlotMask].reset();  // a pending wait keeps the object until it completes
  --counters_.relay_sockets_open;
}

void RelaySockets::SendToPeer(turn::RelayId id, const NetAddress& peer, std::string_view payload) {
  Udp* s = FindRelay(id);
  if (s == nullptr || !peer_batch_.fits_ever(payload.size())) {
    ++counters_.send_errors;
    return;
  }
  // One batch goes to one socket: a send through another relayed socket flushes the current one.
  if (peer_target_.get() != s) {
    FlushPeerBatch();
    peer_target_ = s->shared_from_this();
  }
  if (!peer_batch_.Add(peer, payload)) {
    FlushPeerBatch();
    peer_batch_.Add(peer, payload);
  }
  if (batch_depth_ == 0) FlushPeerBatch();
}

// ---- streams ------------------------------------------------------------------------------------

void RelaySockets::OnAccepted(Acceptor& acceptor, tcp::socket socket) {
  boost::system::error_code ec;
  tcp::endpoint remote_ep = socket.remote_endpoint(ec);
  if (ec || handler_ == nullptr) return;  // reset before we looked: the socket closes here
  NetAddress remote = FromAsio(remote_ep);
  if (!options_.limiter->TryAcquire(remote)) {
    ++counters_.stream_rejected;
    socket.close(ec);
    return;
  }
  ++counters_.stream_accepted;
  ++counters_.stream_open;
  turn::ClientFlow flow{remote, acceptor.local(), acceptor.transport(),
                        next_connection_id.fetch_add(1, std::memory_order_relaxed)};
  auto stream = std::make_shared<Stream>(this, std::move(socket), flow);
  streams_.emplace(flow.connection, stream);
  stream->Start();
}

void RelaySockets::OnStreamClosed(Stream& stream, bool notify) {
  const turn::ClientFlow flow = stream.flow();
  options_.limiter->Release(flow.client);
  ++counters_.stream_closed;
  --counters_.stream_open;
  streams_.erase(flow.connection);
  if (notify && stream.opened() && handler_ != nullptr) handler_->OnClientClosed(flow);
}

}  // namespace causeway::media::io
