#pragma once
// Helpers for the sip/io tests: a transport on a real worker thread, blocking loopback clients
// with timeouts (plain POSIX sockets and OpenSSL, so the test thread never runs the io_context),
// and a throwaway CA + certificates (tests/common/net_test_util.h).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/net_address.h"
#include "core/runtime/runtime.h"
#include "sip/codec/message.h"
#include "sip/io/transport.h"
#include "sip/stack/transport.h"
#include "tests/common/net_test_util.h"

namespace causeway::sip::testing {

using namespace std::chrono_literals;

inline constexpr auto kWait = std::chrono::seconds(5);

struct Received {
  std::string text;  // serialized
  std::string method;
  int status = 0;
  std::string call_id;
  ReceiveInfo info;
  std::string identity;  // info.tls_peer_identity, owned
};

struct Failure {
  uint64_t token = 0;
  Destination to;
  absl::Status error;
};

// Records what the transport delivers; callbacks arrive on the worker thread.
class RecordingUser : public TransportUser {
 public:
  void OnMessage(SipMessage&& message, const ReceiveInfo& info) override {
    Received r;
    r.text = message.Serialize();
    r.method = std::string(message.method_text());
    r.status = message.is_response() ? message.status_code() : 0;
    r.call_id = std::string(message.call_id());
    r.info = info;
    r.identity = std::string(info.tls_peer_identity);
    r.info.tls_peer_identity = {};
    std::lock_guard lock(mu_);
    messages_.push_back(std::move(r));
    cv_.notify_all();
  }
  void OnSendFailed(uint64_t token, const Destination& to, const absl::Status& error) override {
    std::lock_guard lock(mu_);
    failures_.push_back({token, to, error});
    cv_.notify_all();
  }
  void OnConnectionClosed(ConnectionId id) override {
    std::lock_guard lock(mu_);
    closed_.push_back(id);
    cv_.notify_all();
  }
  bool WaitClosed(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_.size() >= n; });
  }
  std::vector<ConnectionId> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }
  bool WaitMessages(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  bool WaitFailures(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return failures_.size() >= n; });
  }
  std::vector<Received> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<Failure> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> messages_;
  std::vector<Failure> failures_;
  std::vector<ConnectionId> closed_;
};

// One worker thread running one SipTransport. All transport calls go through OnWorker().
class TransportHarness {
 public:
  static runtime::RuntimeOptions OneWorker() {
    runtime::RuntimeOptions o;
    o.workers = 1;
    return o;
  }

  TransportHarness() : runtime_(OneWorker()) {}
  ~TransportHarness() { Shutdown(); }

  absl::Status Open(SipTransportOptions options) {
    auto t = SipTransport::Create(runtime_.worker(0).io_context(), std::move(options), &user_);
    if (!t.ok()) return t.status();
    transport_ = *std::move(t);
    return runtime_.Start();
  }

  // Runs `fn` on the worker and waits for it.
  template <typename F>
  auto OnWorker(F&& fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::promise<R> done;
    auto future = done.get_future();
    runtime_.Post(0, [&] {
      if constexpr (std::is_void_v<R>) {
        fn();
        done.set_value();
      } else {
        done.set_value(fn());
      }
    });
    return future.get();
  }

  void Send(const Destination& to, std::string bytes, uint64_t token) {
    OnWorker([&] { transport_->Send(to, std::move(bytes), token); });
  }
  NetAddress Bound(TransportKind kind) {
    for (const ListenConfig& l : transport_->BoundListeners()) {
      if (l.kind == kind) return l.address;
    }
    return NetAddress();
  }
  size_t Connections() { return OnWorker([&] { return transport_->connection_count(); }); }
  uint64_t Counter(std::atomic<uint64_t> TransportCounters::*field) {
    return (transport_->counters().*field).load();
  }

  void Shutdown() {
    if (transport_ != nullptr) OnWorker([&] { transport_.reset(); });
    runtime_.Stop();
    runtime_.Join();
  }

  RecordingUser& user() { return user_; }
  SipTransport& transport() { return *transport_; }

 private:
  runtime::Runtime runtime_;
  RecordingUser user_;
  std::unique_ptr<SipTransport> transport_;
};

inline SipTransportOptions LoopbackOptions(std::vector<TransportKind> kinds) {
  SipTransportOptions o;
  for (TransportKind k : kinds) o.listen.push_back({k, *NetAddress::Parse("127.0.0.1:0"), {}});
  return o;
}

inline std::string Options(std::string_view call_id, std::string_view transport = "TCP",
                           std::string_view body = {}) {
  std::string m = "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n";
  m += "Via: SIP/2.0/" + std::string(transport) + " 127.0.0.1:5999;branch=z9hG4bK-" +
       std::string(call_id) + "\r\n";
  m += "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:gw@127.0.0.1>\r\n";
  m += "Call-ID: " + std::string(call_id) + "\r\nCSeq: 1 OPTIONS\r\n";
  m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  return m;
}

// ---- blocking POSIX clients with timeouts -------------------------------------------------

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

inline sockaddr_storage ToSockaddr(const NetAddress& a, socklen_t* len) {
  sockaddr_storage ss{};
  if (a.is_v6()) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port());
    std::memcpy(&s6->sin6_addr, a.bytes().data(), 16);
    *len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port());
    s4->sin_addr.s_addr = htonl(a.v4_host_order());
    *len = sizeof(sockaddr_in);
  }
  return ss;
}

inline NetAddress FromSockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &s6->sin6_addr, 16);
    return NetAddress::V6(b, ntohs(s6->sin6_port));
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
  return NetAddress::V4(ntohl(s4->sin_addr.s_addr), ntohs(s4->sin_port));
}

inline void SetTimeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

inline Fd TcpConnect(const NetAddress& to) {
  Fd fd(::socket(to.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(to, &len);
  SetTimeouts(fd.get(), kWait);
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

struct ReadResult {
  std::string data;
  bool eof = false;  // orderly close or reset
};

// Reads until `done(data)` holds, the peer closes, or `timeout` passes.
inline ReadResult ReadUntil(int fd, const std::function<bool(const std::string&)>& done,
                            std::chrono::milliseconds timeout = kWait) {
  ReadResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(r.data)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.eof = true;
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

inline bool HasCompleteResponse(const std::string& d) {
  return d.find("\r\n\r\n") != std::string::npos;
}

inline Fd UdpSocket(const NetAddress& bind, NetAddress* bound) {
  Fd fd(::socket(bind.is_v6() ? AF_INET6 : AF_INET, SOCK_DGRAM, 0));
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(bind, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return Fd();
  sockaddr_storage out{};
  socklen_t out_len = sizeof(out);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&out), &out_len);
  *bound = FromSockaddr(out);
  SetTimeouts(fd.get(), kWait);
  return fd;
}

inline bool UdpSendTo(int fd, std::string_view data, const NetAddress& to) {
  socklen_t len;
  sockaddr_storage ss = ToSockaddr(to, &len);
  return ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
         static_cast<ssize_t>(data.size());
}

inline std::optional<std::string> UdpRecv(int fd, std::chrono::milliseconds timeout = kWait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  char buf[65536];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// A loopback port nobody listens on (reserved, so no parallel test gets it either).
inline NetAddress ClosedTcpPort() {
  return *NetAddress::Parse("127.0.0.1", test_support::ReserveLoopbackPort());
}

// ---- test PKI -------------------------------------------------------------------------------

// A CA, a server certificate (localhost / 127.0.0.1), a client certificate (client.example)
// and another CA; removed on destruction.
class TestPki : public test_support::TestPki {
 public:
  TestPki()
      : test_support::TestPki("sipio", {{"server", "localhost", "DNS:localhost,IP:127.0.0.1"},
                                        {"client", "client.example", "DNS:client.example"}}) {}
};

// A blocking OpenSSL client over a connected TCP fd (timeouts come from SO_RCVTIMEO).
class TlsClient {
 public:
  TlsClient(const std::string& ca_file, const std::string& cert, const std::string& key) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!cert.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    }
  }
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool Connect(const NetAddress& to, const char* sni = "localhost") {
    fd_ = TcpConnect(to);
    if (fd_.get() < 0) return false;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    SSL_set_tlsext_host_name(ssl_, sni);
    return SSL_connect(ssl_) == 1;
  }
  bool Write(std::string_view data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  // Reads until `done` holds; nullopt on error/close before that.
  ReadResult ReadUntil(const std::function<bool(const std::string&)>& done) {
    ReadResult r;
    for (int i = 0; i < 1000 && !done(r.data); ++i) {
      char buf[4096];
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) {
        r.eof = true;
        ERR_clear_error();
        break;
      }
      r.data.append(buf, static_cast<size_t>(n));
    }
    return r;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  Fd fd_;
};

}  // namespace causeway::sip::testing
