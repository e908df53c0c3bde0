#include "xmpp/io/s2s_service.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/io/prefixed_socket.h"

namespace causeway::xmpp::io {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr std::string_view kLog = "xmpp.s2s";
constexpr size_t kReadChunk = 16 * 1024;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// Streams and timers share one process-wide steady clock: a connection may outlive its service
// for the few handlers still queued on the loop.
const SteadyClock& TheClock() {
  static const SteadyClock clock;
  return clock;
}

asio::ip::address ToAsio(const NetAddress& a) {
  if (a.is_v6()) return asio::ip::address_v6(a.bytes());
  return asio::ip::address_v4(a.v4_host_order());
}

NetAddress FromAsio(const tcp::endpoint& ep) {
  asio::ip::address ip = ep.address();
  if (ip.is_v6()) {
    asio::ip::address_v6 v6 = ip.to_v6();
    if (v6.is_v4_mapped()) {
      return NetAddress::V4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint(),
                            ep.port());
    }
    return NetAddress::V6(v6.to_bytes(), ep.port());
  }
  return NetAddress::V4(ip.to_v4().to_uint(), ep.port());
}

std::string PairKey(std::string_view local, std::string_view remote) {
  return absl::StrCat(ToAbsl(local), " ", ToAbsl(remote));
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

}  // namespace

// ---- one TCP connection carrying one S2sStream ----------------------------------------------

class S2sService::Connection : public std::enable_shared_from_this<Connection>,
                               private s2s::S2sStreamHandler {
 public:
  enum class State { kConnecting, kOpen, kFlushing, kClosed };

  Connection(S2sService* service, tcp::socket socket, bool inbound, NetAddress remote)
      : service_(service),
        io_(service->io_),
        socket_(std::move(socket)),
        timer_(service->io_),
        inbound_(inbound),
        remote_(remote),
        idle_timeout_(service->config_->idle_timeout),
        close_linger_(service->config_->close_linger),
        write_stall_(service->config_->write_stall_timeout),
        low_water_(service->config_->max_write_backlog / 2),
        tls_(service->config_->tls) {
    last_activity_ = TheClock().Now();
  }

  bool inbound() const { return inbound_; }
  const NetAddress& remote() const { return remote_; }
  const std::string& outbound_key() const { return outbound_key_; }
  void set_outbound_key(std::string key) { outbound_key_ = std::move(key); }
  bool authenticated_once() const { return authenticated_once_; }
  // The stream, while it is open (not yet reported Closed).
  s2s::S2sStream* open_stream() {
    return stream_ && stream_->state() != s2s::S2sStream::State::kClosed ? stream_.get() : nullptr;
  }
  size_t& stanzas_before_auth() { return stanzas_before_auth_; }
  size_t write_backlog() const { return out_.size() + inflight_.size(); }

  void Touch() { last_activity_ = TheClock().Now(); }

  void StartInbound(const s2s::S2sConfig& config) {
    SetSocketOptions();
    state_ = State::kOpen;
    stream_ = s2s::S2sStream::Receiving(config, *this, TheClock());
    stream_->Start();
    Read();
    Rearm();
  }

  void Connect(Duration timeout) {
    boost::system::error_code ec;
    socket_.open(remote_.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (ec) {
      auto self = shared_from_this();
      asio::post(io_, [self, ec] { self->ConnectFailed(absl::UnavailableError(ec.message())); });
      return;
    }
    connect_deadline_ = TheClock().Now() + timeout;
    socket_.async_connect(tcp::endpoint(ToAsio(remote_), remote_.port()),
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            if (self->state_ != State::kConnecting) return;
                            if (ec) {
                              self->ConnectFailed(absl::UnavailableError(ec.message()));
                              return;
                            }
                            self->SetSocketOptions();
                            self->state_ = State::kOpen;
                            self->Touch();
                            if (self->service_ != nullptr) self->service_->OnConnected(*self);
                          });
    Rearm();
  }

  absl::Status StartInitiating(const s2s::S2sConfig& config, const s2s::DomainPair& pair) {
    absl::StatusOr<std::unique_ptr<s2s::S2sStream>> stream =
        s2s::S2sStream::Initiating(config, pair.local, pair.remote, *this, TheClock());
    if (!stream.ok()) return stream.status();
    pair_ = pair;
    stream_ = *std::move(stream);
    stream_->Start();
    Read();
    Rearm();
    return absl::OkStatus();
  }

  // Closes the socket now without any further report (service going away).
  void Abort() {
    service_ = nullptr;
    state_ = State::kClosed;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  // Recomputes the one timer: connect deadline, the machine's step deadline, idle, linger.
  void Rearm() {
    std::optional<TimePoint> at;
    auto earliest = [&at](TimePoint t) {
      if (!at || t < *at) at = t;
    };
    switch (state_) {
      case State::kConnecting:
        earliest(connect_deadline_);
        break;
      case State::kOpen:
        if (stream_) {
          if (std::optional<TimePoint> d = stream_->next_deadline()) earliest(*d);
          // A closing stream has its own close deadline; idle would fire again and again.
          if (idle_timeout_ > Duration::zero() &&
              stream_->state() != s2s::S2sStream::State::kClosing) {
            earliest(last_activity_ + idle_timeout_);
          }
        }
        if (writing_ && write_stall_ > Duration::zero()) earliest(write_started_ + write_stall_);
        break;
      case State::kFlushing:
        earliest(linger_deadline_);
        break;
      case State::kClosed:
        break;
    }
    // Lazy: a timer armed earlier than needed just wakes up and re-arms, so activity (which
    // only pushes the idle deadline later) costs no timer operation per stanza.
    if (!at || (armed_ && *armed_ <= *at)) return;
    armed_ = at;
    uint64_t generation = ++timer_generation_;
    timer_.expires_at(*at);
    timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
      if (ec || generation != self->timer_generation_) return;
      self->armed_.reset();
      self->OnTimer();
    });
  }

 private:
  void SetSocketOptions() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);  // stanzas are small and latency-bound
    socket_.set_option(asio::socket_base::keep_alive(true), ignored);
  }

  void ConnectFailed(const absl::Status& error) {
    state_ = State::kClosed;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (service_ != nullptr) service_->OnConnectFailed(*this, error);
  }

  void OnTimer() {
    const TimePoint now = TheClock().Now();
    switch (state_) {
      case State::kConnecting:
        if (now >= connect_deadline_) {
          ConnectFailed(absl::DeadlineExceededError("connect timeout"));
          return;
        }
        break;
      case State::kOpen:
        if (writing_ && write_stall_ > Duration::zero() && now >= write_started_ + write_stall_ &&
            open_stream() != nullptr) {
          lost_ = true;  // the peer stopped reading: what is in flight cannot be recalled
          stream_->OnTlsFailed("write stalled");
          return;
        }
        if (stream_) {
          if (std::optional<TimePoint> d = stream_->next_deadline(); d && now >= *d) {
            stream_->Tick();
          }
          if (open_stream() != nullptr && idle_timeout_ > Duration::zero() &&
              now >= last_activity_ + idle_timeout_ &&
              stream_->state() != s2s::S2sStream::State::kClosing) {
            if (service_ != nullptr) ++service_->stats_.idle_closed;
            Touch();  // the close itself gets close_timeout, not another idle period
            stream_->Close("idle");
          }
        }
        break;
      case State::kFlushing:
        if (now >= linger_deadline_) {
          FinishClose();
          return;
        }
        break;
      case State::kClosed:
        return;
    }
    Rearm();
  }

  void Read() {
    if (reading_ || state_ != State::kOpen || open_stream() == nullptr) return;
    if (tls_requested_ && !tls_on_) return;  // the handshake reads next
    reading_ = true;
    buffer_.resize(kReadChunk);
    auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
      self->OnRead(ec, n);
    };
    if (tls_on_) {
      tls_stream_->async_read_some(asio::buffer(buffer_), handler);
    } else {
      socket_.async_read_some(asio::buffer(buffer_), handler);
    }
  }

  void OnRead(const boost::system::error_code& ec, size_t n) {
    reading_ = false;
    if (state_ != State::kOpen || open_stream() == nullptr) return;
    if (ec) {
      // No </stream:stream>: the transport is gone, so nothing more can be written.
      lost_ = true;
      stream_->OnTlsFailed(absl::StrCat("connection lost: ", ec.message()));
      return;
    }
    Touch();
    std::string_view data(buffer_.data(), n);
    size_t used = stream_->Feed(data);
    if (open_stream() == nullptr) return;
    if (tls_requested_ && !tls_on_) {
      if (used < data.size()) tls_prefix_.assign(data.substr(used));  // the TLS ClientHello
      MaybeStartHandshake();
      return;
    }
    Read();
    Rearm();
  }

  void MaybeStartHandshake() {
    if (!tls_requested_ || handshake_started_ || writing_ || !out_.empty()) return;
    if (open_stream() == nullptr) return;
    handshake_started_ = true;
    runtime::TlsContextPtr ctx;
    if (tls_)
      ctx = tls_role_ == s2s::TlsRole::kServer ? tls_->server_context()
                                               : tls_->client_context(pair_.local);
    if (!ctx) {
      stream_->OnTlsFailed("no TLS context for this domain");
      return;
    }
    tls_stream_.emplace(socket_, *ctx);
    tls_stream_->next_layer().set_prefix(std::move(tls_prefix_));
    boost::system::error_code ignored;
    // Peer certificates are optional (dialback covers the rest): accept any chain here and let
    // PeerTlsInfo report whether it verified.
    tls_stream_->set_verify_mode(asio::ssl::verify_peer, ignored);
    tls_stream_->set_verify_callback([](bool, asio::ssl::verify_context&) { return true; },
                                     ignored);
    asio::ssl::stream_base::handshake_type type = asio::ssl::stream_base::server;
    if (tls_role_ == s2s::TlsRole::kClient) {
      type = asio::ssl::stream_base::client;
      // RFC 6120 §13.7.2.1: SNI names the domain we want the certificate for, in A-labels.
      absl::StatusOr<std::string> a_labels = DomainpartToAscii(pair_.remote);
      std::string sni = a_labels.ok() ? *std::move(a_labels) : pair_.remote;
      SSL_set_tlsext_host_name(tls_stream_->native_handle(), sni.data());
    }
    tls_stream_->async_handshake(
        type, [self = shared_from_this()](const boost::system::error_code& ec) {
          if (self->state_ != State::kOpen || self->open_stream() == nullptr) return;
          if (ec) {
            self->lost_ = true;
            self->stream_->OnTlsFailed(ec.message());
            return;
          }
          self->tls_on_ = true;
          self->Touch();
          self->stream_->OnTlsEstablished(PeerTlsInfo(self->tls_stream_->native_handle()));
          self->Flush();
          self->Read();
          self->Rearm();
        });
    Rearm();
  }

  void Flush() {
    if (writing_ || out_.empty() || state_ == State::kClosed || state_ == State::kConnecting) {
      return;
    }
    if (handshake_started_ && !tls_on_) return;  // nothing is written during the handshake
    if (lost_) {
      out_.clear();
      return;
    }
    inflight_.swap(out_);
    out_.clear();
    writing_ = true;
    write_started_ = TheClock().Now();
    auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
      self->OnWritten(ec);
    };
    if (tls_on_) {
      asio::async_write(*tls_stream_, asio::buffer(inflight_), handler);
    } else {
      asio::async_write(socket_, asio::buffer(inflight_), handler);
    }
  }

  void OnWritten(const boost::system::error_code& ec) {
    writing_ = false;
    inflight_.clear();
    if (state_ == State::kClosed) return;
    if (ec) {
      lost_ = true;
      out_.clear();
      if (open_stream() != nullptr) {
        stream_->OnTlsFailed(absl::StrCat("write failed: ", ec.message()));
      } else {
        FinishClose();
      }
      return;
    }
    if (state_ == State::kFlushing && out_.empty()) {
      FinishClose();
      return;
    }
    Flush();
    MaybeStartHandshake();
    if (!inbound_ && service_ != nullptr && write_backlog() < low_water_) {
      service_->OnWritable(*this);
    }
    Rearm();
  }

  void FinishClose() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    ++timer_generation_;
    armed_.reset();
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    // Reported from the loop: the service drops its reference, which must not happen inside
    // a callback of this object.
    asio::post(io_, [self = shared_from_this()] {
      if (self->service_ != nullptr) self->service_->OnConnectionGone(*self);
    });
  }

  // ---- S2sStreamHandler ----
  void WriteBytes(std::string_view bytes) override {
    if (state_ == State::kClosed || lost_) return;
    out_.append(bytes);
    Flush();
  }
  void StartTls(s2s::TlsRole role) override {
    tls_requested_ = true;
    tls_role_ = role;
    // Started from OnRead once Feed returns (and the <proceed/> we just wrote is flushed).
  }
  void Authenticated(const s2s::DomainPair& pair, s2s::AuthMethod method) override {
    authenticated_once_ = true;
    if (service_ != nullptr) service_->OnAuthenticated(*this, pair, method);
  }
  void StanzaReceived(Element stanza, const s2s::DomainPair& pair) override {
    if (service_ != nullptr) service_->OnStanza(std::move(stanza), pair);
  }
  void StanzaRejected(Element error_reply) override {
    // The reply travels on our outbound stream to the sender's domain (streams are one-way).
    if (service_ != nullptr) (void)service_->Send(std::move(error_reply));
  }
  void DialbackVerifyNeeded(const s2s::DialbackVerifyRequest& request) override {
    if (service_ != nullptr) service_->OnVerifyNeeded(*this, request);
  }
  void DialbackVerifyAnswered(const s2s::DialbackVerifyResult& result) override {
    if (service_ != nullptr) service_->OnVerifyAnswered(result);
  }
  void PairRefused(const s2s::DomainPair&, std::string_view, std::vector<Element> unsent) override {
    // Only AddLocalDomain pairs are refused this way; kept for completeness.
    for (Element& stanza : unsent) {
      if (service_ != nullptr) {
        service_->Bounce(std::move(stanza), StanzaErrorCondition::kRemoteServerTimeout);
      }
    }
  }
  void Closed(const s2s::CloseInfo& info, std::vector<Element> unsent,
              std::vector<s2s::DialbackVerifyRequest> unsent_verifies) override {
    auto self = shared_from_this();
    if (state_ != State::kClosed) {
      state_ = State::kFlushing;
      linger_deadline_ = TheClock().Now() + close_linger_;
    }
    if (service_ != nullptr) {
      service_->OnStreamClosed(*this, info, std::move(unsent), std::move(unsent_verifies));
    }
    if (state_ == State::kFlushing && ((!writing_ && out_.empty()) || lost_)) {
      FinishClose();
      return;
    }
    Flush();
    Rearm();
  }

  S2sService* service_;
  asio::io_context& io_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<PrefixedSocket>> tls_stream_;
  asio::steady_timer timer_;
  const bool inbound_;
  const NetAddress remote_;
  const Duration idle_timeout_;
  const Duration close_linger_;
  const Duration write_stall_;
  const size_t low_water_;
  const std::shared_ptr<const S2sTls> tls_;
  std::string outbound_key_;
  s2s::DomainPair pair_;  // outbound
  std::unique_ptr<s2s::S2sStream> stream_;
  State state_ = State::kConnecting;

  TimePoint connect_deadline_{};
  TimePoint linger_deadline_{};
  TimePoint last_activity_{};
  TimePoint write_started_{};
  std::optional<TimePoint> armed_;
  uint64_t timer_generation_ = 0;

  std::vector<char> buffer_;
  bool reading_ = false;
  std::string out_;       // written by the machine, not yet handed to the socket
  std::string inflight_;  // the async_write in progress
  bool writing_ = false;
  bool lost_ = false;  // the transport failed: writes are dropped

  bool tls_requested_ = false;
  bool handshake_started_ = false;
  bool tls_on_ = false;
  s2s::TlsRole tls_role_ = s2s::TlsRole::kServer;
  std::string tls_prefix_;

  bool authenticated_once_ = false;
  size_t stanzas_before_auth_ = 0;  // handed to the machine while it negotiated
};

// ---- listener ----------------------------------------------------------------------------------

class S2sService::Acceptor : public std::enable_shared_from_this<Acceptor> {
 public:
  Acceptor(asio::io_context& io, S2sService* owner) : acceptor_(io), retry_(io), owner_(owner) {}

  absl::Status Open(const NetAddress& bind) {
    boost::system::error_code ec;
    auto fail = [&](std::string_view step) {
      return absl::UnavailableError(absl::StrCat("xmpp s2s listen ", bind.ToString(), ": ",
                                                 ToAbsl(step), ": ", ec.message()));
    };
    acceptor_.open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (ec) return fail("open");
    if (bind.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor_.set_option(ReusePort(true), ec);  // one acceptor per worker on the same port
    if (ec) return fail("options");
    acceptor_.bind(tcp::endpoint(ToAsio(bind), bind.port()), ec);
    if (ec) return fail("bind");
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen");
    tcp::endpoint local = acceptor_.local_endpoint(ec);
    if (ec) return fail("local address");
    local_ = FromAsio(local);
    return absl::OkStatus();
  }

  void Accept() {
    if (owner_ == nullptr || !acceptor_.is_open()) return;
    acceptor_.async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (self->owner_ == nullptr || ec == asio::error::operation_aborted) return;
          if (ec) {  // out of descriptors or similar: back off instead of spinning
            log::Warn(kLog, "accept failed",
                      {{"listener", self->local_.ToString()}, {"error", ec.message()}});
            self->retry_.expires_after(kAcceptRetryDelay);
            self->retry_.async_wait([self](const boost::system::error_code& wait_ec) {
              if (!wait_ec) self->Accept();
            });
            return;
          }
          self->owner_->OnAccepted(std::move(socket));
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

 private:
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  S2sService* owner_;
  NetAddress local_;
};

// ---- outbound state per (local, remote) pair ---------------------------------------------------

struct S2sService::Outbound {
  enum class Phase { kIdle, kBackoff, kResolving, kConnecting, kStream };
  struct Queued {
    Element stanza;
    TimePoint since;
  };

  explicit Outbound(asio::io_context& io) : retry_timer(io) {}

  s2s::DomainPair pair;
  std::string key;
  Phase phase = Phase::kIdle;
  std::deque<Queued> queue;  // while no stream is negotiating
  std::vector<s2s::DialbackVerifyRequest> verifies;
  std::vector<dns::SrvTarget> targets;
  size_t next_target = 0;
  std::string last_error;
  std::shared_ptr<Connection> conn;
  Duration backoff = Duration::zero();  // zero: the next failure starts at reconnect_initial
  TimePoint retry_at{};
  uint64_t attempt = 0;  // stale resolver answers are ignored
  asio::steady_timer retry_timer;

  bool has_traffic() const { return !queue.empty() || !verifies.empty(); }
};

// ---- service ----------------------------------------------------------------------------------

S2sService::S2sService(asio::io_context& io, std::shared_ptr<const S2sServiceConfig> config,
                       S2sCallbacks callbacks)
    : io_(io), config_(std::move(config)), callbacks_(std::move(callbacks)) {
  stream_config_ = config_->stream;
  stream_config_.local_domains.clear();
  for (const std::string& d : config_->local_domains) {
    stream_config_.local_domains.push_back(Lower(d));
  }
  stream_config_.dialback_secret = config_->dialback_secret;
  stream_config_.tls_available = config_->tls != nullptr && !config_->tls->empty();
  stream_config_.max_queued_stanzas = config_->max_queued_per_domain;
}

absl::StatusOr<std::unique_ptr<S2sService>> S2sService::Create(
    asio::io_context& io, std::shared_ptr<const S2sServiceConfig> config, S2sCallbacks callbacks) {
  if (config == nullptr) return absl::InvalidArgumentError("S2sService: no config");
  if (config->local_domains.empty()) {
    return absl::InvalidArgumentError("S2sService: no local domain");
  }
  if (!callbacks.on_stanza || !callbacks.on_undeliverable) {
    return absl::InvalidArgumentError("S2sService: on_stanza and on_undeliverable are required");
  }
  if ((config->tls == nullptr || config->tls->empty()) && config->stream.require_tls) {
    return absl::InvalidArgumentError("S2sService: TLS is required but no certificate is given");
  }
  if (config->tls != nullptr) {
    for (const std::string& d : config->local_domains) {
      if (config->tls->client_context(d) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("S2sService: no certificate for ", d));
      }
    }
  }
  std::unique_ptr<S2sService> service(new S2sService(io, std::move(config), std::move(callbacks)));
  absl::StatusOr<std::unique_ptr<dns::SrvResolver>> resolver =
      dns::SrvResolver::Create(io, service->config_->dns);
  if (!resolver.ok()) return resolver.status();
  service->resolver_ = *std::move(resolver);
  if (absl::Status s = service->Listen(); !s.ok()) return s;
  return service;
}

absl::Status S2sService::Listen() {
  for (const NetAddress& address : config_->listen) {
    auto acceptor = std::make_shared<Acceptor>(io_, this);
    if (absl::Status s = acceptor->Open(address); !s.ok()) return s;
    bound_.push_back(acceptor->local());
    acceptor->Accept();
    acceptors_.push_back(std::move(acceptor));
  }
  return absl::OkStatus();
}

S2sService::~S2sService() {
  *alive_ = false;
  for (auto& acceptor : acceptors_) acceptor->Close();
  for (auto& [ptr, conn] : connections_) conn->Abort();
  for (auto& [key, out] : outbound_) out->retry_timer.cancel();
}

size_t S2sService::inbound_connections() const { return inbound_.size(); }

size_t S2sService::outbound_connections() const {
  size_t n = 0;
  for (const auto& [key, out] : outbound_) n += out->conn != nullptr ? 1 : 0;
  return n;
}

size_t S2sService::queued_for(std::string_view remote_domain) const {
  size_t n = 0;
  for (const auto& [key, out] : outbound_) {
    if (out->pair.remote == remote_domain) n += out->queue.size();
  }
  return n;
}

// ---- sending ----

absl::Status S2sService::Send(Element stanza) {
  absl::StatusOr<Jid> from = StanzaFromJid(stanza);
  absl::StatusOr<Jid> to = StanzaToJid(stanza);
  if (!from.ok() || !to.ok()) {
    return absl::InvalidArgumentError("s2s Send: the stanza needs valid from and to addresses");
  }
  const std::vector<std::string>& ours = stream_config_.local_domains;
  if (std::find(ours.begin(), ours.end(), from->domain()) == ours.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("s2s Send: from ", from->domain(), " is not one of our domains"));
  }
  if (std::find(ours.begin(), ours.end(), to->domain()) != ours.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("s2s Send: to ", to->domain(), " is one of our domains"));
  }
  if (shutting_down_) {
    Bounce(std::move(stanza), StanzaErrorCondition::kServiceUnavailable);
    return absl::FailedPreconditionError("s2s Send: shutting down");
  }
  Outbound& out = GetOutbound({from->domain(), to->domain()});
  // Straight to the stream unless older stanzas wait in the queue (order) or the socket lags.
  if (out.conn != nullptr && out.queue.empty()) {
    if (s2s::S2sStream* stream = out.conn->open_stream();
        stream != nullptr && stream->state() != s2s::S2sStream::State::kClosing) {
      const bool authenticated = stream->state() == s2s::S2sStream::State::kAuthenticated;
      if (!authenticated || out.conn->write_backlog() < config_->max_write_backlog) {
        absl::Status status = stream->Send(std::move(stanza));
        if (status.ok()) {
          out.conn->Touch();
          out.conn->Rearm();
          if (authenticated) {
            ++stats_.stanzas_out;
          } else {
            ++out.conn->stanzas_before_auth();
          }
          return status;
        }
        if (absl::IsResourceExhausted(status)) {
          Bounce(std::move(stanza), StanzaErrorCondition::kResourceConstraint);
          return status;
        }
        // FailedPrecondition: the stream is ending; queue for the next one.
      }
    }
  }
  if (out.queue.size() >= config_->max_queued_per_domain) {
    Bounce(std::move(stanza), StanzaErrorCondition::kResourceConstraint);
    return absl::ResourceExhaustedError(
        absl::StrCat("s2s Send: queue for ", to->domain(), " is full"));
  }
  out.queue.push_back({std::move(stanza), TheClock().Now()});
  StartAttempt(out);
  return absl::OkStatus();
}

void S2sService::Bounce(Element stanza, StanzaErrorCondition condition) {
  if (shutdown_sink_ != nullptr) {
    shutdown_sink_->push_back(std::move(stanza));
    return;
  }
  ++stats_.bounced;
  callbacks_.on_undeliverable(std::move(stanza), condition);
}

S2sService::Outbound& S2sService::GetOutbound(const s2s::DomainPair& pair) {
  std::string key = PairKey(pair.local, pair.remote);
  auto it = outbound_.find(key);
  if (it != outbound_.end()) return *it->second;
  auto out = std::make_unique<Outbound>(io_);
  out->pair = pair;
  out->key = key;
  Outbound& ref = *out;
  outbound_.emplace(std::move(key), std::move(out));
  return ref;
}

void S2sService::StartAttempt(Outbound& out) {
  if (out.phase != Outbound::Phase::kIdle || shutting_down_ || !out.has_traffic()) return;
  const TimePoint now = TheClock().Now();
  if (now < out.retry_at) {  // backing off after a failure
    out.phase = Outbound::Phase::kBackoff;
    out.retry_timer.expires_at(out.retry_at);
    out.retry_timer.async_wait([this, alive = std::weak_ptr<bool>(alive_),
                                key = out.key](const boost::system::error_code& ec) {
      if (ec || alive.expired()) return;
      auto it = outbound_.find(key);
      if (it == outbound_.end() || it->second->phase != Outbound::Phase::kBackoff) return;
      it->second->phase = Outbound::Phase::kIdle;
      StartAttempt(*it->second);
    });
    return;
  }
  out.phase = Outbound::Phase::kResolving;
  out.targets.clear();
  out.next_target = 0;
  out.last_error.clear();
  const uint64_t attempt = ++out.attempt;
  if (auto route = config_->static_routes.find(out.pair.remote);
      route != config_->static_routes.end()) {
    for (const NetAddress& address : route->second) {
      out.targets.push_back({out.pair.remote, address.port(), address, ""});
    }
    ConnectNext(out);
    return;
  }
  dns::SrvRequest request;
  request.services = config_->srv_services;
  // DNS names are A-labels; JIDs (and so the pair) hold U-labels (RFC 7622 §3.2).
  absl::StatusOr<std::string> dns_name = DomainpartToAscii(out.pair.remote);
  request.domain = dns_name.ok() ? *std::move(dns_name) : out.pair.remote;
  request.fallback_port = config_->fallback_port;
  resolver_->Resolve(request, [this, alive = std::weak_ptr<bool>(alive_), key = out.key,
                               attempt](dns::SrvResolver::Result result) {
    if (alive.expired()) return;
    auto it = outbound_.find(key);
    if (it == outbound_.end()) return;
    Outbound& o = *it->second;
    if (o.attempt != attempt || o.phase != Outbound::Phase::kResolving) return;
    if (!result.ok()) {
      ++stats_.dns_failures;
      AttemptFailed(o, StanzaErrorCondition::kRemoteServerNotFound,
                    FromAbsl(result.status().message()));
      return;
    }
    o.targets = *std::move(result);
    ConnectNext(o);
  });
}

void S2sService::ConnectNext(Outbound& out) {
  if (out.next_target >= out.targets.size()) {
    AttemptFailed(out, StanzaErrorCondition::kRemoteServerTimeout,
                  out.targets.empty() ? "no address to connect to" : out.last_error);
    return;
  }
  const dns::SrvTarget& target = out.targets[out.next_target++];
  out.phase = Outbound::Phase::kConnecting;
  out.conn =
      std::make_shared<Connection>(this, tcp::socket(io_), /*inbound=*/false, target.address);
  out.conn->set_outbound_key(out.key);
  connections_.emplace(out.conn.get(), out.conn);
  out.conn->Connect(config_->connect_timeout);
}

void S2sService::OnConnectFailed(Connection& conn, const absl::Status& error) {
  ++stats_.connect_failures;
  Forget(conn);
  auto it = outbound_.find(conn.outbound_key());
  if (it == outbound_.end() || it->second->conn.get() != &conn) return;
  Outbound& out = *it->second;
  out.last_error = absl::StrCat("connect to ", conn.remote().ToString(), ": ", error.message());
  log::Debug(kLog, "connect failed", {{"pair", out.key}, {"error", out.last_error}});
  out.conn.reset();
  ConnectNext(out);
}

void S2sService::OnConnected(Connection& conn) {
  auto it = outbound_.find(conn.outbound_key());
  if (it == outbound_.end() || it->second->conn.get() != &conn) {
    conn.Abort();
    Forget(conn);
    return;
  }
  Outbound& out = *it->second;
  ++stats_.streams_out;
  out.phase = Outbound::Phase::kStream;
  if (absl::Status s = conn.StartInitiating(stream_config_, out.pair); !s.ok()) {
    conn.Abort();
    Forget(conn);
    out.conn.reset();
    AttemptFailed(out, StanzaErrorCondition::kRemoteServerTimeout, FromAbsl(s.message()));
    return;
  }
  DrainQueue(out);
  s2s::S2sStream* stream = conn.open_stream();
  for (const s2s::DialbackVerifyRequest& request : std::exchange(out.verifies, {})) {
    if (stream == nullptr || !stream->SendDialbackVerify(request).ok()) {
      AnswerVerifyFailed(request);
    }
  }
  conn.Rearm();
}

void S2sService::DrainQueue(Outbound& out) {
  if (out.conn == nullptr) return;
  Connection& conn = *out.conn;
  size_t moved = 0;
  while (!out.queue.empty()) {
    s2s::S2sStream* stream = conn.open_stream();
    if (stream == nullptr || stream->state() == s2s::S2sStream::State::kClosing) break;
    const bool authenticated = stream->state() == s2s::S2sStream::State::kAuthenticated;
    if (authenticated && conn.write_backlog() >= config_->max_write_backlog) break;
    if (!stream->Send(std::move(out.queue.front().stanza)).ok()) break;  // machine queue full
    out.queue.pop_front();
    ++moved;
    if (authenticated) {
      ++stats_.stanzas_out;
    } else {
      ++conn.stanzas_before_auth();
    }
  }
  if (moved > 0) {
    conn.Touch();
    conn.Rearm();
  }
}

void S2sService::OnWritable(Connection& conn) {
  auto it = outbound_.find(conn.outbound_key());
  if (it != outbound_.end() && it->second->conn.get() == &conn && !it->second->queue.empty()) {
    DrainQueue(*it->second);
  }
}

void S2sService::AttemptFailed(Outbound& out, StanzaErrorCondition condition,
                               std::string_view reason) {
  log::Info(kLog, "no stream", {{"pair", out.key}, {"reason", reason}});
  out.phase = Outbound::Phase::kIdle;
  out.conn.reset();
  const TimePoint now = TheClock().Now();
  // Unresolvable domains do not come back within a backoff: bounce everything at once.
  const bool keep_young = condition != StanzaErrorCondition::kRemoteServerNotFound &&
                          config_->retry_queued_for > Duration::zero();
  std::deque<Outbound::Queued> kept;
  std::deque<Outbound::Queued> failed = std::exchange(out.queue, {});
  for (Outbound::Queued& q : failed) {
    if (keep_young && now - q.since < config_->retry_queued_for) {
      kept.push_back(std::move(q));
    } else {
      Bounce(std::move(q.stanza), condition);
    }
  }
  // Bounce may have re-entered Send for this pair (an owner bouncing synchronously): keep order.
  for (Outbound::Queued& q : out.queue) kept.push_back(std::move(q));
  out.queue = std::move(kept);
  for (const s2s::DialbackVerifyRequest& request : std::exchange(out.verifies, {})) {
    AnswerVerifyFailed(request);
  }
  out.backoff = out.backoff == Duration::zero() ? config_->reconnect_initial
                                                : std::min(out.backoff * 2, config_->reconnect_max);
  out.retry_at = now + out.backoff;
  StartAttempt(out);  // backs off when stanzas are still queued
}

// ---- inbound ----

void S2sService::OnAccepted(tcp::socket socket) {
  boost::system::error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec || shutting_down_) return;
  NetAddress remote = FromAsio(peer);
  std::string ip = remote.HostString();
  size_t& per_ip = inbound_per_ip_[ip];
  if (inbound_.size() >= config_->max_inbound_connections ||
      per_ip >= config_->max_inbound_per_ip) {
    ++stats_.inbound_refused;
    if (per_ip == 0) inbound_per_ip_.erase(ip);
    socket.close(ec);
    return;
  }
  ++per_ip;
  ++stats_.streams_in;
  auto conn = std::make_shared<Connection>(this, std::move(socket), /*inbound=*/true, remote);
  inbound_.emplace(conn.get(), conn);
  connections_.emplace(conn.get(), conn);
  conn->StartInbound(stream_config_);
}

void S2sService::OnAuthenticated(Connection& conn, const s2s::DomainPair& pair,
                                 s2s::AuthMethod method) {
  log::Info(kLog, conn.inbound() ? "inbound pair authenticated" : "outbound pair authenticated",
            {{"local", pair.local},
             {"remote", pair.remote},
             {"method", s2s::AuthMethodName(method)},
             {"peer", conn.remote().ToString()}});
  ++(method == s2s::AuthMethod::kSaslExternal ? stats_.pairs_sasl_external : stats_.pairs_dialback);
  if (conn.inbound()) {
    ++stats_.streams_authenticated_in;
    return;
  }
  ++stats_.streams_authenticated_out;
  stats_.stanzas_out += std::exchange(conn.stanzas_before_auth(), 0);
  auto it = outbound_.find(conn.outbound_key());
  if (it != outbound_.end() && it->second->conn.get() == &conn) {
    it->second->backoff = Duration::zero();
    it->second->retry_at = TimePoint{};
    DrainQueue(*it->second);  // what the machine could not hold while negotiating
  }
}

void S2sService::OnStanza(Element stanza, const s2s::DomainPair& pair) {
  ++stats_.stanzas_in;
  callbacks_.on_stanza(std::move(stanza), pair);
}

// ---- dialback plumbing ----

void S2sService::OnVerifyNeeded(Connection& conn, const s2s::DialbackVerifyRequest& request) {
  awaiting_verify_[request.stream_id] = conn.weak_from_this();
  ++stats_.dialback_verifies_sent;
  Outbound& out = GetOutbound({request.receiving_domain, request.originating_domain});
  if (out.conn != nullptr) {
    if (s2s::S2sStream* stream = out.conn->open_stream();
        stream != nullptr && stream->state() != s2s::S2sStream::State::kClosing) {
      if (!stream->SendDialbackVerify(request).ok()) AnswerVerifyFailed(request);
      out.conn->Rearm();  // the verification has its own deadline
      return;
    }
  }
  if (shutting_down_) {
    AnswerVerifyFailed(request);
    return;
  }
  out.verifies.push_back(request);
  StartAttempt(out);
}

void S2sService::OnVerifyAnswered(const s2s::DialbackVerifyResult& result) {
  auto it = awaiting_verify_.find(result.stream_id);
  if (it == awaiting_verify_.end()) return;
  std::shared_ptr<Connection> conn = it->second.lock();
  if (conn == nullptr) {
    awaiting_verify_.erase(it);
    return;
  }
  if (s2s::S2sStream* stream = conn->open_stream()) {
    (void)stream->ApplyDialbackVerifyResult(result);  // NotFound: already expired
    conn->Rearm();
  }
}

// The authoritative server could not be asked: the key counts as not verified.
void S2sService::AnswerVerifyFailed(const s2s::DialbackVerifyRequest& request) {
  OnVerifyAnswered({request.receiving_domain, request.originating_domain, request.stream_id,
                    /*valid=*/false});
}

// ---- closing ----

void S2sService::OnStreamClosed(Connection& conn, const s2s::CloseInfo& info,
                                std::vector<Element> unsent,
                                std::vector<s2s::DialbackVerifyRequest> unsent_verifies) {
  log::Info(kLog, conn.inbound() ? "inbound stream closed" : "outbound stream closed",
            {{"peer", conn.remote().ToString()},
             {"origin", info.origin == s2s::CloseOrigin::kLocal ? "local" : "remote"},
             {"error", info.condition ? StreamErrorName(*info.condition) : ""},
             {"reason", info.reason}});
  // Outbound: the attempt failed. Inbound: only a stream error counts (not a port scan).
  if (!conn.authenticated_once() && !shutting_down_ && (!conn.inbound() || info.condition)) {
    ++stats_.auth_failures;
  }
  if (conn.inbound()) {
    for (auto it = awaiting_verify_.begin(); it != awaiting_verify_.end();) {
      auto next = std::next(it);
      std::shared_ptr<Connection> waiting = it->second.lock();
      if (waiting == nullptr || waiting.get() == &conn) awaiting_verify_.erase(it);
      it = next;
    }
    return;
  }
  auto it = outbound_.find(conn.outbound_key());
  if (it == outbound_.end() || it->second->conn.get() != &conn) {
    for (Element& stanza : unsent) {
      Bounce(std::move(stanza), StanzaErrorCondition::kRemoteServerTimeout);
    }
    for (const auto& request : unsent_verifies) AnswerVerifyFailed(request);
    return;
  }
  Outbound& out = *it->second;
  out.conn.reset();
  out.phase = Outbound::Phase::kIdle;
  // Unsent stanzas go back to the front of the queue, in order.
  const TimePoint now = TheClock().Now();
  for (auto s = unsent.rbegin(); s != unsent.rend(); ++s) {
    out.queue.push_front({std::move(*s), now});
  }
  if (shutting_down_) {
    for (Outbound::Queued& q : std::exchange(out.queue, {})) {
      Bounce(std::move(q.stanza), StanzaErrorCondition::kServiceUnavailable);
    }
    for (const auto& request : unsent_verifies) AnswerVerifyFailed(request);
    return;
  }
  out.verifies.insert(out.verifies.end(), unsent_verifies.begin(), unsent_verifies.end());
  if (conn.authenticated_once()) {
    StartAttempt(out);  // a stream that worked: reconnect at once if anything waits
  } else {
    AttemptFailed(out, StanzaErrorCondition::kRemoteServerTimeout, info.reason);
  }
}

void S2sService::Forget(Connection& conn) { connections_.erase(&conn); }

void S2sService::OnConnectionGone(Connection& conn) {
  std::shared_ptr<Connection> keep = conn.shared_from_this();
  Forget(conn);
  if (!conn.inbound()) {
    auto it = outbound_.find(conn.outbound_key());
    if (it != outbound_.end() && it->second->conn.get() == &conn) it->second->conn.reset();
    return;
  }
  auto it = inbound_.find(&conn);
  if (it == inbound_.end()) return;
  std::string ip = conn.remote().HostString();
  if (auto per_ip = inbound_per_ip_.find(ip); per_ip != inbound_per_ip_.end()) {
    if (--per_ip->second == 0) inbound_per_ip_.erase(per_ip);
  }
  inbound_.erase(it);
}

std::vector<Element> S2sService::Shutdown() {
  std::vector<Element> handed_back;
  if (shutting_down_) return handed_back;
  shutting_down_ = true;
  for (auto& acceptor : acceptors_) acceptor->Close();
  shutdown_sink_ = &handed_back;
  std::vector<std::shared_ptr<Connection>> conns;
  for (auto& [key, out] : outbound_) {
    out->retry_timer.cancel();
    out->phase = Outbound::Phase::kIdle;
    for (Outbound::Queued& q : std::exchange(out->queue, {})) {
      handed_back.push_back(std::move(q.stanza));
    }
    out->verifies.clear();
    if (out->conn) conns.push_back(out->conn);
  }
  for (auto& [ptr, conn] : inbound_) conns.push_back(conn);
  for (const std::shared_ptr<Connection>& conn : conns) {
    s2s::S2sStream* stream = conn->open_stream();
    if (stream == nullptr) {
      if (!conn->inbound()) {  // still connecting
        conn->Abort();
        Forget(*conn);
      }
      continue;
    }
    if (stream->state() == s2s::S2sStream::State::kAuthenticated) {
      stream->Close("shutting down");
    } else {
      stream->CloseWithError(StreamErrorCondition::kSystemShutdown);
    }
    conn->Rearm();
  }
  for (auto& [key, out] : outbound_) {
    if (out->conn && out->conn->open_stream() == nullptr) out->conn.reset();
  }
  shutdown_sink_ = nullptr;
  return handed_back;
}

}  // namespace causeway::xmpp::io
