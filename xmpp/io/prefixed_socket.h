#pragma once
// The next layer of the asio ssl::stream used after STARTTLS: a TCP socket (owned elsewhere)
// whose first reads return bytes that were already read in plaintext mode. The stream machine
// stops at <proceed/> (S2sStream::Feed returns what it used) and whatever followed in the same
// read is the start of the TLS handshake.

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <string>
#include <type_traits>
#include <utility>

namespace causeway::xmpp::io {

class PrefixedSocket {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using lowest_layer_type = boost::asio::ip::tcp::socket::lowest_layer_type;

  explicit PrefixedSocket(boost::asio::ip::tcp::socket& socket) : socket_(&socket) {}

  executor_type get_executor() { return socket_->get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_->lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_->lowest_layer(); }

  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (prefix_.empty()) {
      socket_->async_read_some(buffers, std::forward<Handler>(handler));
      return;
    }
    const size_t n = boost::asio::buffer_copy(buffers, boost::asio::buffer(prefix_));
    prefix_.erase(0, n);
    // Completion never runs inline (asio's rule for initiating functions).
    boost::asio::post(socket_->get_executor(),
                      [h = std::decay_t<Handler>(std::forward<Handler>(handler)), n]() mutable {
                        h(boost::system::error_code(), n);
                      });
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    socket_->async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  boost::asio::ip::tcp::socket* socket_;
  std::string prefix_;
};

}  // namespace causeway::xmpp::io
