#pragma once
// A blocking TCP client on 127.0.0.1 with bounded waits, for tests that drive a started service
// over loopback (tests/gateway's SIP peer and HTTP metrics client build on it). Header-only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace causeway::test_support {

class LoopbackTcpClient {
 public:
  // Connects to 127.0.0.1:`port`; see connected().
  explicit LoopbackTcpClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      local_port_ = ntohs(local.sin_port);
    }
  }
  ~LoopbackTcpClient() { ::close(fd_); }
  LoopbackTcpClient(const LoopbackTcpClient&) = delete;
  LoopbackTcpClient& operator=(const LoopbackTcpClient&) = delete;

  bool connected() const { return connected_; }
  uint16_t local_port() const { return local_port_; }

  bool Send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  enum class Read { kData, kTimeout, kClosed };
  // Waits until `deadline` for bytes and appends what one recv returns to `out`.
  Read ReadSome(std::string& out, std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Read::kTimeout;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return Read::kTimeout;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return Read::kClosed;  // closed, or reset after the last bytes
    out.append(chunk, static_cast<size_t>(n));
    return Read::kData;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  uint16_t local_port_ = 0;
};

}  // namespace causeway::test_support
