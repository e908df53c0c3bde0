#include "sip/io/connection.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "core/runtime/tls_context.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/stream_framer.h"
#include "sip/io/transport_endpoint.h"
#include "sip/io/transport_reject.h"

namespace causeway::sip {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMinReadSpace = 2048;
constexpr size_t kShrinkAbove = 16384;
constexpr size_t kMaxWriteBatch = 64;  // messages gathered into one async_write
// Room for one maximal message plus the start of the next one in the same read.
constexpr size_t kBufferSlack = 4096;

std::string Describe(const StreamConnection& c) {
  return absl::StrCat(ToAbsl(TransportName(c.kind())), " ", c.remote().ToString());
}

}  // namespace

template <typename F>
void WithStream(std::optional<tcp::socket>& tcp_socket,
                std::optional<asio::ssl::stream<tcp::socket>>& tls, F&& f) {
  if (tls) f(*tls);
  else f(*tcp_socket);
}

StreamConnection::StreamConnection(ConnectionOwner* owner, tcp::socket socket, Params params)
    : owner_(owner),
      params_(std::move(params)),
      timer_(socket.get_executor()),
      framer_(params_.options->limits) {
  if (params_.kind == TransportKind::kTls) tls_stream_.emplace(std::move(socket), *params_.tls);
  else tcp_.emplace(std::move(socket));
  buffer_cap_ = params_.options->limits.max_message_bytes + kBufferSlack;
  remote_ = params_.remote;
  last_activity_ = Clock::now();
}

StreamConnection::~StreamConnection() = default;

tcp::socket& StreamConnection::lowest() { return tls_stream_ ? tls_stream_->next_layer() : *tcp_; }

void StreamConnection::SetSocketOptions() {
  boost::system::error_code ec;
  lowest().set_option(tcp::no_delay(true), ec);  // SIP messages are small and latency-bound
  lowest().set_option(asio::socket_base::keep_alive(true), ec);
}

void StreamConnection::StartInbound() {
  boost::system::error_code ec;
  tcp::endpoint remote = lowest().remote_endpoint(ec);
  if (!ec) remote_ = FromEndpoint(remote);
  tcp::endpoint local = lowest().local_endpoint(ec);
  if (!ec) local_ = FromEndpoint(local);
  SetSocketOptions();
  if (params_.kind == TransportKind::kTls) {
    StartHandshake();
  } else {
    OnOpen();
  }
}

void StreamConnection::Connect() {
  const NetAddress& remote = remote_;
  state_ = State::kConnecting;
  boost::system::error_code ec;
  lowest().open(remote.is_v6() ? tcp::v6() : tcp::v4(), ec);
  if (ec) {
    TransportCounters::Inc(owner_->io_counters().connect_failures);
    Close(absl::UnavailableError(absl::StrCat("connect to ", Describe(*this), ": ", ec.message())));
    return;
  }
  ArmTimer(params_.options->connect_timeout);
  lowest().async_connect(
      ToTcpEndpoint(remote), [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->state_ != State::kConnecting) return;  // closed or timed out meanwhile
        if (ec) {
          if (self->owner_) TransportCounters::Inc(self->owner_->io_counters().connect_failures);
          self->Close(absl::UnavailableError(
              absl::StrCat("connect to ", Describe(*self), ": ", ec.message())));
          return;
        }
        boost::system::error_code ignored;
        tcp::endpoint local = self->lowest().local_endpoint(ignored);
        if (!ignored) self->local_ = FromEndpoint(local);
        self->SetSocketOptions();
        if (self->params_.kind == TransportKind::kTls) {
          self->StartHandshake();
        } else {
          self->OnOpen();
        }
      });
}

void StreamConnection::StartHandshake() {
  state_ = State::kHandshaking;
  ArmTimer(params_.options->tls_handshake_timeout);
  asio::ssl::stream_base::handshake_type type = asio::ssl::stream_base::server;
  if (!params_.inbound) {
    type = asio::ssl::stream_base::client;
    const std::string& name = params_.tls_server_name;
    boost::system::error_code ec;
    if (name.empty()) {
      // Destination.tls_server_name empty means "no check" (sip/stack/transport.h).
      tls_stream_->set_verify_mode(asio::ssl::verify_none, ec);
    } else {
      // RFC 6066 §3: SNI carries host names only, never IP literals.
      if (!NetAddress::Parse(name)) SSL_set_tlsext_host_name(tls_stream_->native_handle(), name.c_str());
      tls_stream_->set_verify_mode(asio::ssl::verify_peer, ec);
      tls_stream_->set_verify_callback(asio::ssl::host_name_verification(name), ec);
    }
  }
  tls_stream_->async_handshake(type, [self = shared_from_this()](
                                         const boost::system::error_code& ec) {
    if (self->state_ != State::kHandshaking) return;
    if (ec) {
      if (self->owner_) {
        TransportCounters::Inc(self->owner_->io_counters().tls_handshake_failures);
        if (!self->params_.inbound) {
          TransportCounters::Inc(self->owner_->io_counters().connect_failures);
        }
      }
      self->Close(absl::UnavailableError(
          absl::StrCat("TLS handshake with ", Describe(*self), ": ", ec.message())));
      return;
    }
    SSL* ssl = self->tls_stream_->native_handle();
    X509* cert = SSL_get_peer_certificate(ssl);
    self->tls_peer_verified_ = cert != nullptr && SSL_get_verify_result(ssl) == X509_V_OK &&
                               (self->params_.inbound || !self->params_.tls_server_name.empty());
    if (cert != nullptr) X509_free(cert);
    if (self->tls_peer_verified_) {
      self->tls_peer_identity_ = self->params_.inbound ? runtime::TlsVerifiedPeerIdentity(ssl)
                                                       : self->params_.tls_server_name;
    }
    self->OnOpen();
  });
}

void StreamConnection::OnOpen() {
  state_ = State::kOpen;
  last_activity_ = Clock::now();
  if (owner_) owner_->OnConnectionOpen(*this);
  if (state_ != State::kOpen) return;  // the owner closed it
  std::chrono::milliseconds idle = params_.inbound ? params_.options->idle_timeout_inbound
                                                   : params_.options->idle_timeout_outbound;
  if (idle.count() > 0) {
    ArmTimer(idle);
  } else {
    ++timer_generation_;
    timer_.cancel();
  }
  Read();
  Flush();
}

void StreamConnection::ArmTimer(std::chrono::milliseconds after) {
  uint64_t generation = ++timer_generation_;
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
    if (ec || generation != self->timer_generation_) return;
    self->OnTimer();
  });
}

void StreamConnection::OnTimer() {
  switch (state_) {
    case State::kConnecting:
      if (owner_) TransportCounters::Inc(owner_->io_counters().connect_failures);
      Close(absl::DeadlineExceededError(absl::StrCat("connect to ", Describe(*this), ": timeout")));
      return;
    case State::kHandshaking:
      if (owner_) {
        TransportCounters::Inc(owner_->io_counters().tls_handshake_failures);
        if (!params_.inbound) TransportCounters::Inc(owner_->io_counters().connect_failures);
      }
      Close(absl::DeadlineExceededError(
          absl::StrCat("TLS handshake with ", Describe(*this), ": timeout")));
      return;
    case State::kOpen: {
      // Re-armed lazily: activity only stamps last_activity_, the timer checks it when it fires.
      std::chrono::milliseconds idle = params_.inbound ? params_.options->idle_timeout_inbound
                                                       : params_.options->idle_timeout_outbound;
      auto elapsed = Clock::now() - last_activity_;
      // A write that has not completed for a whole idle period means a peer that stopped
      // reading: that is dead too (completed writes stamp last_activity_).
      if (elapsed >= idle) {
        if (owner_) TransportCounters::Inc(owner_->io_counters().connections_idle_closed);
        Close(absl::DeadlineExceededError(absl::StrCat(Describe(*this), ": idle timeout")));
        return;
      }
      auto remaining = std::chrono::ceil<std::chrono::milliseconds>(idle - elapsed);
      ArmTimer(std::max(remaining, std::chrono::milliseconds(1)));
      return;
    }
    case State::kDraining:
      Close(absl::OkStatus());
      return;
    case State::kClosed:
      return;
  }
}

void StreamConnection::Read() {
  if (reading_ || (state_ != State::kOpen && state_ != State::kDraining)) return;
  if (state_ == State::kDraining) begin_ = end_ = 0;  // draining: input is discarded
  if (buffer_.size() - end_ < kMinReadSpace && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < kMinReadSpace && buffer_.size() < buffer_cap_) {
    buffer_.resize(std::min(buffer_cap_, std::max(buffer_.size() * 2, kInitialBuffer)));
  }
  if (end_ == buffer_.size()) {
    // FrameStream fails over-long messages before this; reaching it means a framer bug.
    Reject({buffer_.data() + begin_, end_ - begin_},
           SipError(513, "message exceeds the connection buffer"));
    return;
  }
  reading_ = true;
  auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->OnRead(ec, n);
  };
  asio::mutable_buffer space(buffer_.data() + end_, buffer_.size() - end_);
  WithStream(tcp_, tls_stream_, [&](auto& stream) { stream.async_read_some(space, handler); });
}

void StreamConnection::OnRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (state_ == State::kClosed) {
    std::vector<char>().swap(buffer_);
    return;
  }
  if (ec) {
    if (state_ == State::kDraining || ec == asio::error::eof ||
        ec == asio::ssl::error::stream_truncated) {
      Close(absl::OkStatus());
    } else {
      Close(absl::UnavailableError(absl::StrCat("read from ", Describe(*this), ": ",
                                                ec.message())));
    }
    return;
  }
  if (owner_) TransportCounters::Inc(owner_->io_counters().bytes_received, n);
  last_activity_ = Clock::now();
  end_ += n;
  if (state_ == State::kOpen && !ProcessBuffer()) return;
  Read();
}

bool StreamConnection::ProcessBuffer() {
  auto self = shared_from_this();  // the owner may drop its reference from a callback
  const ParseLimits& limits = params_.options->limits;
  // Every iteration consumes bytes or returns, so this ends within buffer-size iterations.
  while (begin_ < end_ && state_ == State::kOpen) {
    std::string_view view(buffer_.data() + begin_, end_ - begin_);
    FrameResult frame = framer_.Next(view);
    if (frame.need_more()) {
      if (view.size() >= buffer_cap_) {
        if (owner_) TransportCounters::Inc(owner_->io_counters().parse_errors);
        Reject(view, SipError(513, "message exceeds the connection buffer"));
        return false;
      }
      break;
    }
    if (frame.is_error() || frame.length == 0 || frame.length > view.size()) {
      if (owner_) TransportCounters::Inc(owner_->io_counters().parse_errors);
      Reject(view, frame.is_error() ? frame.status : SipError(400, "framing error"));
      return false;
    }
    std::string_view raw = view.substr(0, frame.length);
    if (frame.is_keepalive()) {
      begin_ += frame.length;
      if (raw.size() == 4) {  // "\r\n\r\n" ping -> "\r\n" pong (RFC 5626 §3.5.1)
        if (owner_) TransportCounters::Inc(owner_->io_counters().keepalive_pings);
        queue_.push_back({"\r\n", 0});
        queued_bytes_ += 2;
        Flush();
      }
      continue;
    }
    absl::StatusOr<SipMessage> parsed = SipMessage::Parse(std::string(raw), limits);
    if (!parsed.ok()) {
      if (owner_) TransportCounters::Inc(owner_->io_counters().parse_errors);
      Reject(raw, parsed.status());
      return false;
    }
    begin_ += frame.length;
    if (owner_) {
      TransportCounters::Inc(owner_->io_counters().messages_received);
      owner_->OnConnectionMessage(*this, *std::move(parsed));
    }
  }
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.capacity() > kShrinkAbove) {  // a big message passed: give the memory back
      std::vector<char>(kInitialBuffer).swap(buffer_);
    }
  }
  return state_ == State::kOpen;
}

void StreamConnection::Reject(std::string_view raw, const absl::Status& error) {
  int code = SipCodeOf(error).value_or(400);
  std::optional<std::string> answer = BuildRejectResponse(raw, code, FromAbsl(error.message()));
  if (owner_) {
    TransportCounters::Inc(answer ? owner_->io_counters().error_responses_sent
                                  : owner_->io_counters().unanswerable_dropped);
  }
  CloseAfter(answer ? std::move(*answer) : std::string());
}

bool StreamConnection::Enqueue(std::string bytes, uint64_t token) {
  if (!usable()) return false;
  const SipTransportOptions& o = *params_.options;
  if (queued_messages() >= o.max_queued_messages || queued_bytes_ + bytes.size() > o.max_queued_bytes) {
    return false;
  }
  queued_bytes_ += bytes.size();
  queue_.push_back({std::move(bytes), token});
  Flush();
  return true;
}

void StreamConnection::CloseAfter(std::string answer) {
  if (!usable()) return;
  if (state_ != State::kOpen) {  // nothing can be written before the connection is up
    Close(absl::OkStatus());
    return;
  }
  state_ = State::kDraining;
  ArmTimer(params_.options->close_linger);  // bounds the whole drain, slow writes included
  if (!answer.empty()) {
    queued_bytes_ += answer.size();
    queue_.push_back({std::move(answer), 0});
  }
  drain_after_flush_ = true;
  Flush();
  Read();  // keep reading (and discarding) so the peer's close is seen
}

void StreamConnection::Flush() {
  if (writing_ || (state_ != State::kOpen && state_ != State::kDraining)) return;
  if (queue_.empty()) {
    if (state_ == State::kDraining && drain_after_flush_) {
      drain_after_flush_ = false;
      // Half-close: the peer reads our answer, then EOF; closing outright could RST it away.
      boost::system::error_code ignored;
      lowest().shutdown(tcp::socket::shutdown_send, ignored);
    }
    return;
  }
  std::vector<asio::const_buffer> buffers;
  while (!queue_.empty() && inflight_.size() < kMaxWriteBatch) {
    inflight_.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  buffers.reserve(inflight_.size());
  for (const Pending& p : inflight_) buffers.emplace_back(p.bytes.data(), p.bytes.size());
  writing_ = true;
  auto handler = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->OnWritten(ec, n);
  };
  WithStream(tcp_, tls_stream_, [&](auto& stream) { asio::async_write(stream, buffers, handler); });
}

void StreamConnection::OnWritten(const boost::system::error_code& ec, size_t n) {
  writing_ = false;
  if (state_ == State::kClosed) {
    inflight_.clear();
    return;
  }
  if (ec) {
    Close(absl::UnavailableError(absl::StrCat("write to ", Describe(*this), ": ", ec.message())));
    return;
  }
  if (owner_) {
    TransportCounters::Inc(owner_->io_counters().bytes_sent, n);
    uint64_t messages = 0;
    for (const Pending& p : inflight_) messages += p.token != 0 || p.bytes.size() > 2 ? 1 : 0;
    TransportCounters::Inc(owner_->io_counters().messages_sent, messages);
  }
  for (const Pending& p : inflight_) queued_bytes_ -= p.bytes.size();
  inflight_.clear();
  last_activity_ = Clock::now();
  Flush();
}

void StreamConnection::FailAll(std::deque<Pending>& pending, const absl::Status& error) {
  for (Pending& p : pending) {
    if (p.token == 0) continue;
    uint64_t token = std::exchange(p.token, 0);
    if (owner_) {
      TransportCounters::Inc(owner_->io_counters().send_failures);
      owner_->OnConnectionSendFailed(*this, token, error);
    }
  }
}

void StreamConnection::Close(const absl::Status& error) {
  if (state_ == State::kClosed) return;
  auto self = shared_from_this();
  state_ = State::kClosed;
  ++timer_generation_;
  timer_.cancel();
  boost::system::error_code ignored;
  lowest().close(ignored);  // pending operations complete with operation_aborted
  absl::Status failure =
      error.ok() ? absl::UnavailableError(absl::StrCat(Describe(*this), ": connection closed"))
                 : error;
  // A pending write or read may still reference inflight_ / buffer_ until its handler runs with
  // operation_aborted, so those are released by the handlers, not here.
  FailAll(inflight_, failure);
  FailAll(queue_, failure);
  queue_.clear();
  queued_bytes_ = 0;
  if (!writing_) inflight_.clear();
  if (!reading_) std::vector<char>().swap(buffer_);
  begin_ = end_ = 0;
  if (owner_) {
    TransportCounters::Inc(owner_->io_counters().connections_closed);
    ConnectionOwner* owner = owner_;
    owner_ = nullptr;
    owner->OnConnectionClosed(*this, error);
  }
}

}  // namespace causeway::sip
