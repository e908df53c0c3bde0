#include "sip/io/transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/io/transport_endpoint.h"
#include "sip/io/transport_reject.h"

namespace causeway::sip {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {
// Process-wide so ids stay unique across workers (the stack may keep them in shared tables).
std::atomic<ConnectionId> next_connection_id{1};
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
}  // namespace

// A TCP or TLS listening socket and its accept loop.
class StreamAcceptor : public std::enable_shared_from_this<StreamAcceptor> {
 public:
  StreamAcceptor(asio::io_context& io, TransportKind kind, SipTransport* owner)
      : acceptor_(io), retry_(io), kind_(kind), owner_(owner) {}

  absl::Status Open(const NetAddress& bind) {
    std::string_view name = TransportName(kind_);
    boost::system::error_code ec;
    acceptor_.open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (ec) return ListenError(name, bind, ec);
    if (bind.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor_.set_option(ReusePort(true), ec);  // one acceptor per worker on the same port
    if (ec) return ListenError(name, bind, ec);
    acceptor_.bind(ToTcpEndpoint(bind), ec);
    if (ec) return ListenError(name, bind, ec);
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ListenError(name, bind, ec);
    tcp::endpoint local = acceptor_.local_endpoint(ec);
    if (ec) return ListenError(name, bind, ec);
    local_ = FromEndpoint(local);
    return absl::OkStatus();
  }

  void Accept() {
    if (owner_ == nullptr || !acceptor_.is_open()) return;
    acceptor_.async_accept([self = shared_from_this()](const boost::system::error_code& ec,
                                                       tcp::socket socket) {
      if (self->owner_ == nullptr || ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors (EMFILE/ENFILE) or similar: back off instead of spinning.
        log::Warn("sip.io", "accept failed",
                  {{"listener", self->local_.ToString()}, {"error", ec.message()}});
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

  TransportKind kind() const { return kind_; }
  const NetAddress& local() const { return local_; }

 private:
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  TransportKind kind_;
  SipTransport* owner_;
  NetAddress local_;
};

SipTransport::SipTransport(asio::io_context& io, SipTransportOptions options, TransportUser* user)
    : io_(io),
      options_(std::make_shared<const SipTransportOptions>(std::move(options))),
      user_(user) {
  limiter_ = options_->limiter != nullptr
                 ? options_->limiter
                 : std::make_shared<ConnectionLimiter>(options_->max_connections_per_ip,
                                                       options_->max_connections);
}

absl::StatusOr<std::unique_ptr<SipTransport>> SipTransport::Create(asio::io_context& io,
                                                                   SipTransportOptions options,
                                                                   TransportUser* user) {
  if (user == nullptr) return absl::InvalidArgumentError("SipTransport: no TransportUser");
  std::unique_ptr<SipTransport> t(new SipTransport(io, std::move(options), user));
  for (const ListenConfig& config : t->options_->listen) {
    if (absl::Status s = t->Listen(config); !s.ok()) return s;
  }
  // Start only once everything bound, so a failed Create never delivered anything.
  for (Listener& l : t->listeners_) {
    if (l.udp) l.udp->Start();
    if (l.stream) l.stream->Accept();
  }
  return t;
}

SipTransport::~SipTransport() {
  Close();
  alive_.reset();
}

absl::Status SipTransport::Listen(const ListenConfig& config) {
  Listener listener;
  listener.config = config;
  if (config.kind == TransportKind::kUdp) {
    absl::StatusOr<std::shared_ptr<UdpListener>> udp =
        UdpListener::Open(io_, config.address, this, options_->udp_receive_batch);
    if (!udp.ok()) return udp.status();
    listener.udp = *std::move(udp);
    listener.config.address = listener.udp->local();
  } else {
    if (config.kind == TransportKind::kTls && options_->tls_server == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS ", config.address.ToString(), ": no TLS server context configured"));
    }
    auto acceptor = std::make_shared<StreamAcceptor>(io_, config.kind, this);
    if (absl::Status s = acceptor->Open(config.address); !s.ok()) return s;
    listener.config.address = acceptor->local();
    listener.stream = std::move(acceptor);
  }
  if (listener.config.advertised && listener.config.advertised->port() == 0) {
    listener.config.advertised->set_port(listener.config.address.port());
  }
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

std::vector<ListenConfig> SipTransport::BoundListeners() const {
  std::vector<ListenConfig> out;
  out.reserve(listeners_.size());
  for (const Listener& l : listeners_) out.push_back(l.config);
  return out;
}

NetAddress SipTransport::AdvertisedAddress(TransportKind kind, bool v6) const {
  const Listener* fallback = nullptr;
  for (const Listener& l : listeners_) {
    if (l.config.kind != kind) continue;
    if (l.config.address.is_v6() == v6) {
      return l.config.advertised ? *l.config.advertised : l.config.address;
    }
    if (fallback == nullptr) fallback = &l;
  }
  if (fallback == nullptr) return NetAddress();
  return fallback->config.advertised ? *fallback->config.advertised : fallback->config.address;
}

bool SipTransport::Supports(TransportKind kind) const {
  return std::any_of(listeners_.begin(), listeners_.end(),
                     [kind](const Listener& l) { return l.config.kind == kind; });
}

void SipTransport::StopAccepting() {
  for (Listener& l : listeners_) {
    if (l.stream) l.stream->Close();
    if (l.udp) l.udp->StopReceiving();
  }
}

void SipTransport::Close() {
  if (closed_) return;
  closed_ = true;
  for (Listener& l : listeners_) {
    if (l.stream) l.stream->Close();
    if (l.udp) l.udp->Close();
  }
  // Detach first: closing must not call back into maps being torn down.
  auto connections = std::move(connections_);
  connections_.clear();
  by_peer_.clear();
  for (auto& [id, conn] : connections) {
    conn->Detach();
    limiter_->Release(conn->remote(), conn->inbound());
    conn->Close(absl::CancelledError("transport closed"));
  }
}

bool SipTransport::CloseConnection(ConnectionId id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return false;
  std::shared_ptr<StreamConnection> conn = it->second;
  conn->Close(absl::OkStatus());
  return true;
}

const StreamConnection* SipTransport::FindConnection(ConnectionId id) const {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void SipTransport::OnAccepted(StreamAcceptor& acceptor, tcp::socket socket) {
  boost::system::error_code ec;
  tcp::endpoint remote_ep = socket.remote_endpoint(ec);
  if (ec) return;  // the peer already reset it; the socket closes on scope exit
  NetAddress remote = FromEndpoint(remote_ep);
  if (closed_ || !limiter_->TryAcquire(remote, /*inbound=*/true)) {
    TransportCounters::Inc(counters_.connections_rejected_over_cap);
    log::Debug("sip.io", "connection refused over cap", {{"peer", remote.ToString()}});
    socket.close(ec);
    return;
  }
  TransportCounters::Inc(counters_.connections_accepted);
  StreamConnection::Params params;
  params.kind = acceptor.kind();
  params.inbound = true;
  params.id = MakeConnectionId(options_->owner, next_connection_id.fetch_add(1, std::memory_order_relaxed));
  params.options = options_;
  params.tls = options_->tls_server;
  params.remote = remote;  // the by-peer index is keyed on it from the start
  auto conn = std::make_shared<StreamConnection>(static_cast<ConnectionOwner*>(this), std::move(socket), std::move(params));
  Register(conn);
  conn->StartInbound();
}

void SipTransport::Register(std::shared_ptr<StreamConnection> conn) {
  by_peer_[PeerKey{conn->kind(), conn->remote()}].push_back(conn->id());
  connections_.emplace(conn->id(), std::move(conn));
}

void SipTransport::Send(const Destination& to, std::string bytes, uint64_t token) {
  if (closed_) {
    ReportSendFailed(token, to, absl::UnavailableError("transport closed"));
    return;
  }
  if (to.kind == TransportKind::kUdp) {
    SendUdp(to, std::move(bytes), token);
  } else {
    SendStream(to, std::move(bytes), token);
  }
}

void SipTransport::SendUdp(const Destination& to, std::string bytes, uint64_t token) {
  UdpListener* socket = nullptr;
  for (Listener& l : listeners_) {
    if (l.udp && l.udp->open() && l.udp->local().is_v6() == to.address.is_v6()) {
      socket = l.udp.get();
      break;
    }
  }
  if (socket == nullptr) {
    ReportSendFailed(token, to,
                     absl::UnavailableError(absl::StrCat("UDP ", to.address.ToString(),
                                                         ": no UDP socket of that family")));
    return;
  }
  boost::system::error_code ec;
  socket->SendTo(bytes, to.address, ec);
  if (ec) {
    ReportSendFailed(token, to,
                     absl::UnavailableError(absl::StrCat("UDP ", to.address.ToString(), ": ",
                                                         ec.message())));
    return;
  }
  TransportCounters::Inc(counters_.udp_datagrams_sent);
  TransportCounters::Inc(counters_.messages_sent);
  TransportCounters::Inc(counters_.bytes_sent, bytes.size());
}

StreamConnection* SipTransport::FindReusable(const Destination& to) {
  auto matches = [&](const StreamConnection& c) {
    if (!c.usable() || c.kind() != to.kind) return false;
    if (to.kind != TransportKind::kTls || to.tls_server_name.empty()) return true;
    // A named TLS destination needs a connection whose peer was verified as that name.
    if (!c.inbound()) return c.tls_server_name() == to.tls_server_name;
    return c.tls_peer_verified() &&
           absl::EqualsIgnoreCase(ToAbsl(c.tls_peer_identity()), ToAbsl(to.tls_server_name));
  };
  if (to.connection != 0) {
    auto it = connections_.find(to.connection);
    // An explicit connection (the one a request came in on) is used as is (RFC 3261 §18.2.2).
    if (it != connections_.end() && it->second->usable() && it->second->kind() == to.kind) {
      return it->second.get();
    }
  }
  auto it = by_peer_.find(PeerKey{to.kind, to.address});
  if (it == by_peer_.end()) return nullptr;
  StreamConnection* best = nullptr;
  for (ConnectionId id : it->second) {
    auto c = connections_.find(id);
    if (c == connections_.end() || !matches(*c->second)) continue;
    if (c->second->state() == StreamConnection::State::kOpen) return c->second.get();
    if (best == nullptr) best = c->second.get();  // still connecting: queue behind it
  }
  return best;
}

void SipTransport::SendStream(const Destination& to, std::string bytes, uint64_t token) {
  if (StreamConnection* conn = FindReusable(to)) {
    if (!conn->Enqueue(std::move(bytes), token)) {
      ReportSendFailed(token, to,
                       absl::ResourceExhaustedError(absl::StrCat(
                           ToAbsl(TransportName(to.kind)), " ", conn->remote().ToString(),
                           ": send queue full")));
    }
    return;
  }
  std::string_view kind_name = TransportName(to.kind);
  if (to.address.port() == 0 || to.address.is_unspecified()) {
    ReportSendFailed(token, to,
                     absl::InvalidArgumentError(absl::StrCat(
                         ToAbsl(kind_name), " ", to.address.ToString(), ": invalid destination")));
    return;
  }
  if (to.kind == TransportKind::kTls && options_->tls_client == nullptr) {
    ReportSendFailed(token, to,
                     absl::FailedPreconditionError(absl::StrCat(
                         "TLS ", to.address.ToString(), ": no TLS client context configured")));
    return;
  }
  if (!limiter_->TryAcquire(to.address, /*inbound=*/false)) {
    TransportCounters::Inc(counters_.connections_rejected_over_cap);
    ReportSendFailed(token, to,
                     absl::ResourceExhaustedError(absl::StrCat(
                         ToAbsl(kind_name), " ", to.address.ToString(), ": connection limit")));
    return;
  }
  StreamConnection::Params params;
  params.kind = to.kind;
  params.inbound = false;
  params.id = MakeConnectionId(options_->owner, next_connection_id.fetch_add(1, std::memory_order_relaxed));
  params.options = options_;
  params.tls = options_->tls_client;
  params.tls_server_name = to.tls_server_name;
  params.remote = to.address;
  auto conn = std::make_shared<StreamConnection>(static_cast<ConnectionOwner*>(this),
                                                 tcp::socket(io_), std::move(params));
  // Registered under the destination before connecting, so the sends that follow queue on it.
  Register(conn);
  conn->Connect();
  if (conn->state() == StreamConnection::State::kClosed) {  // could not even open a socket
    ReportSendFailed(token, to, absl::UnavailableError(absl::StrCat(
                                    ToAbsl(kind_name), " ", to.address.ToString(),
                                    ": cannot open socket")));
    return;
  }
  if (!conn->Enqueue(std::move(bytes), token)) {  // larger than the whole queue allows
    ReportSendFailed(token, to, absl::ResourceExhaustedError(absl::StrCat(
                                    ToAbsl(kind_name), " ", to.address.ToString(),
                                    ": message larger than the send queue")));
  }
}

void SipTransport::ReportSendFailed(uint64_t token, const Destination& to, absl::Status error) {
  TransportCounters::Inc(counters_.send_failures);
  if (absl::IsResourceExhausted(error)) {
    // A full send queue loses messages nobody may be waiting for (BENOTIFY, stateless
    // forwards): say so, without letting an overload flood the log (first, then every 1024th).
    const uint64_t n = counters_.send_queue_full.fetch_add(1, std::memory_order_relaxed);
    if (n % 1024 == 0) {
      log::Warn("sip.io", "send queue full: message dropped",
                {{"to", to.address.ToString()}, {"dropped_total", static_cast<int64_t>(n + 1)}});
    }
  } else {
    log::Debug("sip.io", "send failed", {{"to", to.address.ToString()},
                                         {"error", FromAbsl(error.message())}});
  }
  if (token == 0) return;
  // Always asynchronous: the caller may be in the middle of updating its own state.
  asio::post(io_, [alive = std::weak_ptr<bool>(alive_), user = user_, token, to,
                   error = std::move(error)] {
    if (alive.expired()) return;
    user->OnSendFailed(token, to, error);
  });
}

void SipTransport::OnConnectionMessage(StreamConnection& conn, SipMessage&& message) {
  ReceiveInfo info;
  info.kind = conn.kind();
  info.source = conn.remote();
  info.local = conn.local();
  info.connection = conn.id();
  info.tls_peer_verified = conn.tls_peer_verified();
  info.tls_peer_identity = conn.tls_peer_identity();
  info.received_at = std::chrono::steady_clock::now();
  user_->OnMessage(std::move(message), info);
}

void SipTransport::OnConnectionOpen(StreamConnection& conn) {
  if (!conn.inbound()) TransportCounters::Inc(counters_.connections_opened);
}

void SipTransport::OnConnectionClosed(StreamConnection& conn, const absl::Status& error) {
  if (!error.ok()) {
    log::Debug("sip.io", "connection closed", {{"id", conn.id()},
                                               {"error", FromAbsl(error.message())}});
  }
  limiter_->Release(conn.remote(), conn.inbound());
  auto peers = by_peer_.find(PeerKey{conn.kind(), conn.remote()});
  if (peers != by_peer_.end()) {
    std::vector<ConnectionId>& ids = peers->second;
    ids.erase(std::remove(ids.begin(), ids.end(), conn.id()), ids.end());
    if (ids.empty()) by_peer_.erase(peers);
  }
  // The connection keeps itself alive (shared_from_this) for the rest of its Close().
  const ConnectionId id = conn.id();
  connections_.erase(id);
  if (!closed_) user_->OnConnectionClosed(id);
}

void SipTransport::OnConnectionSendFailed(StreamConnection& conn, uint64_t token,
                                          const absl::Status& error) {
  Destination to;
  to.kind = conn.kind();
  to.address = conn.remote();
  to.connection = conn.id();
  to.tls_server_name = conn.tls_server_name();
  // Counted by the connection already; report without counting twice.
  if (token == 0) return;
  asio::post(io_, [alive = std::weak_ptr<bool>(alive_), user = user_, token, to, error] {
    if (alive.expired()) return;
    user->OnSendFailed(token, to, error);
  });
}

void SipTransport::OnDatagram(UdpListener& listener, std::string_view data,
                              const NetAddress& source) {
  const auto received_at = std::chrono::steady_clock::now();
  TransportCounters::Inc(counters_.udp_datagrams_received);
  TransportCounters::Inc(counters_.bytes_received, data.size());
  // CRLF keepalives (and empty datagrams) carry nothing to parse or answer.
  if (data.find_first_not_of("\r\n") == std::string_view::npos) {
    TransportCounters::Inc(counters_.keepalive_pings);
    return;
  }
  // STUN keepalives (RFC 5626 §4.4.2) start with two zero bits; SIP starts with a letter.
  if (static_cast<unsigned char>(data[0]) < 0x04) {
    TransportCounters::Inc(counters_.unanswerable_dropped);
    return;
  }
  absl::StatusOr<SipMessage> parsed = SipMessage::Parse(std::string(data), options_->limits);
  if (!parsed.ok()) {
    TransportCounters::Inc(counters_.parse_errors);
    int code = SipCodeOf(parsed.status()).value_or(400);
    std::optional<std::string> answer =
        BuildRejectResponse(data, code, FromAbsl(parsed.status().message()));
    if (!answer) {
      TransportCounters::Inc(counters_.unanswerable_dropped);
      return;
    }
    // Sent to the packet's source, as rport would (RFC 3581): the Via may be what is broken.
    boost::system::error_code ec;
    listener.SendTo(*answer, source, ec);
    if (!ec) {
      TransportCounters::Inc(counters_.error_responses_sent);
      TransportCounters::Inc(counters_.udp_datagrams_sent);
      TransportCounters::Inc(counters_.bytes_sent, answer->size());
    }
    return;
  }
  TransportCounters::Inc(counters_.messages_received);
  ReceiveInfo info;
  info.kind = TransportKind::kUdp;
  info.source = source;
  info.local = listener.local();
  info.received_at = received_at;
  user_->OnMessage(*std::move(parsed), info);
}

}  // namespace causeway::sip
