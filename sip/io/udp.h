#pragma once
// One UDP socket of a SipTransport, bound with SO_REUSEPORT so every worker binds the same port
// and the kernel spreads datagrams over them. Reads are drained in batches with non-blocking
// receive_from into one reused buffer (no allocation per datagram until Parse copies it).
// Worker thread only.

#include <array>
#include <memory>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::sip {

class UdpListener : public std::enable_shared_from_this<UdpListener> {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void OnDatagram(UdpListener& listener, std::string_view data,
                            const NetAddress& source) = 0;
  };

  // Bind errors read "UDP 127.0.0.1:5060: address already in use".
  static absl::StatusOr<std::shared_ptr<UdpListener>> Open(boost::asio::io_context& io,
                                                           const NetAddress& bind, Owner* owner,
                                                           size_t batch);
  UdpListener(boost::asio::io_context& io, Owner* owner, size_t batch);

  void Start();
  // Stops receiving; the socket stays open for sending.
  void StopReceiving();
  void Close();

  // Non-blocking; a full socket buffer is an error (would_block), not a wait.
  void SendTo(std::string_view bytes, const NetAddress& to, boost::system::error_code& ec);

  const NetAddress& local() const { return local_; }
  bool open() const { return socket_.is_open(); }

 private:
  void Wait();
  void Drain();

  boost::asio::ip::udp::socket socket_;
  Owner* owner_;
  size_t batch_;
  NetAddress local_;
  bool receiving_ = false;
  bool waiting_ = false;
  std::array<char, 65536> buffer_;  // one datagram at most 65535 bytes
};

// "TCP 127.0.0.1:5060: address already in use" (shared by the UDP and stream listeners).
absl::Status ListenError(std::string_view transport, const NetAddress& address,
                         const boost::system::error_code& ec);

}  // namespace causeway::sip
