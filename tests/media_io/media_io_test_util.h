#pragma once
// Test support for media/io: a worker thread running one io_context, a recording RelayHandler
// that can echo, and blocking loopback UDP/TCP/TLS clients with bounded waits.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/net_address.h"
#include "gtest/gtest.h"
#include "media/io/relay_sockets.h"
#include "media/io/udp_batch.h"
#include "media/turn/relay_io.h"

namespace causeway::media::io::testing {

using namespace std::chrono_literals;
inline constexpr auto kWait = 5s;

// One io_context run by its own thread, as a runtime::Worker would; Run() executes on it.
class IoThread {
 public:
  IoThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

  template <typename F>
  auto Run(F&& f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    if (result.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "worker did not run the task in time";
      std::abort();  // the task references this frame: never return with it queued
    }
    return result.get();
  }

 private:
  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

struct ClientMessage {
  turn::ClientFlow flow;
  std::string bytes;
};
struct PeerPacket {
  turn::RelayId relay;
  NetAddress peer;
  std::string payload;
};

// Records every callback (under a mutex: the test thread reads while the worker writes). With
// echo on, a client message goes straight back through SendToClient, a peer packet back to the
// peer through SendToPeer — both from inside the read batch, so they take the batched path.
class RecordingHandler final : public turn::RelayHandler {
 public:
  void set_io(turn::RelayIo* io) { io_ = io; }
  void set_echo(bool echo) { echo_ = echo; }

  void OnClientMessage(const turn::ClientFlow& flow, std::string_view bytes) override {
    if (echo_ && io_ != nullptr) io_->SendToClient(flow, bytes);
    std::lock_guard lock(mu_);
    messages_.push_back({flow, std::string(bytes)});
    cv_.notify_all();
  }
  void OnPeerPacket(turn::RelayId relay, const NetAddress& peer,
                    std::string_view payload) override {
    if (echo_ && io_ != nullptr) io_->SendToPeer(relay, peer, payload);
    std::lock_guard lock(mu_);
    packets_.push_back({relay, peer, std::string(payload)});
    cv_.notify_all();
  }
  void OnClientClosed(const turn::ClientFlow& flow) override {
    std::lock_guard lock(mu_);
    closed_.push_back(flow);
    cv_.notify_all();
  }

  bool WaitMessages(size_t n) { return WaitFor([&] { return messages_.size() >= n; }); }
  bool WaitPackets(size_t n) { return WaitFor([&] { return packets_.size() >= n; }); }
  bool WaitClosed(size_t n) { return WaitFor([&] { return closed_.size() >= n; }); }

  std::vector<ClientMessage> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<PeerPacket> packets() {
    std::lock_guard lock(mu_);
    return packets_;
  }
  std::vector<turn::ClientFlow> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  bool WaitFor(const std::function<bool()>& done) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, done);
  }

  turn::RelayIo* io_ = nullptr;
  bool echo_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ClientMessage> messages_;
  std::vector<PeerPacket> packets_;
  std::vector<turn::ClientFlow> closed_;
};

// A RelaySockets on its own worker thread with a RecordingHandler.
class Harness {
 public:
  ~Harness() { Stop(); }
  absl::Status Open(RelaySocketsOptions options) {
    return thread_.Run([&]() -> absl::Status {
      auto s = RelaySockets::Create(thread_.io(), std::move(options));
      if (!s.ok()) return s.status();
      sockets_ = *std::move(s);
      handler_.set_io(sockets_.get());
      sockets_->Start(handler_);
      return absl::OkStatus();
    });
  }
  void Stop() {
    if (sockets_) thread_.Run([&] { sockets_.reset(); });
  }
  IoThread& thread() { return thread_; }
  RecordingHandler& handler() { return handler_; }
  RelaySockets& sockets() { return *sockets_; }
  RelayIoCounters counters() {
    return thread_.Run([&] { return sockets_->counters(); });
  }

 private:
  IoThread thread_;
  RecordingHandler handler_;
  std::unique_ptr<RelaySockets> sockets_;  // created and destroyed on the worker thread
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    Reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

inline NetAddress Loopback(uint16_t port = 0) { return NetAddress::V4(0x7F000001, port); }
inline NetAddress Loopback6(uint16_t port = 0) {
  std::array<uint8_t, 16> one{};
  one[15] = 1;
  return NetAddress::V6(one, port);
}

inline NetAddress LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return FromSockaddr(ss);
}

// A UDP socket bound to 127.0.0.1:0 (or [::1]:0).
inline Fd UdpSocket(bool v6 = false) {
  Fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0));
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(v6 ? Loopback6() : Loopback(), ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) fd.Reset();
  return fd;
}

inline bool SendTo(int fd, const NetAddress& to, std::string_view bytes) {
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(to, ss);
  return ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
         static_cast<ssize_t>(bytes.size());
}

// One datagram within `wait`, with its source; nullopt on timeout.
inline std::optional<std::pair<std::string, NetAddress>> RecvFrom(
    int fd, std::chrono::milliseconds wait = kWait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
  char buf[65536];
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ssize_t n = ::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&ss), &len);
  if (n < 0) return std::nullopt;
  return std::make_pair(std::string(buf, static_cast<size_t>(n)), FromSockaddr(ss));
}

inline Fd TcpConnect(const NetAddress& to) {
  Fd fd(::socket(to.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
  int on = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));  // keep our splits apart
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(to, ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) fd.Reset();
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct StreamRead {
  std::string data;
  bool closed = false;  // EOF or reset seen
};
// Reads until `want` bytes arrived, the peer closed, or `wait` passed.
inline StreamRead ReadStream(int fd, size_t want, std::chrono::milliseconds wait = kWait) {
  StreamRead r;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (r.data.size() < want) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

// A blocking TLS client over TcpConnect (the server's certificate is checked against `ca_file`).
class TlsClient {
 public:
  explicit TlsClient(const std::string& ca_file) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool Connect(const NetAddress& to) {
    fd_ = TcpConnect(to);
    if (fd_.get() < 0) return false;
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    SSL_set_tlsext_host_name(ssl_, "localhost");
    return SSL_connect(ssl_) == 1;
  }
  bool Write(std::string_view data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  std::string Read(size_t want) {
    std::string out;
    for (int i = 0; i < 1000 && out.size() < want; ++i) {
      char buf[4096];
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) {
        ERR_clear_error();
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  Fd fd_;
};

}  // namespace causeway::media::io::testing
