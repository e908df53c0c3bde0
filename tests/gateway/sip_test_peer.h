#pragma once
// A blocking TCP SIP peer for the gateway tests that drive a started SIP service over loopback:
// sends raw SIP text, reads framed messages back with bounded waits.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "sip/codec/message.h"
#include "sip/codec/stream_framer.h"

namespace causeway::gateway::testing {

class SipTestPeer {
 public:
  // Connects to 127.0.0.1:`port`; see connected().
  explicit SipTestPeer(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    local_port_ = ntohs(local.sin_port);
  }
  ~SipTestPeer() { ::close(fd_); }
  SipTestPeer(const SipTestPeer&) = delete;
  SipTestPeer& operator=(const SipTestPeer&) = delete;

  bool connected() const { return connected_; }
  uint16_t local_port() const { return local_port_; }

  bool Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // The next SIP message (keepalives skipped), or nullopt after `timeout`.
  std::optional<sip::SipMessage> Receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      sip::FrameResult frame = sip::FrameStream(buffer_);
      if (frame.is_keepalive()) {
        buffer_.erase(0, frame.length);
        continue;
      }
      if (frame.is_message()) {
        std::string bytes = buffer_.substr(0, frame.length);
        buffer_.erase(0, frame.length);
        auto parsed = sip::SipMessage::Parse(std::move(bytes));
        if (!parsed.ok()) return std::nullopt;
        return std::move(*parsed);
      }
      if (frame.is_error()) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // The next final response (provisionals skipped), or nullopt.
  std::optional<sip::SipMessage> Final(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    for (int n = 0; n < 4; ++n) {
      std::optional<sip::SipMessage> m = Receive(timeout);
      if (!m) return std::nullopt;
      if (m->is_response() && m->status_code() >= 200) return m;
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  uint16_t local_port_ = 0;
  std::string buffer_;
};

}  // namespace causeway::gateway::testing
