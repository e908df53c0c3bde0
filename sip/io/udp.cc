#include "sip/io/udp.h"

#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "sip/io/transport_endpoint.h"

namespace causeway::sip {
namespace asio = boost::asio;
using udp = asio::ip::udp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

absl::Status ListenError(std::string_view transport, const NetAddress& address,
                         const boost::system::error_code& ec) {
  std::string reason = ec.message();
  // "Address already in use" -> "address already in use": reads as one sentence after the colon.
  if (!reason.empty()) reason[0] = absl::ascii_tolower(static_cast<unsigned char>(reason[0]));
  absl::StatusCode code = ec == asio::error::address_in_use ? absl::StatusCode::kAlreadyExists
                                                            : absl::StatusCode::kInvalidArgument;
  return absl::Status(code, absl::StrCat(ToAbsl(transport), " ", address.ToString(), ": ", reason));
}

UdpListener::UdpListener(asio::io_context& io, Owner* owner, size_t batch)
    : socket_(io), owner_(owner), batch_(batch == 0 ? 1 : batch) {}

absl::StatusOr<std::shared_ptr<UdpListener>> UdpListener::Open(asio::io_context& io,
                                                               const NetAddress& bind,
                                                               Owner* owner, size_t batch) {
  auto listener = std::make_shared<UdpListener>(io, owner, batch);
  udp::socket& s = listener->socket_;
  boost::system::error_code ec;
  s.open(bind.is_v6() ? udp::v6() : udp::v4(), ec);
  if (ec) return ListenError("UDP", bind, ec);
  if (bind.is_v6()) s.set_option(asio::ip::v6_only(true), ec);  // [::] and 0.0.0.0 coexist
  s.set_option(udp::socket::reuse_address(true), ec);
  s.set_option(ReusePort(true), ec);
  if (ec) return ListenError("UDP", bind, ec);
  boost::system::error_code ignored;
  s.set_option(asio::socket_base::receive_buffer_size(1 << 20), ignored);  // absorb bursts
  s.bind(ToUdpEndpoint(bind), ec);
  if (ec) return ListenError("UDP", bind, ec);
  s.non_blocking(true, ec);
  if (ec) return ListenError("UDP", bind, ec);
  udp::endpoint local = s.local_endpoint(ec);
  if (ec) return ListenError("UDP", bind, ec);
  listener->local_ = FromEndpoint(local);
  return listener;
}

void UdpListener::Start() {
  receiving_ = true;
  Wait();
}

void UdpListener::StopReceiving() { receiving_ = false; }

void UdpListener::Close() {
  receiving_ = false;
  owner_ = nullptr;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void UdpListener::Wait() {
  if (waiting_ || !receiving_ || !socket_.is_open()) return;
  waiting_ = true;
  socket_.async_wait(udp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->waiting_ = false;
                       if (ec || !self->receiving_ || self->owner_ == nullptr) return;
                       self->Drain();
                     });
}

void UdpListener::Drain() {
  // Bounded batch: other sockets on this worker get their turn between batches.
  for (size_t i = 0; i < batch_ && receiving_ && owner_ != nullptr; ++i) {
    udp::endpoint from;
    boost::system::error_code ec;
    size_t n = socket_.receive_from(asio::buffer(buffer_), from, 0, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) continue;  // e.g. ICMP port unreachable surfaced as ECONNREFUSED: skip it
    owner_->OnDatagram(*this, std::string_view(buffer_.data(), n), FromEndpoint(from));
  }
  Wait();
}

void UdpListener::SendTo(std::string_view bytes, const NetAddress& to,
                         boost::system::error_code& ec) {
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), ToUdpEndpoint(to), 0, ec);
}

}  // namespace causeway::sip
