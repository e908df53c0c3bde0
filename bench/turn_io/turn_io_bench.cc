// UDP throughput of media/io's RelaySockets on loopback, datagrams per second.
//
//   turn_io_bench [seconds=3] [payload_bytes=172] [window=256]
//
// Modes, each with batches of 32/64 and with batch 1 (one recvmmsg/sendmmsg per datagram,
// i.e. what a recvfrom/sendto loop costs):
//   echo:  client -> RelaySockets -> OnClientMessage -> SendToClient -> client
//   relay: client -> OnClientMessage -> SendToPeer (relayed socket) -> peer, which sends it back
//          -> OnPeerPacket -> SendToClient -> client: the TURN data path without the TURN logic.
// The load generator is this thread (recvmmsg/sendmmsg, `window` datagrams in flight); the
// relay runs on its own thread. The relay thread's CPU time per datagram is reported too, since
// on a shared machine the rate alone also measures the generator.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "media/io/relay_sockets.h"
#include "media/io/udp_batch.h"

namespace causeway::media::io {
namespace {

using Clock = std::chrono::steady_clock;

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
    return result.get();
  }

 private:
  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

double ThreadCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Echo, or forward to the peer through relay 1 and back.
class BenchHandler final : public turn::RelayHandler {
 public:
  BenchHandler(RelaySockets*& io, bool relay, NetAddress peer)
      : io_(io), relay_(relay), peer_(peer) {}
  void OnClientMessage(const turn::ClientFlow& flow, std::string_view bytes) override {
    if (!relay_) {
      io_->SendToClient(flow, bytes);
      return;
    }
    flow_ = flow;
    io_->SendToPeer(1, peer_, bytes);
  }
  void OnPeerPacket(turn::RelayId, const NetAddress&, std::string_view payload) override {
    io_->SendToClient(flow_, payload);
  }
  void OnClientClosed(const turn::ClientFlow&) override {}

 private:
  RelaySockets*& io_;
  bool relay_;
  NetAddress peer_;
  turn::ClientFlow flow_;
};

int Bind(NetAddress at) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(at, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) std::abort();
  return fd;
}

NetAddress LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return FromSockaddr(ss);
}

struct Result {
  double per_second = 0;
  double relay_cpu_us = 0;  // relay thread CPU per datagram (relay mode: per round trip)
  RelayIoCounters counters;
  uint64_t lost = 0;
};

Result RunOnce(bool relay, size_t batch, double seconds, size_t payload_bytes, size_t window) {
  const NetAddress loopback = NetAddress::V4(0x7F000001, 0);
  int client = Bind(loopback);
  int peer = relay ? Bind(loopback) : -1;
  IoThread worker;
  RelaySockets* sockets = nullptr;
  BenchHandler handler(sockets, relay, relay ? LocalOf(peer) : NetAddress());
  RelaySocketsOptions o;
  o.udp_listen = {loopback};
  o.relay_v4 = loopback;
  o.min_port = 40000;
  o.max_port = 60000;
  o.recv_batch = batch;
  o.send_batch = batch == 1 ? 1 : 2 * batch;
  std::unique_ptr<RelaySockets> owned = worker.Run([&] {
    auto s = RelaySockets::Create(worker.io(), o);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      std::exit(1);
    }
    return *std::move(s);
  });
  sockets = owned.get();
  NetAddress relayed;
  worker.Run([&] {
    sockets->Start(handler);
    if (relay) relayed = *sockets->OpenRelay(1, false, false);
  });
  const NetAddress server = worker.Run([&] { return sockets->udp_listen()[0]; });

  const std::string payload(payload_bytes, 'm');
  SendBatch out(64, 64 * (payload_bytes + 64));
  SendBatch peer_out(64, 64 * (payload_bytes + 64));
  RecvBatch in(64, 2048);
  size_t inflight = 0;
  uint64_t received = 0, lost = 0;
  const double cpu0 = worker.Run([] { return ThreadCpuSeconds(); });
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    while (inflight < window) {
      size_t n = std::min<size_t>(64, window - inflight);
      for (size_t i = 0; i < n; ++i) out.Add(server, payload);
      inflight += out.Flush(client).sent;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {peer, POLLIN, 0}};
    if (::poll(fds, relay ? 2 : 1, 50) == 0) {
      lost += inflight;  // dropped somewhere: start a fresh window
      inflight = 0;
      continue;
    }
    if (relay && (fds[1].revents & POLLIN)) {
      int n = in.Receive(peer);
      for (int i = 0; i < n; ++i) peer_out.Add(relayed, in.payload(i));
      peer_out.Flush(peer);
    }
    if (fds[0].revents & POLLIN) {
      int n = in.Receive(client);
      if (n > 0) {
        received += static_cast<uint64_t>(n);
        inflight -= std::min<size_t>(inflight, static_cast<size_t>(n));
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Result r;
  r.relay_cpu_us = (worker.Run([] { return ThreadCpuSeconds(); }) - cpu0) * 1e6 /
                   static_cast<double>(std::max<uint64_t>(received, 1));
  r.per_second = static_cast<double>(received) / elapsed;
  r.counters = worker.Run([&] { return sockets->counters(); });
  r.lost = lost;
  worker.Run([&] { owned.reset(); });
  ::close(client);
  if (peer >= 0) ::close(peer);
  return r;
}

}  // namespace
}  // namespace causeway::media::io

int main(int argc, char** argv) {
  using namespace causeway::media::io;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const size_t payload = argc > 2 ? static_cast<size_t>(std::atoi(argv[2])) : 172;
  const size_t window = argc > 3 ? static_cast<size_t>(std::atoi(argv[3])) : 256;
  std::printf("%-6s %6s %14s %14s %10s %12s %8s\n", "mode", "batch", "datagrams/s",
              "relay us/dgram", "recv/batch", "send/batch", "lost");
  for (bool relay : {false, true}) {
    for (size_t batch : {size_t{32}, size_t{1}}) {
      Result r = RunOnce(relay, batch, seconds, payload, window);
      const RelayIoCounters& c = r.counters;
      const double in = static_cast<double>(c.client_datagrams_in + c.peer_datagrams_in);
      const double out = static_cast<double>(c.client_datagrams_out + c.peer_datagrams_out);
      std::printf("%-6s %6zu %14.0f %14.2f %10.1f %12.1f %8llu\n", relay ? "relay" : "echo", batch,
                  r.per_second, r.relay_cpu_us,
                  in / static_cast<double>(std::max<uint64_t>(c.recv_batches, 1)),
                  out / static_cast<double>(std::max<uint64_t>(c.send_batches, 1)),
                  static_cast<unsigned long long>(r.lost));
    }
  }
  return 0;
}
