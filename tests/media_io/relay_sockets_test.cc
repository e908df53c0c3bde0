// media/io RelaySockets over loopback: UDP client datagrams and answers (batched), two workers
// on one port, relayed ports from a range and their exhaustion, peer traffic both ways, TCP
// framing at awkward boundaries, garbage, the per-IP cap, TLS.
#include "media/io/relay_sockets.h"

#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/runtime/tls_context.h"
#include "gtest/gtest.h"
#include "media/stun/stun_message.h"
#include "tests/common/net_test_util.h"
#include "tests/media_io/media_io_test_util.h"

namespace causeway::media::io {
namespace {

using namespace testing;
using turn::ClientTransport;

std::string Stun(std::string_view software, uint8_t tag) {
  stun::TransactionId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(tag + i);
  stun::StunMessageBuilder b(stun::method::kBinding, stun::StunClass::kRequest, id);
  b.AddAttribute(stun::attr::kSoftware, software);
  auto m = std::move(b).Finish();
  EXPECT_TRUE(m.ok());
  return m.ok() ? *m : std::string();
}

std::string Channel(uint16_t channel, std::string_view data) {
  std::string out;
  stun::AppendChannelData(channel, data, stun::Framing::kStream, out);
  return out;
}

RelaySocketsOptions UdpOnly() {
  RelaySocketsOptions o;
  o.udp_listen = {Loopback()};
  o.relay_v4 = Loopback();
  return o;
}

// `count` consecutive UDP ports on 127.0.0.1 that were free a moment ago, below the kernel's
// ephemeral range so no connect() or bind(0) takes one meanwhile.
uint16_t FreeUdpRange(uint16_t count) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    uint16_t base = static_cast<uint16_t>(20000 + rng() % 10000);
    bool all = true;
    for (uint16_t p = base; p < base + count && all; ++p) {
      Fd fd(::socket(AF_INET, SOCK_DGRAM, 0));
      sockaddr_storage ss{};
      socklen_t len = ToSockaddr(Loopback(p), ss);
      all = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0;
    }
    if (all) return base;
  }
  ADD_FAILURE() << "no free UDP port range";
  return 0;
}

// ---- UDP clients ------------------------------------------------------------------------------

TEST(RelaySocketsUdp, ClientDatagramsArriveWithTheirFlowAndAreAnswered) {
  Harness h;
  ASSERT_TRUE(h.Open(UdpOnly()).ok());
  h.handler().set_echo(true);
  const NetAddress server = h.thread().Run([&] { return h.sockets().udp_listen()[0]; });
  ASSERT_NE(server.port(), 0);

  Fd client = UdpSocket();
  ASSERT_GE(client.get(), 0);
  const std::vector<std::string> sent = {Stun("one", 1), Channel(0x4000, "media"),
                                         Stun("three", 3)};
  for (const std::string& s : sent) ASSERT_TRUE(SendTo(client.get(), server, s));

  ASSERT_TRUE(h.handler().WaitMessages(3));
  std::vector<ClientMessage> got = h.handler().messages();
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].bytes, sent[i]);
    EXPECT_EQ(got[i].flow.client, LocalOf(client.get()));
    EXPECT_EQ(got[i].flow.server, server);
    EXPECT_EQ(got[i].flow.transport, ClientTransport::kUdp);
    EXPECT_EQ(got[i].flow.connection, 0u);
  }
  for (size_t i = 0; i < sent.size(); ++i) {
    auto echo = RecvFrom(client.get());
    ASSERT_TRUE(echo.has_value()) << i;
    EXPECT_EQ(echo->first, sent[i]);
    EXPECT_EQ(echo->second, server);  // answered from the address the client sent to
  }
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.client_datagrams_in, 3u);
  EXPECT_EQ(c.client_datagrams_out, 3u);
  EXPECT_GE(c.recv_batches, 1u);
  EXPECT_LE(c.recv_batches, 3u);
  EXPECT_EQ(c.send_drops_would_block, 0u);
}

TEST(RelaySocketsUdp, ABurstIsReadAndAnsweredInBatches) {
  Harness h;
  RelaySocketsOptions o = UdpOnly();
  o.recv_batch = 8;
  ASSERT_TRUE(h.Open(o).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().udp_listen()[0]; });
  Fd client = UdpSocket();
  // Queue 40 datagrams while the worker is busy, so one wake-up finds them all.
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  boost::asio::post(h.thread().io(), [gate] { gate.wait(); });
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(SendTo(client.get(), server, Stun("burst", i)));
  h.handler().set_echo(true);
  release.set_value();
  ASSERT_TRUE(h.handler().WaitMessages(40));
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(RecvFrom(client.get()).has_value()) << i;
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.client_datagrams_in, 40u);
  EXPECT_EQ(c.client_datagrams_out, 40u);
  EXPECT_EQ(c.recv_batches, 5u);  // 40 datagrams / batches of 8
  EXPECT_EQ(c.send_batches, 5u);  // one sendmmsg per read batch
}

TEST(RelaySocketsUdp, SendToClientOutsideABatchGoesOutAtOnce) {
  Harness h;
  ASSERT_TRUE(h.Open(UdpOnly()).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().udp_listen()[0]; });
  Fd client = UdpSocket();
  turn::ClientFlow flow{LocalOf(client.get()), server, ClientTransport::kUdp, 0};
  h.thread().Run([&] { h.sockets().SendToClient(flow, "timer-driven"); });
  auto got = RecvFrom(client.get());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, "timer-driven");
  // A flow naming an address we do not listen on is counted, not sent.
  turn::ClientFlow stray{LocalOf(client.get()), Loopback(1), ClientTransport::kUdp, 0};
  h.thread().Run([&] { h.sockets().SendToClient(stray, "lost"); });
  EXPECT_FALSE(RecvFrom(client.get(), 100ms).has_value());
  EXPECT_EQ(h.counters().send_errors, 1u);
}

TEST(RelaySocketsUdp, TwoWorkersOnTheSamePortBothReceive) {
  Harness a, b;
  ASSERT_TRUE(a.Open(UdpOnly()).ok());
  const NetAddress server = a.thread().Run([&] { return a.sockets().udp_listen()[0]; });
  RelaySocketsOptions second = UdpOnly();
  second.udp_listen = {server};  // would fail with "address in use" without SO_REUSEPORT
  ASSERT_TRUE(b.Open(second).ok());
  a.handler().set_echo(true);
  b.handler().set_echo(true);

  // The kernel spreads clients by 4-tuple: 64 source ports all on one socket has odds 2^-63.
  constexpr size_t kClients = 64;
  std::vector<Fd> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(UdpSocket());
    ASSERT_TRUE(SendTo(clients.back().get(), server, Stun("spread", static_cast<uint8_t>(i))));
  }
  for (size_t i = 0; i < kClients; ++i) {
    ASSERT_TRUE(RecvFrom(clients[i].get()).has_value()) << "client " << i << " got no answer";
  }
  size_t on_a = a.handler().messages().size();
  size_t on_b = b.handler().messages().size();
  EXPECT_EQ(on_a + on_b, kClients);
  EXPECT_GT(on_a, 0u);
  EXPECT_GT(on_b, 0u);
}

TEST(RelaySocketsUdp, IPv6AndIPv4ListenersAnswerFromTheirOwnSocket) {
  Harness h;
  RelaySocketsOptions o;
  o.udp_listen = {Loopback(), Loopback6()};
  o.relay_v4 = Loopback();
  o.relay_v6 = Loopback6();
  ASSERT_TRUE(h.Open(o).ok());
  h.handler().set_echo(true);
  const std::vector<NetAddress> servers = h.thread().Run([&] { return h.sockets().udp_listen(); });
  ASSERT_EQ(servers.size(), 2u);
  ASSERT_TRUE(servers[1].is_v6());
  Fd v4 = UdpSocket(), v6 = UdpSocket(/*v6=*/true);
  ASSERT_GE(v6.get(), 0);
  ASSERT_TRUE(SendTo(v6.get(), servers[1], Stun("six", 6)));
  ASSERT_TRUE(SendTo(v4.get(), servers[0], Stun("four", 4)));
  auto six = RecvFrom(v6.get());
  auto four = RecvFrom(v4.get());
  ASSERT_TRUE(six.has_value());
  ASSERT_TRUE(four.has_value());
  EXPECT_EQ(six->first, Stun("six", 6));
  EXPECT_EQ(six->second, servers[1]);
  EXPECT_EQ(four->second, servers[0]);

  // An IPv6 relayed address, and peer traffic over it both ways.
  auto relayed = h.thread().Run([&] { return h.sockets().OpenRelay(3, true, false); });
  ASSERT_TRUE(relayed.ok()) << relayed.status();
  EXPECT_TRUE(relayed->is_v6());
  Fd peer = UdpSocket(/*v6=*/true);
  ASSERT_TRUE(SendTo(peer.get(), *relayed, "v6 peer"));
  auto back = RecvFrom(peer.get());  // echoed through SendToPeer
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first, "v6 peer");
  EXPECT_EQ(back->second, *relayed);
  ASSERT_TRUE(h.handler().WaitPackets(1));
  EXPECT_EQ(h.handler().packets()[0].peer, LocalOf(peer.get()));
}

TEST(RelaySocketsUdp, AWildcardListenerAnswersFromTheAddressTheClientUsed) {
  // The listener is bound to 0.0.0.0 (the traffic stays on loopback). 127.0.0.2 is local too;
  // without IP_PKTINFO the answer to a client on 127.0.0.1 would leave from 127.0.0.1.
  Harness h;
  RelaySocketsOptions o;
  o.udp_listen = {NetAddress::V4(0, 0)};
  ASSERT_TRUE(h.Open(o).ok());
  h.handler().set_echo(true);
  const uint16_t port = h.thread().Run([&] { return h.sockets().udp_listen()[0].port(); });
  Fd client = UdpSocket();
  const NetAddress second = NetAddress::V4(0x7F000002, port);
  const NetAddress first = NetAddress::V4(0x7F000001, port);
  for (const NetAddress& to : {second, first}) {
    ASSERT_TRUE(SendTo(client.get(), to, Stun("wild", 1)));
    auto got = RecvFrom(client.get());
    ASSERT_TRUE(got.has_value()) << to.ToString();
    EXPECT_EQ(got->second, to);
  }
  std::vector<ClientMessage> got = h.handler().messages();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].flow.server, second);  // the flow names the address, not 0.0.0.0
  EXPECT_EQ(got[1].flow.server, first);
  // A send outside a batch (timer-driven) takes the same way.
  h.thread().Run([&] { h.sockets().SendToClient(got[0].flow, "later"); });
  auto later = RecvFrom(client.get());
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->second, second);
}

// ---- relayed sockets --------------------------------------------------------------------------

TEST(RelaySocketsRelay, PortsComeFromTheRangeUntilItIsUsedUp) {
  const uint16_t base = FreeUdpRange(4);
  ASSERT_NE(base, 0);
  Harness h;
  RelaySocketsOptions o = UdpOnly();
  o.min_port = base;
  o.max_port = static_cast<uint16_t>(base + 3);
  ASSERT_TRUE(h.Open(o).ok());

  std::set<uint16_t> ports;
  for (turn::RelayId id = 1; id <= 4; ++id) {
    auto relayed = h.thread().Run([&] { return h.sockets().OpenRelay(id, false, false); });
    ASSERT_TRUE(relayed.ok()) << relayed.status();
    EXPECT_EQ(relayed->HostString(), "127.0.0.1");
    EXPECT_GE(relayed->port(), base);
    EXPECT_LE(relayed->port(), base + 3);
    ports.insert(relayed->port());
  }
  EXPECT_EQ(ports.size(), 4u);
  auto full = h.thread().Run([&] { return h.sockets().OpenRelay(5, false, false); });
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.port_exhaustion, 1u);
  EXPECT_EQ(c.relay_sockets_open, 4u);

  // A closed relay gives its port back; an id already open is refused.
  h.thread().Run([&] { h.sockets().CloseRelay(2); });
  auto again = h.thread().Run([&] { return h.sockets().OpenRelay(6, false, false); });
  ASSERT_TRUE(again.ok()) << again.status();
  auto twice = h.thread().Run([&] { return h.sockets().OpenRelay(6, false, false); });
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists);
  // No IPv6 relay address configured.
  auto v6 = h.thread().Run([&] { return h.sockets().OpenRelay(7, true, false); });
  EXPECT_EQ(v6.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RelaySocketsRelay, AHeldPortIsAdoptedAsARelayOrReleased) {
  const uint16_t base = FreeUdpRange(4);
  ASSERT_NE(base, 0);
  Harness h;
  RelaySocketsOptions o = UdpOnly();
  o.min_port = base;
  o.max_port = static_cast<uint16_t>(base + 3);
  ASSERT_TRUE(h.Open(o).ok());
  NetAddress wanted = *NetAddress::Parse("127.0.0.1");
  wanted.set_port(static_cast<uint16_t>(base + 1));
  auto held = h.thread().Run([&] { return h.sockets().HoldPort(wanted); });
  ASSERT_TRUE(held.ok()) << held.status();
  auto again = h.thread().Run([&] { return h.sockets().HoldPort(wanted); });
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted) << again.status();
  // Adopted: the port now relays peer datagrams to OnPeerPacket under the new id.
  auto adopted = h.thread().Run([&] { return h.sockets().AdoptRelay(9, *held); });
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(*adopted, wanted);
  EXPECT_EQ(h.counters().relay_sockets_open, 1u);
  h.thread().Run([&] { h.sockets().CloseRelay(9); });
  // Released: the port is free again.
  auto held2 = h.thread().Run([&] { return h.sockets().HoldPort(wanted); });
  ASSERT_TRUE(held2.ok()) << held2.status();
  h.thread().Run([&] { h.sockets().ReleaseHeld(*held2); });
  auto held3 = h.thread().Run([&] { return h.sockets().HoldPort(wanted); });
  EXPECT_TRUE(held3.ok()) << held3.status();
  if (held3.ok()) h.thread().Run([&] { h.sockets().ReleaseHeld(*held3); });
}

TEST(RelaySocketsRelay, EvenPortAndWorkersShareTheRangeThroughBind) {
  const uint16_t base = FreeUdpRange(5);
  ASSERT_NE(base, 0);
  const uint16_t even_base = static_cast<uint16_t>(base + (base % 2));  // 4 ports, 2 even
  RelaySocketsOptions o = UdpOnly();
  o.min_port = even_base;
  o.max_port = static_cast<uint16_t>(even_base + 3);
  Harness a, b;
  ASSERT_TRUE(a.Open(o).ok());
  o.udp_listen.clear();
  ASSERT_TRUE(b.Open(o).ok());
  auto first = a.thread().Run([&] { return a.sockets().OpenRelay(1, false, true); });
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->port() % 2, 0);
  auto second = b.thread().Run([&] { return b.sockets().OpenRelay(1, false, true); });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->port() % 2, 0);
  EXPECT_NE(first->port(), second->port());  // the other worker's bind() held the first one
  auto none = a.thread().Run([&] { return a.sockets().OpenRelay(2, false, true); });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  auto odd = a.thread().Run([&] { return a.sockets().OpenRelay(3, false, false); });
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->port() % 2, 1);
}

TEST(RelaySocketsRelay, PeerDatagramsReachTheHandlerAndSendToPeerReachesThePeer) {
  Harness h;
  ASSERT_TRUE(h.Open(UdpOnly()).ok());
  const turn::RelayId id = 0x00300007;  // generation 3, slot 7
  auto relayed = h.thread().Run([&] { return h.sockets().OpenRelay(id, false, false); });
  ASSERT_TRUE(relayed.ok()) << relayed.status();

  Fd peer = UdpSocket();
  ASSERT_TRUE(SendTo(peer.get(), *relayed, "from the peer"));
  ASSERT_TRUE(h.handler().WaitPackets(1));
  PeerPacket p = h.handler().packets()[0];
  EXPECT_EQ(p.relay, id);
  EXPECT_EQ(p.peer, LocalOf(peer.get()));
  EXPECT_EQ(p.payload, "from the peer");

  h.thread().Run([&] { h.sockets().SendToPeer(id, LocalOf(peer.get()), "to the peer"); });
  auto got = RecvFrom(peer.get());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->first, "to the peer");
  EXPECT_EQ(got->second, *relayed);  // sent from the relayed address

  // Sends made inside a read batch go out batched when it ends.
  h.handler().set_echo(true);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(SendTo(peer.get(), *relayed, "echo " + std::to_string(i)));
  }
  for (int i = 0; i < 10; ++i) {
    auto echo = RecvFrom(peer.get());
    ASSERT_TRUE(echo.has_value()) << i;
    EXPECT_EQ(echo->first, "echo " + std::to_string(i));
  }
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.peer_datagrams_in, 11u);
  EXPECT_EQ(c.peer_datagrams_out, 11u);

  // A stale generation of the same slot reaches nothing.
  h.thread().Run([&] { h.sockets().SendToPeer(0x00200007, LocalOf(peer.get()), "stale"); });
  EXPECT_FALSE(RecvFrom(peer.get(), 100ms).has_value());
}

TEST(RelaySocketsRelay, CloseRelayWhileAReadIsPendingAndFromInsideTheHandler) {
  Harness h;
  ASSERT_TRUE(h.Open(UdpOnly()).ok());
  auto relayed = h.thread().Run([&] { return h.sockets().OpenRelay(1, false, false); });
  ASSERT_TRUE(relayed.ok());
  h.thread().Run([&] { h.sockets().CloseRelay(1); });  // its async_wait is pending
  h.thread().Run([&] { h.sockets().CloseRelay(1); });  // twice: a no-op
  Fd peer = UdpSocket();
  SendTo(peer.get(), *relayed, "after close");
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(h.handler().packets().empty());
  EXPECT_EQ(h.counters().relay_sockets_open, 0u);

  // Closing from inside OnPeerPacket with more datagrams of the same batch behind it.
  struct Closer final : turn::RelayHandler {
    RelaySockets* io = nullptr;
    std::atomic<int> packets{0};
    void OnClientMessage(const turn::ClientFlow&, std::string_view) override {}
    void OnPeerPacket(turn::RelayId relay, const NetAddress&, std::string_view) override {
      ++packets;
      io->CloseRelay(relay);
    }
    void OnClientClosed(const turn::ClientFlow&) override {}
  } closer;
  IoThread worker;
  auto sockets = worker.Run([&] { return RelaySockets::Create(worker.io(), UdpOnly()); });
  ASSERT_TRUE(sockets.ok());
  closer.io = sockets->get();
  auto relay2 = worker.Run([&] { return (*sockets)->OpenRelay(9, false, false); });
  ASSERT_TRUE(relay2.ok());
  for (int i = 0; i < 5; ++i) SendTo(peer.get(), *relay2, "x");
  std::this_thread::sleep_for(20ms);
  worker.Run([&] { (*sockets)->Start(closer); });
  for (int i = 0; i < 100 && closer.packets == 0; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(closer.packets, 1);
  worker.Run([&] { sockets->reset(); });
}

// ---- streams ----------------------------------------------------------------------------------

RelaySocketsOptions TcpOnly() {
  RelaySocketsOptions o;
  o.tcp_listen = {Loopback()};
  return o;
}

TEST(RelaySocketsStream, FramesSplitAtAwkwardBoundariesAndCoalesced) {
  Harness h;
  ASSERT_TRUE(h.Open(TcpOnly()).ok());
  h.handler().set_echo(true);
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  const std::vector<std::string> frames = {Stun("first", 1), Channel(0x4001, "odd"),
                                           Channel(0x4002, ""), Stun("fourth message", 4),
                                           Channel(0x4FFF, std::string(1001, 'z'))};
  std::string all;
  for (const std::string& f : frames) all += f;

  // One write with every frame coalesced.
  Fd coalesced = TcpConnect(server);
  ASSERT_GE(coalesced.get(), 0);
  ASSERT_TRUE(SendAll(coalesced.get(), all));
  ASSERT_TRUE(h.handler().WaitMessages(frames.size()));
  StreamRead echo = ReadStream(coalesced.get(), all.size());
  EXPECT_EQ(echo.data, all);  // the handler's SendToClient calls, in order, unframed

  // The same bytes split at 1, 3, 5, 7, 19, 23 ... bytes: inside headers, lengths and padding.
  Fd split = TcpConnect(server);
  ASSERT_GE(split.get(), 0);
  const size_t cuts[] = {1, 3, 5, 7, 19, 23, 2, 9, 1, 40};
  size_t at = 0;
  for (size_t i = 0; at < all.size(); ++i) {
    size_t n = std::min(cuts[i % std::size(cuts)], all.size() - at);
    ASSERT_TRUE(SendAll(split.get(), std::string_view(all).substr(at, n)));
    at += n;
    if (i < 12) std::this_thread::sleep_for(2ms);  // let the first pieces arrive on their own
  }
  ASSERT_TRUE(h.handler().WaitMessages(2 * frames.size()));
  StreamRead echo2 = ReadStream(split.get(), all.size());
  EXPECT_EQ(echo2.data, all);

  std::vector<ClientMessage> got = h.handler().messages();
  ASSERT_EQ(got.size(), 2 * frames.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].bytes, frames[i % frames.size()]) << i;
    EXPECT_EQ(got[i].flow.transport, ClientTransport::kTcp);
    EXPECT_EQ(got[i].flow.server, server);
    EXPECT_NE(got[i].flow.connection, 0u);
  }
  EXPECT_EQ(got[0].flow.client, LocalOf(coalesced.get()));
  EXPECT_EQ(got[frames.size()].flow.client, LocalOf(split.get()));
  EXPECT_NE(got[0].flow.connection, got[frames.size()].flow.connection);
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.stream_accepted, 2u);
  EXPECT_EQ(c.stream_messages_in, 2 * frames.size());
}

TEST(RelaySocketsStream, MsTurnFramedConnectionsAreCutByTheirOwnHeaders) {
  Harness h;
  ASSERT_TRUE(h.Open(TcpOnly()).ok());
  h.handler().set_echo(true);
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  // [MS-TURN] 2.1.4 frames: a control frame carrying a TURN message, then end-to-end data of a
  // length that is not a multiple of 4 (MS-TURN does not pad).
  const std::string inner = Stun("ms-turn allocate", 5);
  std::string control = std::string("\x02\x00", 2);
  control += static_cast<char>(inner.size() >> 8);
  control += static_cast<char>(inner.size() & 0xff);
  control += inner;
  const std::string data = std::string("\x03\x00\x00\x03", 4) + "rtp";
  const std::string all = control + data + control;
  Fd client = TcpConnect(server);
  ASSERT_GE(client.get(), 0);
  ASSERT_TRUE(SendAll(client.get(), all.substr(0, 1)));  // one byte: the dialect is still open
  std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(SendAll(client.get(), all.substr(1, 6)));
  std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(SendAll(client.get(), all.substr(7)));
  ASSERT_TRUE(h.handler().WaitMessages(3));
  std::vector<ClientMessage> got = h.handler().messages();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].bytes, control);  // the whole frame, header included
  EXPECT_EQ(got[1].bytes, data);
  EXPECT_EQ(got[2].bytes, control);
  EXPECT_EQ(ReadStream(client.get(), all.size()).data, all);
  // RFC 8656 framing after MS-TURN framing is garbage on this connection.
  ASSERT_TRUE(SendAll(client.get(), Channel(0x4000, "x")));
  ASSERT_TRUE(h.handler().WaitClosed(1));
  EXPECT_EQ(h.counters().stream_invalid, 1u);
}

TEST(RelaySocketsStream, GarbageClosesTheConnectionAndTellsTheHandler) {
  Harness h;
  ASSERT_TRUE(h.Open(TcpOnly()).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  Fd client = TcpConnect(server);
  ASSERT_GE(client.get(), 0);
  // A TLS ClientHello on the plain TCP port: STUN's top bits, then no magic cookie.
  ASSERT_TRUE(SendAll(client.get(), Stun("fine", 1) + std::string("\x16\x03\x01\x00\xa5\x01", 6)));
  ASSERT_TRUE(h.handler().WaitClosed(1));
  std::vector<ClientMessage> got = h.handler().messages();
  ASSERT_EQ(got.size(), 1u);  // the message before the garbage was delivered
  EXPECT_EQ(h.handler().closed()[0], got[0].flow);
  EXPECT_TRUE(ReadStream(client.get(), 1).closed);
  RelayIoCounters c = h.counters();
  EXPECT_EQ(c.stream_invalid, 1u);
  EXPECT_EQ(c.stream_closed, 1u);
  EXPECT_EQ(c.stream_open, 0u);
  // Sends to the closed flow are counted, not queued.
  h.thread().Run([&] { h.sockets().SendToClient(got[0].flow, Stun("late", 2)); });
  EXPECT_EQ(h.counters().send_errors, 1u);
}

TEST(RelaySocketsStream, ClientCloseAndIdleTimeoutTellTheHandler) {
  Harness h;
  RelaySocketsOptions o = TcpOnly();
  o.stream_idle_timeout = 200ms;
  ASSERT_TRUE(h.Open(o).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  {
    Fd client = TcpConnect(server);
    ASSERT_TRUE(SendAll(client.get(), Stun("bye", 1)));
    ASSERT_TRUE(h.handler().WaitMessages(1));
  }  // closed here
  ASSERT_TRUE(h.handler().WaitClosed(1));
  EXPECT_EQ(h.handler().closed()[0], h.handler().messages()[0].flow);

  Fd idle = TcpConnect(server);
  ASSERT_TRUE(SendAll(idle.get(), Stun("then silence", 2)));
  ASSERT_TRUE(h.handler().WaitClosed(2));
  EXPECT_TRUE(ReadStream(idle.get(), 1).closed);
  EXPECT_EQ(h.counters().stream_idle_closed, 1u);
}

TEST(RelaySocketsStream, ConnectionsPerClientIpAreCapped) {
  Harness h;
  RelaySocketsOptions o = TcpOnly();
  o.max_connections_per_ip = 1;
  ASSERT_TRUE(h.Open(o).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  Fd first = TcpConnect(server);
  ASSERT_TRUE(SendAll(first.get(), Stun("in", 1)));
  ASSERT_TRUE(h.handler().WaitMessages(1));
  Fd second = TcpConnect(server);  // the kernel completes the handshake; we close it at once
  ASSERT_GE(second.get(), 0);
  EXPECT_TRUE(ReadStream(second.get(), 1).closed);
  EXPECT_EQ(h.counters().stream_rejected, 1u);
  first.Reset();
  ASSERT_TRUE(h.handler().WaitClosed(1));
  Fd third = TcpConnect(server);  // the slot is free again
  ASSERT_TRUE(SendAll(third.get(), Stun("again", 3)));
  ASSERT_TRUE(h.handler().WaitMessages(2));
}

TEST(RelaySocketsStream, WriteQueueIsBounded) {
  Harness h;
  RelaySocketsOptions o = TcpOnly();
  o.max_write_queue_bytes = 64 * 1024;
  ASSERT_TRUE(h.Open(o).ok());
  const NetAddress server = h.thread().Run([&] { return h.sockets().tcp_listen()[0]; });
  Fd client = TcpConnect(server);
  ASSERT_TRUE(SendAll(client.get(), Stun("reader that never reads", 1)));
  ASSERT_TRUE(h.handler().WaitMessages(1));
  const turn::ClientFlow flow = h.handler().messages()[0].flow;
  // 64 MB towards a client that reads nothing: the socket buffers fill, then the queue cap.
  const std::string frame = Channel(0x4000, std::string(60000, 'q'));
  h.thread().Run([&] {
    for (int i = 0; i < 1000; ++i) h.sockets().SendToClient(flow, frame);
  });
  RelayIoCounters c = h.counters();
  EXPECT_GT(c.send_drops_queue_full, 0u);
  EXPECT_LT(c.stream_messages_out, 1000u);
}

TEST(RelaySocketsStream, TlsCarriesFramesBothWays) {
  test_support::TestPki pki("mediaio", {{"server", "localhost", "DNS:localhost,IP:127.0.0.1"}});
  ASSERT_TRUE(pki.ok()) << "openssl CLI failed";
  runtime::TlsContextOptions server_tls;
  server_tls.certificate_chain_file = pki.Path("server.pem");
  server_tls.private_key_file = pki.Path("server.key");
  server_tls.verify_peer = false;
  auto ctx = runtime::MakeTlsServerContext(server_tls);
  ASSERT_TRUE(ctx.ok()) << ctx.status();

  Harness h;
  RelaySocketsOptions o;
  o.tls_listen = {Loopback()};
  o.tls = *ctx;
  ASSERT_TRUE(h.Open(o).ok());
  h.handler().set_echo(true);
  const NetAddress server = h.thread().Run([&] { return h.sockets().tls_listen()[0]; });

  TlsClient client(pki.Path("ca.pem"));
  ASSERT_TRUE(client.Connect(server));
  const std::string a = Stun("over tls", 1), b = Channel(0x4010, "secret media");
  ASSERT_TRUE(client.Write(a.substr(0, 7)));
  ASSERT_TRUE(client.Write(a.substr(7) + b));
  ASSERT_TRUE(h.handler().WaitMessages(2));
  EXPECT_EQ(client.Read(a.size() + b.size()), a + b);
  std::vector<ClientMessage> got = h.handler().messages();
  EXPECT_EQ(got[0].bytes, a);
  EXPECT_EQ(got[1].bytes, b);
  EXPECT_EQ(got[0].flow.transport, ClientTransport::kTls);
  EXPECT_EQ(got[0].flow.server, server);

  // A plain-TCP client on the TLS port fails the handshake: no message, no OnClientClosed.
  Fd plain = TcpConnect(server);
  ASSERT_TRUE(SendAll(plain.get(), Stun("not tls", 2)));
  EXPECT_TRUE(ReadStream(plain.get(), 1 << 20).closed);
  EXPECT_EQ(h.handler().messages().size(), 2u);
  EXPECT_TRUE(h.handler().closed().empty());
  EXPECT_EQ(h.counters().tls_handshake_failures, 1u);
}

TEST(RelaySocketsCreate, ErrorsNameTheListener) {
  boost::asio::io_context io;
  RelaySocketsOptions o;
  o.tls_listen = {Loopback()};
  EXPECT_EQ(RelaySockets::Create(io, o).status().code(), absl::StatusCode::kInvalidArgument);
  RelaySocketsOptions range;
  range.min_port = 5000;
  range.max_port = 4000;
  EXPECT_EQ(RelaySockets::Create(io, range).status().code(), absl::StatusCode::kInvalidArgument);
  // A port held without SO_REUSEPORT.
  Fd holder = UdpSocket();
  RelaySocketsOptions taken;
  taken.udp_listen = {LocalOf(holder.get())};
  auto s = RelaySockets::Create(io, taken);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(std::string(s.status().message()).find("TURN UDP 127.0.0.1:"), std::string::npos)
      << s.status();
}

}  // namespace
}  // namespace causeway::media::io
